package config

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AppVersion is the certctl release the images default to: the tag the upstream release
// workflow pushes, with its leading "v" (the chart's appVersion "2.1.0" names no published image).
const AppVersion = "v2.1.7"

// Defaults returns the upstream chart's values (chart 1.0.0 after Bundle 3 and Phase 4), plus
// the hardening this program adds where the chart leaves a field unset (seccomp RuntimeDefault,
// restricted Postgres and backup pods).
func Defaults() Config {
	return Config{
		ReleaseName: "certctl",
		Namespace:   "certctl",
		FleetSize:   FleetSmall,
		Server: Server{
			Workload:              workload(Image{Repository: "ghcr.io/certctl-io/certctl-server", PullPolicy: string(corev1.PullIfNotPresent)}, resources("100m", "128Mi", "500m", "512Mi"), restricted(1000)),
			Replicas:              1,
			Port:                  8443,
			StartupTimeoutSeconds: 300,
			LivenessProbe:         ProbeTiming{InitialDelaySeconds: 10, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3},
			ReadinessProbe:        ProbeTiming{InitialDelaySeconds: 5, PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 2},
			TLS: ServerTLS{
				MountPath: "/etc/certctl/tls",
				CertManager: CertManager{
					IssuerRef:   IssuerRef{Kind: "ClusterIssuer", Group: "cert-manager.io"},
					CommonName:  "certctl-server",
					DNSNames:    []string{"certctl-server", "localhost"},
					Duration:    "2160h",
					RenewBefore: "360h",
				},
			},
			Service:          Service{Type: string(corev1.ServiceTypeClusterIP), Port: 8443, SessionAffinity: string(corev1.ServiceAffinityNone), SessionAffinityTimeoutSeconds: 10800},
			Auth:             Auth{Type: AuthAPIKey},
			Logging:          Logging{Level: "info", Format: "json"},
			SMTP:             SMTP{Port: 587, UseTLS: true},
			Digest:           Digest{Interval: "24h"},
			EST:              EST{IssuerID: "iss-local"},
			RateLimiting:     RateLimiting{RPS: 100, Burst: 200, JanitorInterval: "5m"},
			NetworkScan:      NetworkScan{Interval: "6h"},
			Keygen:           Keygen{Mode: "agent"},
			Scheduler:        Scheduler{CRLGenerationInterval: "1h"},
			Issuer:           Issuer{Local: LocalIssuer{Enabled: true}, ACME: ACMEIssuer{ChallengeType: "http-01"}},
			Notifiers:        Notifiers{PagerDuty: PagerDutyNotifier{Severity: "warning"}, Opsgenie: OpsgenieNotifier{Priority: "P3"}},
			DatabaseMaxConns: 25,
		},
		PostgreSQL: PostgreSQL{
			Workload:       workload(Image{Repository: "postgres", Tag: "16-alpine", PullPolicy: string(corev1.PullIfNotPresent)}, resources("100m", "256Mi", "500m", "512Mi"), restricted(999)),
			Enabled:        true,
			Auth:           PostgresAuth{Database: "certctl", Username: "certctl"},
			TLS:            PostgresTLS{Mode: "disable"},
			Storage:        Storage{Size: "10Gi"},
			LivenessProbe:  ProbeTiming{InitialDelaySeconds: 10, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3},
			ReadinessProbe: ProbeTiming{InitialDelaySeconds: 5, PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 2},
			Service:        PostgresService{Port: 5432},
			Cluster: PostgresCluster{
				Instances: 3, SynchronousReplicas: 1, DataDurability: "required", OperatorNamespace: "cnpg-system", Incarnation: 1,
				Backup: PostgresClusterBackup{Schedule: "0 0 2 * * *", Prefix: "certctl-cnpg/", RetentionDays: 30},
			},
		},
		Agent: Agent{
			Workload:       workload(Image{Repository: "ghcr.io/certctl-io/certctl-agent", PullPolicy: string(corev1.PullIfNotPresent)}, resources("50m", "64Mi", "200m", "256Mi"), restricted(1000)),
			Enabled:        true,
			Kind:           AgentDaemonSet,
			Replicas:       1,
			KeyDir:         "/var/lib/certctl/keys",
			UpdateStrategy: rollingUpdate(intstr.FromInt32(1)),
			RolloutTimeout: "10m",
		},
		Ingress: Ingress{
			CertManager: IngressCertManager{IssuerRef: IssuerRef{Kind: "ClusterIssuer"}},
			Hosts:       []IngressHost{{Host: "certctl.local", Paths: []IngressPath{{Path: "/", PathType: "Prefix"}}}},
		},
		ServiceAccount:      ServiceAccount{Create: true},
		RBAC:                RBAC{Create: true},
		PodDisruptionBudget: PodDisruptionBudget{MinAvailable: ptr(intstr.FromInt32(1))},
		Monitoring: Monitoring{
			ServiceMonitor:   ServiceMonitor{Interval: "30s", ScrapeTimeout: "10s"},
			GrafanaDashboard: GrafanaDashboard{Labels: map[string]string{"grafana_dashboard": "1"}},
			PrometheusRules: PrometheusRules{Interval: "60s", RunbookURL: "https://github.com/certctl-io/certctl-pulumi/blob/main/docs/runbooks/alerts.md", Thresholds: AlertThresholds{
				ExpiringCertificateCount: 0,
				ExpiringCertificateFor:   "5m",
				OfflineAgentCount:        0,
				OfflineAgentFor:          "1h",
				JobFailureRate:           0.05,
				JobFailureRateFor:        "15m",
				IssuanceFailureRate:      0,
				IssuanceFailureFor:       "15m",
				DatabaseVolumeFreeRatio:  0.15,
				DatabaseVolumeFullWithin: "7d",
				DatabaseVolumeFor:        "30m",
			}},
		},
		Backup: Backup{
			// No image: the database's (see Backup.Workload).
			Workload:                   workload(Image{}, resources("100m", "128Mi", "500m", "512Mi"), restricted(999)),
			Schedule:                   "30 2 * * *",
			Sink:                       BackupSinkPVC,
			SuccessfulJobsHistoryLimit: 3,
			FailedJobsHistoryLimit:     1,
			StartingDeadlineSeconds:    300,
			BackoffLimit:               1,
			ActiveDeadlineSeconds:      3600,
			PVC:                        BackupPVC{Size: "20Gi", KeepLast: 14},
			S3: BackupS3{
				Create:        true,
				Prefix:        "certctl/",
				RetentionDays: 30,
				UploaderImage: Image{Repository: "amazon/aws-cli", Tag: "2.27.0", PullPolicy: string(corev1.PullIfNotPresent)},
				CredentialsSecret: BackupCredentialsSecret{
					Name: "certctl-backup-aws-creds", AccessKeyIDKey: "AWS_ACCESS_KEY_ID", SecretAccessKeyKey: "AWS_SECRET_ACCESS_KEY",
				},
			},
		},
		Migrations: Migrations{BackoffLimit: 1, ActiveDeadlineSeconds: 600},
	}
}

