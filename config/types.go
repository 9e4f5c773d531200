// Package config is the typed surface of the certctl deployment: the upstream chart's values
// with the same key names and nesting, their defaults, and their validation. Only Load talks to
// Pulumi; everything else is plain Go so it can be tested without mocks.
package config

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Config is the whole `certctl:` configuration namespace.
type Config struct {
	// ReleaseName plays the part of the Helm release name in the fullname rule.
	ReleaseName      string `json:"releaseName"`
	NameOverride     string `json:"nameOverride"`
	FullnameOverride string `json:"fullnameOverride"`
	// Namespace every object is created in.
	Namespace string `json:"namespace"`
	// CreateNamespace makes the program own the Namespace (helm's --create-namespace).
	CreateNamespace   bool                          `json:"createNamespace"`
	CommonLabels      map[string]string             `json:"commonLabels"`
	CommonAnnotations map[string]string             `json:"commonAnnotations"`
	ImagePullSecrets  []corev1.LocalObjectReference `json:"imagePullSecrets"`

	Server              Server              `json:"server"`
	PostgreSQL          PostgreSQL          `json:"postgresql"`
	ExternalDatabase    ExternalDatabase    `json:"externalDatabase"`
	Agent               Agent               `json:"agent"`
	Ingress             Ingress             `json:"ingress"`
	ServiceAccount      ServiceAccount      `json:"serviceAccount"`
	RBAC                RBAC                `json:"rbac"`
	KubernetesSecrets   KubernetesSecrets   `json:"kubernetesSecrets"`
	PodDisruptionBudget PodDisruptionBudget `json:"podDisruptionBudget"`
	NetworkPolicy       NetworkPolicy       `json:"networkPolicy"`
	Monitoring          Monitoring          `json:"monitoring"`
	Backup              Backup              `json:"backup"`
	Migrations          Migrations          `json:"migrations"`
}

// Image names a container image. Digest, when set, pins the image (upstream deferred this, D10).
type Image struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	PullPolicy string `json:"pullPolicy"`
}

// Resources holds requests and limits as Kubernetes quantity strings, e.g. {"cpu": "100m"}.
type Resources struct {
	Requests map[string]string `json:"requests"`
	Limits   map[string]string `json:"limits"`
}

// SecurityContext is the chart's single securityContext map. Pod-scope and container-scope
// fields are split by the components, so each lands where Kubernetes honours it (Bundle 3 D3).
type SecurityContext struct {
	// Pod scope.
	RunAsNonRoot       *bool           `json:"runAsNonRoot,omitempty"`
	RunAsUser          *int64          `json:"runAsUser,omitempty"`
	RunAsGroup         *int64          `json:"runAsGroup,omitempty"`
	FSGroup            *int64          `json:"fsGroup,omitempty"`
	SupplementalGroups []int64         `json:"supplementalGroups,omitempty"`
	SeccompProfile     *SeccompProfile `json:"seccompProfile,omitempty"`
	// Container scope.
	ReadOnlyRootFilesystem   *bool         `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool         `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *Capabilities `json:"capabilities,omitempty"`
	Privileged               *bool         `json:"privileged,omitempty"`
}

type SeccompProfile struct {
	Type             string `json:"type"`
	LocalhostProfile string `json:"localhostProfile,omitempty"`
}

type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// ProbeTiming tunes a probe; what the probe checks is fixed by the program (the chart's
// free-form probes once pointed at /readyz, which does not exist).
type ProbeTiming struct {
	InitialDelaySeconds int32 `json:"initialDelaySeconds"`
	PeriodSeconds       int32 `json:"periodSeconds"`
	TimeoutSeconds      int32 `json:"timeoutSeconds"`
	FailureThreshold    int32 `json:"failureThreshold"`
}

