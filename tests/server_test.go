package tests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
	"github.com/certctl-io/certctl-pulumi/tests/conformance"
)

func TestServerDeploymentDefaultMode(t *testing.T) {
	r := renderMode(t, "default")
	d := r.Object(t, "Deployment", "certctl-server").Manifest()
	pod := path(d, "spec", "template", "spec")
	c := path(pod, "containers", 0)

	assert.Equal(t, "ghcr.io/certctl-io/certctl-server:v2.1.7", path(c, "image"))
	assert.Equal(t, "IfNotPresent", path(c, "imagePullPolicy"))
	assert.EqualValues(t, 1, path(d, "spec", "replicas"))
	assert.Equal(t, []any{map[string]any{"name": "https", "containerPort": 8443.0, "protocol": "TCP"}}, path(c, "ports"))

	t.Run("probes", func(t *testing.T) {
		for probe, want := range map[string][]any{
			"livenessProbe":  {"/health", 10.0, 10.0, 5.0, 3.0},
			"readinessProbe": {"/ready", 5.0, 5.0, 3.0, 2.0},
		} {
			p := path(c, probe)
			assert.Equal(t, want[0], path(p, "httpGet", "path"), probe)
			assert.Equal(t, "https", path(p, "httpGet", "port"), probe)
			assert.Equal(t, "HTTPS", path(p, "httpGet", "scheme"), probe)
			assert.Equal(t, want[1:], []any{path(p, "initialDelaySeconds"), path(p, "periodSeconds"), path(p, "timeoutSeconds"), path(p, "failureThreshold")}, probe)
		}
	})

	t.Run("env", func(t *testing.T) {
		order, src := envSources(t, c)
		want := map[string]string{
			"CERTCTL_SERVER_HOST":           "configMap:certctl-server/server-host",
			"CERTCTL_SERVER_PORT":           "configMap:certctl-server/server-port",
			"CERTCTL_SERVER_TLS_CERT_PATH":  "configMap:certctl-server/server-tls-cert-path",
			"CERTCTL_SERVER_TLS_KEY_PATH":   "configMap:certctl-server/server-tls-key-path",
			"CERTCTL_DATABASE_URL":          "secret:certctl-server/database-url",
			"CERTCTL_DATABASE_MAX_CONNS":    "configMap:certctl-server/database-max-conns",
			"CERTCTL_LOG_LEVEL":             "configMap:certctl-server/log-level",
			"CERTCTL_LOG_FORMAT":            "configMap:certctl-server/log-format",
			"CERTCTL_AUTH_TYPE":             "configMap:certctl-server/auth-type",
			"CERTCTL_AUTH_SECRET":           "secret:certctl-server/api-key",
			"CERTCTL_API_KEYS_NAMED":        "secret:certctl-server/api-keys-named",
			"CERTCTL_AGENT_BOOTSTRAP_TOKEN": "secret:certctl-server/bootstrap-token",
			"CERTCTL_CONFIG_ENCRYPTION_KEY": "secret:certctl-server/config-encryption-key",
			"CERTCTL_CA_CERT_PATH":          "configMap:certctl-server/ca-cert-path",
			"CERTCTL_CA_KEY_PATH":           "configMap:certctl-server/ca-key-path",
			"CERTCTL_KEYGEN_MODE":           "configMap:certctl-server/keygen-mode",
			"CERTCTL_RATE_LIMIT_RPS":        "configMap:certctl-server/rate-limit-rps",
			"CERTCTL_RATE_LIMIT_BURST":      "configMap:certctl-server/rate-limit-burst",
			"CERTCTL_RATE_LIMIT_BACKEND":    "configMap:certctl-server/rate-limit-backend",
		}
		assert.Equal(t, want, src)
		assert.NotContains(t, order, "POSTGRES_PASSWORD", "the URL carries the password; v2.1.7 never substitutes $(POSTGRES_PASSWORD)")

		cm := r.Object(t, "ConfigMap", "certctl-server").Manifest()
		assert.Equal(t, map[string]any{
			"server-host": "0.0.0.0", "server-port": "8443",
			"server-tls-cert-path": "/etc/certctl/tls/tls.crt", "server-tls-key-path": "/etc/certctl/tls/tls.key",
			"database-max-conns": "25", "log-level": "info", "log-format": "json", "auth-type": "api-key",
			"keygen-mode": "agent", "rate-limit-rps": "100", "rate-limit-burst": "200", "rate-limit-backend": "memory",
			"ca-cert-path": "/etc/certctl/ca/tls.crt", "ca-key-path": "/etc/certctl/ca/tls.key",
		}, path(cm, "data"))

		secret := r.Object(t, "Secret", "certctl-server").Manifest()
		pgPassword := generatedValue("certctl-postgres-password")
		assert.Equal(t, "postgres://certctl:"+pgPassword+"@certctl-postgres:5432/certctl?sslmode=disable",
			path(secret, "stringData", "database-url"))
		assert.True(t, r.Object(t, "Secret", "certctl-server").secretAt("stringData", "database-url"))
		admin, agents, token := generatedValue("certctl-api-key"), generatedValue("certctl-agent-api-key"), generatedValue("certctl-bootstrap-token")
		assert.Equal(t, admin, path(secret, "stringData", "api-key"))
		assert.Equal(t, "admin:"+admin+":admin,agents:"+agents+",agent-bootstrap:"+token, path(secret, "stringData", "api-keys-named"),
			"the admin key is an admin named key; the agents' key and the bootstrap token are named keys the postStart hook narrows")
		assert.Equal(t, agents, path(secret, "stringData", "agent-api-key"))
		assert.Equal(t, token, path(secret, "stringData", "bootstrap-token"))
		assert.Equal(t, generatedValue("certctl-config-encryption-key"), path(secret, "stringData", "config-encryption-key"))
	})

	t.Run("volumes", func(t *testing.T) {
		assert.Equal(t, []any{
			map[string]any{"name": "tmp", "emptyDir": map[string]any{}},
			map[string]any{"name": "tls", "secret": map[string]any{"secretName": "certctl-tls", "defaultMode": 256.0}},
			map[string]any{"name": "local-ca", "secret": map[string]any{"secretName": "certctl-ca", "defaultMode": 256.0}},
		}, path(pod, "volumes"))
		assert.Equal(t, []any{
			map[string]any{"name": "tmp", "mountPath": "/tmp"},
			map[string]any{"name": "tls", "mountPath": "/etc/certctl/tls", "readOnly": true},
			map[string]any{"name": "local-ca", "mountPath": "/etc/certctl/ca", "readOnly": true},
		}, path(c, "volumeMounts"))
		ca := r.Object(t, "Secret", "certctl-ca")
		assert.Equal(t, "kubernetes.io/tls", path(ca.Manifest(), "type"))
		assert.True(t, ca.secretAt("stringData", "tls.key"), "the CA key stays a Pulumi secret")
	})

	t.Run("security contexts at their own scope", func(t *testing.T) {
		assert.Equal(t, map[string]any{
			"runAsNonRoot": true, "runAsUser": 1000.0, "runAsGroup": 1000.0, "fsGroup": 1000.0,
			"seccompProfile": map[string]any{"type": "RuntimeDefault"},
		}, path(pod, "securityContext"))
		assert.Equal(t, map[string]any{
			"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
			"capabilities": map[string]any{"drop": []any{"ALL"}},
		}, path(c, "securityContext"))
		assert.Equal(t, false, path(pod, "automountServiceAccountToken"))
		assert.Equal(t, "certctl", path(pod, "serviceAccountName"))
	})

	t.Run("labels and selectors", func(t *testing.T) {
		selector := map[string]any{
			"app.kubernetes.io/name": "certctl", "app.kubernetes.io/instance": "certctl", "app.kubernetes.io/component": "server",
		}
		assert.Equal(t, selector, path(d, "spec", "selector", "matchLabels"))
		podLabels := path(d, "spec", "template", "metadata", "labels").(map[string]any)
		for k, v := range selector {
			assert.Equal(t, v, podLabels[k])
		}
		assert.Equal(t, "pulumi", podLabels["app.kubernetes.io/managed-by"])
		assert.Equal(t, "v2.1.7", podLabels["app.kubernetes.io/version"])
		assert.Equal(t, selector, path(r.Object(t, "Service", "certctl-server").Manifest(), "spec", "selector"))
	})

	t.Run("config and secret changes roll the pods", func(t *testing.T) {
		ann := path(d, "spec", "template", "metadata", "annotations").(map[string]any)
		require.Contains(t, ann, "checksum/config")
		require.Contains(t, ann, "checksum/secret")
		other := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"server": map[string]any{"logging": map[string]any{"level": "debug"}}})))
		otherAnn := path(other.Object(t, "Deployment", "certctl-server").Manifest(), "spec", "template", "metadata", "annotations").(map[string]any)
		assert.NotEqual(t, ann["checksum/config"], otherAnn["checksum/config"])
		assert.Equal(t, ann["checksum/secret"], otherAnn["checksum/secret"])
		rotated := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"server": map[string]any{"auth": map[string]any{"apiKey": "rotated-key"}}}), "server"))
		rotatedAnn := path(rotated.Object(t, "Deployment", "certctl-server").Manifest(), "spec", "template", "metadata", "annotations").(map[string]any)
		assert.NotEqual(t, ann["checksum/secret"], rotatedAnn["checksum/secret"])
	})
}

