package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// valid is the smallest valid configuration: the defaults plus a TLS source.
func valid() Config {
	c := Defaults()
	c.Server.TLS.ExistingSecret = "certctl-tls"
	return c
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.NotEmpty(t, ve.Problems)
	return ve.Problems
}

func find(ps []Problem, key string) (Problem, bool) {
	for _, p := range ps {
		if p.Key == key {
			return p, true
		}
	}
	return Problem{}, false
}

// fixVerbs start every remediation, so each message tells the user what to do.
var fixVerbs = []string{"set", "use", "remove", "shorten", "rename", "give", "add", "store", "keep", "lower", "put", "check"}

func assertActionable(t *testing.T, p Problem) {
	t.Helper()
	what, fix, ok := strings.Cut(p.Message, "; ")
	require.True(t, ok, "message %q lacks the \"what; fix\" shape", p.Message)
	assert.NotEmpty(t, what)
	verb, _, _ := strings.Cut(fix, " ")
	assert.Contains(t, fixVerbs, verb, "fix %q of %s does not start with an instruction", fix, p.Key)
}

func TestValidDefaultsPass(t *testing.T) {
	require.NoError(t, valid().Validate(testReserved))
}

func TestDefaultsAloneNeedATLSSource(t *testing.T) {
	ps := problemsOf(t, Defaults().Validate(testReserved))
	require.Len(t, ps, 1)
	assert.Equal(t, "certctl:server.tls", ps[0].Key)
	assert.Contains(t, ps[0].Message, "EXACTLY ONE TLS ownership path")
	assert.Contains(t, ps[0].Message, "server.tls.existingSecret")
	assert.Contains(t, ps[0].Message, "server.tls.certManager.enabled=true")
	assert.Contains(t, ps[0].Message, "issuerRef.name")
}

type refusal struct {
	name   string
	mutate func(c *Config)
	key    string // without "certctl:"
	// contains, when set, must appear in the problem's message.
	contains string
}

func TestValidateRefuses(t *testing.T) {
	for _, tc := range refusals() {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			ps := problemsOf(t, c.Validate(testReserved))
			p, ok := find(ps, "certctl:"+tc.key)
			require.True(t, ok, "no problem on %s; got %v", tc.key, ps)
			assertActionable(t, p)
			if tc.contains != "" {
				assert.Contains(t, p.Message, tc.contains)
			}
		})
	}
}