// Workload is the sub-shape every workload section shares (server, postgresql, agent, backup):
// what runs, with which resources and privileges, and where. Its keys sit directly in the
// section, as in the chart (server.image, agent.nodeSelector, ...).
type Workload struct {
	Image     Image     `json:"image"`
	Resources Resources `json:"resources"`
	// SecurityContext is split by scope when rendered; see SecurityContext.
	SecurityContext SecurityContext `json:"securityContext"`
	// NodeSelector, Tolerations, Affinity and TopologySpreadConstraints place the pods; as
	// Kubernetes objects, written as in a manifest.
	NodeSelector              map[string]string                 `json:"nodeSelector"`
	Tolerations               []corev1.Toleration               `json:"tolerations"`
	Affinity                  *corev1.Affinity                  `json:"affinity"`
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints"`
	// PodAnnotations go on the pod template (the program's checksum annotations win).
	PodAnnotations map[string]string `json:"podAnnotations"`
}

type Server struct {
	Workload
	Replicas       int          `json:"replicas"`
	Port           int          `json:"port"`
	LivenessProbe  ProbeTiming  `json:"livenessProbe"`
	ReadinessProbe ProbeTiming  `json:"readinessProbe"`
	TLS            ServerTLS    `json:"tls"`
	Service        Service      `json:"service"`
	Auth           Auth         `json:"auth"`
	Logging        Logging      `json:"logging"`
	SMTP           SMTP         `json:"smtp"`
	Digest         Digest       `json:"digest"`
	EST            EST          `json:"est"`
	RateLimiting   RateLimiting `json:"rateLimiting"`
	NetworkScan    NetworkScan  `json:"networkScan"`
	Keygen         Keygen       `json:"keygen"`
	CORS           CORS         `json:"cors"`
	Issuer         Issuer       `json:"issuer"`
	Notifiers      Notifiers    `json:"notifiers"`
	// Env is the chart's name->value map of extra environment variables.
	Env map[string]string `json:"env"`
	// ExtraEnv takes full EnvVar entries (valueFrom included).
	ExtraEnv     []corev1.EnvVar      `json:"extraEnv"`
	Volumes      []corev1.Volume      `json:"volumes"`
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts"`
	// ConfigEncryptionKey encrypts issuer and target credentials at rest
	// (CERTCTL_CONFIG_ENCRYPTION_KEY, at least 32 bytes); generated when empty.
	ConfigEncryptionKey Secret `json:"configEncryptionKey"`
	// DatabaseMaxConns sizes the server's connection pool (CERTCTL_DATABASE_MAX_CONNS).
	DatabaseMaxConns int `json:"databaseMaxConns"`
}

type ServerTLS struct {
	// ExistingSecret names a kubernetes.io/tls Secret the user provides (tls.crt, tls.key, ca.crt).
	ExistingSecret string      `json:"existingSecret"`
	MountPath      string      `json:"mountPath"`
	CertManager    CertManager `json:"certManager"`
}

type CertManager struct {
	Enabled bool `json:"enabled"`
	// SecretName the Certificate writes; empty means "<fullname>-tls".
	SecretName  string    `json:"secretName"`
	IssuerRef   IssuerRef `json:"issuerRef"`
	CommonName  string    `json:"commonName"`
	DNSNames    []string  `json:"dnsNames"`
	Duration    string    `json:"duration"`
	RenewBefore string    `json:"renewBefore"`
}

type IssuerRef struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Group string `json:"group,omitempty"`
}

type Service struct {
	Type        string            `json:"type"`
	Port        int               `json:"port"`
	Annotations map[string]string `json:"annotations"`
}

type Auth struct {
	// Type is "api-key", the only mode certctl v2.1.7 runs in a pod (see Validate).
	Type string `json:"type"`
	// APIKey is the admin key list, comma-separated, newest first (new,old during a rotation);
	// each entry becomes the admin named key "admin". Generated when empty.
	APIKey Secret `json:"apiKey"`
	// AgentAPIKey is the key every agent presents; the server narrows it to the r-agent role.
	// Generated when empty.
	AgentAPIKey Secret `json:"agentApiKey"`
	// NamedKeys are extra CERTCTL_API_KEYS_NAMED entries: "name:key[,name:key:admin]".
	NamedKeys Secret `json:"namedKeys"`
	// AgentBootstrapToken registers agents; generated when empty.
	AgentBootstrapToken Secret `json:"agentBootstrapToken"`
}