func TestServerServiceAndRBAC(t *testing.T) {
	r := renderMode(t, "default")
	svc := r.Object(t, "Service", "certctl-server").Manifest()
	assert.Equal(t, "ClusterIP", path(svc, "spec", "type"))
	assert.Equal(t, []any{map[string]any{"name": "https", "port": 8443.0, "targetPort": "https", "protocol": "TCP"}}, path(svc, "spec", "ports"))

	assert.Equal(t, []any{}, path(r.Object(t, "ClusterRole", "certctl").Manifest(), "rules"), "no rules unless kubernetesSecrets.enabled")
	binding := r.Object(t, "ClusterRoleBinding", "certctl").Manifest()
	assert.Equal(t, "certctl", path(binding, "roleRef", "name"))
	assert.Equal(t, []any{map[string]any{"kind": "ServiceAccount", "name": "certctl", "namespace": "certctl"}}, path(binding, "subjects"))

	withSecrets := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"kubernetesSecrets": map[string]any{"enabled": true}})))
	rules := path(withSecrets.Object(t, "ClusterRole", "certctl").Manifest(), "rules").([]any)
	require.Len(t, rules, 1)
	assert.Equal(t, []any{"secrets"}, path(rules[0], "resources"))
	assert.Equal(t, []any{"get", "list", "create", "update", "patch"}, path(rules[0], "verbs"))
	assert.Equal(t, true, path(withSecrets.Object(t, "Deployment", "certctl-server").Manifest(), "spec", "template", "spec", "automountServiceAccountToken"))
}

