package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
	"github.com/certctl-io/certctl-pulumi/tests/conformance"
)

// The default render carries the defaults (pinned in config/defaults_test.go) where certctl reads
// them; the values here come from config.Defaults().
func TestServerDeploymentDefaultMode(t *testing.T) {
	def := config.Defaults().Server
	r := RenderMode(t, "default")
	d := r.Deployment(t, "certctl-server")
	pod := d.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]

	assert.Equal(t, def.Image.Ref(), c.Image)
	assert.Equal(t, corev1.PullPolicy(def.Image.PullPolicy), c.ImagePullPolicy)
	assert.Equal(t, ptrTo(int32(def.Replicas)), d.Spec.Replicas)
	assert.Equal(t, []corev1.ContainerPort{{Name: "https", ContainerPort: int32(def.Port), Protocol: corev1.ProtocolTCP}}, c.Ports)

	t.Run("probes", func(t *testing.T) {
		for _, tc := range []struct {
			probe  *corev1.Probe
			path   string
			timing config.ProbeTiming
		}{
			{c.LivenessProbe, "/health", def.LivenessProbe},
			{c.ReadinessProbe, "/ready", def.ReadinessProbe},
		} {
			p := tc.probe
			assert.Equal(t, &corev1.HTTPGetAction{Path: tc.path, Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS}, p.HTTPGet)
			got := config.ProbeTiming{
				InitialDelaySeconds: p.InitialDelaySeconds, PeriodSeconds: p.PeriodSeconds, TimeoutSeconds: p.TimeoutSeconds, FailureThreshold: p.FailureThreshold,
			}
			assert.Equal(t, tc.timing, got, tc.path)
		}
	})

	t.Run("postStart narrows the agents' keys", func(t *testing.T) {
		require.NotNil(t, c.Lifecycle)
		require.NotNil(t, c.Lifecycle.PostStart.Exec)
		cmd := c.Lifecycle.PostStart.Exec.Command
		assert.Equal(t, []string{"/bin/sh", "-c"}, cmd[:2])
		assert.Contains(t, cmd[2], `narrow agents r-agent`)
		assert.Contains(t, cmd[2], `POST /auth/demo-residual/cleanup`, "the demo actor's r-admin grant is removed")
		assert.NotContains(t, cmd[2], `narrow prometheus`, "no scrape key without monitoring")
		scraped := RenderMode(t, "ha-monitoring").Deployment(t, "certctl-server").Spec.Template.Spec.Containers[0].Lifecycle.PostStart.Exec.Command
		assert.Contains(t, scraped[2], `narrow prometheus`, "with a ServiceMonitor, the scrape key is narrowed by the same line")
	})

	t.Run("env", func(t *testing.T) {
		order, src := envSources(t, c)
		want := map[string]string{
			"CERTCTL_SERVER_HOST":                      "configMap:certctl-server/server-host",
			"CERTCTL_SERVER_PORT":                      "configMap:certctl-server/server-port",
			"CERTCTL_SERVER_TLS_CERT_PATH":             "configMap:certctl-server/server-tls-cert-path",
			"CERTCTL_SERVER_TLS_KEY_PATH":              "configMap:certctl-server/server-tls-key-path",
			"CERTCTL_DATABASE_URL":                     "secret:certctl-server/database-url",
			"CERTCTL_DATABASE_MAX_CONNS":               "configMap:certctl-server/database-max-conns",
			"CERTCTL_LOG_LEVEL":                        "configMap:certctl-server/log-level",
			"CERTCTL_LOG_FORMAT":                       "configMap:certctl-server/log-format",
			"CERTCTL_AUTH_TYPE":                        "configMap:certctl-server/auth-type",
			"CERTCTL_AUTH_SECRET":                      "secret:certctl-server/api-key",
			"CERTCTL_API_KEYS_NAMED":                   "secret:certctl-server/api-keys-named",
			"CERTCTL_AGENT_BOOTSTRAP_TOKEN":            "secret:certctl-server/bootstrap-token",
			"CERTCTL_CONFIG_ENCRYPTION_KEY":            "secret:certctl-server/config-encryption-key",
			"CERTCTL_CA_CERT_PATH":                     "configMap:certctl-server/ca-cert-path",
			"CERTCTL_CA_KEY_PATH":                      "configMap:certctl-server/ca-key-path",
			"CERTCTL_KEYGEN_MODE":                      "configMap:certctl-server/keygen-mode",
			"CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL": "configMap:certctl-server/scheduler-job-processor-interval",
			"CERTCTL_CRL_GENERATION_INTERVAL":          "configMap:certctl-server/crl-generation-interval",
			"CERTCTL_RATE_LIMIT_RPS":                   "configMap:certctl-server/rate-limit-rps",
			"CERTCTL_RATE_LIMIT_BURST":                 "configMap:certctl-server/rate-limit-burst",
			"CERTCTL_RATE_LIMIT_BACKEND":               "configMap:certctl-server/rate-limit-backend",
		}
		assert.Equal(t, want, src)
		assert.NotContains(t, order, "POSTGRES_PASSWORD", "the URL carries the password; v2.1.7 never substitutes $(POSTGRES_PASSWORD)")

		assert.Equal(t, map[string]string{
			"server-host": "0.0.0.0", "server-port": strconv.Itoa(def.Port),
			"server-tls-cert-path": def.TLS.MountPath + "/tls.crt", "server-tls-key-path": def.TLS.MountPath + "/tls.key",
			"database-max-conns": strconv.Itoa(def.DatabaseMaxConns), "log-level": def.Logging.Level, "log-format": def.Logging.Format,
			"auth-type": def.Auth.Type, "keygen-mode": def.Keygen.Mode, "crl-generation-interval": def.Scheduler.CRLGenerationInterval,
			// Agents generate keys: the job processor runs daily, so it does not strand their
			// deployment jobs (v2.1.7 claims them and leaves them Running).
			"scheduler-job-processor-interval": "24h",
			"rate-limit-rps":                   strconv.Itoa(def.RateLimiting.RPS), "rate-limit-burst": strconv.Itoa(def.RateLimiting.Burst), "rate-limit-backend": "memory",
			"ca-cert-path": "/etc/certctl/ca/tls.crt", "ca-key-path": "/etc/certctl/ca/tls.key",
		}, r.ConfigMap(t, "certctl-server").Data)

		secret := r.Secret(t, "certctl-server").StringData
		pgPassword := generatedValue("certctl-postgres-password")
		assert.Equal(t, "postgres://certctl:"+pgPassword+"@certctl-postgres:5432/certctl?sslmode=disable", secret["database-url"])
		assert.True(t, r.Object(t, "Secret", "certctl-server").secretAt("stringData", "database-url"))
		admin, agents, token := generatedValue("certctl-api-key"), generatedValue("certctl-agent-api-key"), generatedValue("certctl-bootstrap-token")
		assert.Equal(t, admin, secret["api-key"])
		assert.Equal(t, "admin:"+admin+":admin,agents:"+agents+",agent-bootstrap:"+token, secret["api-keys-named"],
			"the admin key is an admin named key; the agents' key and the bootstrap token are named keys the postStart hook narrows")
		assert.NotContains(t, secret, "agent-api-key", "the agents read their key from their own Secret, updated only after the server rolled")
		assert.Equal(t, token, secret["bootstrap-token"])
		assert.Equal(t, generatedValue("certctl-config-encryption-key"), secret["config-encryption-key"])
	})

	t.Run("volumes", func(t *testing.T) {
		assert.Equal(t, []corev1.Volume{
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			secretVolume("tls", "certctl-tls"),
			secretVolume("local-ca", "certctl-ca"),
		}, pod.Volumes)
		assert.Equal(t, []corev1.VolumeMount{
			{Name: "tmp", MountPath: "/tmp"},
			{Name: "tls", MountPath: def.TLS.MountPath, ReadOnly: true},
			{Name: "local-ca", MountPath: "/etc/certctl/ca", ReadOnly: true},
		}, c.VolumeMounts)
		assert.Equal(t, corev1.SecretTypeTLS, r.Secret(t, "certctl-ca").Type)
		assert.True(t, r.Object(t, "Secret", "certctl-ca").secretAt("stringData", "tls.key"), "the CA key stays a Pulumi secret")
		// A fullnameOverride (in the subject) or a provider's new defaults must not mint a new CA.
		assert.ElementsMatch(t, []string{"algorithm", "ecdsaCurve", "rsaBits"}, r.Registered(t, "tls:index/privateKey:PrivateKey").IgnoreChanges)
		assert.ElementsMatch(t, []string{"subject", "validityPeriodHours", "allowedUses", "isCaCertificate", "earlyRenewalHours"},
			r.Registered(t, "tls:index/selfSignedCert:SelfSignedCert").IgnoreChanges, "the certificate follows only its key")
	})

	t.Run("security contexts at their own scope", func(t *testing.T) {
		assert.Equal(t, &corev1.PodSecurityContext{
			RunAsNonRoot: ptrTo(true), RunAsUser: ptrTo[int64](1000), RunAsGroup: ptrTo[int64](1000), FSGroup: ptrTo[int64](1000),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}, pod.SecurityContext)
		assert.Equal(t, &corev1.SecurityContext{
			ReadOnlyRootFilesystem: ptrTo(true), AllowPrivilegeEscalation: ptrTo(false),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}, c.SecurityContext)
		assert.Equal(t, ptrTo(false), pod.AutomountServiceAccountToken)
		assert.Equal(t, ptrTo(false), pod.EnableServiceLinks)
		assert.Equal(t, "certctl", pod.ServiceAccountName)
	})

	t.Run("labels and selectors", func(t *testing.T) {
		selector := map[string]string{
			"app.kubernetes.io/name": "certctl", "app.kubernetes.io/instance": "certctl", "app.kubernetes.io/component": "server",
		}
		assert.Equal(t, selector, d.Spec.Selector.MatchLabels)
		podLabels := d.Spec.Template.Labels
		for k, v := range selector {
			assert.Equal(t, v, podLabels[k])
		}
		assert.Equal(t, "pulumi", podLabels["app.kubernetes.io/managed-by"])
		assert.Equal(t, "v2.1.7", podLabels["app.kubernetes.io/version"])
		assert.Equal(t, selector, r.Service(t, "certctl-server").Spec.Selector)
	})

	t.Run("config and secret changes roll the pods", func(t *testing.T) {
		ann := d.Spec.Template.Annotations
		require.Contains(t, ann, "checksum/config")
		require.Contains(t, ann, "checksum/secret")
		other := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"server": map[string]any{"logging": map[string]any{"level": "debug"}}})))
		otherAnn := other.Deployment(t, "certctl-server").Spec.Template.Annotations
		assert.NotEqual(t, ann["checksum/config"], otherAnn["checksum/config"])
		assert.Equal(t, ann["checksum/secret"], otherAnn["checksum/secret"])
		rotated := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"server": map[string]any{"auth": map[string]any{"apiKey": "rotated-key"}}}), "server"))
		assert.NotEqual(t, ann["checksum/secret"], rotated.Deployment(t, "certctl-server").Spec.Template.Annotations["checksum/secret"])
	})

	t.Run("the secret checksum is keyed and not a secret", func(t *testing.T) {
		for _, o := range []struct{ kind, name string }{{"Deployment", "certctl-server"}, {"DaemonSet", "certctl-agent"}} {
			res := r.Object(t, o.kind, o.name)
			require.NotEmpty(t, Path(res.Manifest(), "spec", "template", "metadata", "annotations", "checksum/secret"), "%s/%s", o.kind, o.name)
			assert.False(t, res.secretAt("spec", "template", "metadata", "annotations", "checksum/secret"), "%s/%s", o.kind, o.name)
			assert.False(t, res.secretAt("spec"), "%s/%s holds no secret value, so Pulumi shows no secret in it", o.kind, o.name)
		}
		// An unkeyed digest of the secret data could be tested against guesses of a weak key.
		data := r.Secret(t, "certctl-server").StringData
		data["local-ca.crt"] = "CERTIFICATE-certctl-server-ca"
		assert.NotEqual(t, checksumOf(data), d.Spec.Template.Annotations["checksum/secret"])
	})
}