func refusals() []refusal {
	long := func(n int) string { return strings.Repeat("a", n) }
	tol := func(tl corev1.Toleration) func(*Config) {
		return func(c *Config) { c.Server.Tolerations = []corev1.Toleration{tl} }
	}
	relabel := func(r RelabelConfig) func(*Config) {
		return func(c *Config) { c.Monitoring.ServiceMonitor.Relabelings = []RelabelConfig{r} }
	}
	secretVolume := corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "extra"}}
	antiAffinity := func(a corev1.PodAntiAffinity) func(*Config) {
		return func(c *Config) { c.Server.Affinity = &corev1.Affinity{PodAntiAffinity: &a} }
	}
	required := func(term corev1.PodAffinityTerm) func(*Config) {
		return antiAffinity(corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}})
	}
	byHost := func(expr metav1.LabelSelectorRequirement) func(*Config) {
		return required(corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{expr},
		}})
	}
	nodeAffinity := func(expr corev1.NodeSelectorRequirement) func(*Config) {
		return func(c *Config) {
			c.Agent.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{expr}}},
			}}}
		}
	}
	extraEnv := func(from corev1.EnvVarSource) func(*Config) {
		return func(c *Config) { c.Server.ExtraEnv = []corev1.EnvVar{{Name: "FROM", ValueFrom: &from}} }
	}
	volume := func(src corev1.VolumeSource) func(*Config) {
		return func(c *Config) { c.Server.Volumes = []corev1.Volume{{Name: "extra", VolumeSource: src}} }
	}
	egress := func(rule networkingv1.NetworkPolicyEgressRule) func(*Config) {
		return func(c *Config) {
			c.NetworkPolicy.Enabled = true
			c.NetworkPolicy.ExtraEgress = []networkingv1.NetworkPolicyEgressRule{rule}
		}
	}
	ipBlock := func(b networkingv1.IPBlock) func(*Config) {
		return egress(networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &b}}})
	}
	port := func(np networkingv1.NetworkPolicyPort) func(*Config) {
		return egress(networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{np}})
	}
	tcp, lowerTCP := corev1.ProtocolTCP, corev1.Protocol("tcp")
	spread := func(sc corev1.TopologySpreadConstraint) func(*Config) {
		return func(c *Config) { c.PostgreSQL.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{sc} }
	}
	return []refusal{
		// Chart refusals.
		{"TLS neither path", func(c *Config) { c.Server.TLS.ExistingSecret = "" }, "server.tls", "EXACTLY ONE TLS ownership path"},
		{"TLS both paths", func(c *Config) {
			c.Server.TLS.CertManager.Enabled = true
			c.Server.TLS.CertManager.IssuerRef.Name = "le"
		}, "server.tls", "EXACTLY ONE TLS ownership path"},
		{"cert-manager without issuer name", func(c *Config) {
			c.Server.TLS.ExistingSecret = ""
			c.Server.TLS.CertManager.Enabled = true
		}, "server.tls.certManager.issuerRef.name", "Issuer"},
		{"cert-manager issuer kind", func(c *Config) { c.Server.TLS.CertManager.IssuerRef.Kind = "Cluster" }, "server.tls.certManager.issuerRef.kind", "ClusterIssuer"},
		{"auth type jwt", func(c *Config) { c.Server.Auth.Type = "jwt" }, "server.auth.type", "gateway"},
		{"auth none expires in a day", func(c *Config) { c.Server.Auth.Type = AuthNone }, "server.auth.type", "24 hours"},
		{"auth type mentions OIDC gateway", func(c *Config) { c.Server.Auth.Type = "oidc" }, "server.auth.type", "OIDC"},
		{"postgres off without external URL", func(c *Config) { c.PostgreSQL.Enabled = false }, "externalDatabase.url", "postgresql.enabled"},
		{"ingress cert-manager without issuer", func(c *Config) { c.Ingress.CertManager.Enabled = true }, "ingress.certManager.issuerRef.name", ""},
		{"ingress issuer kind", func(c *Config) { c.Ingress.CertManager.IssuerRef.Kind = "issuer" }, "ingress.certManager.issuerRef.kind", ""},
		{"PDB both set", func(c *Config) {
			c.PodDisruptionBudget.MaxUnavailable = ptr(intstr.FromInt32(1))
		}, "podDisruptionBudget", "both"},
		{"PDB enabled with neither", func(c *Config) {
			c.PodDisruptionBudget.Enabled = true
			c.PodDisruptionBudget.MinAvailable = nil
		}, "podDisruptionBudget", ""},
		{"PDB percentage out of range", func(c *Config) { c.PodDisruptionBudget.MinAvailable = ptr(intstr.FromString("150%")) }, "podDisruptionBudget.minAvailable", ""},
		{"PDB negative count", func(c *Config) {
			c.PodDisruptionBudget.MinAvailable = nil
			c.PodDisruptionBudget.MaxUnavailable = ptr(intstr.FromInt32(-1))
		}, "podDisruptionBudget.maxUnavailable", ""},
		{"agent kind", func(c *Config) { c.Agent.Kind = "StatefulSet" }, "agent.kind", "DaemonSet"},

		// Names.
		{"fleet size", func(c *Config) { c.FleetSize = "huge" }, "fleetSize", "use one of: small, medium, large"},
		{"release name empty", func(c *Config) { c.ReleaseName = "" }, "releaseName", ""},
		{"release name uppercase", func(c *Config) { c.ReleaseName = "Prod" }, "releaseName", ""},
		{"release name starting with a digit", func(c *Config) { c.ReleaseName = "1prod" }, "releaseName", "letter"},
		{"nameOverride invalid", func(c *Config) { c.NameOverride = "bad_name" }, "nameOverride", ""},
		{"fullnameOverride invalid", func(c *Config) { c.FullnameOverride = "UP" }, "fullnameOverride", ""},
		{"namespace empty", func(c *Config) { c.Namespace = "" }, "namespace", ""},
		{"namespace with dots", func(c *Config) { c.Namespace = "a.b" }, "namespace", ""},
		{"service account name", func(c *Config) { c.ServiceAccount.Name = "Runner" }, "serviceAccount.name", ""},
		{"image pull secret empty", func(c *Config) { c.ImagePullSecrets = []corev1.LocalObjectReference{{}} }, "imagePullSecrets[0].name", ""},
		{"image pull secret invalid", func(c *Config) {
			c.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "ok"}, {Name: "no way"}}
		}, "imagePullSecrets[1].name", ""},
		{"existing TLS secret name", func(c *Config) { c.Server.TLS.ExistingSecret = "Bad_Secret" }, "server.tls.existingSecret", ""},
		{"cert-manager secret name", func(c *Config) { c.Server.TLS.CertManager.SecretName = "x_y" }, "server.tls.certManager.secretName", ""},
		{"postgres CA secret name", func(c *Config) { c.PostgreSQL.TLS.CASecretRef = "CA" }, "postgresql.tls.caSecretRef", ""},
		{"bearer token secret name", func(c *Config) {
			c.Monitoring.ServiceMonitor.BearerTokenSecret = SecretKeyRef{Name: "Bad", Key: "token"}
		}, "monitoring.serviceMonitor.bearerTokenSecret.name", ""},
		{"backup existing claim", func(c *Config) { c.Backup.PVC.ExistingClaim = "claim!" }, "backup.pvc.existingClaim", ""},
		{"fullnameOverride too long for the StatefulSet", func(c *Config) { c.FullnameOverride = long(44) }, "fullnameOverride", "at most 43"},
		{"fullnameOverride too long for a label", func(c *Config) {
			c.PostgreSQL.Enabled = false
			c.ExternalDatabase.URL = NewSecret("postgres://u:p@db/certctl")
			c.FullnameOverride = long(57)
		}, "fullnameOverride", "at most 56"},
		{"release too long", func(c *Config) { c.ReleaseName = "release-" + long(40) }, "releaseName", "StatefulSet"},
		{"release too long for the CronJob", func(c *Config) {
			useExternalDB(c) // without the StatefulSet, the CronJob is the tightest name
			c.Backup.Enabled = true
			c.ReleaseName = "certctl-" + long(38) // 46 > 45 = 52 - len("-backup")
		}, "releaseName", "CronJob"},
		{"release too long for the agents' StatefulSet", func(c *Config) {
			useExternalDB(c) // without Postgres' StatefulSet, the agents' is the tightest name
			c.Agent.Kind = AgentDeployment
			c.ReleaseName = "certctl-" + long(39) // 47 > 46 = 52 - len("-agent")
		}, "releaseName", "StatefulSet"},
		{"nameOverride makes the fullname too long", func(c *Config) {
			c.ReleaseName, c.NameOverride = "prod", long(40)
		}, "releaseName", "nameOverride"},

		// Label and annotation maps.
		{"common label key", func(c *Config) { c.CommonLabels = map[string]string{"bad key!": "x"} }, `commonLabels["bad key!"]`, ""},
		{"common label value", func(c *Config) { c.CommonLabels = map[string]string{"team": "has space"} }, "commonLabels.team", ""},
		{"common label overrides a selector", func(c *Config) {
			c.CommonLabels = map[string]string{"app.kubernetes.io/instance": "x"}
		}, `commonLabels["app.kubernetes.io/instance"]`, "selector"},
		{"common annotation key", func(c *Config) { c.CommonAnnotations = map[string]string{"/x": "y"} }, `commonAnnotations["/x"]`, ""},
		{"service annotation key", func(c *Config) { c.Server.Service.Annotations = map[string]string{"a b": ""} }, `server.service.annotations["a b"]`, ""},
		{"ingress annotation key", func(c *Config) { c.Ingress.Annotations = map[string]string{"-x": ""} }, "ingress.annotations.-x", ""},
		{"service account annotation key", func(c *Config) {
			c.ServiceAccount.Annotations = map[string]string{"eks.amazonaws.com/": "arn"}
		}, `serviceAccount.annotations["eks.amazonaws.com/"]`, ""},
		{"pod annotation key", func(c *Config) { c.Server.PodAnnotations = map[string]string{"x/y/z": ""} }, `server.podAnnotations["x/y/z"]`, ""},
		{"service monitor label", func(c *Config) { c.Monitoring.ServiceMonitor.Labels = map[string]string{"release": "kube prom"} }, "monitoring.serviceMonitor.labels.release", ""},
		{"prometheus rules label", func(c *Config) { c.Monitoring.PrometheusRules.Labels = map[string]string{"role": long(64)} }, "monitoring.prometheusRules.labels.role", ""},
		{"server node selector value", func(c *Config) { c.Server.NodeSelector = map[string]string{"pool": "a/b"} }, "server.nodeSelector.pool", ""},
		{"agent node selector key", func(c *Config) { c.Agent.NodeSelector = map[string]string{"kubernetes.io/": "linux"} }, `agent.nodeSelector["kubernetes.io/"]`, ""},

		// Resources.
		{"unsupported resource", func(c *Config) { c.Server.Resources.Requests["nvidia.com/gpu"] = "1" }, `server.resources.requests["nvidia.com/gpu"]`, ""},
		{"unparsable quantity", func(c *Config) { c.PostgreSQL.Resources.Limits["memory"] = "lots" }, "postgresql.resources.limits.memory", ""},
		{"request above limit", func(c *Config) { c.Agent.Resources.Requests["cpu"] = "2" }, "agent.resources.requests.cpu", "limit"},
		{"negative quantity", func(c *Config) { c.Backup.Resources.Requests["memory"] = "-1Mi" }, "backup.resources.requests.memory", ""},
		{"memory in millibytes", func(c *Config) { c.Server.Resources.Limits["memory"] = "512m" }, "server.resources.limits.memory", "less than 1Mi"},
		{"memory in bytes below 1Mi", func(c *Config) { c.Agent.Resources.Limits["memory"] = "65536" }, "agent.resources.limits.memory", "less than 1Mi"},

		// Images.
		{"empty repository", func(c *Config) { c.Server.Image.Repository = "" }, "server.image.repository", ""},
		{"pull policy", func(c *Config) { c.Agent.Image.PullPolicy = "Sometimes" }, "agent.image.pullPolicy", "IfNotPresent"},
		{"empty pull policy", func(c *Config) { c.Server.Image.PullPolicy = "" }, "server.image.pullPolicy", ""},
		{"digest not hex", func(c *Config) { c.PostgreSQL.Image.Digest = "sha256:xyz" }, "postgresql.image.digest", ""},
		{"digest short", func(c *Config) { c.PostgreSQL.Image.Digest = "sha256:abcd" }, "postgresql.image.digest", ""},
		{"digest other algorithm", func(c *Config) { c.PostgreSQL.Image.Digest = "sha512:" + strings.Repeat("a", 64) }, "postgresql.image.digest", ""},
		{"tag inside repository", func(c *Config) { c.Backup.Image.Repository = "postgres:16" }, "backup.image.repository", "tag"},
		{"invalid tag", func(c *Config) { c.Backup.S3.UploaderImage.Tag = "bad tag" }, "backup.s3.uploaderImage.tag", ""},
		{"repository with a scheme", func(c *Config) { c.Server.Image.Repository = "https://ghcr.io/certctl-io/certctl-server" }, "server.image.repository", "without a scheme"},
		{"repository with capitals", func(c *Config) { c.Agent.Image.Repository = "ghcr.io/CertCtl-IO/certctl-agent" }, "agent.image.repository", "lowercase"},

		// Security contexts.
		{"runAsNonRoot false", func(c *Config) { c.Server.SecurityContext.RunAsNonRoot = ptr(false) }, "server.securityContext.runAsNonRoot", ""},
		{"runAsNonRoot unset", func(c *Config) { c.Agent.SecurityContext.RunAsNonRoot = nil }, "agent.securityContext.runAsNonRoot", ""},
		{"uid 0", func(c *Config) { c.PostgreSQL.SecurityContext.RunAsUser = ptr(int64(0)) }, "postgresql.securityContext.runAsUser", ""},
		{"negative fsGroup", func(c *Config) { c.Server.SecurityContext.FSGroup = ptr(int64(-1)) }, "server.securityContext.fsGroup", ""},
		{"negative supplemental group", func(c *Config) { c.Server.SecurityContext.SupplementalGroups = []int64{5, -2} }, "server.securityContext.supplementalGroups[1]", ""},
		{"privilege escalation", func(c *Config) { c.Agent.SecurityContext.AllowPrivilegeEscalation = ptr(true) }, "agent.securityContext.allowPrivilegeEscalation", ""},
		{"capabilities unset", func(c *Config) { c.Backup.SecurityContext.Capabilities = nil }, "backup.securityContext.capabilities.drop", "ALL"},
		{"capability added", func(c *Config) {
			c.Server.SecurityContext.Capabilities = &Capabilities{Drop: []string{"ALL"}, Add: []string{"SYS_ADMIN"}}
		}, "server.securityContext.capabilities.add[0]", ""},
		{"seccomp unconfined", func(c *Config) { c.Server.SecurityContext.SeccompProfile = &SeccompProfile{Type: "Unconfined"} }, "server.securityContext.seccompProfile.type", ""},
		{"seccomp unset", func(c *Config) { c.PostgreSQL.SecurityContext.SeccompProfile = nil }, "postgresql.securityContext.seccompProfile", ""},
		{"seccomp localhost without profile", func(c *Config) { c.Agent.SecurityContext.SeccompProfile = &SeccompProfile{Type: "Localhost"} }, "agent.securityContext.seccompProfile.localhostProfile", ""},
		{"privileged", func(c *Config) { c.Server.SecurityContext.Privileged = ptr(true) }, "server.securityContext.privileged", ""},

		// Counts, ports, probes.
		{"server replicas", func(c *Config) { c.Server.Replicas = 0 }, "server.replicas", ""},
		{"agent replicas", func(c *Config) { c.Agent.Replicas = 0 }, "agent.replicas", ""},
		{"database max conns", func(c *Config) { c.Server.DatabaseMaxConns = 0 }, "server.databaseMaxConns", ""},
		{"server port", func(c *Config) { c.Server.Port = 0 }, "server.port", ""},
		{"service port", func(c *Config) { c.Server.Service.Port = 70000 }, "server.service.port", ""},
		{"postgres service port", func(c *Config) { c.PostgreSQL.Service.Port = -1 }, "postgresql.service.port", ""},
		{"smtp port", func(c *Config) { c.Server.SMTP.Port = 65536 }, "server.smtp.port", ""},
		{"rate limit rps", func(c *Config) { c.Server.RateLimiting.RPS = 0 }, "server.rateLimiting.rps", ""},
		{"rate limit burst below rps", func(c *Config) { c.Server.RateLimiting.Burst = 50 }, "server.rateLimiting.burst", ""},
		{"liveness period", func(c *Config) { c.Server.LivenessProbe.PeriodSeconds = 0 }, "server.livenessProbe.periodSeconds", ""},
		{"readiness timeout", func(c *Config) { c.Server.ReadinessProbe.TimeoutSeconds = 0 }, "server.readinessProbe.timeoutSeconds", ""},
		{"postgres failure threshold", func(c *Config) { c.PostgreSQL.LivenessProbe.FailureThreshold = 0 }, "postgresql.livenessProbe.failureThreshold", ""},
		{"postgres initial delay", func(c *Config) { c.PostgreSQL.ReadinessProbe.InitialDelaySeconds = -1 }, "postgresql.readinessProbe.initialDelaySeconds", ""},

		// Enumerations.
		{"log level", func(c *Config) { c.Server.Logging.Level = "trace" }, "server.logging.level", "debug"},
		{"log format", func(c *Config) { c.Server.Logging.Format = "xml" }, "server.logging.format", ""},
		{"session affinity", func(c *Config) { c.Server.Service.SessionAffinity = "clientIP" }, "server.service.sessionAffinity", ""},
		{"session affinity timeout", func(c *Config) { c.Server.Service.SessionAffinityTimeoutSeconds = 0 }, "server.service.sessionAffinityTimeoutSeconds", "86400"},
		{"trusted proxy hostname", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "ingress.internal"} }, "server.trustedProxies[1]", "CIDR"},
		{"rate limit backend", func(c *Config) { c.Server.RateLimiting.Backend = "redis" }, "server.rateLimiting.backend", ""},
		{"rate limit janitor too often", func(c *Config) { c.Server.RateLimiting.JanitorInterval = "30s" }, "server.rateLimiting.janitorInterval", "1m"},
		{"text logs are never written", func(c *Config) { c.Server.Logging.Format = "text" }, "server.logging.format", "always logs JSON"},
		{"cors wildcard stops the server", func(c *Config) { c.Server.CORS.Origins = "https://a.example.com,*" }, "server.cors.origins", "demo mode"},
		{"keygen mode", func(c *Config) { c.Server.Keygen.Mode = "hsm" }, "server.keygen.mode", ""},
		{"service type", func(c *Config) { c.Server.Service.Type = "ExternalName" }, "server.service.type", ""},
		{"postgres tls mode", func(c *Config) { c.PostgreSQL.TLS.Mode = "prefer" }, "postgresql.tls.mode", ""},
		{"verify-full without CA", func(c *Config) { c.PostgreSQL.TLS.Mode = "verify-full" }, "postgresql.tls.caSecretRef", "verify-full"},
		{"verify-ca without CA", func(c *Config) { c.PostgreSQL.TLS.Mode = "verify-ca" }, "postgresql.tls.caSecretRef", ""},
		{"external URL does not verify what the mode promises", func(c *Config) {
			useExternalDB(c)
			c.ExternalDatabase.URL = NewSecret("postgres://u:p@db.example.com:5432/certctl?sslmode=disable")
			c.PostgreSQL.TLS.Mode, c.PostgreSQL.TLS.CASecretRef = "verify-full", "db-ca"
		}, "postgresql.tls.mode", "sslmode=disable"},
		{"bundled TLS without a server certificate", func(c *Config) { c.PostgreSQL.TLS.Mode = "require" }, "postgresql.tls.certSecretRef", "serves no TLS"},
		{"server certificate for an external database", func(c *Config) {
			useExternalDB(c)
			c.PostgreSQL.TLS.CertSecretRef = "db-tls"
		}, "postgresql.tls.certSecretRef", "nothing would serve it"},
		{"postgres certificate secret name", func(c *Config) { c.PostgreSQL.TLS.CertSecretRef = "TLS" }, "postgresql.tls.certSecretRef", ""},
		{"challenge type", func(c *Config) { c.Server.Issuer.ACME.ChallengeType = "tls-alpn-01" }, "server.issuer.acme.challengeType", ""},
		{"dns-01 from the environment never gets its scripts", func(c *Config) {
			enableACME(c)
			c.Server.Issuer.ACME.ChallengeType = "dns-01"
		}, "server.issuer.acme.challengeType", "through certctl's API"},
		{"dns-persist-01 from the environment never gets its scripts", func(c *Config) {
			enableACME(c)
			c.Server.Issuer.ACME.ChallengeType = "dns-persist-01"
		}, "server.issuer.acme.challengeType", "DNS scripts"},
		{"dns present script reaches no issuer", func(c *Config) { c.Server.Issuer.ACME.DNSPresentScript = "/scripts/present.sh" }, "server.issuer.acme.dnsPresentScript", "dns_present_script"},
		{"ingress path type", func(c *Config) { c.Ingress.Hosts[0].Paths[0].PathType = "Regex" }, "ingress.hosts[0].paths[0].pathType", ""},
		{"backup sink", func(c *Config) { c.Backup.Sink = "gcs" }, "backup.sink", ""},
		{"pagerduty severity", func(c *Config) { c.Server.Notifiers.PagerDuty.Severity = "urgent" }, "server.notifiers.pagerduty.severity", ""},
		{"opsgenie priority", func(c *Config) { c.Server.Notifiers.Opsgenie.Priority = "P9" }, "server.notifiers.opsgenie.priority", ""},

		// Durations.
		{"digest interval", func(c *Config) { c.Server.Digest.Interval = "daily" }, "server.digest.interval", ""},
		{"network scan interval zero", func(c *Config) { c.Server.NetworkScan.Interval = "0s" }, "server.networkScan.interval", ""},
		{"cert-manager duration", func(c *Config) { c.Server.TLS.CertManager.Duration = "90d" }, "server.tls.certManager.duration", ""},
		{"cert-manager duration below 1h", func(c *Config) {
			c.Server.TLS.CertManager.Duration, c.Server.TLS.CertManager.RenewBefore = "30m", "10m"
		}, "server.tls.certManager.duration", "1h"},
		{"cert-manager renewBefore not shorter", func(c *Config) { c.Server.TLS.CertManager.RenewBefore = "2160h" }, "server.tls.certManager.renewBefore", ""},
		{"cert-manager renewBefore negative", func(c *Config) { c.Server.TLS.CertManager.RenewBefore = "-1h" }, "server.tls.certManager.renewBefore", ""},
		{"scrape interval fraction", func(c *Config) { c.Monitoring.ServiceMonitor.Interval = "1.5m" }, "monitoring.serviceMonitor.interval", ""},
		{"scrape timeout above interval", func(c *Config) { c.Monitoring.ServiceMonitor.ScrapeTimeout = "1m" }, "monitoring.serviceMonitor.scrapeTimeout", ""},
		{"expiring soon for", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.ExpiringCertificateFor = "forever" }, "monitoring.prometheusRules.thresholds.expiringCertificateFor", ""},
		{"agent offline for zero", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.OfflineAgentFor = "0" }, "monitoring.prometheusRules.thresholds.offlineAgentFor", ""},
		{"job failure rate for unitless", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.JobFailureRateFor = "15" }, "monitoring.prometheusRules.thresholds.jobFailureRateFor", ""},
		{"issuance window out of order", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.IssuanceFailureFor = "5m1h" }, "monitoring.prometheusRules.thresholds.issuanceFailureFor", ""},
		{"dns propagation wait reaches no code", func(c *Config) { c.Server.Issuer.ACME.DNSPropagationWait = "90s" }, "server.issuer.acme.dnsPropagationWait", "dns_propagation_wait"},

		// TLS details.
		{"tls mount path relative", func(c *Config) { c.Server.TLS.MountPath = "etc/tls" }, "server.tls.mountPath", ""},
		{"cert common name too long", func(c *Config) { c.Server.TLS.CertManager.CommonName = long(65) }, "server.tls.certManager.commonName", ""},
		{"cert dns name", func(c *Config) { c.Server.TLS.CertManager.DNSNames = []string{"ok.example.com", "Bad_Name"} }, "server.tls.certManager.dnsNames[1]", ""},
		{"cert names nothing", func(c *Config) {
			c.Server.TLS.ExistingSecret = ""
			c.Server.TLS.CertManager = CertManager{Enabled: true, IssuerRef: IssuerRef{Name: "le", Kind: "Issuer"}, Duration: "2160h", RenewBefore: "360h"}
		}, "server.tls.certManager.dnsNames", ""},

		// Feature prerequisites.
		{"smtp without host", func(c *Config) {
			c.Server.SMTP.Enabled = true
			c.Server.SMTP.FromAddress = "certctl@example.com"
		}, "server.smtp.host", ""},
		{"smtp without from address", func(c *Config) {
			c.Server.SMTP.Enabled = true
			c.Server.SMTP.Host = "smtp.example.com"
		}, "server.smtp.fromAddress", ""},
		{"smtp from address invalid", func(c *Config) { c.Server.SMTP.FromAddress = "not-an-address" }, "server.smtp.fromAddress", ""},
		{"smtp host with port", func(c *Config) { c.Server.SMTP.Host = "smtp.example.com:25" }, "server.smtp.host", "port"},
		{"smtp password while disabled", func(c *Config) { c.Server.SMTP.Password = NewSecret("pw") }, "server.smtp.password", "server.smtp.enabled"},
		{"digest without smtp", func(c *Config) {
			c.Server.Digest.Enabled = true
			c.Server.Digest.Recipients = []string{"ops@example.com"}
		}, "server.digest.enabled", "smtp"},
		{"digest without recipients", func(c *Config) {
			enableSMTP(c)
			c.Server.Digest.Enabled = true
		}, "server.digest.recipients", ""},
		{"digest recipient invalid", func(c *Config) { c.Server.Digest.Recipients = []string{"ops@example.com", "bob"} }, "server.digest.recipients[1]", ""},
		{"digest recipients joined", func(c *Config) { c.Server.Digest.Recipients = []string{"a@example.com, b@example.com"} }, "server.digest.recipients[0]", ""},
		{"acme without directory", func(c *Config) {
			enableACME(c)
			c.Server.Issuer.ACME.DirectoryURL = ""
		}, "server.issuer.acme.directoryURL", ""},
		{"acme directory over http", func(c *Config) { c.Server.Issuer.ACME.DirectoryURL = "http://acme.example.com/directory" }, "server.issuer.acme.directoryURL", "https"},
		{"acme directory relative", func(c *Config) { c.Server.Issuer.ACME.DirectoryURL = "acme.example.com/directory" }, "server.issuer.acme.directoryURL", ""},
		{"acme without email", func(c *Config) {
			enableACME(c)
			c.Server.Issuer.ACME.Email = ""
		}, "server.issuer.acme.email", ""},
		{"acme email invalid", func(c *Config) { c.Server.Issuer.ACME.Email = "admin" }, "server.issuer.acme.email", ""},
		{"acme EAB kid reaches no code", func(c *Config) { c.Server.Issuer.ACME.EABKid = "kid" }, "server.issuer.acme.eabKid", "through certctl's API"},
		{"acme EAB hmac reaches no code", func(c *Config) { c.Server.Issuer.ACME.EABHmac = NewSecret("hmac") }, "server.issuer.acme.eabHmac", "eab_hmac"},
		{"est without issuer", func(c *Config) {
			c.Server.EST.Enabled = true
			c.Server.EST.IssuerID = ""
		}, "server.est.issuerID", ""},
		{"step-ca issuer", func(c *Config) { c.Server.Issuer.StepCA.Enabled = true }, "server.issuer.stepca.enabled", "first boot with an empty issuers table; use certctl's API"},
		{"openssl issuer", func(c *Config) { c.Server.Issuer.OpenSSL.Enabled = true }, "server.issuer.openssl.enabled", "is not wired by this program"},
		{"slack without webhook", func(c *Config) { c.Server.Notifiers.Slack.Enabled = true }, "server.notifiers.slack.webhookUrl", "--secret"},
		{"slack webhook over http", func(c *Config) {
			c.Server.Notifiers.Slack.Enabled = true
			c.Server.Notifiers.Slack.WebhookURL = NewSecret("http://hooks.slack.com/x")
		}, "server.notifiers.slack.webhookUrl", "https"},
		{"teams webhook not a URL", func(c *Config) {
			c.Server.Notifiers.Teams.Enabled = true
			c.Server.Notifiers.Teams.WebhookURL = NewSecret("outlook-hook")
		}, "server.notifiers.teams.webhookUrl", ""},
		{"pagerduty without routing key", func(c *Config) { c.Server.Notifiers.PagerDuty.Enabled = true }, "server.notifiers.pagerduty.routingKey", ""},
		{"opsgenie without key", func(c *Config) { c.Server.Notifiers.Opsgenie.Enabled = true }, "server.notifiers.opsgenie.apiKey", ""},
		{"opsgenie key while disabled", func(c *Config) { c.Server.Notifiers.Opsgenie.APIKey = NewSecret("k") }, "server.notifiers.opsgenie.apiKey", "enabled=true"},
		{"teams webhook while disabled", func(c *Config) { c.Server.Notifiers.Teams.WebhookURL = NewSecret("https://x.example.com") }, "server.notifiers.teams.webhookUrl", ""},
		{"external URL with bundled postgres", func(c *Config) { c.ExternalDatabase.URL = NewSecret("postgres://u:p@db/certctl") }, "externalDatabase.url", "ambiguous"},
		{"external URL not postgres", func(c *Config) {
			c.PostgreSQL.Enabled = false
			c.ExternalDatabase.URL = NewSecret("mysql://u:p@db/certctl")
		}, "externalDatabase.url", ""},
		{"external URL without host", func(c *Config) {
			c.PostgreSQL.Enabled = false
			c.ExternalDatabase.URL = NewSecret("postgres:certctl")
		}, "externalDatabase.url", ""},
		{"postgres password with postgres off", func(c *Config) {
			useExternalDB(c)
			c.PostgreSQL.Auth.Password = NewSecret("pw")
		}, "postgresql.auth.password", "postgresql.enabled"},
		{"api key empty entry", func(c *Config) { c.Server.Auth.APIKey = NewSecret("old,,new") }, "server.auth.apiKey", "empty"},
		{"api key with whitespace", func(c *Config) { c.Server.Auth.APIKey = NewSecret("old, new") }, "server.auth.apiKey", "whitespace"},
		{"api key with a colon", func(c *Config) { c.Server.Auth.APIKey = NewSecret("a:b") }, "server.auth.apiKey", "':'"},
		{"scrape key and a bearer token Secret", func(c *Config) {
			c.Monitoring.ServiceMonitor.ScrapeKey = NewSecret("scrape-1")
			c.Monitoring.ServiceMonitor.BearerTokenSecret = SecretKeyRef{Name: "prom", Key: "token"}
		}, "monitoring.serviceMonitor.scrapeKey", "ambiguous"},
		{"scrape key reused as the agents' key", func(c *Config) {
			c.Monitoring.ServiceMonitor.ScrapeKey = NewSecret("shared-1")
			c.Server.Auth.AgentAPIKey = NewSecret("shared-1")
		}, "monitoring.serviceMonitor.scrapeKey", "server.auth.agentApiKey"},
		{"runbook URL", func(c *Config) { c.Monitoring.PrometheusRules.RunbookURL = "docs/alerts.md" }, "monitoring.prometheusRules.runbookURL", ""},
		{"agent key with a quote", func(c *Config) { c.Server.Auth.AgentAPIKey = NewSecret(`k"1`) }, "server.auth.agentApiKey", "letters, digits"},
		{"agent key equals the admin key", func(c *Config) {
			c.Server.Auth.APIKey = NewSecret("same-key")
			c.Server.Auth.AgentAPIKey = NewSecret("same-key")
		}, "server.auth.agentApiKey", "server.auth.apiKey"},
		{"bootstrap token reused by a named key", func(c *Config) {
			c.Server.Auth.AgentBootstrapToken = NewSecret("tok-1")
			c.Server.Auth.NamedKeys = NewSecret("ci:tok-1")
		}, "server.auth.namedKeys", "server.auth.agentBootstrapToken"},
		{"named key takes a reserved name", func(c *Config) { c.Server.Auth.NamedKeys = NewSecret("agents:k9") }, "server.auth.namedKeys", "reserved"},
		{"named key name charset", func(c *Config) { c.Server.Auth.NamedKeys = NewSecret("ci.bot:k9") }, "server.auth.namedKeys", "entry 1"},
		{"short encryption key", func(c *Config) { c.Server.ConfigEncryptionKey = NewSecret("too-short") }, "server.configEncryptionKey", "32 bytes"},
		{"demo placeholder admin key", func(c *Config) { c.Server.Auth.APIKey = NewSecret("change-me-in-production") }, "server.auth.apiKey", "placeholder"},
		{"demo placeholder encryption key", func(c *Config) { c.Server.ConfigEncryptionKey = NewSecret("change-me-32-char-encryption-key") }, "server.configEncryptionKey", "placeholder"},
		{"local CA secret name", func(c *Config) { c.Server.Issuer.Local.ExistingSecret = "Bad_Name" }, "server.issuer.local.existingSecret", ""},
		{"named key without key", func(c *Config) { c.Server.Auth.NamedKeys = NewSecret("ci:k1,alice") }, "server.auth.namedKeys", "entry 2"},
		{"named key bad role", func(c *Config) { c.Server.Auth.NamedKeys = NewSecret("ci:k1:root") }, "server.auth.namedKeys", ""},
		{"cors origin with path", func(c *Config) { c.Server.CORS.Origins = "https://a.example.com/app" }, "server.cors.origins", ""},
		{"cors origin scheme", func(c *Config) { c.Server.CORS.Origins = "https://a.example.com, ftp://b.example.com" }, "server.cors.origins", "entry 2"},
		{"cors origin bare host", func(c *Config) { c.Server.CORS.Origins = "a.example.com" }, "server.cors.origins", ""},
		{"kubernetes secrets without rbac", func(c *Config) {
			c.KubernetesSecrets.Enabled = true
			c.RBAC.Create = false
		}, "kubernetesSecrets.enabled", "rbac.create"},
		{"no service account at all", func(c *Config) { c.ServiceAccount.Create = false }, "serviceAccount.name", ""},

		// Extra env and volumes.
		{"env name invalid", func(c *Config) { c.Server.Env = map[string]string{"1BAD": "x"} }, "server.env.1BAD", ""},
		{"env sets a managed variable", func(c *Config) { c.Server.Env = map[string]string{"CERTCTL_LOG_LEVEL": "debug"} }, "server.env.CERTCTL_LOG_LEVEL", "set server.logging.level instead"},
		{"extraEnv sets a program-only variable", func(c *Config) {
			c.Server.ExtraEnv = []corev1.EnvVar{{Name: "CERTCTL_SERVER_HOST", Value: "::"}}
		}, "server.extraEnv[0].name", "the program sets it"},
		{"extraEnv name empty", func(c *Config) { c.Server.ExtraEnv = []corev1.EnvVar{{Value: "x"}} }, "server.extraEnv[0].name", ""},
		{"agent env sets agent name", func(c *Config) { c.Agent.Env = map[string]string{"CERTCTL_AGENT_NAME": "x"} }, "agent.env.CERTCTL_AGENT_NAME", "agent.name"},
		{"agent env in both env and extraEnv", func(c *Config) {
			c.Agent.Env = map[string]string{"HTTPS_PROXY": "http://proxy:3128"}
			c.Agent.ExtraEnv = []corev1.EnvVar{{Name: "HTTPS_PROXY", Value: "http://other:3128"}}
		}, "agent.extraEnv[0].name", "agent.env"},
		{"extraEnv duplicate", func(c *Config) {
			c.Server.ExtraEnv = []corev1.EnvVar{{Name: "TZ", Value: "UTC"}, {Name: "TZ", Value: "CET"}}
		}, "server.extraEnv[1].name", "server.extraEnv[0]"},
		{"extraEnv value and valueFrom", func(c *Config) {
			c.Server.ExtraEnv = []corev1.EnvVar{{Name: "X", Value: "v", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
		}, "server.extraEnv[0].valueFrom", ""},
		{"volume name invalid", func(c *Config) { c.Server.Volumes = []corev1.Volume{{Name: "Extra", VolumeSource: secretVolume}} }, "server.volumes[0].name", ""},
		{"volume name reserved", func(c *Config) { c.Server.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: secretVolume}} }, "server.volumes[0].name", "reserved"},
		{"volume name duplicate", func(c *Config) {
			c.Server.Volumes = []corev1.Volume{{Name: "extra", VolumeSource: secretVolume}, {Name: "extra", VolumeSource: secretVolume}}
		}, "server.volumes[1].name", ""},
		{"volume without source", func(c *Config) { c.Server.Volumes = []corev1.Volume{{Name: "extra"}} }, "server.volumes[0]", "0 volume sources"},
		{"volume with two sources", func(c *Config) {
			c.Server.Volumes = []corev1.Volume{{Name: "extra", VolumeSource: corev1.VolumeSource{Secret: secretVolume.Secret, EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}, "server.volumes[0]", "2 volume sources"},
		{"mount of an unknown volume", func(c *Config) {
			c.Server.VolumeMounts = []corev1.VolumeMount{{Name: "tmp", MountPath: "/extra"}}
		}, "server.volumeMounts[0].name", ""},
		{"mount path relative", func(c *Config) {
			c.Server.Volumes = []corev1.Volume{{Name: "extra", VolumeSource: secretVolume}}
			c.Server.VolumeMounts = []corev1.VolumeMount{{Name: "extra", MountPath: "extra"}}
		}, "server.volumeMounts[0].mountPath", ""},
		{"mount path taken by the program", func(c *Config) {
			c.Server.Volumes = []corev1.Volume{{Name: "extra", VolumeSource: secretVolume}}
			c.Server.VolumeMounts = []corev1.VolumeMount{{Name: "extra", MountPath: "/etc/certctl/tls/"}}
		}, "server.volumeMounts[0].mountPath", "the program's tls volume"},
		{"mount path used twice", func(c *Config) {
			c.Server.Volumes = []corev1.Volume{{Name: "extra", VolumeSource: secretVolume}}
			c.Server.VolumeMounts = []corev1.VolumeMount{{Name: "extra", MountPath: "/a"}, {Name: "extra", MountPath: "/a"}}
		}, "server.volumeMounts[1].mountPath", "server.volumeMounts[0]"},

		// Paths.
		{"agent key dir relative", func(c *Config) { c.Agent.KeyDir = "keys" }, "agent.keyDir", ""},
		{"job processor below certctl's minimum", func(c *Config) { c.Server.Scheduler.JobProcessorInterval = "500ms" }, "server.scheduler.jobProcessorInterval", "minimum certctl accepts (1s)"},
		{"job processor not a duration", func(c *Config) { c.Server.Scheduler.JobProcessorInterval = "daily" }, "server.scheduler.jobProcessorInterval", "not a positive duration"},
		{"CRL interval not a duration", func(c *Config) { c.Server.Scheduler.CRLGenerationInterval = "" }, "server.scheduler.crlGenerationInterval", "not a positive duration"},
		// The key volume is mounted at keyDir's parent (the agent must own keyDir to make it 0700).
		{"agent key dir directly under /", func(c *Config) { c.Agent.KeyDir = "/keys" }, "agent.keyDir", "directly under /"},
		{"agent key dir hiding a system directory", func(c *Config) { c.Agent.KeyDir = "/etc/keys" }, "agent.keyDir", "hiding the image's /etc"},
		{"agent key dir beside the agent's tmp", func(c *Config) { c.Agent.KeyDir = "/tmp/keys" }, "agent.keyDir", "tmp volume at /tmp"},
		{"agent key dir inside its identity volume", func(c *Config) { c.Agent.KeyDir = "/var/lib/certctl/identity/keys" }, "agent.keyDir", "identity volume"},
		{"agent key dir hiding the agent binary", func(c *Config) { c.Agent.KeyDir = "/app/keys" }, "agent.keyDir", "hiding the image's /app"},
		// The server, migration and agent containers mount the certificate at server.tls.mountPath.
		{"tls mount path relative", func(c *Config) { c.Server.TLS.MountPath = "tls" }, "server.tls.mountPath", "not an absolute path"},
		{"tls mount path at /", func(c *Config) { c.Server.TLS.MountPath = "/" }, "server.tls.mountPath", "hide the image's /"},
		{"tls mount path hiding the binaries", func(c *Config) { c.Server.TLS.MountPath = "/app" }, "server.tls.mountPath", "hide the image's /app"},
		{"tls mount path on the server's tmp", func(c *Config) { c.Server.TLS.MountPath = "/tmp" }, "server.tls.mountPath", "server pod's tmp volume at /tmp"},
		{"tls mount path on the local CA", func(c *Config) { c.Server.TLS.MountPath = "/etc/certctl/ca" }, "server.tls.mountPath", "local-ca volume"},
		{"tls mount path above the agent's identity", func(c *Config) { c.Server.TLS.MountPath = "/var/lib/certctl" }, "server.tls.mountPath", "agent pod's identity volume"},
		{"agent discovery dir relative", func(c *Config) { c.Agent.DiscoveryDirs = "/etc/ssl, certs" }, "agent.discoveryDirs", "entry 2"},
		{"agent discovery dir empty entry", func(c *Config) { c.Agent.DiscoveryDirs = "/etc/ssl,,/etc/nginx" }, "agent.discoveryDirs", "entry 2"},

		// Storage.
		{"postgres storage zero", func(c *Config) { c.PostgreSQL.Storage.Size = "0" }, "postgresql.storage.size", ""},
		{"postgres storage text", func(c *Config) { c.PostgreSQL.Storage.Size = "ten" }, "postgresql.storage.size", ""},
		{"backup pvc size negative", func(c *Config) { c.Backup.PVC.Size = "-1Gi" }, "backup.pvc.size", ""},
		{"postgres storage class", func(c *Config) { c.PostgreSQL.Storage.StorageClass = "Fast_SSD" }, "postgresql.storage.storageClass", ""},
		{"backup storage class", func(c *Config) { c.Backup.PVC.StorageClass = "gp3 " }, "backup.pvc.storageClass", ""},

		// Postgres identifiers and settings.
		{"postgres username", func(c *Config) { c.PostgreSQL.Auth.Username = "Cert-User" }, "postgresql.auth.username", ""},
		{"postgres database empty", func(c *Config) { c.PostgreSQL.Auth.Database = "" }, "postgresql.auth.database", ""},
		{"postgres setting name", func(c *Config) { c.PostgreSQL.PostgresqlConfig = map[string]string{"max connections": "100"} }, `postgresql.postgresqlConfig["max connections"]`, ""},

		// Agent.
		{"agent name on a DaemonSet", func(c *Config) { c.Agent.Name = "edge" }, "agent.name", "DaemonSet"},
		{"agent name not a DNS name", func(c *Config) { c.Agent.Kind, c.Agent.Name = AgentDeployment, `edge"1` }, "agent.name", ""},
		{"agent name shared by replicas", func(c *Config) {
			c.Agent.Kind, c.Agent.Replicas, c.Agent.Name = AgentDeployment, 2, "edge"
		}, "agent.name", "replicas"},

		// Tolerations.
		{"toleration operator", tol(corev1.Toleration{Key: "k", Operator: "In"}), "server.tolerations[0].operator", ""},
		{"toleration Exists with value", tol(corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}), "server.tolerations[0].value", ""},
		{"toleration Equal without key", tol(corev1.Toleration{Operator: corev1.TolerationOpEqual, Value: "v"}), "server.tolerations[0].key", ""},
		{"toleration effect", tol(corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists, Effect: "NoRun"}), "server.tolerations[0].effect", ""},
		{"toleration seconds without NoExecute", tol(corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr(int64(5))}), "server.tolerations[0].tolerationSeconds", ""},

		// Affinity, as the scheduler and the API server read it.
		{"anti-affinity without topologyKey", required(corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "certctl"}}}),
			"server.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "refuses a term without one"},
		{"anti-affinity selector operator Equals", byHost(metav1.LabelSelectorRequirement{Key: "app", Operator: "Equals", Values: []string{"certctl"}}),
			"server.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator", ""},
		{"anti-affinity Exists with values", byHost(metav1.LabelSelectorRequirement{Key: "app", Operator: metav1.LabelSelectorOpExists, Values: []string{"certctl"}}),
			"server.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].values", ""},
		{"preferred anti-affinity weight 0", antiAffinity(corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
			{Weight: 0, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname"}},
		}}), "server.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "between 1 and 100"},
		{"node affinity operator in lower case", nodeAffinity(corev1.NodeSelectorRequirement{Key: "pool", Operator: "in", Values: []string{"pki"}}),
			"agent.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator", ""},
		{"node affinity Gt with two values", nodeAffinity(corev1.NodeSelectorRequirement{Key: "cores", Operator: corev1.NodeSelectorOpGt, Values: []string{"2", "4"}}),
			"agent.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", ""},
		{"topology spread without a key", spread(corev1.TopologySpreadConstraint{MaxSkew: 1, WhenUnsatisfiable: corev1.DoNotSchedule}),
			"postgresql.topologySpreadConstraints[0].topologyKey", ""},
		{"topology spread skew 0", spread(corev1.TopologySpreadConstraint{TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule}),
			"postgresql.topologySpreadConstraints[0].maxSkew", "minimum skew of 1"},
		{"topology spread whenUnsatisfiable", spread(corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: "Sometimes"}),
			"postgresql.topologySpreadConstraints[0].whenUnsatisfiable", "ScheduleAnyway"},

		// Where extraEnv reads from, and what extra volumes mount.
		{"secretKeyRef without key", extraEnv(corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "oidc"}}}),
			"server.extraEnv[0].valueFrom.secretKeyRef.key", ""},
		{"configMapKeyRef to an impossible name", extraEnv(corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "Trust_Bundle"}, Key: "ca.crt",
		}}), "server.extraEnv[0].valueFrom.configMapKeyRef.name", ""},
		{"fieldRef to a field the downward API lacks", extraEnv(corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.node"}}),
			"server.extraEnv[0].valueFrom.fieldRef.fieldPath", "downward API"},
		{"hostPath volume", volume(corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc/ssl"}}), "server.volumes[0]", `"restricted" Pod Security level`},
		{"secret volume without a name", volume(corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}), "server.volumes[0].secret.secretName", ""},
		{"configMap volume with an impossible name", volume(corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "Trust Bundle"}}}),
			"server.volumes[0].configMap.name", ""},

		// NetworkPolicy rules.
		{"egress CIDR with a /33", ipBlock(networkingv1.IPBlock{CIDR: "10.0.0.0/33"}), "networkPolicy.extraEgress[0].to[0].ipBlock.cidr", "not a CIDR"},
		{"egress except outside the block", ipBlock(networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}}),
			"networkPolicy.extraEgress[0].to[0].ipBlock.except[0]", "strictly inside 10.0.0.0/8"},
		{"egress protocol in lower case", port(networkingv1.NetworkPolicyPort{Protocol: &lowerTCP, Port: ptr(intstr.FromInt32(443))}), "networkPolicy.extraEgress[0].ports[0].protocol", "TCP"},
		{"egress port out of range", port(networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: ptr(intstr.FromInt32(70000))}), "networkPolicy.extraEgress[0].ports[0].port", "between 1 and 65535"},
		{"egress endPort below port", port(networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: ptr(intstr.FromInt32(8000)), EndPort: ptr(int32(7000))}),
			"networkPolicy.extraEgress[0].ports[0].endPort", "below port 8000"},
		{"ingress from a selector with a bad operator", func(c *Config) {
			c.NetworkPolicy.Enabled = true
			c.NetworkPolicy.ExtraIngress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Is", Values: []string{"obs"}}},
			}}}}}
		}, "networkPolicy.extraIngress[0].from[0].namespaceSelector.matchExpressions[0].operator", ""},

		// Ingress.
		{"ingress without hosts", func(c *Config) {
			c.Ingress.Enabled = true
			c.Ingress.Hosts = nil
		}, "ingress.hosts", ""},
		{"ingress host invalid", func(c *Config) { c.Ingress.Hosts[0].Host = "Bad_Host" }, "ingress.hosts[0].host", ""},
		{"ingress host without paths", func(c *Config) { c.Ingress.Hosts[0].Paths = nil }, "ingress.hosts[0].paths", ""},
		{"ingress path relative", func(c *Config) { c.Ingress.Hosts[0].Paths[0].Path = "api" }, "ingress.hosts[0].paths[0].path", ""},
		{"ingress class", func(c *Config) { c.Ingress.ClassName = "Nginx!" }, "ingress.className", ""},
		{"ingress tls secret", func(c *Config) { c.Ingress.TLS = []IngressTLS{{SecretName: "tls_secret"}} }, "ingress.tls[0].secretName", ""},
		{"ingress tls host", func(c *Config) { c.Ingress.TLS = []IngressTLS{{Hosts: []string{"ok.example.com", "bad host"}}} }, "ingress.tls[0].hosts[1]", ""},

		// Monitoring.
		{"service monitor without monitoring", func(c *Config) { c.Monitoring.ServiceMonitor.Enabled = true }, "monitoring.serviceMonitor.enabled", "set monitoring.enabled=true"},
		{"prometheus rules without monitoring", func(c *Config) { c.Monitoring.PrometheusRules.Enabled = true }, "monitoring.prometheusRules.enabled", "set monitoring.enabled=true"},
		{"scraped through a NetworkPolicy from nowhere", func(c *Config) {
			c.NetworkPolicy.Enabled, c.Monitoring.Enabled, c.Monitoring.ServiceMonitor.Enabled = true, true, true
		}, "networkPolicy.prometheusNamespace", "set it to the namespace Prometheus runs in"},
		{"prometheus namespace name", func(c *Config) { c.NetworkPolicy.PrometheusNamespace = "Monitoring" }, "networkPolicy.prometheusNamespace", "use at most 63 lowercase"},
		{"grafana dashboard without monitoring", func(c *Config) { c.Monitoring.GrafanaDashboard.Enabled = true }, "monitoring.grafanaDashboard.enabled", "set monitoring.enabled=true"},
		{"grafana dashboard label", func(c *Config) { c.Monitoring.GrafanaDashboard.Labels = map[string]string{"grafana dashboard": "1"} }, `monitoring.grafanaDashboard.labels["grafana dashboard"]`, "use a qualified name"},
		{"bearer token secret without key", func(c *Config) {
			c.Monitoring.ServiceMonitor.BearerTokenSecret = SecretKeyRef{Name: "scrape"}
		}, "monitoring.serviceMonitor.bearerTokenSecret.key", "both"},
		{"bearer token secret bad key", func(c *Config) {
			c.Monitoring.ServiceMonitor.BearerTokenSecret = SecretKeyRef{Name: "scrape", Key: "api key"}
		}, "monitoring.serviceMonitor.bearerTokenSecret.key", ""},
		{"tls CA key without name", func(c *Config) {
			c.Monitoring.ServiceMonitor.TLSConfig.CA = SecretKeyRef{Key: "ca.crt"}
		}, "monitoring.serviceMonitor.tlsConfig.ca.name", ""},
		{"tls caFile and ca", func(c *Config) {
			c.Monitoring.ServiceMonitor.TLSConfig.CAFile = "/etc/prom/ca.crt"
			c.Monitoring.ServiceMonitor.TLSConfig.CA = SecretKeyRef{Name: "ca", Key: "ca.crt"}
		}, "monitoring.serviceMonitor.tlsConfig.caFile", ""},
		{"relabel action", relabel(RelabelConfig{Action: "rewrite"}), "monitoring.serviceMonitor.relabelings[0].action", "labelmap"},
		{"relabel hashmod", relabel(RelabelConfig{Action: "hashmod", TargetLabel: "shard"}), "monitoring.serviceMonitor.relabelings[0].action", "modulus"},
		{"relabel replace without target", relabel(RelabelConfig{Action: "replace", SourceLabels: []string{"a"}}), "monitoring.serviceMonitor.relabelings[0].targetLabel", ""},
		{"relabel regex", relabel(RelabelConfig{Action: "keep", Regex: "("}), "monitoring.serviceMonitor.relabelings[0].regex", ""},
		{"job failure ratio zero", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.JobFailureRate = 0 }, "monitoring.prometheusRules.thresholds.jobFailureRate", ""},
		{"job failure ratio above one", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.JobFailureRate = 1.5 }, "monitoring.prometheusRules.thresholds.jobFailureRate", ""},
		{"database volume free ratio of one", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.DatabaseVolumeFreeRatio = 1 }, "monitoring.prometheusRules.thresholds.databaseVolumeFreeRatio", ""},
		{"database volume full within a bare number", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.DatabaseVolumeFullWithin = "7" }, "monitoring.prometheusRules.thresholds.databaseVolumeFullWithin", ""},
		{"database volume for negative", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.DatabaseVolumeFor = "-5m" }, "monitoring.prometheusRules.thresholds.databaseVolumeFor", ""},
		{"expiring soon negative", func(c *Config) { c.Monitoring.PrometheusRules.Thresholds.ExpiringCertificateCount = -1 }, "monitoring.prometheusRules.thresholds.expiringCertificateCount", ""},

		// Backup.
		{"backup with external database", func(c *Config) {
			useExternalDB(c)
			c.Backup.Enabled = true
		}, "backup.enabled", "point-in-time"},
		{"backup schedule", func(c *Config) { c.Backup.Schedule = "every day" }, "backup.schedule", ""},
		{"backup schedule with seconds", func(c *Config) { c.Backup.Schedule = "0 0 2 * * *" }, "backup.schedule", ""},
		{"backup schedule time zone", func(c *Config) { c.Backup.Schedule = "TZ=UTC 0 2 * * *" }, "backup.schedule", "TZ"},
		{"backup keeps no dumps", func(c *Config) { c.Backup.PVC.KeepLast = 0 }, "backup.pvc.keepLast", "1 or more"},
		{"backup bucket retention", func(c *Config) { c.Backup.S3.RetentionDays = 0 }, "backup.s3.retentionDays", "1 or more"},
		{"backup starting deadline", func(c *Config) { c.Backup.StartingDeadlineSeconds = 0 }, "backup.startingDeadlineSeconds", ""},
		{"backup backoff", func(c *Config) { c.Backup.BackoffLimit = -1 }, "backup.backoffLimit", ""},
		{"backup deadline", func(c *Config) { c.Backup.ActiveDeadlineSeconds = 0 }, "backup.activeDeadlineSeconds", ""},
		{"backup schedule out of range", func(c *Config) { c.Backup.Schedule = "61 2 * * *" }, "backup.schedule", "cron"},
		{"backup s3 without credentials", func(c *Config) { enableS3Backup(c, "") }, "backup.s3.credentials", "irsa, podIdentity, iamUser, existingSecret"},
		{"backup s3 unknown credentials", func(c *Config) { enableS3Backup(c, "instanceProfile") }, "backup.s3.credentials", ""},
		{"backup s3 without region", func(c *Config) {
			enableS3Backup(c, BackupCredentialsIAMUser)
			c.Backup.S3.Region = ""
		}, "backup.s3.region", ""},
		{"backup irsa without a role", func(c *Config) { enableS3Backup(c, BackupCredentialsIRSA) }, "backup.s3.irsaRoleArn", "oidcProviderArn"},
		{"backup irsa with both roles", func(c *Config) {
			enableS3Backup(c, BackupCredentialsIRSA)
			c.Backup.S3.IRSARoleArn = "arn:aws:iam::123456789012:role/backup"
			c.Backup.S3.OIDCProviderArn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
		}, "backup.s3.irsaRoleArn", "one at a time"},
		{"backup pod identity without cluster", func(c *Config) { enableS3Backup(c, BackupCredentialsPodIdentity) }, "backup.s3.eksClusterName", ""},
		{"backup existing secret without a name", func(c *Config) {
			enableS3Backup(c, BackupCredentialsExistingSecret)
			c.Backup.S3.CredentialsSecret.Name = ""
		}, "backup.s3.credentialsSecret.name", ""},
		{"backup existing secret bad key", func(c *Config) {
			enableS3Backup(c, BackupCredentialsExistingSecret)
			c.Backup.S3.CredentialsSecret.SecretAccessKeyKey = "secret key"
		}, "backup.s3.credentialsSecret.secretAccessKeyKey", ""},
		{"backup creates a bucket on another store", func(c *Config) {
			enableS3Backup(c, BackupCredentialsExistingSecret)
			c.Backup.S3.Endpoint = "https://minio.example.com:9000"
		}, "backup.s3.create", "create=false"},
		{"backup IAM user on another store", func(c *Config) {
			enableS3Backup(c, BackupCredentialsIAMUser)
			c.Backup.S3.Create, c.Backup.S3.Bucket, c.Backup.S3.Endpoint = false, "backups", "https://minio.example.com:9000"
		}, "backup.s3.credentials", "existingSecret"},
		{"backup KMS key not an ARN", func(c *Config) { c.Backup.S3.KMSKeyID = "alias/backups" }, "backup.s3.kmsKeyId", "ARN"},
		{"backup KMS key of another service", func(c *Config) { c.Backup.S3.KMSKeyID = "arn:aws:iam::123456789012:role/x" }, "backup.s3.kmsKeyId", "kms"},
		{"backup successful history", func(c *Config) { c.Backup.SuccessfulJobsHistoryLimit = -1 }, "backup.successfulJobsHistoryLimit", ""},
		{"backup failed history", func(c *Config) { c.Backup.FailedJobsHistoryLimit = -1 }, "backup.failedJobsHistoryLimit", ""},
		{"backup s3 without bucket", func(c *Config) {
			enableS3Backup(c, BackupCredentialsIAMUser)
			c.Backup.S3.Create = false
		}, "backup.s3.bucket", "backup.s3.create=true"},
		{"backup bucket uppercase", func(c *Config) { c.Backup.S3.Bucket = "My_Bucket" }, "backup.s3.bucket", ""},
		{"backup bucket short", func(c *Config) { c.Backup.S3.Bucket = "ab" }, "backup.s3.bucket", ""},
		{"backup bucket leading dash", func(c *Config) { c.Backup.S3.Bucket = "-abc" }, "backup.s3.bucket", ""},
		{"backup bucket too long", func(c *Config) { c.Backup.S3.Bucket = long(64) }, "backup.s3.bucket", ""},
		{"backup prefix absolute", func(c *Config) { c.Backup.S3.Prefix = "/certctl/" }, "backup.s3.prefix", ""},
		{"backup endpoint", func(c *Config) { c.Backup.S3.Endpoint = "minio:9000" }, "backup.s3.endpoint", ""},
		{"backup IRSA role", func(c *Config) { c.Backup.S3.IRSARoleArn = "backup-role" }, "backup.s3.irsaRoleArn", ""},
		// AWS's bucket naming rules beyond characters and length.
		{"backup bucket as an IP address", func(c *Config) { c.Backup.S3.Bucket = "192.168.5.4" }, "backup.s3.bucket", "formatted as an IP address"},
		{"backup bucket with adjacent periods", func(c *Config) { c.Backup.S3.Bucket = "certctl..backups" }, "backup.s3.bucket", "two adjacent periods"},
		{"backup bucket with a reserved prefix", func(c *Config) { c.Backup.S3.Bucket = "xn--certctl" }, "backup.s3.bucket", `starts with "xn--"`},
		{"backup bucket with a reserved suffix", func(c *Config) { c.Backup.S3.Bucket = "certctl-s3alias" }, "backup.s3.bucket", `ends with "-s3alias"`},
		// Regions and ARNs: the resource type the key needs, in the bucket's region and partition.
		{"backup region misspelt", func(c *Config) { c.Backup.S3.Region = "eu-west" }, "backup.s3.region", "not an AWS region name"},
		{"backup region as a name", func(c *Config) { c.Backup.S3.Region = "Ireland" }, "backup.s3.region", "not an AWS region name"},
		{"backup KMS key as a role", func(c *Config) {
			c.Backup.S3.KMSKeyID = "arn:aws:kms:eu-west-1:123456789012:role/x"
		}, "backup.s3.kmsKeyId", `names the resource "role/x", which does not start with key/ or alias/`},
		{"backup KMS key in another region", func(c *Config) {
			enableS3Backup(c, BackupCredentialsIAMUser)
			c.Backup.S3.KMSKeyID = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		}, "backup.s3.kmsKeyId", "is in us-east-1, but backup.s3.region is eu-west-1"},
		{"backup KMS key without a region", func(c *Config) {
			c.Backup.S3.KMSKeyID = "arn:aws:kms::123456789012:key/1234abcd"
		}, "backup.s3.kmsKeyId", "not an AWS region name"},
		{"backup IRSA role as a user", func(c *Config) { c.Backup.S3.IRSARoleArn = "arn:aws:iam::123456789012:user/backup" }, "backup.s3.irsaRoleArn", "does not start with role/"},
		{"backup IRSA role with a region", func(c *Config) {
			c.Backup.S3.IRSARoleArn = "arn:aws:iam:eu-west-1:123456789012:role/backup"
		}, "backup.s3.irsaRoleArn", "iam ARNs have none"},
		{"backup IRSA role's account", func(c *Config) { c.Backup.S3.IRSARoleArn = "arn:aws:iam::1234:role/backup" }, "backup.s3.irsaRoleArn", "12-digit account ID"},
		{"backup OIDC provider as a role", func(c *Config) {
			c.Backup.S3.OIDCProviderArn = "arn:aws:iam::123456789012:role/oidc"
		}, "backup.s3.oidcProviderArn", "does not start with oidc-provider/"},
		{"backup role in another partition", func(c *Config) {
			enableS3Backup(c, BackupCredentialsIRSA)
			c.Backup.S3.Region = "cn-north-1"
			c.Backup.S3.IRSARoleArn = "arn:aws:iam::123456789012:role/backup"
		}, "backup.s3.irsaRoleArn", "backup.s3.region cn-north-1 is in aws-cn"},

		// Key rotation counters.
		{"rotation below zero", func(c *Config) { c.Server.Auth.APIKeyRotation = -1 }, "server.auth.apiKeyRotation", ""},
		{"rotation of a given key", func(c *Config) {
			c.Server.Auth.AgentAPIKey = NewSecret("given-agents-key")
			c.Server.Auth.AgentAPIKeyRotation = 1
		}, "server.auth.agentApiKeyRotation", "generated keys only"},
		{"agent rollout timeout", func(c *Config) { c.Agent.RolloutTimeout = "ten minutes" }, "agent.rolloutTimeout", "positive duration"},
		{"agent update strategy type", func(c *Config) { c.Agent.UpdateStrategy.Type = "Recreate" }, "agent.updateStrategy.type", "OnDelete"},
		{"agent update strategy percent", func(c *Config) {
			v := intstr.FromString("150%")
			c.Agent.UpdateStrategy.RollingUpdate.MaxUnavailable = &v
		}, "agent.updateStrategy.rollingUpdate.maxUnavailable", "percentage"},
		{"agent update strategy stalled", func(c *Config) {
			v := intstr.FromInt32(0)
			c.Agent.UpdateStrategy.RollingUpdate.MaxUnavailable = &v
		}, "agent.updateStrategy.rollingUpdate", "never start"},
		{"server startup budget", func(c *Config) { c.Server.StartupTimeoutSeconds = 0 }, "server.startupTimeoutSeconds", ""},
		{"rotation done below zero", func(c *Config) { c.Server.Auth.APIKeyRotationDone = -1 }, "server.auth.apiKeyRotationDone", ""},
		{"rotation done beyond the counter", func(c *Config) {
			c.Monitoring.ServiceMonitor.ScrapeKeyRotation = 1
			c.Monitoring.ServiceMonitor.ScrapeKeyRotationDone = 2
		}, "monitoring.serviceMonitor.scrapeKeyRotationDone", "set it to 1 at most"},

		// Migrations.
		{"migration backoff", func(c *Config) { c.Migrations.BackoffLimit = -1 }, "migrations.backoffLimit", ""},
		{"migration deadline", func(c *Config) { c.Migrations.ActiveDeadlineSeconds = 0 }, "migrations.activeDeadlineSeconds", ""},
		{"migration image override", func(c *Config) { c.Migrations.Image = Image{Repository: "ghcr.io/Certctl/server"} }, "migrations.image.repository", ""},
		{"migration runs as root", func(c *Config) { c.Migrations.SecurityContext = SecurityContext{RunAsUser: ptr[int64](0)} }, "migrations.securityContext.runAsNonRoot", "restricted"},

		// CloudNativePG.
		{"cluster without postgresql", func(c *Config) { useExternalDB(c); c.PostgreSQL.Cluster.Enabled = true }, "postgresql.cluster.enabled", "ambiguous"},
		{"cluster with the pg_dump backup", func(c *Config) { useCluster(c); c.Backup.Enabled = true }, "backup.enabled", "archives every WAL segment"},
		{"cluster archive without a bucket", func(c *Config) {
			useCluster(c)
			c.PostgreSQL.Cluster.Backup.Enabled = true
			c.Backup.S3.Create, c.Backup.S3.Region, c.Backup.S3.Credentials = false, "eu-west-1", BackupCredentialsIRSA
			c.Backup.S3.IRSARoleArn = "arn:aws:iam::123456789012:role/cnpg"
		}, "backup.s3.bucket", "nowhere to upload"},
		{"cluster archive on pod identity", func(c *Config) {
			useCluster(c)
			c.PostgreSQL.Cluster.Backup.Enabled = true
			c.Backup.S3.Region, c.Backup.S3.Credentials, c.Backup.S3.EKSClusterName = "eu-west-1", BackupCredentialsPodIdentity, "eks"
		}, "backup.s3.credentials", "podIdentity"},
		{"cluster archive on the dumps' prefix", func(c *Config) {
			useCluster(c)
			c.PostgreSQL.Cluster.Backup.Enabled, c.PostgreSQL.Cluster.Backup.Prefix = true, c.Backup.S3.Prefix
		}, "postgresql.cluster.backup.prefix", "lifecycle rule"},
		{"cluster of no instances", func(c *Config) { useCluster(c); c.PostgreSQL.Cluster.Instances = 0 }, "postgresql.cluster.instances", ""},
		{"cluster with more synchronous standbys than standbys", func(c *Config) { useCluster(c); c.PostgreSQL.Cluster.SynchronousReplicas = 3 }, "postgresql.cluster.synchronousReplicas", "set it to 2 at most"},
		{"cluster durability", func(c *Config) { useCluster(c); c.PostgreSQL.Cluster.DataDurability = "maybe" }, "postgresql.cluster.dataDurability", ""},
		{"cluster five-field schedule", func(c *Config) { useCluster(c); c.PostgreSQL.Cluster.Backup.Schedule = "0 2 * * *" }, "postgresql.cluster.backup.schedule", "six cron fields"},
		{"cluster schedule out of range", func(c *Config) { useCluster(c); c.PostgreSQL.Cluster.Backup.Schedule = "0 0 25 * * *" }, "postgresql.cluster.backup.schedule", "six cron fields"},
		{"cluster retention", func(c *Config) { useCluster(c); c.PostgreSQL.Cluster.Backup.RetentionDays = 0 }, "postgresql.cluster.backup.retentionDays", ""},
		{"cluster too few connections", func(c *Config) {
			useCluster(c)
			c.PostgreSQL.PostgresqlConfig = map[string]string{"max_connections": "50"}
		}, "postgresql.postgresqlConfig.max_connections", "set it to 60 or more"},
		{"cluster with the bundled TLS keys", func(c *Config) { useCluster(c); c.PostgreSQL.TLS.CASecretRef = "ca" }, "postgresql.tls", "CloudNativePG"},
		{"cluster password rotation", func(c *Config) { useCluster(c); c.PostgreSQL.Auth.PasswordRotation = 1 }, "postgresql.auth.passwordRotation", ""},
		{"cluster recovery without an archive", func(c *Config) {
			useCluster(c)
			c.PostgreSQL.Cluster.Recovery.Enabled, c.PostgreSQL.Cluster.Recovery.SourceIncarnation, c.PostgreSQL.Cluster.Incarnation = true, 1, 2
		}, "postgresql.cluster.recovery.enabled", "there is none"},
		{"cluster recovery into the same incarnation", func(c *Config) {
			useCluster(c)
			c.PostgreSQL.Cluster.Recovery.Enabled, c.PostgreSQL.Cluster.Recovery.SourceIncarnation = true, 1
		}, "postgresql.cluster.recovery.sourceIncarnation", "earlier incarnation"},
		{"cluster recovery target time", func(c *Config) { useCluster(c); c.PostgreSQL.Cluster.Recovery.TargetTime = "yesterday" }, "postgresql.cluster.recovery.targetTime", "RFC 3339"},
		{"cluster name too long for the operator's Jobs", func(c *Config) { useCluster(c); c.FullnameOverride = long(40) }, "fullnameOverride", "CloudNativePG recovery Job"},
		{"cluster archive keys without the cluster", func(c *Config) { c.PostgreSQL.Cluster.Backup.Enabled = true }, "postgresql.cluster.backup.enabled", ""},
		{"cluster owner Secret without the cluster", func(c *Config) { c.PostgreSQL.Cluster.OwnerSecret = "mine" }, "postgresql.cluster.ownerSecret", "postgresql.cluster.enabled is false"},
		{"cluster owner Secret and a password", func(c *Config) {
			useCluster(c)
			c.PostgreSQL.Cluster.OwnerSecret, c.PostgreSQL.Auth.Password = "mine", NewSecret("s3cret")
		}, "postgresql.auth.password", "ownerSecret names the Secret"},
		{"cluster owner Secret name", func(c *Config) { useCluster(c); c.PostgreSQL.Cluster.OwnerSecret = "Mine" }, "postgresql.cluster.ownerSecret", ""},
	}
}