func TestServerOptionalFeaturesEnv(t *testing.T) {
	r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"server": map[string]any{
		"cors":        map[string]any{"origins": "https://ui.example.com"},
		"networkScan": map[string]any{"enabled": true},
		"est":         map[string]any{"enabled": true, "profileID": "prof-1"},
		"smtp":        map[string]any{"enabled": true, "host": "smtp.example.com", "fromAddress": "certctl@example.com", "username": "mailer", "password": "smtp-pass-123"},
		"digest":      map[string]any{"enabled": true, "recipients": []any{"ops@example.com", "sec@example.com"}},
		"issuer":      map[string]any{"acme": map[string]any{"enabled": true, "directoryURL": "https://acme.example.com/directory", "email": "ops@example.com"}},
		"notifiers": map[string]any{
			"slack":     map[string]any{"enabled": true, "webhookUrl": "https://hooks.slack.com/services/T/B/X", "channel": "#certs"},
			"pagerduty": map[string]any{"enabled": true, "routingKey": "pd-routing-key-123"},
		},
		"databaseMaxConns": 50,
		"env":              map[string]any{"CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL": "1h"},
	}}), "server"))
	c := path(r.Object(t, "Deployment", "certctl-server").Manifest(), "spec", "template", "spec", "containers", 0)
	_, src := envSources(t, c)
	for name, want := range map[string]string{
		"CERTCTL_CORS_ORIGINS":                     "configMap:certctl-server/cors-origins",
		"CERTCTL_NETWORK_SCAN_ENABLED":             "configMap:certctl-server/network-scan-enabled",
		"CERTCTL_NETWORK_SCAN_INTERVAL":            "configMap:certctl-server/network-scan-interval",
		"CERTCTL_EST_ENABLED":                      "configMap:certctl-server/est-enabled",
		"CERTCTL_EST_ISSUER_ID":                    "configMap:certctl-server/est-issuer-id",
		"CERTCTL_EST_PROFILE_ID":                   "configMap:certctl-server/est-profile-id",
		"CERTCTL_SMTP_HOST":                        "configMap:certctl-server/smtp-host",
		"CERTCTL_SMTP_PORT":                        "configMap:certctl-server/smtp-port",
		"CERTCTL_SMTP_USERNAME":                    "configMap:certctl-server/smtp-username",
		"CERTCTL_SMTP_PASSWORD":                    "secret:certctl-server/smtp-password",
		"CERTCTL_SMTP_FROM_ADDRESS":                "configMap:certctl-server/smtp-from-address",
		"CERTCTL_SMTP_USE_TLS":                     "configMap:certctl-server/smtp-use-tls",
		"CERTCTL_DIGEST_RECIPIENTS":                "configMap:certctl-server/digest-recipients",
		"CERTCTL_ACME_DIRECTORY_URL":               "configMap:certctl-server/acme-directory-url",
		"CERTCTL_ACME_EMAIL":                       "configMap:certctl-server/acme-email",
		"CERTCTL_ACME_CHALLENGE_TYPE":              "configMap:certctl-server/acme-challenge-type",
		"CERTCTL_SLACK_WEBHOOK_URL":                "secret:certctl-server/slack-webhook-url",
		"CERTCTL_SLACK_CHANNEL":                    "configMap:certctl-server/slack-channel",
		"CERTCTL_PAGERDUTY_ROUTING_KEY":            "secret:certctl-server/pagerduty-routing-key",
		"CERTCTL_PAGERDUTY_SEVERITY":               "configMap:certctl-server/pagerduty-severity",
		"CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL": "value:1h",
	} {
		assert.Equal(t, want, src[name], name)
	}
	cm := path(r.Object(t, "ConfigMap", "certctl-server").Manifest(), "data")
	assert.Equal(t, "ops@example.com,sec@example.com", path(cm, "digest-recipients"))
	assert.Equal(t, "50", path(cm, "database-max-conns"))
	secret := r.Object(t, "Secret", "certctl-server")
	assert.True(t, secret.secretAt("stringData", "smtp-password"))
	assert.Equal(t, "smtp-pass-123", path(secret.Manifest(), "stringData", "smtp-password"))
}