type Logging struct {
	Level  string `json:"level"`
	Format string `json:"format"`
}

type SMTP struct {
	Enabled     bool   `json:"enabled"`
	Host        string `json:"host"`
	Port        int    `json:"port"`
	Username    string `json:"username"`
	Password    Secret `json:"password"`
	FromAddress string `json:"fromAddress"`
	UseTLS      bool   `json:"useTLS"`
}

type Digest struct {
	Enabled    bool     `json:"enabled"`
	Interval   string   `json:"interval"`
	Recipients []string `json:"recipients"`
}

type EST struct {
	Enabled   bool   `json:"enabled"`
	IssuerID  string `json:"issuerID"`
	ProfileID string `json:"profileID"`
}

type RateLimiting struct {
	RPS   int `json:"rps"`
	Burst int `json:"burst"`
}

type NetworkScan struct {
	Enabled  bool   `json:"enabled"`
	Interval string `json:"interval"`
}

type Keygen struct {
	// Mode is "agent" (keys never leave the node) or "server" (demo only).
	Mode string `json:"mode"`
}

type CORS struct {
	// Origins is a comma-separated list; empty denies every cross-origin request.
	Origins string `json:"origins"`
}

type Issuer struct {
	Local   LocalIssuer   `json:"local"`
	ACME    ACMEIssuer    `json:"acme"`
	StepCA  StepCAIssuer  `json:"stepca"`
	OpenSSL OpenSSLIssuer `json:"openssl"`
}

type LocalIssuer struct {
	Enabled bool `json:"enabled"`
	// ExistingSecret names a kubernetes.io/tls Secret holding the local issuer's CA (tls.crt
	// with CA:TRUE and keyCertSign, tls.key). Empty: the program generates a CA once and keeps it
	// in its state, so every replica and every restart issues from the same CA.
	ExistingSecret string `json:"existingSecret"`
}

type ACMEIssuer struct {
	Enabled      bool   `json:"enabled"`
	DirectoryURL string `json:"directoryURL"`
	Email        string `json:"email"`
	// ChallengeType is http-01, dns-01 or dns-persist-01.
	ChallengeType          string `json:"challengeType"`
	DNSPresentScript       string `json:"dnsPresentScript"`
	DNSCleanupScript       string `json:"dnsCleanupScript"`
	DNSPropagationWait     string `json:"dnsPropagationWait"`
	DNSPersistIssuerDomain string `json:"dnsPersistIssuerDomain"`
	EABKid                 string `json:"eabKid"`
	EABHmac                Secret `json:"eabHmac"`
}

// StepCAIssuer and OpenSSLIssuer are in the chart's values but have no documented server
// environment contract; enabling them is refused until one exists (see Validate).
type StepCAIssuer struct {
	Enabled bool `json:"enabled"`
}

type OpenSSLIssuer struct {
	Enabled bool `json:"enabled"`
}

type Notifiers struct {
	Slack     SlackNotifier     `json:"slack"`
	Teams     TeamsNotifier     `json:"teams"`
	PagerDuty PagerDutyNotifier `json:"pagerduty"`
	Opsgenie  OpsgenieNotifier  `json:"opsgenie"`
}

type SlackNotifier struct {
	Enabled    bool   `json:"enabled"`
	WebhookURL Secret `json:"webhookUrl"`
	Channel    string `json:"channel"`
	Username   string `json:"username"`
}

type TeamsNotifier struct {
	Enabled    bool   `json:"enabled"`
	WebhookURL Secret `json:"webhookUrl"`
}

type PagerDutyNotifier struct {
	Enabled    bool   `json:"enabled"`
	RoutingKey Secret `json:"routingKey"`
	Severity   string `json:"severity"`
}

type OpsgenieNotifier struct {
	Enabled  bool   `json:"enabled"`
	APIKey   Secret `json:"apiKey"`
	Priority string `json:"priority"`
}