// checksumOf is a plain SHA-256 of a map as the program digests config (key NUL value NUL, sorted).
func checksumOf(data map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		h.Write([]byte(k + "\x00" + data[k] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestServerServiceAndRBAC(t *testing.T) {
	r := RenderMode(t, "default")
	svc := r.Object(t, "Service", "certctl-server").Manifest()
	def := config.Defaults().Server.Service
	assert.Equal(t, def.Type, Path(svc, "spec", "type"))
	assert.Equal(t, []any{map[string]any{"name": "https", "port": float64(def.Port), "targetPort": "https", "protocol": "TCP"}}, Path(svc, "spec", "ports"))

	assert.NotContains(t, r.Object(t, "ClusterRole", "certctl").Manifest(), "rules", "no rules unless kubernetesSecrets.enabled, and no empty list: the API server stores none, so one sent would differ at every update")
	binding := r.Object(t, "ClusterRoleBinding", "certctl").Manifest()
	assert.Equal(t, "certctl", Path(binding, "roleRef", "name"))
	assert.Equal(t, []any{map[string]any{"kind": "ServiceAccount", "name": "certctl", "namespace": "certctl"}}, Path(binding, "subjects"))

	withSecrets := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"kubernetesSecrets": map[string]any{"enabled": true}})))
	rules := Path(withSecrets.Object(t, "ClusterRole", "certctl").Manifest(), "rules").([]any)
	require.Len(t, rules, 1)
	assert.Equal(t, []any{"secrets"}, Path(rules[0], "resources"))
	assert.Equal(t, []any{"get", "list", "create", "update", "patch"}, Path(rules[0], "verbs"))
	assert.Equal(t, true, Path(withSecrets.Object(t, "Deployment", "certctl-server").Manifest(), "spec", "template", "spec", "automountServiceAccountToken"))
}