// useCluster puts the database on CloudNativePG.
func useCluster(c *Config) { c.PostgreSQL.Cluster.Enabled = true }

// enableS3Backup turns on the S3 sink with the given credentials choice and a region.
func enableS3Backup(c *Config, credentials string) {
	c.Backup.Enabled, c.Backup.Sink = true, BackupSinkS3
	c.Backup.S3.Region, c.Backup.S3.Credentials = "eu-west-1", credentials
}

func enableSMTP(c *Config) {
	c.Server.SMTP.Enabled = true
	c.Server.SMTP.Host = "smtp.example.com"
	c.Server.SMTP.FromAddress = "certctl@example.com"
}

func enableACME(c *Config) {
	c.Server.Issuer.ACME.Enabled = true
	c.Server.Issuer.ACME.DirectoryURL = "https://acme-staging-v02.api.letsencrypt.org/directory"
	c.Server.Issuer.ACME.Email = "pki@example.com"
}

func useExternalDB(c *Config) {
	c.PostgreSQL.Enabled = false
	c.ExternalDatabase.URL = NewSecret("postgresql://certctl:pw@db.example.com:5432/certctl?sslmode=require")
}

// Configurations near the edges of the rules that must still pass.
func TestValidateAccepts(t *testing.T) {
	webhook := func(s string) Secret { return NewSecret("https://hooks.example.com/" + s) }
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
	}{
		{"cert-manager instead of an existing Secret", func(c *Config) {
			c.Server.TLS.ExistingSecret = ""
			c.Server.TLS.CertManager.Enabled = true
			c.Server.TLS.CertManager.IssuerRef = IssuerRef{Name: "letsencrypt", Kind: "Issuer"}
		}},
		{"external database", useExternalDB},
		{"agent Deployment without a name", func(c *Config) { c.Agent.Kind, c.Agent.Replicas = AgentDeployment, 3 }},
		{"agent Deployment with a fixed name", func(c *Config) { c.Agent.Kind, c.Agent.Name = AgentDeployment, "edge-agent" }},
		{"monitoring with a bearer token Secret", func(c *Config) {
			c.Monitoring.Enabled = true
			c.Monitoring.ServiceMonitor.Enabled = true
			c.Monitoring.PrometheusRules.Enabled = true
			c.Monitoring.ServiceMonitor.BearerTokenSecret = SecretKeyRef{Name: "prom-key", Key: "api-key"}
			c.Monitoring.ServiceMonitor.TLSConfig.CA = SecretKeyRef{Name: "certctl-tls", Key: "ca.crt"}
			c.Monitoring.ServiceMonitor.Relabelings = []RelabelConfig{
				{SourceLabels: []string{"__meta_kubernetes_pod_node_name"}, TargetLabel: "node"},
				{Action: "labeldrop", Regex: "pod_template_.*"},
				{Action: "Keep", SourceLabels: []string{"a"}, Regex: "b|c"},
			}
		}},
		{"Prometheus-only duration units", func(c *Config) {
			c.Monitoring.ServiceMonitor.Interval = "1m"
			c.Monitoring.PrometheusRules.Thresholds.OfflineAgentFor = "1d"
			c.Monitoring.PrometheusRules.Thresholds.ExpiringCertificateFor = "1h30m"
		}},
		{"backup to a created bucket with IRSA", func(c *Config) {
			enableS3Backup(c, BackupCredentialsIRSA)
			c.Backup.S3.OIDCProviderArn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
			c.Backup.S3.KMSKeyID = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		}},
		{"backup with pod identity", func(c *Config) {
			enableS3Backup(c, BackupCredentialsPodIdentity)
			c.Backup.S3.EKSClusterName = "prod"
		}},
		{"backup to an S3-compatible store", func(c *Config) {
			enableS3Backup(c, BackupCredentialsExistingSecret)
			c.Backup.S3.Create, c.Backup.S3.Bucket, c.Backup.S3.Region = false, "certctl.backups-1", ""
			c.Backup.S3.Prefix, c.Backup.S3.Endpoint = "prod/", "http://minio.minio:9000"
		}},
		{"backup with an existing IRSA role", func(c *Config) {
			enableS3Backup(c, BackupCredentialsIRSA)
			c.Backup.S3.IRSARoleArn = "arn:aws:iam::123456789012:role/backup"
		}},
		{"backup schedule macro", func(c *Config) { c.Backup.Enabled, c.Backup.Schedule = true, "@daily" }},
		{"acme http-01", func(c *Config) { enableACME(c) }},
		{"PDB with maxUnavailable only", func(c *Config) {
			c.Server.Replicas = 3
			c.PodDisruptionBudget = PodDisruptionBudget{Enabled: true, MaxUnavailable: ptr(intstr.FromString("25%"))}
		}},
		{"ingress with a wildcard host", func(c *Config) {
			c.Ingress.Enabled = true
			c.Ingress.ClassName = "nginx"
			c.Ingress.Hosts = []IngressHost{{Host: "*.certctl.example.com", Paths: []IngressPath{{Path: "/", PathType: "ImplementationSpecific"}}}}
			c.Ingress.CertManager = IngressCertManager{Enabled: true, IssuerRef: IssuerRef{Name: "le", Kind: "ClusterIssuer"}}
			c.Ingress.TLS = []IngressTLS{{SecretName: "certctl-ingress-tls", Hosts: []string{"*.certctl.example.com"}}}
		}},
		{"extra env and volumes", func(c *Config) {
			c.Server.Env = map[string]string{"HTTPS_PROXY": "http://proxy:3128"}
			c.Server.ExtraEnv = []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}}
			c.Server.Volumes = []corev1.Volume{{Name: "trust", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "trust-bundle"}}}}}
			c.Server.VolumeMounts = []corev1.VolumeMount{{Name: "trust", MountPath: "/etc/ssl/extra"}}
			c.Agent.Env = map[string]string{"NO_PROXY": ".svc"}
			c.Agent.DiscoveryDirs = "/etc/ssl, /etc/nginx"
		}},
		{"every notifier", func(c *Config) {
			n := &c.Server.Notifiers
			n.Slack = SlackNotifier{Enabled: true, WebhookURL: webhook("slack"), Channel: "#pki"}
			n.Teams = TeamsNotifier{Enabled: true, WebhookURL: webhook("teams")}
			n.PagerDuty = PagerDutyNotifier{Enabled: true, RoutingKey: NewSecret("rk"), Severity: "critical"}
			n.Opsgenie = OpsgenieNotifier{Enabled: true, APIKey: NewSecret("og"), Priority: "P1"}
		}},
		{"smtp and digest", func(c *Config) {
			enableSMTP(c)
			c.Server.SMTP.Password = NewSecret("pw")
			c.Server.Digest = Digest{Enabled: true, Interval: "168h", Recipients: []string{"ops@example.com", "PKI Team <pki@example.com>"}}
		}},
		{"api keys during a rotation", func(c *Config) {
			c.Server.Auth.APIKey = NewSecret("old-key,new-key")
			c.Server.Auth.NamedKeys = NewSecret("ci:k1,alice:k2:admin")
		}},
		{"cors origins", func(c *Config) { c.Server.CORS.Origins = "https://a.example.com, http://localhost:3000" }},
		{"postgres verify-full with a CA", func(c *Config) {
			c.PostgreSQL.TLS = PostgresTLS{Mode: "verify-full", CASecretRef: "db-ca", CertSecretRef: "db-tls"}
		}},
		{"external database verify-full with a CA", func(c *Config) {
			useExternalDB(c)
			c.ExternalDatabase.URL = NewSecret("postgresql://certctl:pw@db.example.com:5432/certctl?sslmode=verify-full")
			c.PostgreSQL.TLS = PostgresTLS{Mode: "verify-full", CASecretRef: "db-ca"}
		}},
		{"fullnameOverride at the StatefulSet limit", func(c *Config) { c.FullnameOverride = strings.Repeat("a", 43) }},
		{"long release without a StatefulSet", func(c *Config) {
			useExternalDB(c)
			c.ReleaseName = strings.Repeat("b", 48) // fullname 56 = 63 - len("-server")
		}},
		{"service account given, not created", func(c *Config) { c.ServiceAccount = ServiceAccount{Name: "default"} }},
		{"kubernetes secrets with rbac", func(c *Config) { c.KubernetesSecrets.Enabled = true }},
		{"tolerations", func(c *Config) {
			c.Agent.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}, {Key: "dedicated", Value: "pki", Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(30))}}
		}},
		{"pinned images", func(c *Config) {
			c.Server.Image.Digest = "sha256:" + strings.Repeat("0f", 32)
			c.Server.Image.Tag = "2.1.0_rc.1"
			c.Backup.S3.UploaderImage.Repository = "registry.example.com:5000/tools/aws-cli"
		}},
		{"extra resources", func(c *Config) { c.Server.Resources.Limits["ephemeral-storage"] = "1Gi" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			assert.NoError(t, c.Validate(testReserved))
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := valid()
	c.Server.Replicas = 0
	c.PostgreSQL.TLS.Mode = "prefer"
	c.Backup.Schedule = "nightly"

	err := c.Validate(testReserved)
	ps := problemsOf(t, err)
	assert.Equal(t, []string{"certctl:server.replicas", "certctl:postgresql.tls.mode", "certctl:backup.schedule"}, err.(*ValidationError).Keys())
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 3)
	for i, line := range lines {
		assert.Equal(t, ps[i].Key+": "+ps[i].Message, line)
		assert.True(t, strings.HasPrefix(line, "certctl:"), line)
	}
}