type PostgreSQL struct {
	Workload
	Enabled        bool            `json:"enabled"`
	Auth           PostgresAuth    `json:"auth"`
	TLS            PostgresTLS     `json:"tls"`
	Storage        Storage         `json:"storage"`
	LivenessProbe  ProbeTiming     `json:"livenessProbe"`
	ReadinessProbe ProbeTiming     `json:"readinessProbe"`
	Service        PostgresService `json:"service"`
	// PostgresqlConfig entries become `-c key=value` server arguments.
	PostgresqlConfig map[string]string `json:"postgresqlConfig"`
}

type PostgresAuth struct {
	Database string `json:"database"`
	Username string `json:"username"`
	// Password binds on the first boot of an empty volume; generated when empty.
	Password Secret `json:"password"`
}

type PostgresTLS struct {
	// Mode is the libpq sslmode: disable, require, verify-ca or verify-full.
	Mode string `json:"mode"`
	// CASecretRef names a Secret with a "ca.crt" key.
	CASecretRef string `json:"caSecretRef"`
	// CertSecretRef names a kubernetes.io/tls Secret (tls.crt, tls.key) the bundled Postgres
	// serves TLS with; required for a mode other than disable in bundled mode.
	CertSecretRef string `json:"certSecretRef"`
}

type Storage struct {
	Size         string `json:"size"`
	StorageClass string `json:"storageClass"`
	// DeleteOnDestroy lets `pulumi destroy` delete the data volume; off by default.
	DeleteOnDestroy bool `json:"deleteOnDestroy"`
}

type PostgresService struct {
	Port int `json:"port"`
}

type ExternalDatabase struct {
	// URL is used verbatim as CERTCTL_DATABASE_URL when postgresql.enabled is false.
	URL Secret `json:"url"`
}

type Agent struct {
	Workload
	Enabled bool `json:"enabled"`
	// Kind is DaemonSet (one agent per node) or Deployment.
	Kind     string `json:"kind"`
	Replicas int    `json:"replicas"`
	// Name is the fixed agent name in Deployment mode; empty means the pod name.
	Name          string            `json:"name"`
	KeyDir        string            `json:"keyDir"`
	DiscoveryDirs string            `json:"discoveryDirs"`
	Env           map[string]string `json:"env"`
	ExtraEnv      []corev1.EnvVar   `json:"extraEnv"`
}

type Ingress struct {
	Enabled     bool               `json:"enabled"`
	ClassName   string             `json:"className"`
	Annotations map[string]string  `json:"annotations"`
	CertManager IngressCertManager `json:"certManager"`
	Hosts       []IngressHost      `json:"hosts"`
	TLS         []IngressTLS       `json:"tls"`
}

type IngressCertManager struct {
	Enabled   bool      `json:"enabled"`
	IssuerRef IssuerRef `json:"issuerRef"`
}

type IngressHost struct {
	Host  string        `json:"host"`
	Paths []IngressPath `json:"paths"`
}

type IngressPath struct {
	Path     string `json:"path"`
	PathType string `json:"pathType"`
}

type IngressTLS struct {
	SecretName string   `json:"secretName"`
	Hosts      []string `json:"hosts"`
}

type ServiceAccount struct {
	Create      bool              `json:"create"`
	Annotations map[string]string `json:"annotations"`
	// Name defaults to the fullname.
	Name string `json:"name"`
}

type RBAC struct {
	Create bool `json:"create"`
}

// KubernetesSecrets grants the (preview) Kubernetes Secrets target connector its verbs.
type KubernetesSecrets struct {
	Enabled bool `json:"enabled"`
}