// User extras arrive in Kubernetes' own shape and must land unchanged and valid.
func TestServerUserExtras(t *testing.T) {
	r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"server": map[string]any{
		"volumes":      []any{map[string]any{"name": "corp-ca", "secret": map[string]any{"secretName": "corp-ca"}}},
		"volumeMounts": []any{map[string]any{"name": "corp-ca", "mountPath": "/etc/ssl/corp", "readOnly": true}},
		"extraEnv": []any{map[string]any{"name": "CERTCTL_OIDC_SECRET", "valueFrom": map[string]any{
			"secretKeyRef": map[string]any{"name": "corp-oidc", "key": "secret"},
		}}},
	}})))
	d := r.Object(t, "Deployment", "certctl-server").Manifest()
	pod := path(d, "spec", "template", "spec")
	assert.Contains(t, path(pod, "volumes"), map[string]any{"name": "corp-ca", "secret": map[string]any{"secretName": "corp-ca"}})
	assert.Contains(t, path(pod, "containers", 0, "volumeMounts"), map[string]any{"name": "corp-ca", "mountPath": "/etc/ssl/corp", "readOnly": true})
	_, src := envSources(t, path(pod, "containers", 0))
	assert.Equal(t, "secret:corp-oidc/secret", src["CERTCTL_OIDC_SECRET"])
	errs := conformance.Check(objects(r), conformance.Options{UserProvided: map[string]bool{
		"Secret/certctl-tls": true, "Secret/corp-ca": true, "Secret/corp-oidc": true,
	}})
	assert.Empty(t, errs)
}

