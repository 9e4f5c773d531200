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