func TestValidateOrderIsDeterministic(t *testing.T) {
	c := valid()
	c.CommonLabels = map[string]string{"z z": "", "a a": "", "m m": "", "b b": ""}
	first := c.Validate(testReserved).Error()
	for range 20 {
		require.Equal(t, first, c.Validate(testReserved).Error())
	}
	keys := c.Validate(testReserved).(*ValidationError).Keys()
	assert.Equal(t, []string{`certctl:commonLabels["a a"]`, `certctl:commonLabels["b b"]`, `certctl:commonLabels["m m"]`, `certctl:commonLabels["z z"]`}, keys)
}

// Secret values must never reach an error message, whatever refuses them.
func TestValidateNeverEchoesSecrets(t *testing.T) {
	const (
		apiKey   = "LEAK-apikey-0001 x"
		named    = "LEAK-named-0002"
		dbURL    = "mysql://leakuser:LEAK-dbpass-0003@db.example.com/certctl"
		slack    = "http://hooks.example.com/LEAK-slack-0004"
		teams    = "LEAK-teams-0005"
		pd       = "LEAK-pagerduty-0006"
		smtpPass = "LEAK-smtp-0007"
		eab      = "LEAK-eab-0008"
		pgPass   = "LEAK-pg-0009"
	)
	c := valid()
	c.Server.Auth.Type = AuthNone
	c.Server.Auth.APIKey = NewSecret(apiKey)
	c.Server.Auth.NamedKeys = NewSecret(named)
	c.PostgreSQL.Enabled = false
	c.PostgreSQL.Auth.Password = NewSecret(pgPass)
	c.ExternalDatabase.URL = NewSecret(dbURL)
	c.Server.Notifiers.Slack = SlackNotifier{Enabled: true, WebhookURL: NewSecret(slack)}
	c.Server.Notifiers.Teams.WebhookURL = NewSecret(teams)
	c.Server.Notifiers.PagerDuty.RoutingKey = NewSecret(pd)
	c.Server.SMTP.Password = NewSecret(smtpPass)
	c.Server.Issuer.ACME.EABHmac = NewSecret(eab)

	err := c.Validate(testReserved)
	ps := problemsOf(t, err)
	for _, key := range []string{
		"server.auth.apiKey", "server.auth.namedKeys", "externalDatabase.url", "postgresql.auth.password",
		"server.notifiers.slack.webhookUrl", "server.notifiers.teams.webhookUrl",
		"server.notifiers.pagerduty.routingKey", "server.smtp.password", "server.issuer.acme.eabHmac",
	} {
		_, ok := find(ps, "certctl:"+key)
		assert.True(t, ok, "expected a refusal on %s", key)
	}
	for _, v := range []string{apiKey, named, dbURL, slack, teams, pd, smtpPass, eab, pgPass, "LEAK", "leakuser"} {
		assert.NotContains(t, err.Error(), v)
	}
}