// Enumerations shared by validation and the components.
const (
	AuthAPIKey = "api-key"
	AuthNone   = "none"

	// Named API keys the program configures; config.namedKeys may not reuse these names.
	AdminKeyName          = "admin"
	AgentsKeyName         = "agents"
	AgentBootstrapKeyName = "agent-bootstrap"
	PrometheusKeyName     = "prometheus"

	AgentDaemonSet  = "DaemonSet"
	AgentDeployment = "Deployment"

	BackupSinkPVC = "pvc"
	BackupSinkS3  = "s3"

	// How the backup uploader authenticates to S3 (backup.s3.credentials).
	BackupCredentialsIRSA           = "irsa"
	BackupCredentialsPodIdentity    = "podIdentity"
	BackupCredentialsIAMUser        = "iamUser"
	BackupCredentialsExistingSecret = "existingSecret"
)

// workload is a section's image, resources and security context, unplaced.
func workload(image Image, res Resources, sc SecurityContext) Workload {
	return Workload{Image: image, Resources: res, SecurityContext: sc}
}

func resources(reqCPU, reqMem, limCPU, limMem string) Resources {
	return Resources{
		Requests: map[string]string{"cpu": reqCPU, "memory": reqMem},
		Limits:   map[string]string{"cpu": limCPU, "memory": limMem},
	}
}

// restricted is the chart's securityContext for a uid, completed to the "restricted" Pod
// Security Standard (the chart leaves seccompProfile unset).
func restricted(uid int64) SecurityContext {
	return SecurityContext{
		RunAsNonRoot:             ptr(true),
		RunAsUser:                ptr(uid),
		RunAsGroup:               ptr(uid),
		FSGroup:                  ptr(uid),
		SeccompProfile:           &SeccompProfile{Type: string(corev1.SeccompProfileTypeRuntimeDefault)},
		ReadOnlyRootFilesystem:   ptr(true),
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &Capabilities{Drop: []string{"ALL"}},
	}
}

func ptr[T any](v T) *T { return &v }

// rollingUpdate is a DaemonSet RollingUpdate strategy replacing maxUnavailable nodes' pods at once.
func rollingUpdate(maxUnavailable intstr.IntOrString) appsv1.DaemonSetUpdateStrategy {
	return appsv1.DaemonSetUpdateStrategy{
		Type:          appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable},
	}
}