func TestServerOptionalFeaturesEnv(t *testing.T) {
	r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"server": map[string]any{
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
	_, src := envSources(t, r.Deployment(t, "certctl-server").Spec.Template.Spec.Containers[0])
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
	cm := r.ConfigMap(t, "certctl-server").Data
	assert.Equal(t, "ops@example.com,sec@example.com", cm["digest-recipients"])
	assert.Equal(t, "50", cm["database-max-conns"])
	assert.True(t, r.Object(t, "Secret", "certctl-server").secretAt("stringData", "smtp-password"))
	assert.Equal(t, "smtp-pass-123", r.Secret(t, "certctl-server").StringData["smtp-password"])
}

// User extras arrive in Kubernetes' own shape and must land unchanged and valid.
func TestServerUserExtras(t *testing.T) {
	r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"server": map[string]any{
		"volumes":      []any{map[string]any{"name": "corp-ca", "secret": map[string]any{"secretName": "corp-ca"}}},
		"volumeMounts": []any{map[string]any{"name": "corp-ca", "mountPath": "/etc/ssl/corp", "readOnly": true}},
		"extraEnv": []any{map[string]any{"name": "CERTCTL_OIDC_SECRET", "valueFrom": map[string]any{
			"secretKeyRef": map[string]any{"name": "corp-oidc", "key": "secret"},
		}}},
	}})))
	pod := r.Deployment(t, "certctl-server").Spec.Template.Spec
	assert.Contains(t, pod.Volumes, corev1.Volume{Name: "corp-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "corp-ca"}}})
	assert.Contains(t, pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "corp-ca", MountPath: "/etc/ssl/corp", ReadOnly: true})
	_, src := envSources(t, pod.Containers[0])
	assert.Equal(t, "secret:corp-oidc/secret", src["CERTCTL_OIDC_SECRET"])
	errs := conformance.Check(objects(r), conformance.Options{UserProvided: map[string]bool{
		"Secret/certctl-tls": true, "Secret/corp-ca": true, "Secret/corp-oidc": true,
	}})
	assert.Empty(t, errs)
}