// testReserved stands in for components.Reserved here; ../tests checks the real lists.
var testReserved = Reserved{
	ServerEnv: []ReservedEnv{{Name: "CERTCTL_SERVER_HOST"}, {Name: "CERTCTL_LOG_LEVEL", Key: "server.logging.level"}},
	AgentEnv:  []ReservedEnv{{Name: "CERTCTL_AGENT_ID"}, {Name: "CERTCTL_AGENT_NAME", Key: "agent.name"}},
	ServerVolumes: []ReservedVolume{
		{Name: "tmp", MountPath: "/tmp"}, {Name: "tls", MountPath: "/etc/certctl/tls", Key: "server.tls.mountPath"},
		{Name: "local-ca", MountPath: "/etc/certctl/ca"},
	},
	AgentVolumes: []ReservedVolume{
		{Name: "identity", MountPath: "/var/lib/certctl/identity"}, {Name: "tmp", MountPath: "/tmp"},
		{Name: "tls", MountPath: "/etc/certctl/tls", Key: "server.tls.mountPath"},
	},
}

func TestReservedEnvAndVolumesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		section string
		owners  []ReservedEnv
		set     func(c *Config, name string)
	}{
		{"server", testReserved.ServerEnv, func(c *Config, name string) { c.Server.Env = map[string]string{name: "x"} }},
		{"agent", testReserved.AgentEnv, func(c *Config, name string) { c.Agent.Env = map[string]string{name: "x"} }},
	} {
		for _, o := range tc.owners {
			c := valid()
			tc.set(&c, o.Name)
			p, ok := find(problemsOf(t, c.Validate(testReserved)), "certctl:"+tc.section+".env."+o.Name)
			require.True(t, ok, "%s.env.%s was not refused", tc.section, o.Name)
			if o.Key != "" {
				assert.Contains(t, p.Message, "set "+o.Key+" instead")
			} else {
				assert.Contains(t, p.Message, "the program sets it")
			}
		}
	}
	for _, v := range testReserved.ServerVolumes {
		c := valid()
		c.Server.Volumes = []corev1.Volume{{Name: v.Name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		_, ok := find(problemsOf(t, c.Validate(testReserved)), "certctl:server.volumes[0].name")
		assert.True(t, ok, "volume name %q was not refused", v.Name)
	}
}

func TestPrometheusDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "30s": 30 * time.Second, "1h30m": 90 * time.Minute, "2d": 48 * time.Hour, "1w": 7 * 24 * time.Hour,
		"1y": 365 * 24 * time.Hour, "500ms": 500 * time.Millisecond, "1m1s": 61 * time.Second,
	} {
		got, err := PrometheusDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "1.5m", "30", "s", "1m1h", "1s1s", "5us", "-1m", "1M", "99999999999999999y"} {
		_, err := PrometheusDuration(in)
		assert.Error(t, err, in)
	}
}

