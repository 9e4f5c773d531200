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
type envEntry struct {
	name  string
	value string // plain: ConfigMap key configKey(name)
	// secret, when set, is the value the workload's own Secret stores under secretKey, which
	// the variable reads.
	secret    pulumi.StringInput
	secretKey string
	fieldPath string
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

// configKey derives the ConfigMap key from the variable: CERTCTL_LOG_LEVEL -> log-level.
func configKey(env string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "CERTCTL_"), "_", "-"))
}

// configData is the ConfigMap data of the plain entries.
func configData(entries []envEntry) map[string]string {
	data := map[string]string{}
	for _, e := range entries {
		if e.secret == nil && e.fieldPath == "" {
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

// envVars renders the entries; ownSecret names the Secret that secretEnv entries live in.
func envVars(entries []envEntry, configMap, ownSecret string) corev1.EnvVarArray {
	var arr corev1.EnvVarArray
	for _, e := range entries {
		v := corev1.EnvVarArgs{Name: pulumi.String(e.name)}
		switch from, name, key := e.source(configMap, ownSecret); from {
		case sourceField:
			v.ValueFrom = &corev1.EnvVarSourceArgs{FieldRef: &corev1.ObjectFieldSelectorArgs{FieldPath: pulumi.String(key)}}
		case sourceSecret:
			v.ValueFrom = &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(name), Key: pulumi.String(key)}}
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
)

// source is where the variable is read from: a pod field (key is its path), a key of the
// workload's own Secret or its ConfigMap key.
func (e envEntry) source(configMap, ownSecret string) (from, name, key string) {
	switch {
	case e.fieldPath != "":
		return sourceField, "", e.fieldPath
	case e.secret != nil:
		return sourceSecret, ownSecret, e.secretKey
	default:
		return sourceConfigMap, configMap, configKey(e.name)
	}
}

// libpqEnv points libpq's tools (pg_dump, psql) at a database: PGHOST, PGPORT, PGUSER and
// PGDATABASE, for the pods that run them rather than the server.
func libpqEnv(host string, port int, user, database string) corev1.EnvVarArray {
	return corev1.EnvVarArray{
		plainEnvVar("PGHOST", host),
		plainEnvVar("PGPORT", strconv.Itoa(port)),
		plainEnvVar("PGUSER", user),
		plainEnvVar("PGDATABASE", database),
	}
}

// plainEnvVar is a variable with a literal value, for the pods without a ConfigMap of their own.
func plainEnvVar(name, value string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
}

// secretEnvVar is a variable read from a Secret key; optional lets the pod start without it.
func secretEnvVar(name string, ref config.SecretKeyRef, optional bool) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{Name: pulumi.String(name), ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
		Name: pulumi.String(ref.Name), Key: pulumi.String(ref.Key), Optional: pulumi.BoolPtr(optional),
	}}}
}