func TestCertManagerCertificate(t *testing.T) {
	r := RenderMode(t, "cert-manager")
	cert := r.Object(t, "Certificate", "certctl-server-tls").Manifest()
	assert.Equal(t, "condition=Ready", Path(cert, "metadata", "annotations", "pulumi.com/waitFor"), "the server must not start before its certificate exists")
	spec := Path(cert, "spec")
	assert.Equal(t, "certctl-tls", Path(spec, "secretName"))
	assert.Equal(t, map[string]any{"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"}, Path(spec, "issuerRef"))
	assert.Equal(t, map[string]any{"algorithm": "ECDSA", "size": 256.0, "rotationPolicy": "Always"}, Path(spec, "privateKey"))
	def := config.Defaults().Server.TLS.CertManager
	assert.Equal(t, []any{def.Duration, def.RenewBefore}, []any{Path(spec, "duration"), Path(spec, "renewBefore")})
	assert.Equal(t, []any{"certctl-server", "localhost", "certctl-server.certctl.svc", "certctl-server.certctl.svc.cluster.local"}, Path(spec, "dnsNames"),
		"agents dial the Service name, so the certificate must cover it")
	assert.Contains(t, r.Deployment(t, "certctl-server").Spec.Template.Spec.Volumes, secretVolume("tls", "certctl-tls"))
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
		_, err := run(t, withConfig(t, DeepMerge(base(), extra)))
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
	require.NotEmpty(t, reserved.AgentVolumes)
	for _, v := range reserved.AgentVolumes {
		// The key volume would be mounted over one of the agent's own mounts, or keyDir is one.
		refused(t, map[string]any{"agent": map[string]any{"keyDir": v.MountPath + "/keys"}}, "agent.keyDir")
		refused(t, map[string]any{"agent": map[string]any{"keyDir": v.MountPath}}, "agent.keyDir")
	}
}