func TestCertManagerCertificate(t *testing.T) {
	r := renderMode(t, "cert-manager")
	cert := r.Object(t, "Certificate", "certctl-server-tls").Manifest()
	assert.Equal(t, "condition=Ready", path(cert, "metadata", "annotations", "pulumi.com/waitFor"), "the server must not start before its certificate exists")
	spec := path(cert, "spec")
	assert.Equal(t, "certctl-tls", path(spec, "secretName"))
	assert.Equal(t, map[string]any{"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"}, path(spec, "issuerRef"))
	assert.Equal(t, map[string]any{"algorithm": "ECDSA", "size": 256.0, "rotationPolicy": "Always"}, path(spec, "privateKey"))
	assert.Equal(t, []any{"2160h", "360h"}, []any{path(spec, "duration"), path(spec, "renewBefore")})
	assert.Equal(t, []any{"certctl-server", "localhost", "certctl-server.certctl.svc", "certctl-server.certctl.svc.cluster.local"}, path(spec, "dnsNames"),
		"agents dial the Service name, so the certificate must cover it")
	vols := path(r.Object(t, "Deployment", "certctl-server").Manifest(), "spec", "template", "spec", "volumes")
	assert.Contains(t, vols, map[string]any{"name": "tls", "secret": map[string]any{"secretName": "certctl-tls", "defaultMode": 256.0}})
}

// TestReservedIsRefused: every variable, volume and mount the components reserve (from the very
// lists they render from) is refused in the user's extras, end to end, with a hint that names a
// real config key.
func TestReservedIsRefused(t *testing.T) {
	cfg := config.Defaults()
	reserved := components.Reserved(&cfg)
	require.NotEmpty(t, reserved.ServerEnv)
	paths := config.SettingPaths()
	refused := func(t *testing.T, extra map[string]any, key string) string {
		t.Helper()
		_, err := run(t, withConfig(t, deepMerge(base(), extra)))
		require.Error(t, err)
		for _, line := range strings.Split(err.Error(), "\n") {
			if strings.Contains(line, "certctl:"+key+":") {
				return line
			}
		}
		t.Fatalf("%s was not refused: %v", key, err)
		return ""
	}
	for _, tc := range []struct {
		section string
		env     []config.ReservedEnv
	}{{"server", reserved.ServerEnv}, {"agent", reserved.AgentEnv}} {
		for _, e := range tc.env {
			msg := refused(t, map[string]any{tc.section: map[string]any{"env": map[string]any{e.Name: "x"}}}, tc.section+".env."+e.Name)
			if e.Key != "" {
				assert.Contains(t, paths, e.Key, "the hint for %s names a config key", e.Name)
				assert.Contains(t, msg, "set "+e.Key+" instead")
			}
		}
	}
	for _, v := range reserved.ServerVolumes {
		refused(t, map[string]any{"server": map[string]any{"volumes": []any{map[string]any{"name": v.Name, "emptyDir": map[string]any{}}}}}, "server.volumes[0].name")
		refused(t, map[string]any{"server": map[string]any{
			"volumes":      []any{map[string]any{"name": "extra", "emptyDir": map[string]any{}}},
			"volumeMounts": []any{map[string]any{"name": "extra", "mountPath": v.MountPath}},
		}}, "server.volumeMounts[0].mountPath")
	}
	assert.Contains(t, reserved.AgentEnv, config.ReservedEnv{Name: "CERTCTL_AGENT_ID"}, "the agent's command sets its ID")
}
