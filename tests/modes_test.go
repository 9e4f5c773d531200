package tests

import (
	"maps"
	"testing"
)

// mode is one named configuration of the program. Adding a mode is one entry in modes(); every
// check (object set, goldens, conformance, secrecy, benchmark) runs on every mode.
type mode struct {
	name string
	// config overrides the base configuration (deep-merged), by top-level certctl key.
	config map[string]any
	// secret lists the top-level keys whose values are secret config.
	secret []string
	// objects is the exact set of Kubernetes objects ("Kind/name") the mode renders.
	objects []string
	// userProvided lists "Kind/name" objects the user supplies (an existing TLS Secret, a CA).
	userProvided []string
}

// base is the smallest configuration the chart accepts: TLS from an existing Secret.
func base() map[string]any {
	return map[string]any{"server": map[string]any{"tls": map[string]any{"existingSecret": "certctl-tls"}}}
}

// defaultObjects is the chart's default render, 12 objects (seed 000, truth table), plus the
// Secret holding the local issuer's CA, which the chart never creates (each server process then
// invents its own).
var defaultObjects = []string{
	"ClusterRole/certctl", "ClusterRoleBinding/certctl", "ServiceAccount/certctl",
	"ConfigMap/certctl-server", "Secret/certctl-server", "Deployment/certctl-server", "Service/certctl-server",
	"Secret/certctl-ca",
	"Secret/certctl-postgres", "Service/certctl-postgres", "StatefulSet/certctl-postgres",
	"Secret/certctl-postgres-current", passwordChangeJob,
	"ConfigMap/certctl-agent", "DaemonSet/certctl-agent",
}

// backupObjects are what backup.enabled adds with the default PVC sink.
var backupObjects = []string{"CronJob/certctl-backup", "ServiceAccount/certctl-backup", "PersistentVolumeClaim/certctl-backup"}

// The Jobs as Render.ObjectSet lists them: their names end in a digest of what they run (see
// TestMigrationJobName, TestPasswordChangeJob).
const (
	migrationJob      = "Job/certctl-migrate-<digest>"
	passwordChangeJob = "Job/certctl-pgpass-<digest>"
)