func TestJobProcessorFollowsTheKeygenMode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		scheduler map[string]any
		keygen    string
		want      string
	}{
		{"agent keys", nil, "agent", "24h"},
		{"server keys: the processor issues", nil, "server", "30s"},
		{"chosen", map[string]any{"jobProcessorInterval": "5m"}, "agent", "5m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := map[string]any{"keygen": map[string]any{"mode": tc.keygen}}
			if tc.scheduler != nil {
				server["scheduler"] = tc.scheduler
			}
			r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"server": server})))
			assert.Equal(t, tc.want, r.ConfigMap(t, "certctl-server").Data["scheduler-job-processor-interval"])
		})
	}
}

func TestServerProxiesAffinityAndRateLimits(t *testing.T) {
	r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"server": map[string]any{
		"replicas":       2,
		"service":        map[string]any{"sessionAffinity": "ClientIP", "sessionAffinityTimeoutSeconds": 600},
		"trustedProxies": []any{"10.0.0.0/8", "192.0.2.1"},
	}})))
	svc := r.Service(t, "certctl-server").Spec
	assert.Equal(t, corev1.ServiceAffinityClientIP, svc.SessionAffinity)
	assert.Equal(t, ptrTo[int32](600), svc.SessionAffinityConfig.ClientIP.TimeoutSeconds)
	data := r.ConfigMap(t, "certctl-server").Data
	assert.Equal(t, "10.0.0.0/8,192.0.2.1", data["trusted-proxies"])
	assert.Equal(t, "postgres", data["rate-limit-backend"], "two replicas share their limits")
	assert.Equal(t, config.Defaults().Server.RateLimiting.JanitorInterval, data["rate-limit-janitor-interval"])

	single := RenderMode(t, "default")
	assert.Empty(t, single.Service(t, "certctl-server").Spec.SessionAffinity, "None is Kubernetes' default")
	assert.NotContains(t, single.ConfigMap(t, "certctl-server").Data, "rate-limit-janitor-interval", "the memory backend has no janitor")
	assert.NotContains(t, single.ConfigMap(t, "certctl-server").Data, "trusted-proxies")
}