type PodDisruptionBudget struct {
	Enabled        bool                `json:"enabled"`
	MinAvailable   *intstr.IntOrString `json:"minAvailable,omitempty"`
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

type NetworkPolicy struct {
	Enabled      bool                                    `json:"enabled"`
	ExtraIngress []networkingv1.NetworkPolicyIngressRule `json:"extraIngress"`
	ExtraEgress  []networkingv1.NetworkPolicyEgressRule  `json:"extraEgress"`
}

type Monitoring struct {
	Enabled         bool            `json:"enabled"`
	ServiceMonitor  ServiceMonitor  `json:"serviceMonitor"`
	PrometheusRules PrometheusRules `json:"prometheusRules"`
}

type ServiceMonitor struct {
	Enabled       bool              `json:"enabled"`
	Interval      string            `json:"interval"`
	ScrapeTimeout string            `json:"scrapeTimeout"`
	Labels        map[string]string `json:"labels"`
	// BearerTokenSecret points at an API key with metrics.read; empty means the program
	// generates a dedicated scrape key Secret.
	BearerTokenSecret SecretKeyRef    `json:"bearerTokenSecret"`
	TLSConfig         ScrapeTLS       `json:"tlsConfig"`
	Relabelings       []RelabelConfig `json:"relabelings"`
}

type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// ScrapeTLS is the ServiceMonitor tlsConfig. Unlike the chart it verifies by default, against
// the CA in the server's TLS Secret.
type ScrapeTLS struct {
	CAFile             string       `json:"caFile"`
	CA                 SecretKeyRef `json:"ca"`
	ServerName         string       `json:"serverName"`
	InsecureSkipVerify bool         `json:"insecureSkipVerify"`
}

type RelabelConfig struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    string   `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Replacement  string   `json:"replacement,omitempty"`
	Action       string   `json:"action,omitempty"`
}

type PrometheusRules struct {
	Enabled    bool              `json:"enabled"`
	Labels     map[string]string `json:"labels"`
	Thresholds AlertThresholds   `json:"thresholds"`
}

type AlertThresholds struct {
	// ExpiringSoon alerts when more certificates than this are expiring soon.
	ExpiringSoon          int     `json:"expiringSoon"`
	ExpiringSoonFor       string  `json:"expiringSoonFor"`
	AgentOfflineFor       string  `json:"agentOfflineFor"`
	JobFailureRatio       float64 `json:"jobFailureRatio"`
	JobFailureRateFor     string  `json:"jobFailureRateFor"`
	IssuanceFailureWindow string  `json:"issuanceFailureWindow"`
}

type Backup struct {
	Workload
	Enabled  bool   `json:"enabled"`
	Schedule string `json:"schedule"`
	// Sink is "pvc" or "s3".
	Sink                       string `json:"sink"`
	SuccessfulJobsHistoryLimit int32  `json:"successfulJobsHistoryLimit"`
	FailedJobsHistoryLimit     int32  `json:"failedJobsHistoryLimit"`
	// RetentionDays deletes dumps older than this (PVC sink) or expires them (S3 lifecycle).
	RetentionDays int       `json:"retentionDays"`
	PVC           BackupPVC `json:"pvc"`
	S3            BackupS3  `json:"s3"`
}

type BackupPVC struct {
	Size          string `json:"size"`
	StorageClass  string `json:"storageClass"`
	ExistingClaim string `json:"existingClaim"`
}

type BackupS3 struct {
	// Bucket is the name of the bucket; empty with create=true lets AWS name it.
	Bucket string `json:"bucket"`
	Create bool   `json:"create"`
	Region string `json:"region"`
	Prefix string `json:"prefix"`
	// Endpoint targets an S3-compatible store instead of AWS.
	Endpoint string `json:"endpoint"`
	// UploaderImage carries aws-cli for the upload step.
	UploaderImage Image `json:"uploaderImage"`
	// IRSARoleArn annotates the backup ServiceAccount for EKS IAM Roles for Service Accounts.
	IRSARoleArn string `json:"irsaRoleArn"`
	// OIDCProviderArn, with create=true, builds an IRSA role for the backup ServiceAccount.
	OIDCProviderArn string `json:"oidcProviderArn"`
	KMSKeyID        string `json:"kmsKeyId"`
	ForceDestroy    bool   `json:"forceDestroy"`
}

type Migrations struct {
	// ViaHook runs `--migrate-only` in a Job before the server rolls.
	ViaHook               bool  `json:"viaHook"`
	BackoffLimit          int32 `json:"backoffLimit"`
	ActiveDeadlineSeconds int64 `json:"activeDeadlineSeconds"`
}
