package config

import "strings"

const chartName = "certctl"

// Fullname applies the chart's rule: fullnameOverride wins; otherwise the release name alone
// when it already contains the chart name (or nameOverride), else "<release>-<name>".
// Unlike the chart it never truncates: Validate refuses a name that does not fit.
func (c Config) Fullname() string {
	if c.FullnameOverride != "" {
		return strings.TrimSuffix(c.FullnameOverride, "-")
	}
	name := chartName
	if c.NameOverride != "" {
		name = c.NameOverride
	}
	if strings.Contains(c.ReleaseName, name) {
		return strings.TrimSuffix(c.ReleaseName, "-")
	}
	return strings.TrimSuffix(c.ReleaseName+"-"+name, "-")
}

// AppName is the app.kubernetes.io/name label value.
func (c Config) AppName() string {
	if c.NameOverride != "" {
		return c.NameOverride
	}
	return chartName
}

// Names are the Kubernetes object names, stable so DNS names and Secret references never move.
type Names struct {
	Fullname       string // ServiceAccount, ClusterRole(Binding), Ingress
	Server         string // Deployment, Service, ConfigMap, Secret
	Postgres       string // StatefulSet, headless Service, Secret
	Agent          string // DaemonSet or StatefulSet, ConfigMap
	Certificate    string // cert-manager Certificate
	TLSSecret      string // Secret the server and agents mount
	ServiceAccount string
	Backup         string // CronJob, PVC, ServiceAccount
	Migration      string // Job (with a digest suffix, DigestSuffixLen hex digits after a "-")
	PasswordChange string // Job applying a new Postgres password (with a digest suffix)
	Metrics        string // generated scrape-key Secret
	Rules          string // PrometheusRule
	Dashboard      string // Grafana dashboard ConfigMap
	LocalCA        string // Secret with the local issuer's CA
}

// DigestSuffixLen is how many hex digits of a digest end the names of the Jobs whose name follows
// what they run (the migration and password-change Jobs), after a "-".
const DigestSuffixLen = 8

// DigestSuffix is the name suffix for digest (hex): its first DigestSuffixLen digits.
func DigestSuffix(digest string) string { return "-" + digest[:DigestSuffixLen] }

// Names derives every object name from the fullname. server.tls.existingSecret (or
// server.tls.certManager.secretName), server.issuer.local.existingSecret and serviceAccount.name
// replace the derived names of the TLS Secret, the local CA Secret and the ServiceAccount.
func (c Config) Names() Names {
	f := c.Fullname()
	n := Names{
		Fullname:       f,
		Server:         f + "-server",
		Postgres:       f + "-postgres",
		Agent:          f + "-agent",
		Certificate:    f + "-server-tls",
		TLSSecret:      f + "-tls",
		ServiceAccount: f,
		Backup:         f + "-backup",
		Migration:      f + "-migrate",
		PasswordChange: f + "-pgpass",
		Metrics:        f + "-metrics",
		Rules:          f + "-rules",
		Dashboard:      f + "-dashboard",
		LocalCA:        f + "-ca",
	}
	switch {
	case c.Server.TLS.ExistingSecret != "":
		n.TLSSecret = c.Server.TLS.ExistingSecret
	case c.Server.TLS.CertManager.SecretName != "":
		n.TLSSecret = c.Server.TLS.CertManager.SecretName
	}
	if c.Server.Issuer.Local.ExistingSecret != "" {
		n.LocalCA = c.Server.Issuer.Local.ExistingSecret
	}
	if c.ServiceAccount.Name != "" {
		n.ServiceAccount = c.ServiceAccount.Name
	}
	return n
}

// Ref renders repository@digest when a digest pins the image, else repository:tag with the
// tag defaulting to AppVersion.
func (i Image) Ref() string {
	if i.Digest != "" {
		return i.Repository + "@" + i.Digest
	}
	tag := i.Tag
	if tag == "" {
		tag = AppVersion
	}
	return i.Repository + ":" + tag
}

// Name limits of the objects named after the fullname.
const (
	// maxName is a DNS-1123 label's length: Services, and every name that becomes a label value.
	maxName = 63
	// maxControllerName leaves room for what a controller appends: StatefulSet pods carry the
	// label controller-revision-hash "<name>-<hash>", and CronJobs append an 11-character
	// suffix to their Jobs' names.
	maxControllerName = 52
	// maxDigestedName is for the Jobs named "<name>-<digest>" (DigestSuffix).
	maxDigestedName = maxName - 1 - DigestSuffixLen
)

// namedObject is an object the configuration creates under a fullname-based name, with the
// longest that name may be.
type namedObject struct {
	name string
	kind string
	max  int
}

// namedObjects lists the fullname-based objects the configuration creates, so validation can
// refuse a fullname that makes one of them too long.
func (c Config) namedObjects() []namedObject {
	n := c.Names()
	out := []namedObject{{n.Fullname, "ServiceAccount/ClusterRole/Ingress name", maxName}, {n.Server, "Service", maxName}}
	switch {
	case c.InCluster():
		// CloudNativePG names its first instance's bootstrap Job "<cluster>-1-initdb" or, on a
		// recovery, "<cluster>-1-full-recovery".
		out = append(out, namedObject{n.Postgres + "-1-full-recovery", "CloudNativePG recovery Job", maxName})
	case c.PostgreSQL.Enabled:
		out = append(out, namedObject{n.Postgres, "StatefulSet", maxControllerName}, namedObject{n.PasswordChange, "Job", maxDigestedName})
	}
	if c.Agent.Enabled {
		limit := maxName
		if c.Agent.WorkloadKind() == "StatefulSet" {
			limit = maxControllerName
		}
		out = append(out, namedObject{n.Agent, c.Agent.WorkloadKind(), limit})
	}
	if cm := c.Server.TLS.CertManager; cm.Enabled {
		out = append(out, namedObject{n.Certificate, "Certificate", maxName})
		if cm.SecretName == "" && c.Server.TLS.ExistingSecret == "" {
			out = append(out, namedObject{n.TLSSecret, "TLS Secret", maxName})
		}
	}
	if c.Backup.Enabled {
		out = append(out, namedObject{n.Backup, "CronJob", maxControllerName})
	}
	if c.Migrations.ViaHook {
		out = append(out, namedObject{n.Migration, "Job", maxDigestedName})
	}
	if sm := c.Monitoring.ServiceMonitor; c.Monitoring.Enabled && sm.Enabled && sm.BearerTokenSecret.Name == "" {
		out = append(out, namedObject{n.Metrics, "Secret", maxName})
	}
	return out
}
