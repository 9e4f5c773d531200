package components

import (
	"strconv"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// envEntry is one container environment variable and where its value lives. A plain value is
// served from the workload's ConfigMap, a secret one from a Secret key, a field from the pod.
// One ordered list drives the ConfigMap data, the Secret data and the env, so they cannot drift.
// The Jobs, which have no ConfigMap or Secret of their own, use literal values and keys of
// other Secrets instead.
type envEntry struct {
	name  string
	value string // plain: ConfigMap key configKey(name)
	// secret, when set, is the value the workload's own Secret stores under secretKey, which
	// the variable reads.
	secret    pulumi.StringInput
	secretKey string
	fieldPath string
	// literal, when set, is the value itself, in the pod spec (a Job's non-secret settings).
	literal pulumi.StringInput
	// ref, when set, is a key of a Secret the workload does not own; optional lets the pod
	// start without it.
	ref      *config.SecretKeyRef
	optional bool
	// key is the config key that sets the variable ("" when the program derives it): users set
	// that key, never the variable.
	key string
	// off: the configuration does not set the variable, but the program owns it.
	off bool
}

func (e envEntry) setBy(key string) envEntry {
	e.key = key
	return e
}

// when keeps entries in the program's list whether or not cond holds, so every variable the
// program may set stays reserved; only entries whose cond holds reach the pod.
func when(cond bool, entries ...envEntry) []envEntry {
	for i := range entries {
		entries[i].off = entries[i].off || !cond
	}
	return entries
}

// active are the entries the pod gets.
func active(entries []envEntry) []envEntry {
	var out []envEntry
	for _, e := range entries {
		if !e.off {
			out = append(out, e)
		}
	}
	return out
}

func plainEnv(name, value string) envEntry { return envEntry{name: name, value: value} }

func secretEnv(name, key string, v pulumi.StringInput) envEntry {
	return envEntry{name: name, secret: v, secretKey: key}
}

func fieldEnv(name, path string) envEntry { return envEntry{name: name, fieldPath: path} }

// literalEnv is a variable whose value is written into the pod spec, for the Jobs.
func literalEnv(name string, v pulumi.StringInput) envEntry { return envEntry{name: name, literal: v} }

// refEnv is a variable read from a key of a Secret the workload does not own.
func refEnv(name string, ref config.SecretKeyRef, optional bool) envEntry {
	return envEntry{name: name, ref: &ref, optional: optional}
}

// configKey derives the ConfigMap key from the variable: CERTCTL_LOG_LEVEL -> log-level.
func configKey(env string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "CERTCTL_"), "_", "-"))
}

// configData is the ConfigMap data of the plain entries.
func configData(entries []envEntry) map[string]string {
	data := map[string]string{}
	for _, e := range entries {
		if from, _, _ := e.source("", ""); from == sourceConfigMap {
			data[configKey(e.name)] = e.value
		}
	}
	return data
}

// secretData is the workload's own Secret data: every entry that carries a secret value.
func secretData(entries []envEntry) pulumi.StringMap {
	data := pulumi.StringMap{}
	for _, e := range entries {
		if e.secret != nil {
			data[e.secretKey] = e.secret
		}
	}
	return data
}

// envVars renders the entries; ownSecret names the Secret that secretEnv entries live in (both
// are unused by the Jobs' literal and other-Secret entries).
func envVars(entries []envEntry, configMap, ownSecret string) corev1.EnvVarArray {
	var arr corev1.EnvVarArray
	for _, e := range entries {
		v := corev1.EnvVarArgs{Name: pulumi.String(e.name)}
		switch from, name, key := e.source(configMap, ownSecret); from {
		case sourceLiteral:
			v.Value = e.literal
		case sourceField:
			v.ValueFrom = &corev1.EnvVarSourceArgs{FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String(key)}}
		case sourceSecret:
			v.ValueFrom = &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(name), Key: pulumi.String(key)}}
		case sourceOtherSecret:
			v.ValueFrom = &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: pulumi.String(name), Key: pulumi.String(key), Optional: pulumi.BoolPtr(e.optional),
			}}
		default:
			v.ValueFrom = &corev1.EnvVarSourceArgs{ConfigMapKeyRef: &corev1.ConfigMapKeySelectorArgs{Name: pulumi.String(name), Key: pulumi.String(key)}}
		}
		arr = append(arr, v)
	}
	return arr
}

// Where a variable's value comes from.
const (
	sourceConfigMap = "configMap"
	sourceSecret    = "secret"
	sourceField     = "field"
	// sourceLiteral and sourceOtherSecret serve the Jobs, which own no ConfigMap or Secret.
	sourceLiteral     = "literal"
	sourceOtherSecret = "otherSecret"
)

// source is where the variable is read from: its literal value, a pod field (key is its path),
// a key of another Secret, a key of the workload's own Secret or its ConfigMap key.
func (e envEntry) source(configMap, ownSecret string) (from, name, key string) {
	switch {
	case e.literal != nil:
		return sourceLiteral, "", ""
	case e.ref != nil:
		return sourceOtherSecret, e.ref.Name, e.ref.Key
	case e.fieldPath != "":
		return sourceField, "", e.fieldPath
	case e.secret != nil:
		return sourceSecret, ownSecret, e.secretKey
	default:
		return sourceConfigMap, configMap, configKey(e.name)
	}
}

// libpqEnv points libpq's tools (pg_dump, psql) at a database: PGHOST, PGPORT, PGUSER and
// PGDATABASE, for the Jobs that run them rather than the server.
func libpqEnv(host string, port int, user, database string) []envEntry {
	return []envEntry{
		literalEnv("PGHOST", pulumi.String(host)),
		literalEnv("PGPORT", pulumi.String(strconv.Itoa(port))).setBy("postgresql.service.port"),
		literalEnv("PGUSER", pulumi.String(user)).setBy("postgresql.auth.username"),
		literalEnv("PGDATABASE", pulumi.String(database)).setBy("postgresql.auth.database"),
	}
}