func TestChildPaths(t *testing.T) {
	assert.Equal(t, "server.env.HTTPS_PROXY", child("server.env", "HTTPS_PROXY"))
	assert.Equal(t, "server.resources.requests.ephemeral-storage", child("server.resources.requests", "ephemeral-storage"))
	assert.Equal(t, `commonLabels["app.kubernetes.io/part-of"]`, child("commonLabels", "app.kubernetes.io/part-of"))
	assert.Equal(t, `commonLabels[""]`, child("commonLabels", ""))
}

// settingPaths lists the dotted path of every setting in Config's own structs.
// apimachinery's "(e.g. ..., regex used ...)" tails are dropped; the reason stays.
func TestNameMessagesStayShort(t *testing.T) {
	c := valid()
	c.CommonLabels = map[string]string{"team": "has space"}
	c.Namespace = strings.Repeat("n", 64)
	err := c.Validate(testReserved)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "regex used for validation")
	assert.NotContains(t, err.Error(), "(e.g.")
	p, ok := find(problemsOf(t, err), "certctl:namespace")
	require.True(t, ok)
	assert.Contains(t, p.Message, "no more than 63 characters")
}

func TestWarnings(t *testing.T) {
	c := valid()
	assert.Empty(t, c.Warnings())
	enableACME(&c)
	require.Len(t, c.Warnings(), 1)
	assert.Contains(t, c.Warnings()[0], "once, on the first boot")

	single := valid()
	single.PodDisruptionBudget.Enabled = true
	require.Len(t, single.Warnings(), 1)
	assert.Contains(t, single.Warnings()[0], "certctl:podDisruptionBudget.enabled: no PodDisruptionBudget is created for a single server replica")
	single.Server.Replicas = 2
	assert.Empty(t, single.Warnings())

	proxied := valid()
	proxied.NetworkPolicy.Enabled, proxied.Ingress.Enabled = true, true
	require.Len(t, proxied.Warnings(), 1)
	assert.Contains(t, proxied.Warnings()[0], "certctl:networkPolicy.ingressControllerNamespace: is empty")
	proxied.NetworkPolicy.IngressControllerNamespace = "ingress-nginx"
	assert.Empty(t, proxied.Warnings())

	serverKeys := valid()
	serverKeys.Server.Keygen.Mode = "server"
	require.Len(t, serverKeys.Warnings(), 1)
	assert.Contains(t, serverKeys.Warnings()[0], "certctl:server.keygen.mode: with server, certctl v2.1.7 stores each private key")

	rotating := valid()
	rotating.Server.Auth.AgentAPIKeyRotation = 2
	rotating.Server.Auth.AgentAPIKeyRotationDone = 1
	require.Len(t, rotating.Warnings(), 1)
	assert.Contains(t, rotating.Warnings()[0], "certctl:server.auth.agentApiKeyRotation: 2: the server still accepts generation 1")
	assert.Contains(t, rotating.Warnings()[0], "set server.auth.agentApiKeyRotationDone to 2")
	rotating.Server.Auth.AgentAPIKeyRotationDone = 2
	assert.Empty(t, rotating.Warnings())

	large := valid()
	large.FleetSize = FleetLarge
	require.Len(t, large.Warnings(), 1)
	assert.Contains(t, large.Warnings()[0], "certctl:fleetSize: large runs on the bundled Postgres, one StatefulSet pod")
	large.PostgreSQL.Cluster.Enabled = true
	assert.Empty(t, large.Warnings(), "the CloudNativePG cluster is replicated and archived")
	large.PostgreSQL.Cluster.Enabled, large.PostgreSQL.Enabled = false, false
	assert.Empty(t, large.Warnings(), "an external database is the user's to make highly available")
}

// The example each ARN refusal offers is itself accepted, in the region it names (and a
// bucket's region in another partition is refused), so the fix a user copies works.
func TestARNExamplesAreAccepted(t *testing.T) {
	for _, kind := range []arnKind{kmsKeyARN, iamRoleARN, oidcProviderARN} {
		p := &problems{}
		checkARN(p, "key", kind.example, kind, "eu-west-1")
		assert.Empty(t, p.list, kind.example)
		checkARN(p, "key", kind.example, kind, "cn-north-1")
		assert.Len(t, p.list, 1, "%s is refused beside a region of aws-cn", kind.example)
	}
	for _, region := range []string{"eu-west-1", "us-east-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1", "eusc-de-east-1"} {
		assert.NotEmpty(t, regionPartition(region), region)
	}
}