const (
	testOIDCProvider = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	testKMSKey       = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

const externalURL = "postgres://certctl:s3cr3t-db-pass@db.example.com:5432/certctl?sslmode=verify-full"

func modes() []mode {
	return []mode{
		{
			name:         "default",
			objects:      defaultObjects,
			userProvided: []string{"Secret/certctl-tls"},
		},
		{
			name: "external-db",
			// A managed database with a private CA, as in production: the server verifies it.
			config: map[string]any{
				"postgresql":       map[string]any{"enabled": false, "tls": map[string]any{"mode": "verify-full", "caSecretRef": "external-db-ca"}},
				"externalDatabase": map[string]any{"url": externalURL},
			},
			secret:       []string{"externalDatabase"},
			objects:      without(defaultObjects, "Secret/certctl-postgres", "Service/certctl-postgres", "StatefulSet/certctl-postgres", "Secret/certctl-postgres-current", passwordChangeJob),
			userProvided: []string{"Secret/certctl-tls", "Secret/external-db-ca"},
		},
		{
			name: "cert-manager",
			config: map[string]any{"server": map[string]any{"tls": map[string]any{
				"existingSecret": "",
				"certManager":    map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "letsencrypt"}},
			}}},
			objects: with(defaultObjects, "Certificate/certctl-server-tls"),
		},
		{
			name:         "agent-deployment",
			config:       map[string]any{"agent": map[string]any{"kind": "Deployment", "replicas": 2}},
			objects:      with(without(defaultObjects, "DaemonSet/certctl-agent"), "Deployment/certctl-agent"),
			userProvided: []string{"Secret/certctl-tls"},
		},
		{
			name: "ingress",
			config: map[string]any{"ingress": map[string]any{
				"enabled":     true,
				"className":   "nginx",
				"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "letsencrypt-prod"}},
				"hosts":       []any{map[string]any{"host": "certctl.example.com", "paths": []any{map[string]any{"path": "/", "pathType": "Prefix"}}}},
				"tls":         []any{map[string]any{"secretName": "certctl-ingress-tls", "hosts": []any{"certctl.example.com"}}},
			}},
			objects: with(defaultObjects, "Ingress/certctl"),
			// cert-manager's ingress-shim writes the Ingress TLS Secret from the issuer annotation.
			userProvided: []string{"Secret/certctl-tls", "Secret/certctl-ingress-tls"},
		},
		{
			name: "ha",
			config: map[string]any{
				"server":              map[string]any{"replicas": 3},
				"podDisruptionBudget": map[string]any{"enabled": true},
				"networkPolicy":       map[string]any{"enabled": true},
			},
			objects:      with(defaultObjects, "PodDisruptionBudget/certctl-server", "NetworkPolicy/certctl-server", "NetworkPolicy/certctl-postgres"),
			userProvided: []string{"Secret/certctl-tls"},
		},
		{
			name: "ha-monitoring",
			config: map[string]any{
				"server":              map[string]any{"replicas": 3},
				"podDisruptionBudget": map[string]any{"enabled": true},
				"networkPolicy":       map[string]any{"enabled": true, "prometheusNamespace": "monitoring"},
				"monitoring": map[string]any{"enabled": true,
					"serviceMonitor":   map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus"}},
					"prometheusRules":  map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus"}},
					"grafanaDashboard": map[string]any{"enabled": true},
				},
			},
			objects: with(defaultObjects, "PodDisruptionBudget/certctl-server", "NetworkPolicy/certctl-server", "NetworkPolicy/certctl-postgres",
				"Secret/certctl-metrics", "ServiceMonitor/certctl-server", "PrometheusRule/certctl-rules", "ConfigMap/certctl-dashboard"),
			userProvided: []string{"Secret/certctl-tls"},
		},
		{
			name:         "prometheus-rules",
			config:       map[string]any{"monitoring": map[string]any{"enabled": true, "prometheusRules": map[string]any{"enabled": true}}},
			objects:      with(defaultObjects, "PrometheusRule/certctl-rules"),
			userProvided: []string{"Secret/certctl-tls"},
		},
		{
			name: "db-tls",
			config: map[string]any{"postgresql": map[string]any{
				"tls": map[string]any{"mode": "verify-full", "caSecretRef": "certctl-postgres-ca", "certSecretRef": "certctl-postgres-tls"},
			}},
			objects:      defaultObjects,
			userProvided: []string{"Secret/certctl-tls", "Secret/certctl-postgres-ca", "Secret/certctl-postgres-tls"},
		},
		{
			name:         "backup-pvc",
			config:       map[string]any{"backup": map[string]any{"enabled": true}},
			objects:      with(defaultObjects, backupObjects...),
			userProvided: []string{"Secret/certctl-tls"},
		},
		{
			// The bucket built by the program, the uploader on IRSA with a role the program builds.
			name: "backup-s3",
			config: map[string]any{"backup": map[string]any{"enabled": true, "sink": "s3", "s3": map[string]any{
				"region": "eu-west-1", "credentials": "irsa", "oidcProviderArn": testOIDCProvider,
			}}},
			objects:      with(defaultObjects, "CronJob/certctl-backup", "ServiceAccount/certctl-backup"),
			userProvided: []string{"Secret/certctl-tls"},
		},
		{
			name:         "migrations-hook",
			config:       map[string]any{"migrations": map[string]any{"viaHook": true}},
			objects:      with(defaultObjects, migrationJob),
			userProvided: []string{"Secret/certctl-tls"},
		},
		{
			// Every feature this program builds, at once.
			name: "all-on",
			config: map[string]any{
				"createNamespace": true,
				"commonLabels":    map[string]any{"team": "pki"},
				"server": map[string]any{
					"replicas": 3,
					"tls": map[string]any{
						"existingSecret": "",
						"certManager":    map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "internal-ca"}},
					},
					"auth":        map[string]any{"apiKey": "all-on-key-2,all-on-key-1", "namedKeys": "ci:all-on-ci-key"},
					"cors":        map[string]any{"origins": "https://ui.example.com"},
					"networkScan": map[string]any{"enabled": true},
					"est":         map[string]any{"enabled": true},
					"smtp":        map[string]any{"enabled": true, "host": "smtp.example.com", "username": "certctl", "password": "all-on-smtp-pass", "fromAddress": "certctl@example.com"},
					"digest":      map[string]any{"enabled": true, "recipients": []any{"ops@example.com"}},
					"issuer":      map[string]any{"acme": map[string]any{"enabled": true, "directoryURL": "https://acme-v02.api.letsencrypt.org/directory", "email": "ops@example.com"}},
					"notifiers": map[string]any{
						"slack":     map[string]any{"enabled": true, "webhookUrl": "https://hooks.slack.com/services/T0/B0/ALLON", "channel": "#certs"},
						"teams":     map[string]any{"enabled": true, "webhookUrl": "https://example.webhook.office.com/allon"},
						"pagerduty": map[string]any{"enabled": true, "routingKey": "all-on-pd-key"},
						"opsgenie":  map[string]any{"enabled": true, "apiKey": "all-on-og-key"},
					},
					"affinity": map[string]any{"podAntiAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{map[string]any{
						"weight": 100,
						"podAffinityTerm": map[string]any{
							"topologyKey":   "kubernetes.io/hostname",
							"labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/component": "server"}},
						},
					}}}},
				},
				"postgresql": map[string]any{
					"tls":              map[string]any{"mode": "verify-full", "caSecretRef": "certctl-postgres-tls", "certSecretRef": "certctl-postgres-tls"},
					"postgresqlConfig": map[string]any{"max_connections": "200"},
				},
				"agent":               map[string]any{"discoveryDirs": "/etc/ssl/certs"},
				"ingress":             map[string]any{"enabled": true, "className": "nginx", "hosts": []any{map[string]any{"host": "certctl.example.com", "paths": []any{map[string]any{"path": "/", "pathType": "Prefix"}}}}},
				"kubernetesSecrets":   map[string]any{"enabled": true},
				"podDisruptionBudget": map[string]any{"enabled": true},
				"networkPolicy":       map[string]any{"enabled": true, "prometheusNamespace": "monitoring", "ingressControllerNamespace": "ingress-nginx"},
				"monitoring": map[string]any{"enabled": true,
					"serviceMonitor": map[string]any{"enabled": true, "relabelings": []any{
						map[string]any{"sourceLabels": []any{"__meta_kubernetes_pod_node_name"}, "targetLabel": "node"},
					}},
					"prometheusRules":  map[string]any{"enabled": true},
					"grafanaDashboard": map[string]any{"enabled": true},
				},
				"backup": map[string]any{"enabled": true, "sink": "s3", "s3": map[string]any{
					"region": "eu-west-1", "credentials": "iamUser", "kmsKeyId": testKMSKey, "prefix": "prod/certctl/",
				}},
				"migrations": map[string]any{"viaHook": true},
			},
			secret: []string{"server"},
			objects: with(defaultObjects, "Namespace/certctl", "Certificate/certctl-server-tls", "Ingress/certctl",
				"PodDisruptionBudget/certctl-server", "NetworkPolicy/certctl-server", "NetworkPolicy/certctl-postgres",
				"Secret/certctl-metrics", "ServiceMonitor/certctl-server", "PrometheusRule/certctl-rules", "ConfigMap/certctl-dashboard",
				"CronJob/certctl-backup", "ServiceAccount/certctl-backup", "Secret/certctl-backup-aws", migrationJob),
			userProvided: []string{"Secret/certctl-postgres-tls"},
		},
	}
}

// config is the mode's full stack configuration.
func (m mode) stack(t testing.TB) stackConfig {
	return withConfig(t, deepMerge(base(), m.config), m.secret...)
}

func modeNamed(t testing.TB, name string) mode {
	t.Helper()
	for _, m := range modes() {
		if m.name == name {
			return m
		}
	}
	t.Fatalf("no mode %q", name)
	return mode{}
}

// render runs a mode of the matrix.
func renderMode(t testing.TB, name string) *Render {
	t.Helper()
	return mustRun(t, modeNamed(t, name).stack(t))
}

// deepMerge overlays b on a: nested maps merge, anything else replaces.
func deepMerge(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range b {
		am, aok := out[k].(map[string]any)
		bm, bok := v.(map[string]any)
		if aok && bok {
			out[k] = deepMerge(am, bm)
		} else {
			out[k] = v
		}
	}
	return out
}

func with(set []string, extra ...string) []string {
	return append(append([]string{}, set...), extra...)
}

func without(set []string, drop ...string) []string {
	var out []string
	for _, s := range set {
		keep := true
		for _, d := range drop {
			keep = keep && s != d
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}