func TestServerSurvivesNodeLoss(t *testing.T) {
	ha := RenderMode(t, "ha").Deployment(t, "certctl-server").Spec
	require.Len(t, ha.Template.Spec.TopologySpreadConstraints, 2)
	for i, key := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		c := ha.Template.Spec.TopologySpreadConstraints[i]
		assert.Equal(t, key, c.TopologyKey)
		assert.Equal(t, int32(1), c.MaxSkew)
		assert.Equal(t, corev1.ScheduleAnyway, c.WhenUnsatisfiable, "a cluster with fewer nodes than replicas still schedules them all")
		assert.Equal(t, "server", c.LabelSelector.MatchLabels["app.kubernetes.io/component"])
	}
	assert.Equal(t, ptrTo(intstr.FromInt32(0)), ha.Strategy.RollingUpdate.MaxUnavailable, "a rollout never drops below the budget")
	assert.Equal(t, ptrTo(intstr.FromInt32(1)), ha.Strategy.RollingUpdate.MaxSurge)

	assert.Empty(t, RenderMode(t, "default").Deployment(t, "certctl-server").Spec.Template.Spec.TopologySpreadConstraints,
		"one replica has nothing to spread")
	own := renderModeWith(t, "ha", map[string]any{"server": map[string]any{"topologySpreadConstraints": []any{map[string]any{
		"topologyKey": "topology.kubernetes.io/zone", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule",
		"labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/component": "server"}},
	}}}}).Deployment(t, "certctl-server").Spec.Template.Spec.TopologySpreadConstraints
	require.Len(t, own, 1, "the user's constraints replace the default")
	assert.Equal(t, corev1.DoNotSchedule, own[0].WhenUnsatisfiable)
}

func TestFleetSizeSetsDefaultsExplicitValuesWin(t *testing.T) {
	r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{
		"fleetSize":  "medium",
		"server":     map[string]any{"replicas": 4, "resources": map[string]any{"limits": map[string]any{"memory": "3Gi"}}},
		"postgresql": map[string]any{"postgresqlConfig": map[string]any{"work_mem": "16MB"}},
	})))
	server := r.Deployment(t, "certctl-server").Spec
	assert.Equal(t, int32(4), *server.Replicas, "an explicit replica count wins over the tier's")
	// The tier's own values are pinned in config/defaults_test.go (TestFleetSizes).
	medium := config.Sized(config.FleetMedium)
	limits := server.Template.Spec.Containers[0].Resources.Limits
	assert.Equal(t, "3Gi", limits.Memory().String(), "an explicit limit wins")
	assert.Equal(t, medium.Server.Resources.Limits["cpu"], limits.Cpu().String(), "the tier's CPU limit stays")
	pg := r.StatefulSet(t, "certctl-postgres").Spec
	assert.Subset(t, pg.Template.Spec.Containers[0].Args, []string{"-c", "max_connections=" + medium.PostgreSQL.PostgresqlConfig["max_connections"], "-c", "work_mem=16MB"},
		"the tier's Postgres settings and the user's, merged")
	assert.Equal(t, medium.PostgreSQL.Storage.Size, pg.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String())
}
