// Package config is the typed surface of the certctl deployment: the upstream chart's values
// with the same key names and nesting, their defaults, and their validation. Only Load talks to
// Pulumi; everything else is plain Go so it can be tested without mocks.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Config is the whole `certctl:` configuration namespace.
type Config struct {
	// FleetSize is small, medium or large (up to 500 / 5,000 / 50,000 certificates and 100 /
	// 1,000 / 10,000 agents): it sets the defaults of server replicas and resources, the pool size,
	// and Postgres resources, storage and settings. Explicit values win (docs/sizing.md).
	FleetSize string `json:"fleetSize"`
	// ReleaseName plays the part of the Helm release name in the fullname rule: the fullname is
	// "<releaseName>-certctl", or releaseName alone when it contains "certctl". Default "certctl".
	ReleaseName string `json:"releaseName"`
	// NameOverride replaces "certctl" in the fullname rule and in the app.kubernetes.io/name label.
	NameOverride string `json:"nameOverride"`
	// FullnameOverride replaces the fullname that prefixes every object name (<fullname>-server,
	// ...). A fullname too long for the derived names is refused, never truncated.
	FullnameOverride string `json:"fullnameOverride"`
	// Namespace every object is created in (default "certctl"; the chart's empty value meant the
	// release namespace).
	Namespace string `json:"namespace"`
	// CreateNamespace makes the program own the Namespace (helm's --create-namespace), labelled to
	// enforce the "restricted" Pod Security Standard; false expects the namespace to exist.
	CreateNamespace bool `json:"createNamespace"`
	// CommonLabels go on every object; the program's own labels win, and the selector labels
	// (app.kubernetes.io/name, instance, component) are refused. Also takes the chart's customLabels.
	CommonLabels map[string]string `json:"commonLabels"`
	// CommonAnnotations go on every object (the chart's customAnnotations).
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	// ImagePullSecrets are added to every pod the program creates.
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets"`

	// Server is the certctl API server: Deployment, Service, ConfigMap and Secret <fullname>-server.
	Server Server `json:"server"`
	// PostgreSQL is the bundled database, StatefulSet <fullname>-postgres.
	PostgreSQL PostgreSQL `json:"postgresql"`
	// ExternalDatabase is the database the server uses when postgresql.enabled is false.
	ExternalDatabase ExternalDatabase `json:"externalDatabase"`
	// Agent is the certctl agents, DaemonSet or (agent.kind: Deployment) StatefulSet
	// <fullname>-agent.
	Agent Agent `json:"agent"`
	// Ingress exposes the server Service through an Ingress named <fullname>.
	Ingress Ingress `json:"ingress"`
	// ServiceAccount is the server pods' ServiceAccount.
	ServiceAccount ServiceAccount `json:"serviceAccount"`
	// RBAC is the server's ClusterRole and ClusterRoleBinding.
	RBAC RBAC `json:"rbac"`
	// KubernetesSecrets grants the server what the Kubernetes Secrets target connector needs.
	KubernetesSecrets KubernetesSecrets `json:"kubernetesSecrets"`
	// PodDisruptionBudget protects the server pods during voluntary disruptions.
	PodDisruptionBudget PodDisruptionBudget `json:"podDisruptionBudget"`
	// NetworkPolicy restricts traffic to and from the server and the bundled Postgres.
	NetworkPolicy NetworkPolicy `json:"networkPolicy"`
	// Monitoring is the Prometheus Operator ServiceMonitor and PrometheusRule.
	Monitoring Monitoring `json:"monitoring"`
	// Backup is the scheduled pg_dump of the bundled database.
	Backup Backup `json:"backup"`
	// Migrations runs the database migrations in a Job instead of at server boot.
	Migrations Migrations `json:"migrations"`
}

// Image names a container image. Digest, when set, pins the image (upstream deferred this, D10).
type Image struct {
	// Repository is the bare image repository, without tag or digest
	// (e.g. "ghcr.io/certctl-io/certctl-server").
	Repository string `json:"repository"`
	// Tag is the image tag; empty means AppVersion ("v2.1.7"). Ignored when digest is set.
	Tag string `json:"tag"`
	// Digest ("sha256:" and 64 lowercase hex digits) pins the image: the reference becomes
	// repository@digest and the tag is not sent.
	Digest string `json:"digest"`
	// PullPolicy is Always, IfNotPresent or Never.
	PullPolicy string `json:"pullPolicy"`
}

// Resources holds requests and limits as Kubernetes quantity strings, e.g. {"cpu": "100m"}.
type Resources struct {
	// Requests by resource name: cpu, memory or ephemeral-storage; none above its limit.
	Requests map[string]string `json:"requests"`
	// Limits by resource name: cpu, memory or ephemeral-storage.
	Limits map[string]string `json:"limits"`
}

// UnmarshalJSON takes each quantity as a string or a number: `pulumi config set --path
// certctl:agent.resources.requests.cpu 2` stores the number 2, which means "2" to Kubernetes.
// Keys other than requests and limits are refused, as everywhere in the config.
func (r *Resources) UnmarshalJSON(b []byte) error {
	var in resourcesText
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return err
	}
	// Into the maps already there, as encoding/json decodes maps: a user's key overrides the
	// default's (config.Load decodes over the defaults) and leaves the others.
	r.Requests, r.Limits = mergeQuantities(r.Requests, in.Requests), mergeQuantities(r.Limits, in.Limits)
	return nil
}

// resourcesText is how Resources are written: quantities as strings or numbers.
type resourcesText struct {
	// Requests are Resources.Requests as written.
	Requests map[string]quantityText `json:"requests"`
	// Limits are Resources.Limits as written.
	Limits map[string]quantityText `json:"limits"`
}

// decodedAs is the shape Load's error walk follows into Resources, past its UnmarshalJSON, so
// a bad quantity is reported at its own key.
func (*Resources) decodedAs() reflect.Type { return reflect.TypeFor[resourcesText]() }

// quantityText is a quantity written as a JSON string or number.
type quantityText string

func (q *quantityText) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*q = quantityText(n.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a quantity is a string such as \"100m\" or a number, not %s", b)
	}
	*q = quantityText(s)
	return nil
}

func mergeQuantities(into map[string]string, in map[string]quantityText) map[string]string {
	if in == nil {
		return into
	}
	if into == nil {
		into = make(map[string]string, len(in))
	}
	for k, v := range in {
		into[k] = string(v)
	}
	return into
}

// SecurityContext is the chart's single securityContext map. Pod-scope and container-scope
// fields are split by the components, so each lands where Kubernetes honours it (Bundle 3 D3).
// Values that break the "restricted" Pod Security Standard are refused.
type SecurityContext struct {
	// RunAsNonRoot (pod scope) must be true.
	RunAsNonRoot *bool `json:"runAsNonRoot,omitempty"`
	// RunAsUser is the pods' uid (pod scope); 0 is refused. Default 1000 (server, agent) or 999
	// (postgresql, backup).
	RunAsUser *int64 `json:"runAsUser,omitempty"`
	// RunAsGroup is the pods' primary gid (pod scope).
	RunAsGroup *int64 `json:"runAsGroup,omitempty"`
	// FSGroup (pod scope) owns the mounted volumes; it is what lets the pods read their
	// owner-only (0400) Secret files.
	FSGroup *int64 `json:"fsGroup,omitempty"`
	// SupplementalGroups are extra gids for the pods' processes (pod scope).
	SupplementalGroups []int64 `json:"supplementalGroups,omitempty"`
	// SeccompProfile (pod scope) is required: type RuntimeDefault, or Localhost with a profile.
	SeccompProfile *SeccompProfile `json:"seccompProfile,omitempty"`
	// ReadOnlyRootFilesystem (container scope); the program mounts emptyDirs where its
	// containers write (/tmp and the like).
	ReadOnlyRootFilesystem *bool `json:"readOnlyRootFilesystem,omitempty"`
	// AllowPrivilegeEscalation (container scope) must be false.
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation,omitempty"`
	// Capabilities (container scope): drop must contain ALL; add may hold NET_BIND_SERVICE only.
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// Privileged (container scope); true is refused.
	Privileged *bool `json:"privileged,omitempty"`
}

// SeccompProfile is `<part>.securityContext.seccompProfile` for every workload (server,
// postgresql, agent, backup, migrations): the pods' seccomp profile, which the "restricted" Pod
// Security Standard requires.
type SeccompProfile struct {
	// Type is RuntimeDefault (the default) or Localhost.
	Type string `json:"type"`
	// LocalhostProfile is the profile's path on the node; required with type Localhost.
	LocalhostProfile string `json:"localhostProfile,omitempty"`
}

// Capabilities is `<part>.securityContext.capabilities` for every workload (server, postgresql,
// agent, backup, migrations): the Linux capabilities the containers drop and add.
type Capabilities struct {
	// Add lists capabilities to add; only NET_BIND_SERVICE is accepted.
	Add []string `json:"add,omitempty"`
	// Drop lists capabilities to drop; it must contain ALL (the default).
	Drop []string `json:"drop,omitempty"`
}

// ProbeTiming tunes a probe; what the probe checks is fixed by the program (the chart's
// free-form probes once pointed at /readyz, which does not exist).
type ProbeTiming struct {
	// InitialDelaySeconds waits this long after the container starts before the first probe (>= 0).
	InitialDelaySeconds int32 `json:"initialDelaySeconds"`
	// PeriodSeconds is the time between probes, in seconds (>= 1).
	PeriodSeconds int32 `json:"periodSeconds"`
	// TimeoutSeconds is how long one probe may take, in seconds (>= 1).
	TimeoutSeconds int32 `json:"timeoutSeconds"`
	// FailureThreshold is how many failed probes in a row count as a failure (>= 1).
	FailureThreshold int32 `json:"failureThreshold"`
}

// Workload is the sub-shape every workload section shares (server, postgresql, agent, backup):
// what runs, with which resources and privileges, and where. Its keys sit directly in the
// section, as in the chart (server.image, agent.nodeSelector, ...).
type Workload struct {
	// Image the section's containers run.
	Image Image `json:"image"`
	// Resources of each of the section's containers.
	Resources Resources `json:"resources"`
	// SecurityContext is split by scope when rendered; see SecurityContext.
	SecurityContext SecurityContext `json:"securityContext"`
	// NodeSelector restricts the pods to nodes with these labels.
	NodeSelector map[string]string `json:"nodeSelector"`
	// Tolerations let the pods run on tainted nodes; k8s Toleration objects, as in a manifest.
	Tolerations []corev1.Toleration `json:"tolerations"`
	// Affinity is a k8s Affinity object, as in a manifest. server.affinity takes the chart's
	// top-level nodeAffinity, podAffinity and podAntiAffinity, all of them applied.
	Affinity *corev1.Affinity `json:"affinity"`
	// TopologySpreadConstraints spread the pods over zones or nodes; k8s objects, as in a manifest.
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints"`
	// PodAnnotations go on the pod template (the program's checksum annotations win).
	PodAnnotations map[string]string `json:"podAnnotations"`
}

// Server is the `server` section: the certctl API server (Deployment, Service, ConfigMap and
// Secret <fullname>-server), its TLS, API keys and the settings it gets as CERTCTL_* variables.
type Server struct {
	// Workload: server takes the shared workload keys (server.image, server.resources, ...).
	Workload
	// Replicas is the number of server pods. With more than one, an empty
	// rateLimiting.backend becomes postgres.
	Replicas int `json:"replicas"`
	// Port is the container's HTTPS port (CERTCTL_SERVER_PORT), named "https"; 1-65535.
	Port int `json:"port"`
	// StartupTimeoutSeconds is how long a server container may take to become ready (boot
	// migrations included): its postStart hook waits that long before it gives up (kubelet then
	// restarts the container), the probes start only after the hook, and `pulumi up` waits for
	// the rollout accordingly.
	StartupTimeoutSeconds int `json:"startupTimeoutSeconds"`
	// LivenessProbe times the liveness probe, GET /health over HTTPS (the path is fixed).
	LivenessProbe ProbeTiming `json:"livenessProbe"`
	// ReadinessProbe times the readiness probe, GET /ready over HTTPS, which checks the database.
	ReadinessProbe ProbeTiming `json:"readinessProbe"`
	// TLS is the server certificate: exactly one of tls.existingSecret and tls.certManager.enabled.
	TLS ServerTLS `json:"tls"`
	// Service is the server Service <fullname>-server, which agents dial.
	Service Service `json:"service"`
	// Auth is the API keys and the agent bootstrap token.
	Auth Auth `json:"auth"`
	// Logging is the server's log settings.
	Logging Logging `json:"logging"`
	// SMTP is the mail relay for email notifications and the digest.
	SMTP SMTP `json:"smtp"`
	// Digest is the periodic certificate digest email.
	Digest Digest `json:"digest"`
	// EST is certctl's Enrollment over Secure Transport endpoint.
	EST EST `json:"est"`
	// RateLimiting is the API rate limit and where the sliding-window limiters count.
	RateLimiting RateLimiting `json:"rateLimiting"`
	// NetworkScan is certctl's periodic scan for TLS endpoints.
	NetworkScan NetworkScan `json:"networkScan"`
	// Keygen decides where private keys are generated.
	Keygen Keygen `json:"keygen"`
	// Scheduler paces the server's background loops that users notice.
	Scheduler Scheduler `json:"scheduler"`
	// CORS is the browser origins the API admits.
	CORS CORS `json:"cors"`
	// TrustedProxies are the CIDRs or addresses of proxies (an Ingress controller) whose
	// X-Forwarded-For certctl believes for the client address (CERTCTL_TRUSTED_PROXIES).
	TrustedProxies []string `json:"trustedProxies"`
	// Issuer is the certificate issuers configured through the environment.
	Issuer Issuer `json:"issuer"`
	// Notifiers is the Slack, Teams, PagerDuty and Opsgenie notifications.
	Notifiers Notifiers `json:"notifiers"`
	// Env is the chart's name->value map of extra environment variables, set on the server
	// container; a variable the program sets itself is refused.
	Env map[string]string `json:"env"`
	// ExtraEnv takes full EnvVar entries (valueFrom included); the same rules as env apply, and a
	// name may not appear in both.
	ExtraEnv []corev1.EnvVar `json:"extraEnv"`
	// Volumes are extra server pod volumes (one source each); the program's own names tmp, tls,
	// local-ca and postgresql-ca are refused.
	Volumes []corev1.Volume `json:"volumes"`
	// VolumeMounts are extra mounts in the server container; each names a server.volumes entry,
	// at an absolute path the program does not mount.
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts"`
	// ConfigEncryptionKey encrypts issuer and target credentials at rest
	// (CERTCTL_CONFIG_ENCRYPTION_KEY, at least 32 bytes); generated when empty.
	ConfigEncryptionKey Secret `json:"configEncryptionKey"`
	// DatabaseMaxConns sizes each server pod's connection pool (CERTCTL_DATABASE_MAX_CONNS);
	// at least 1, default 25 (certctl's own default is 50). The chart has no such key.
	DatabaseMaxConns int `json:"databaseMaxConns"`
}

// ServerTLS is `server.tls`: the server certificate, from a Secret the user provides or issued by
// cert-manager (exactly one of the two), and where the server and agents mount it.
type ServerTLS struct {
	// ExistingSecret names a kubernetes.io/tls Secret the user provides (tls.crt, tls.key, ca.crt);
	// agent pods do not start without its ca.crt.
	ExistingSecret string `json:"existingSecret"`
	// MountPath is where the server mounts the TLS Secret (CERTCTL_SERVER_TLS_CERT_PATH and _KEY_PATH
	// point at tls.crt, tls.key there) and agents mount its ca.crt; absolute.
	MountPath string `json:"mountPath"`
	// CertManager has cert-manager issue the server certificate instead.
	CertManager CertManager `json:"certManager"`
}

// CertManager is `server.tls.certManager`: a cert-manager Certificate <fullname>-server-tls that
// issues the server certificate, with its issuer, names and lifetime.
type CertManager struct {
	// Enabled creates cert-manager Certificate <fullname>-server-tls (ECDSA P-256, key rotated on
	// renewal) and waits for it to be Ready; the server mounts the Secret it writes.
	Enabled bool `json:"enabled"`
	// SecretName the Certificate writes; empty means "<fullname>-tls".
	SecretName string `json:"secretName"`
	// IssuerRef is the Issuer or ClusterIssuer that signs; its name is required when enabled.
	IssuerRef IssuerRef `json:"issuerRef"`
	// CommonName of the certificate, at most 64 characters.
	CommonName string `json:"commonName"`
	// DNSNames of the certificate; the program always adds <fullname>-server and its .<ns>.svc and
	// .<ns>.svc.cluster.local names, which agents dial.
	DNSNames []string `json:"dnsNames"`
	// Duration is the certificate lifetime, a Go duration of at least 1h (default 2160h, 90 days).
	Duration string `json:"duration"`
	// RenewBefore is how long before expiry cert-manager renews, a Go duration shorter than
	// duration (default 360h, 15 days).
	RenewBefore string `json:"renewBefore"`
}

// IssuerRef names a cert-manager Issuer or ClusterIssuer. It is used at two paths:
// `server.tls.certManager.issuerRef` (the server Certificate's issuer) and
// `ingress.certManager.issuerRef` (the issuer the Ingress annotation names).
type IssuerRef struct {
	// Name of the cert-manager Issuer or ClusterIssuer.
	Name string `json:"name"`
	// Kind is ClusterIssuer or Issuer.
	Kind string `json:"kind"`
	// Group is the issuer's API group, left out when empty. Only the server Certificate uses it;
	// the Ingress annotation names the issuer alone.
	Group string `json:"group,omitempty"`
}

// Service is `server.service`: the server Service <fullname>-server, which agents dial (type,
// port, annotations and session affinity).
type Service struct {
	// Type is ClusterIP, NodePort or LoadBalancer.
	Type string `json:"type"`
	// Port the Service listens on, targeting the container port "https"; agents dial
	// https://<fullname>-server:<port>.
	Port int `json:"port"`
	// Annotations go on the Service.
	Annotations map[string]string `json:"annotations"`
	// SessionAffinity is None or ClientIP: ClientIP keeps a client on one server pod.
	SessionAffinity string `json:"sessionAffinity"`
	// SessionAffinityTimeoutSeconds is how long ClientIP affinity lasts (1 to 86400 seconds).
	SessionAffinityTimeoutSeconds int32 `json:"sessionAffinityTimeoutSeconds"`
}

// Auth is `server.auth`: the admin API keys, the agents' key, the agent bootstrap token, extra
// named keys, and the rotation of the generated keys.
type Auth struct {
	// Type must be "api-key" (CERTCTL_AUTH_TYPE). "none" is refused: v2.1.7 runs it in a pod only
	// with a demo acknowledgement that expires after 24 hours. The chart also takes "oidc".
	Type string `json:"type"`
	// APIKey is the admin key list, comma-separated, newest first (new,old during a rotation);
	// each entry becomes the admin named key "admin", and the list is also CERTCTL_AUTH_SECRET.
	// Generated when empty; stack output apiKey is the first entry.
	APIKey Secret `json:"apiKey"`
	// AgentAPIKey is the key every agent presents (CERTCTL_API_KEY), named key "agents"; the
	// server's postStart hook narrows it to the r-agent role. Generated when empty.
	AgentAPIKey Secret `json:"agentApiKey"`
	// APIKeyRotation: each step up generates a new admin key (when apiKey is empty); the server
	// accepts the previous one too until APIKeyRotationDone reaches the same number.
	APIKeyRotation int `json:"apiKeyRotation"`
	// APIKeyRotationDone ends the overlap: set it to APIKeyRotation once every client uses the
	// new admin key, and the server stops accepting the previous one.
	APIKeyRotationDone int `json:"apiKeyRotationDone"`
	// AgentAPIKeyRotation does the same for the agents' key: the agents move to the new key in the
	// update that generates it, after the server accepts it.
	AgentAPIKeyRotation int `json:"agentApiKeyRotation"`
	// AgentAPIKeyRotationDone ends the agents' key overlap, as APIKeyRotationDone.
	AgentAPIKeyRotationDone int `json:"agentApiKeyRotationDone"`
	// NamedKeys are extra CERTCTL_API_KEYS_NAMED entries, comma-separated "name:key" or
	// "name:key:admin"; the names admin, agents, agent-bootstrap and prometheus are reserved.
	NamedKeys Secret `json:"namedKeys"`
	// AgentBootstrapToken registers agents (CERTCTL_AGENT_BOOTSTRAP_TOKEN, also the named key
	// "agent-bootstrap"); only the agents' register init containers hold it. Generated when empty.
	AgentBootstrapToken Secret `json:"agentBootstrapToken"`
}

// Logging is `server.logging`: the server's log level and format (CERTCTL_LOG_LEVEL,
// CERTCTL_LOG_FORMAT).
type Logging struct {
	// Level is debug, info, warn or error (CERTCTL_LOG_LEVEL, server only).
	Level string `json:"level"`
	// Format must be "json" (CERTCTL_LOG_FORMAT): certctl v2.1.7 always logs JSON, so "text",
	// which it accepts and ignores, is refused.
	Format string `json:"format"`
}

// SMTP is `server.smtp`: the mail relay for email notifications and the digest
// (CERTCTL_SMTP_*).
type SMTP struct {
	// Enabled sets the CERTCTL_SMTP_* variables; host and fromAddress are then required.
	Enabled bool `json:"enabled"`
	// Host is the mail relay's host name, without a port (CERTCTL_SMTP_HOST).
	Host string `json:"host"`
	// Port is the relay's port (CERTCTL_SMTP_PORT), default 587.
	Port int `json:"port"`
	// Username for the relay (CERTCTL_SMTP_USERNAME); empty sets none.
	Username string `json:"username"`
	// Password for the relay (CERTCTL_SMTP_PASSWORD, Secret key smtp-password); refused while
	// smtp is disabled.
	Password Secret `json:"password"`
	// FromAddress is the sender, one email address (CERTCTL_SMTP_FROM_ADDRESS).
	FromAddress string `json:"fromAddress"`
	// UseTLS uses TLS to the relay (CERTCTL_SMTP_USE_TLS), default true.
	UseTLS bool `json:"useTLS"`
}

// Digest is `server.digest`: the periodic certificate digest email (CERTCTL_DIGEST_*); it needs
// server.smtp.
type Digest struct {
	// Enabled sends the periodic certificate digest by email (CERTCTL_DIGEST_ENABLED); needs
	// server.smtp.enabled and at least one recipient.
	Enabled bool `json:"enabled"`
	// Interval between digests, a Go duration such as "24h" (CERTCTL_DIGEST_INTERVAL).
	Interval string `json:"interval"`
	// Recipients are email addresses, sent joined with commas (CERTCTL_DIGEST_RECIPIENTS).
	Recipients []string `json:"recipients"`
}

// EST is `server.est`: certctl's Enrollment over Secure Transport endpoint (CERTCTL_EST_*).
type EST struct {
	// Enabled turns on the EST endpoint (CERTCTL_EST_ENABLED).
	Enabled bool `json:"enabled"`
	// IssuerID is the issuer EST enrolls against (CERTCTL_EST_ISSUER_ID), default "iss-local";
	// required when enabled.
	IssuerID string `json:"issuerID"`
	// ProfileID is the certificate profile for EST enrollments (CERTCTL_EST_PROFILE_ID); empty
	// sets none.
	ProfileID string `json:"profileID"`
}

// RateLimiting is `server.rateLimiting`: the API rate limit and where its limiters count
// (CERTCTL_RATE_LIMIT_*).
type RateLimiting struct {
	// RPS is the requests per second the API admits (CERTCTL_RATE_LIMIT_RPS), at least 1;
	// default 100 (certctl's own default is 50). v2.1.7 counts them per replica and per client
	// address, whatever the backend.
	RPS int `json:"rps"`
	// Burst is the burst capacity (CERTCTL_RATE_LIMIT_BURST), at least rps; default 200.
	Burst int `json:"burst"`
	// Backend keeps the sliding-window limiters' counters (OCSP, export, login) in "memory"
	// (per pod) or "postgres" (shared by the replicas) (CERTCTL_RATE_LIMIT_BACKEND); empty
	// chooses postgres with more than one replica.
	Backend string `json:"backend"`
	// JanitorInterval is how often the postgres backend sweeps expired counters
	// (CERTCTL_RATE_LIMIT_JANITOR_INTERVAL, a Go duration of at least 1m).
	JanitorInterval string `json:"janitorInterval"`
}

// NetworkScan is `server.networkScan`: certctl's periodic scan of the network for TLS endpoints
// (CERTCTL_NETWORK_SCAN_*).
type NetworkScan struct {
	// Enabled turns on the periodic network scan for TLS endpoints (CERTCTL_NETWORK_SCAN_ENABLED).
	Enabled bool `json:"enabled"`
	// Interval between scans, a Go duration such as "6h" (CERTCTL_NETWORK_SCAN_INTERVAL).
	Interval string `json:"interval"`
}

// Scheduler is `server.scheduler`: how often the server runs its pending jobs and rebuilds each
// issuer's CRL.
type Scheduler struct {
	// JobProcessorInterval is how often the server runs its pending jobs
	// (CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL, a Go duration of at least 1s). Empty: "24h" with
	// server.keygen.mode agent, certctl's "30s" with server. In v2.1.7 each run also claims the
	// agents' pending deployment jobs and then leaves them Running, never deployed; in agent mode
	// its only other work is moving the renewals the hourly check creates on to the agents, which
	// can wait a day inside a renewal window of weeks.
	JobProcessorInterval string `json:"jobProcessorInterval"`
	// CRLGenerationInterval is how often the server rebuilds each issuer's CRL
	// (CERTCTL_CRL_GENERATION_INTERVAL, a Go duration): a revocation reaches the CRL every
	// replica serves only then.
	CRLGenerationInterval string `json:"crlGenerationInterval"`
}

// Keygen is `server.keygen`: where private keys are generated, on the agents or on the server
// (CERTCTL_KEYGEN_MODE).
type Keygen struct {
	// Mode is "agent" (keys never leave the node) or "server" (demo only), as CERTCTL_KEYGEN_MODE.
	Mode string `json:"mode"`
}

// CORS is `server.cors`: the browser origins the API admits (CERTCTL_CORS_ORIGINS).
type CORS struct {
	// Origins is a comma-separated list of http(s) origins (CERTCTL_CORS_ORIGINS); empty denies every
	// cross-origin request. "*" is refused: certctl v2.1.7 refuses to start with it outside demo mode.
	Origins string `json:"origins"`
}

// Issuer is `server.issuer`: the certificate issuers configured through the environment (local
// and acme; stepca and openssl are kept from the chart, and enabling them is refused).
type Issuer struct {
	// Local is certctl's built-in issuer and its CA.
	Local LocalIssuer `json:"local"`
	// ACME seeds ACME issuers from the environment.
	ACME ACMEIssuer `json:"acme"`
	// StepCA is kept from the chart; enabling it is refused.
	StepCA StepCAIssuer `json:"stepca"`
	// OpenSSL is kept from the chart; enabling it is refused.
	OpenSSL OpenSSLIssuer `json:"openssl"`
}

// LocalIssuer is `server.issuer.local`: certctl's built-in issuer and its CA, from a Secret the
// user provides or generated once by the program.
type LocalIssuer struct {
	// Enabled is kept from the chart and read by nothing, as in the chart: certctl always has
	// its local issuer.
	Enabled bool `json:"enabled"`
	// ExistingSecret names a kubernetes.io/tls Secret holding the local issuer's CA (tls.crt
	// with CA:TRUE and keyCertSign, tls.key). Empty: the program generates a CA once and keeps it
	// in its state, so every replica and every restart issues from the same CA.
	ExistingSecret string `json:"existingSecret"`
}

// ACMEIssuer sets certctl's CERTCTL_ACME_* variables. certctl uses them only on a boot that finds
// the issuers table empty, to seed ACME issuers; changing them later changes nothing.
type ACMEIssuer struct {
	// Enabled sets CERTCTL_ACME_DIRECTORY_URL, _EMAIL and _CHALLENGE_TYPE; directoryURL and email
	// are then required. certctl seeds its ACME issuers from them once, on the first boot with
	// an empty issuers table: later changes do nothing.
	Enabled bool `json:"enabled"`
	// DirectoryURL is the CA's ACME directory, an https URL (CERTCTL_ACME_DIRECTORY_URL).
	DirectoryURL string `json:"directoryURL"`
	// Email is the ACME account contact address (CERTCTL_ACME_EMAIL).
	Email string `json:"email"`
	// ChallengeType must be http-01 (CERTCTL_ACME_CHALLENGE_TYPE): the seeded issuer never gets
	// the DNS scripts dns-01 and dns-persist-01 need, so those are refused.
	ChallengeType string `json:"challengeType"`
	// DNSPresentScript is refused when set: v2.1.7 reads CERTCTL_ACME_DNS_PRESENT_SCRIPT but never
	// copies it into the seeded issuer. Set dns_present_script on the issuer through the API.
	DNSPresentScript string `json:"dnsPresentScript"`
	// DNSCleanupScript is refused when set, as DNSPresentScript (dns_cleanup_script).
	DNSCleanupScript string `json:"dnsCleanupScript"`
	// DNSPropagationWait is refused when set: certctl v2.1.7 reads no variable for it. Set
	// dns_propagation_wait (integer seconds) on the ACME issuer through certctl's API instead.
	DNSPropagationWait string `json:"dnsPropagationWait"`
	// DNSPersistIssuerDomain is refused when set, as DNSPresentScript.
	DNSPersistIssuerDomain string `json:"dnsPersistIssuerDomain"`
	// EABKid is refused when set: certctl v2.1.7 reads no variable for it. Set eab_kid on the
	// ACME issuer through certctl's API instead.
	EABKid string `json:"eabKid"`
	// EABHmac is refused when set: certctl v2.1.7 reads no variable for it. Set eab_hmac on the
	// ACME issuer through certctl's API instead.
	EABHmac Secret `json:"eabHmac"`
}

// StepCAIssuer and OpenSSLIssuer are in the chart's values, but the program renders no
// variables for them: certctl reads CERTCTL_STEPCA_* and CERTCTL_OPENSSL_*_SCRIPT only to create
// the issuer on a first boot with an empty issuers table. Enabling them is refused (see Validate).
type StepCAIssuer struct {
	// Enabled is refused when true: create the step-ca issuer through certctl's API instead.
	Enabled bool `json:"enabled"`
}

// OpenSSLIssuer is `server.issuer.openssl`, kept from the chart; enabling it is refused (see
// StepCAIssuer).
type OpenSSLIssuer struct {
	// Enabled is refused when true: create the OpenSSL issuer through certctl's API instead.
	Enabled bool `json:"enabled"`
}

// Notifiers is `server.notifiers`: the Slack, Teams, PagerDuty and Opsgenie notifications.
type Notifiers struct {
	// Slack posts notifications to a Slack webhook.
	Slack SlackNotifier `json:"slack"`
	// Teams posts notifications to a Microsoft Teams webhook.
	Teams TeamsNotifier `json:"teams"`
	// PagerDuty sends notifications as PagerDuty events.
	PagerDuty PagerDutyNotifier `json:"pagerduty"`
	// Opsgenie sends notifications as Opsgenie alerts.
	Opsgenie OpsgenieNotifier `json:"opsgenie"`
}

// SlackNotifier is `server.notifiers.slack`: notifications posted to a Slack webhook
// (CERTCTL_SLACK_*).
type SlackNotifier struct {
	// Enabled sets the CERTCTL_SLACK_* variables; webhookUrl is then required.
	Enabled bool `json:"enabled"`
	// WebhookURL is the https webhook (CERTCTL_SLACK_WEBHOOK_URL, Secret key slack-webhook-url).
	WebhookURL Secret `json:"webhookUrl"`
	// Channel overrides the webhook's channel (CERTCTL_SLACK_CHANNEL); empty sets none.
	Channel string `json:"channel"`
	// Username overrides the poster's name (CERTCTL_SLACK_USERNAME); empty keeps certctl's default.
	Username string `json:"username"`
}

// TeamsNotifier is `server.notifiers.teams`: notifications posted to a Microsoft Teams webhook
// (CERTCTL_TEAMS_WEBHOOK_URL).
type TeamsNotifier struct {
	// Enabled sets CERTCTL_TEAMS_WEBHOOK_URL; webhookUrl is then required.
	Enabled bool `json:"enabled"`
	// WebhookURL is the https webhook (CERTCTL_TEAMS_WEBHOOK_URL, Secret key teams-webhook-url).
	WebhookURL Secret `json:"webhookUrl"`
}

// PagerDutyNotifier is `server.notifiers.pagerduty`: notifications sent as PagerDuty events
// (CERTCTL_PAGERDUTY_*).
type PagerDutyNotifier struct {
	// Enabled sets the CERTCTL_PAGERDUTY_* variables; routingKey is then required.
	Enabled bool `json:"enabled"`
	// RoutingKey is the Events API routing key (CERTCTL_PAGERDUTY_ROUTING_KEY, Secret key
	// pagerduty-routing-key).
	RoutingKey Secret `json:"routingKey"`
	// Severity of the events: critical, error, warning or info (CERTCTL_PAGERDUTY_SEVERITY).
	Severity string `json:"severity"`
}

// OpsgenieNotifier is `server.notifiers.opsgenie`: notifications sent as Opsgenie alerts
// (CERTCTL_OPSGENIE_*).
type OpsgenieNotifier struct {
	// Enabled sets the CERTCTL_OPSGENIE_* variables; apiKey is then required.
	Enabled bool `json:"enabled"`
	// APIKey is the Opsgenie API key (CERTCTL_OPSGENIE_API_KEY, Secret key opsgenie-api-key).
	APIKey Secret `json:"apiKey"`
	// Priority of the alerts: P1 to P5 (CERTCTL_OPSGENIE_PRIORITY).
	Priority string `json:"priority"`
}

// PostgreSQL is the `postgresql` section: the bundled database, StatefulSet <fullname>-postgres
// with its headless Service and Secret; with enabled false, externalDatabase is used instead.
type PostgreSQL struct {
	// Workload: postgresql takes the shared workload keys (postgresql.image, postgresql.resources, ...).
	Workload
	// Enabled runs the bundled Postgres; false needs externalDatabase.url and renders no Postgres
	// objects (exactly one of the two).
	Enabled bool `json:"enabled"`
	// Auth is the database, role and password the bundled Postgres is initialised with.
	Auth PostgresAuth `json:"auth"`
	// TLS is the connection's sslmode, the CA the server verifies with, and the bundled server's
	// certificate.
	TLS PostgresTLS `json:"tls"`
	// Storage is the data volume claim.
	Storage Storage `json:"storage"`
	// LivenessProbe times the liveness probe, pg_isready against the configured user and database.
	LivenessProbe ProbeTiming `json:"livenessProbe"`
	// ReadinessProbe times the readiness probe, the same pg_isready check.
	ReadinessProbe ProbeTiming `json:"readinessProbe"`
	// Service is the headless Service <fullname>-postgres (always headless; the chart's
	// postgresql.service.type is gone).
	Service PostgresService `json:"service"`
	// PostgresqlConfig entries become `-c key=value` server arguments, sorted by key, applied when
	// the pod is deleted (the StatefulSet updates OnDelete).
	PostgresqlConfig map[string]string `json:"postgresqlConfig"`
	// Cluster runs the database on CloudNativePG instead of the StatefulSet (postgresql.enabled
	// stays true: auth, storage, resources and postgresqlConfig apply to the cluster's instances).
	Cluster PostgresCluster `json:"cluster"`
}

// PostgresCluster is `postgresql.cluster`: a CloudNativePG Cluster <fullname>-postgres (the
// operator, its Barman Cloud Plugin and cert-manager installed by the platform team), which the
// server reaches at <fullname>-postgres-rw with sslmode=verify-full against <fullname>-postgres-ca.
type PostgresCluster struct {
	// Enabled renders the CloudNativePG Cluster instead of the bundled StatefulSet.
	Enabled bool `json:"enabled"`
	// Instances is the number of PostgreSQL instances, one primary and the rest standbys (>= 1,
	// default 3), each on its own node (required pod anti-affinity).
	Instances int `json:"instances"`
	// SpreadOverZones puts each instance in its own zone (topology.kubernetes.io/zone) instead of
	// only on its own node: needs at least as many zones as instances.
	SpreadOverZones bool `json:"spreadOverZones"`
	// SynchronousReplicas is how many standbys confirm each commit (default 1; 0 turns
	// synchronous replication off); at most instances - 1.
	SynchronousReplicas int `json:"synchronousReplicas"`
	// DataDurability is "required" (commits wait while too few standbys are healthy) or
	// "preferred" (commits go on with fewer standbys: relaxed).
	DataDurability string `json:"dataDurability"`
	// OperatorNamespace is where the CloudNativePG operator runs; the instances' NetworkPolicy
	// admits it (default cnpg-system).
	OperatorNamespace string `json:"operatorNamespace"`
	// Incarnation names this cluster's archive (serverName <fullname>-postgres-<incarnation>):
	// raise it whenever the Cluster is recreated (a restore, `pulumi up --replace`), so the new
	// cluster never archives into its predecessor's WAL (>= 1, default 1).
	Incarnation int `json:"incarnation"`
	// Backup archives WAL and takes base backups to backup.s3's bucket through the Barman Cloud
	// Plugin (it replaces backup.enabled's pg_dump in this mode).
	Backup PostgresClusterBackup `json:"backup"`
	// Recovery bootstraps the cluster from the object store instead of an empty initdb.
	Recovery PostgresClusterRecovery `json:"recovery"`
	// OwnerSecret names a kubernetes.io/basic-auth Secret you provide (username =
	// postgresql.auth.username, password) for the owner, in place of the generated
	// <fullname>-postgres-owner: the operator sets the role's password from it, and the server
	// and migration pods read it as PGPASSWORD (their database URL then carries none).
	OwnerSecret string `json:"ownerSecret"`
}

// PostgresClusterBackup is `postgresql.cluster.backup`: continuous archiving to backup.s3's
// bucket (bucket, create, region, credentials, kmsKeyId) under its own prefix.
type PostgresClusterBackup struct {
	// Enabled creates the ObjectStore, archives WAL through the plugin and schedules base backups.
	Enabled bool `json:"enabled"`
	// Schedule of the base backups: six cron fields, seconds first (default "0 0 2 * * *").
	Schedule string `json:"schedule"`
	// Prefix of the archive in the bucket, without a leading "/" (default "certctl-cnpg/"); the
	// namespace and the serverName follow it.
	Prefix string `json:"prefix"`
	// RetentionDays is how far back a point-in-time restore can go (>= 1, default 30); a built
	// bucket's lifecycle keeps the prefix a week longer, so a base backup the window needs stays.
	RetentionDays int `json:"retentionDays"`
}

// PostgresClusterRecovery is `postgresql.cluster.recovery`: a new cluster bootstrapped from the
// base backups and WAL of an earlier incarnation (docs/runbooks/postgres-cluster-restore.md).
type PostgresClusterRecovery struct {
	// Enabled bootstraps from the object store (bootstrap.recovery); needs backup.enabled.
	Enabled bool `json:"enabled"`
	// SourceIncarnation is the incarnation whose archive is restored; below incarnation.
	SourceIncarnation int `json:"sourceIncarnation"`
	// TargetTime, an RFC 3339 time, stops the replay there (point in time); empty replays all WAL.
	TargetTime string `json:"targetTime"`
}

// PostgresAuth is `postgresql.auth`: the database, role and password the bundled Postgres is
// initialised with, and the password's rotation.
type PostgresAuth struct {
	// Database is created at initdb (POSTGRES_DB); a lowercase unquoted identifier.
	Database string `json:"database"`
	// Username is the role created at initdb (POSTGRES_USER); a lowercase unquoted identifier.
	Username string `json:"username"`
	// Password is the role's password, generated when empty. A change (given, or generated anew
	// by passwordRotation) is applied to the running database by a Job before the server rolls.
	Password Secret `json:"password"`
	// PasswordRotation: each new value generates a new password (when password is empty).
	PasswordRotation int `json:"passwordRotation"`
}

// PostgresTLS is `postgresql.tls`: the database connection's sslmode and the CA the server
// verifies it with (bundled or external), and the certificate the bundled Postgres serves.
type PostgresTLS struct {
	// Mode is the libpq sslmode: disable, require, verify-ca or verify-full, put into the bundled
	// database URL. With an external URL, a mode other than disable must match the URL's sslmode.
	Mode string `json:"mode"`
	// CASecretRef names a Secret with a "ca.crt" key; with a mode other than disable it is mounted
	// in the server pods and set as PGSSLROOTCERT. Required for verify-ca and verify-full.
	CASecretRef string `json:"caSecretRef"`
	// CertSecretRef names a kubernetes.io/tls Secret (tls.crt, tls.key) the bundled Postgres
	// serves TLS with; required for a mode other than disable in bundled mode.
	CertSecretRef string `json:"certSecretRef"`
}

// Storage is `postgresql.storage`: the bundled Postgres' data volume claim.
type Storage struct {
	// Size of the data volume claim, a positive quantity such as "10Gi".
	Size string `json:"size"`
	// StorageClass of the claim; empty uses the cluster default.
	StorageClass string `json:"storageClass"`
	// DeleteOnDestroy lets `pulumi destroy` delete the data volume; off by default.
	DeleteOnDestroy bool `json:"deleteOnDestroy"`
}

// PostgresService is `postgresql.service`: the port of the bundled Postgres and of its headless
// Service <fullname>-postgres.
type PostgresService struct {
	// Port Postgres listens on and the headless Service exposes; the database URL uses it.
	Port int `json:"port"`
}

// ExternalDatabase is the `externalDatabase` section: the database the server uses when
// postgresql.enabled is false.
type ExternalDatabase struct {
	// URL is used verbatim as CERTCTL_DATABASE_URL when postgresql.enabled is false.
	URL Secret `json:"url"`
}

// Agent is the `agent` section: the certctl agents <fullname>-agent, a DaemonSet (one per node)
// or, with kind Deployment, a StatefulSet, and the settings they run with.
type Agent struct {
	// Workload: agent takes the shared workload keys; the register init container uses them too.
	Workload
	// Enabled deploys the agents, each with a register init container that obtains its agent ID.
	Enabled bool `json:"enabled"`
	// Kind is DaemonSet (one agent per node) or Deployment.
	Kind string `json:"kind"`
	// Replicas is the number of agent pods in Deployment mode, at least 1.
	Replicas int `json:"replicas"`
	// Name is the fixed agent name in Deployment mode; empty means the pod name.
	Name string `json:"name"`
	// KeyDir is where agents keep the private keys they generate (CERTCTL_KEY_DIR); an absolute
	// path, backed by an emptyDir limited to 1Gi.
	KeyDir string `json:"keyDir"`
	// DiscoveryDirs are comma-separated absolute paths scanned for existing certificates
	// (CERTCTL_DISCOVERY_DIRS); empty sets none.
	DiscoveryDirs string `json:"discoveryDirs"`
	// Env is a name->value map of extra variables for the agent container (not the register init
	// container); a variable the program sets itself is refused.
	Env map[string]string `json:"env"`
	// ExtraEnv takes full EnvVar entries for the agent container, valueFrom included.
	ExtraEnv []corev1.EnvVar `json:"extraEnv"`
	// UpdateStrategy is the DaemonSet's (agent.kind DaemonSet only): RollingUpdate with
	// rollingUpdate.maxUnavailable (a count or a percentage of the nodes) or OnDelete. The default
	// maxUnavailable follows fleetSize, so a large fleet does not roll one node at a time.
	UpdateStrategy appsv1.DaemonSetUpdateStrategy `json:"updateStrategy"`
	// RolloutTimeout is how long `pulumi up` waits for the agents' rollout (a Go duration). The
	// program cannot know the node count, so it is a setting; the default follows fleetSize.
	RolloutTimeout string `json:"rolloutTimeout"`
}

// Ingress is the `ingress` section: an Ingress <fullname> to the server Service's https port,
// with its rules, TLS entries and cert-manager annotation.
type Ingress struct {
	// Enabled creates Ingress <fullname> to the server Service's https port.
	Enabled bool `json:"enabled"`
	// ClassName is the IngressClass; "nginx" also gets the backend-protocol HTTPS annotation.
	ClassName string `json:"className"`
	// Annotations go on the Ingress and override the program's own.
	Annotations map[string]string `json:"annotations"`
	// CertManager annotates the Ingress for cert-manager's ingress-shim.
	CertManager IngressCertManager `json:"certManager"`
	// Hosts are the Ingress rules; at least one when enabled.
	Hosts []IngressHost `json:"hosts"`
	// TLS lists the Ingress TLS entries.
	TLS []IngressTLS `json:"tls"`
}

// IngressCertManager is `ingress.certManager`: the cert-manager annotation on the Ingress, for
// cert-manager's ingress-shim; independent of server.tls.certManager.
type IngressCertManager struct {
	// Enabled adds the cert-manager.io/cluster-issuer (or /issuer, for kind Issuer) annotation;
	// independent of server.tls.
	Enabled bool `json:"enabled"`
	// IssuerRef names the issuer for the annotation; name is required when enabled.
	IssuerRef IssuerRef `json:"issuerRef"`
}

// IngressHost is one entry of `ingress.hosts`: an Ingress rule, a host and its paths.
type IngressHost struct {
	// Host is a DNS name, optionally a wildcard ("*.example.com"); empty matches every host.
	Host string `json:"host"`
	// Paths routed to the server; at least one.
	Paths []IngressPath `json:"paths"`
}

// IngressPath is one entry of `ingress.hosts[].paths`: a path routed to the server.
type IngressPath struct {
	// Path starts with "/".
	Path string `json:"path"`
	// PathType is Exact, Prefix or ImplementationSpecific.
	PathType string `json:"pathType"`
}

// IngressTLS is one entry of `ingress.tls`: the Secret holding the certificate for the hosts it
// lists.
type IngressTLS struct {
	// SecretName is the Secret holding the certificate for these hosts.
	SecretName string `json:"secretName"`
	// Hosts the certificate covers.
	Hosts []string `json:"hosts"`
}

// ServiceAccount is the `serviceAccount` section: the server pods' ServiceAccount, created by the
// program or expected to exist.
type ServiceAccount struct {
	// Create creates the server pods' ServiceAccount; false expects serviceAccount.name to exist.
	Create bool `json:"create"`
	// Annotations go on the ServiceAccount.
	Annotations map[string]string `json:"annotations"`
	// Name defaults to the fullname.
	Name string `json:"name"`
}

// RBAC is the `rbac` section: the server's ClusterRole and ClusterRoleBinding <fullname>.
type RBAC struct {
	// Create creates ClusterRole and ClusterRoleBinding <fullname> for the server ServiceAccount;
	// the role has no rules unless kubernetesSecrets.enabled.
	Create bool `json:"create"`
}

// KubernetesSecrets grants the (preview) Kubernetes Secrets target connector its verbs.
type KubernetesSecrets struct {
	// Enabled adds get, list, create, update and patch on Secrets to the ClusterRole and mounts
	// the ServiceAccount token in the server pods; needs rbac.create.
	Enabled bool `json:"enabled"`
}

// PodDisruptionBudget is the `podDisruptionBudget` section: PodDisruptionBudget <fullname>-server
// for the server pods, rendered only when server.replicas > 1.
type PodDisruptionBudget struct {
	// Enabled creates PodDisruptionBudget <fullname>-server, only when server.replicas > 1.
	Enabled bool `json:"enabled"`
	// MinAvailable is a count or a percentage ("50%"), default 1; exclusive with maxUnavailable.
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// MaxUnavailable is a count or a percentage; setting it alone drops the default minAvailable.
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// NetworkPolicy is the `networkPolicy` section: the NetworkPolicies that restrict traffic to and
// from the server (<fullname>-server) and the bundled Postgres (<fullname>-postgres).
type NetworkPolicy struct {
	// Enabled creates NetworkPolicy <fullname>-server (in: agents on https; out: DNS, the bundled
	// Postgres or the external database's port) and, with the bundled Postgres,
	// <fullname>-postgres (in: the server only).
	Enabled bool `json:"enabled"`
	// PrometheusNamespace is the namespace Prometheus scrapes from: with the ServiceMonitor on, the
	// server policy admits it on https (required then, or every scrape would be dropped).
	PrometheusNamespace string `json:"prometheusNamespace"`
	// IngressControllerNamespace is where the ingress controller runs: with ingress.enabled, the
	// server policy admits it on https. Empty leaves that to extraIngress (warned about at preview).
	IngressControllerNamespace string `json:"ingressControllerNamespace"`
	// ExtraIngress rules add to the server policy (ingress controller, Prometheus).
	ExtraIngress []networkingv1.NetworkPolicyIngressRule `json:"extraIngress"`
	// ExtraEgress rules add to the server policy (ACME CA, SMTP, webhooks).
	ExtraEgress []networkingv1.NetworkPolicyEgressRule `json:"extraEgress"`
}

// Monitoring is the `monitoring` section: the Prometheus Operator's ServiceMonitor and
// PrometheusRule for the server's metrics, and a Grafana dashboard.
type Monitoring struct {
	// Enabled turns monitoring on: the ServiceMonitor and PrometheusRule below, when enabled
	// (both need the Prometheus Operator's CRDs).
	Enabled bool `json:"enabled"`
	// ServiceMonitor scrapes the server's Prometheus metrics.
	ServiceMonitor ServiceMonitor `json:"serviceMonitor"`
	// PrometheusRules are the alerts on those metrics.
	PrometheusRules PrometheusRules `json:"prometheusRules"`
	// GrafanaDashboard is a dashboard of those metrics for Grafana's sidecar.
	GrafanaDashboard GrafanaDashboard `json:"grafanaDashboard"`
}

// GrafanaDashboard is `monitoring.grafanaDashboard`: a ConfigMap <fullname>-dashboard holding a
// Grafana dashboard, for Grafana's dashboard sidecar.
type GrafanaDashboard struct {
	// Enabled creates a ConfigMap holding the dashboard JSON; refused without monitoring.enabled.
	// Needs no CRD: Grafana's dashboard sidecar picks it up by its labels.
	Enabled bool `json:"enabled"`
	// Labels go on the ConfigMap: the label the sidecar watches (its `label` setting).
	Labels map[string]string `json:"labels"`
}

// ServiceMonitor is `monitoring.serviceMonitor`: the ServiceMonitor <fullname>-server that scrapes
// the server's metrics over verified HTTPS, and the key it presents.
type ServiceMonitor struct {
	// Enabled creates a ServiceMonitor for /api/v1/metrics/prometheus over verified HTTPS;
	// refused without monitoring.enabled.
	Enabled bool `json:"enabled"`
	// Interval between scrapes, a Prometheus duration such as "30s".
	Interval string `json:"interval"`
	// ScrapeTimeout of one scrape, a Prometheus duration no longer than interval.
	ScrapeTimeout string `json:"scrapeTimeout"`
	// Labels go on the ServiceMonitor, for Prometheus's serviceMonitorSelector.
	Labels map[string]string `json:"labels"`
	// BearerTokenSecret points at your own Secret key holding an API key with metrics.read;
	// empty means the program provisions the scrape key (scrapeKey) in Secret <fullname>-metrics.
	BearerTokenSecret SecretKeyRef `json:"bearerTokenSecret"`
	// ScrapeKey is the key Prometheus presents: the named key "prometheus", narrowed to the role
	// metrics-reader (metrics.read only). Generated when empty.
	ScrapeKey Secret `json:"scrapeKey"`
	// ScrapeKeyRotation does the same for the scrape key: Prometheus moves to the new key in the
	// update that generates it.
	ScrapeKeyRotation int `json:"scrapeKeyRotation"`
	// ScrapeKeyRotationDone ends the scrape key overlap, as server.auth.apiKeyRotationDone.
	ScrapeKeyRotationDone int `json:"scrapeKeyRotationDone"`
	// TLSConfig is how the scrape verifies the server's certificate.
	TLSConfig ScrapeTLS `json:"tlsConfig"`
	// Relabelings are Prometheus relabel rules applied to the scrape target.
	Relabelings []RelabelConfig `json:"relabelings"`
}

// SecretKeyRef names a key of a Kubernetes Secret: in the configuration, and in what the
// components wire between each other.
type SecretKeyRef struct {
	// Name of the Secret; set together with key, or neither.
	Name string `json:"name"`
	// Key in that Secret.
	Key string `json:"key"`
}

// ScrapeTLS is the ServiceMonitor tlsConfig. Unlike the chart it verifies by default, against
// the CA in the server's TLS Secret.
type ScrapeTLS struct {
	// CAFile is a CA file path inside the Prometheus pod; absolute, exclusive with ca.
	CAFile string `json:"caFile"`
	// CA is the Secret key holding the CA; empty uses the server's TLS Secret. The chart's
	// tlsConfig.ca.secret.{name,key}, one level less.
	CA SecretKeyRef `json:"ca"`
	// ServerName to verify the server certificate against.
	ServerName string `json:"serverName"`
	// InsecureSkipVerify skips certificate verification (demo only).
	InsecureSkipVerify bool `json:"insecureSkipVerify"`
}

// RelabelConfig is one entry of `monitoring.serviceMonitor.relabelings`: a Prometheus relabel
// rule applied to the scrape target.
type RelabelConfig struct {
	// SourceLabels whose values are joined with separator and matched against regex.
	SourceLabels []string `json:"sourceLabels,omitempty"`
	// Separator between the joined source label values.
	Separator string `json:"separator,omitempty"`
	// TargetLabel receives the result; required for replace, lowercase, uppercase, keepequal and
	// dropequal (and an empty action, which means replace).
	TargetLabel string `json:"targetLabel,omitempty"`
	// Regex is an RE2 expression matched against the joined values.
	Regex string `json:"regex,omitempty"`
	// Replacement written to targetLabel; may reference regex groups.
	Replacement string `json:"replacement,omitempty"`
	// Action is a Prometheus relabel action (replace, keep, drop, labelmap, ...); hashmod is
	// refused, since no modulus can be set here.
	Action string `json:"action,omitempty"`
}

// PrometheusRules is `monitoring.prometheusRules`: the PrometheusRule <fullname>-rules with
// upstream's four alerts, and with the bundled Postgres one on its volume filling, and their
// thresholds.
type PrometheusRules struct {
	// Enabled creates the PrometheusRule; refused without monitoring.enabled.
	Enabled bool `json:"enabled"`
	// RunbookURL is where each alert's runbook_url points (an anchor per alert is appended).
	RunbookURL string `json:"runbookURL"`
	// Interval is how often Prometheus evaluates the rule group, a Prometheus duration.
	Interval string `json:"interval"`
	// Labels go on the PrometheusRule, for Prometheus's ruleSelector.
	Labels map[string]string `json:"labels"`
	// Thresholds tune the alerts, with the chart's key names and defaults.
	Thresholds AlertThresholds `json:"thresholds"`
}

// AlertThresholds tune the alerts. Durations are Prometheus durations ("15m", "1h30m").
type AlertThresholds struct {
	// ExpiringCertificateCount: CertctlCertificateExpiringSoon fires above this many certificates
	// expiring within 30 days (>= 0).
	ExpiringCertificateCount int `json:"expiringCertificateCount"`
	// ExpiringCertificateFor is how long that must hold before the alert fires.
	ExpiringCertificateFor string `json:"expiringCertificateFor"`
	// OfflineAgentCount: CertctlAgentOffline fires above this many offline agents (>= 0).
	OfflineAgentCount int `json:"offlineAgentCount"`
	// OfflineAgentFor is how long agents must stay offline before the alert fires.
	OfflineAgentFor string `json:"offlineAgentFor"`
	// JobFailureRate: CertctlJobFailureRateHigh fires above this share of failed jobs, in (0, 1].
	JobFailureRate float64 `json:"jobFailureRate"`
	// JobFailureRateFor is how long the share must stay above the threshold.
	JobFailureRateFor string `json:"jobFailureRateFor"`
	// IssuanceFailureRate: CertctlIssuanceFailures fires above this many issuance failures per
	// second (>= 0; 0 means any failure).
	IssuanceFailureRate float64 `json:"issuanceFailureRate"`
	// IssuanceFailureFor is how long the rate must stay above the threshold.
	IssuanceFailureFor string `json:"issuanceFailureFor"`
	// DatabaseVolumeFreeRatio: CertctlDatabaseVolumeFilling fires when the bundled database's
	// volume has less than this share free, in (0, 1).
	DatabaseVolumeFreeRatio float64 `json:"databaseVolumeFreeRatio"`
	// DatabaseVolumeFullWithin: it also fires when, at the last 6 hours' rate of growth, the
	// volume fills within this Prometheus duration.
	DatabaseVolumeFullWithin string `json:"databaseVolumeFullWithin"`
	// DatabaseVolumeFor is how long either must hold before the alert fires.
	DatabaseVolumeFor string `json:"databaseVolumeFor"`
}

// Backup is the `backup` section: CronJob <fullname>-backup, a scheduled pg_dump of the bundled
// database into a volume claim (sink pvc) or an S3 bucket (sink s3).
type Backup struct {
	// Workload: backup takes the shared workload keys (the chart's backup.image string and
	// backup.imagePullPolicy become backup.image.*). Unset image keys take postgresql.image's, so
	// pg_dump matches the database's major version.
	Workload
	// Enabled adds a CronJob that dumps the bundled database (refused with an external database,
	// whose provider's backups and point-in-time recovery apply).
	Enabled bool `json:"enabled"`
	// Schedule is a five-field cron expression or a macro such as "@daily", without TZ=, in the
	// kube-controller-manager's time zone (UTC on most clusters).
	Schedule string `json:"schedule"`
	// Sink is "pvc" or "s3".
	Sink string `json:"sink"`
	// SuccessfulJobsHistoryLimit is how many finished Jobs are kept (>= 0).
	SuccessfulJobsHistoryLimit int32 `json:"successfulJobsHistoryLimit"`
	// FailedJobsHistoryLimit is how many failed Jobs are kept (>= 0).
	FailedJobsHistoryLimit int32 `json:"failedJobsHistoryLimit"`
	// StartingDeadlineSeconds: a run that could not start within this many seconds of its time
	// is skipped (>= 1).
	StartingDeadlineSeconds int64 `json:"startingDeadlineSeconds"`
	// BackoffLimit is how many times a failed backup Job is retried (>= 0).
	BackoffLimit int32 `json:"backoffLimit"`
	// ActiveDeadlineSeconds bounds one backup Job's run time, in seconds (>= 1).
	ActiveDeadlineSeconds int64 `json:"activeDeadlineSeconds"`
	// PVC is the volume dumps go to with sink pvc.
	PVC BackupPVC `json:"pvc"`
	// S3 is the bucket dumps go to with sink s3.
	S3 BackupS3 `json:"s3"`
}

// BackupPVC is `backup.pvc`: the volume claim dumps go to with sink pvc, created by the program
// or existing, and how many dumps it keeps.
type BackupPVC struct {
	// Size of the backup volume claim the program creates, a positive quantity such as "20Gi".
	Size string `json:"size"`
	// StorageClass of the created claim; empty uses the cluster default.
	StorageClass string `json:"storageClass"`
	// ExistingClaim uses this PVC instead of creating one (the chart's backup.pvc.claimName).
	ExistingClaim string `json:"existingClaim"`
	// KeepLast is how many dumps stay on the volume; each run deletes older ones (>= 1).
	KeepLast int `json:"keepLast"`
	// DeleteOnDestroy lets `pulumi destroy` delete the created claim and its dumps; by default
	// the claim is left in the cluster.
	DeleteOnDestroy bool `json:"deleteOnDestroy"`
}

// BackupS3 is `backup.s3`: the S3 bucket dumps go to with sink s3, created by the program or
// existing, and how the uploader authenticates.
type BackupS3 struct {
	// Bucket is the name of the bucket; empty with create=true lets Pulumi name it.
	Bucket string `json:"bucket"`
	// Create builds the bucket in this stack with pulumi-aws; with create=false, bucket must
	// name an existing one.
	Create bool `json:"create"`
	// Region of the bucket, for the AWS provider and the uploader (AWS_REGION).
	Region string `json:"region"`
	// Prefix of the dumps' object keys, without a leading "/".
	Prefix string `json:"prefix"`
	// Endpoint targets an S3-compatible store instead of AWS (create=false and
	// credentials=existingSecret only).
	Endpoint string `json:"endpoint"`
	// UploaderImage carries the AWS CLI for the upload container.
	UploaderImage Image `json:"uploaderImage"`
	// RetentionDays expires dumps in a created bucket after this many days (>= 1).
	RetentionDays int `json:"retentionDays"`
	// KMSKeyID is the ARN of the KMS key for SSE-KMS (the created bucket's default and the
	// uploader's request); empty uses SSE-S3 (AES256).
	KMSKeyID string `json:"kmsKeyId"`
	// DeleteOnDestroy lets `pulumi destroy` delete a created bucket, dumps included; by default
	// it is left in the account.
	DeleteOnDestroy bool `json:"deleteOnDestroy"`
	// Credentials is how the uploader authenticates: "irsa", "podIdentity", "iamUser" or
	// "existingSecret".
	Credentials string `json:"credentials"`
	// IRSARoleArn, with credentials=irsa, is an existing role for the backup ServiceAccount.
	IRSARoleArn string `json:"irsaRoleArn"`
	// OIDCProviderArn, with credentials=irsa, builds a role trusting the cluster's OIDC provider
	// for the backup ServiceAccount only.
	OIDCProviderArn string `json:"oidcProviderArn"`
	// EKSClusterName, with credentials=podIdentity, is the cluster the Pod Identity association
	// is made in.
	EKSClusterName string `json:"eksClusterName"`
	// CredentialsSecret, with credentials=existingSecret, is the Secret holding an access key.
	CredentialsSecret BackupCredentialsSecret `json:"credentialsSecret"`
}

// BackupCredentialsSecret is the chart's backup.s3.credentialsSecret.
type BackupCredentialsSecret struct {
	// Name of the Secret in the release namespace.
	Name string `json:"name"`
	// AccessKeyIDKey is the key holding the access key ID.
	AccessKeyIDKey string `json:"accessKeyIdKey"`
	// SecretAccessKeyKey is the key holding the secret access key.
	SecretAccessKeyKey string `json:"secretAccessKeyKey"`
}

// Migrations is the `migrations` section: with viaHook, the database migrations run in a Job
// <fullname>-migrate-<digest> before the server rolls, instead of at server boot.
type Migrations struct {
	// Workload: the migration Job's shared workload keys; an unset image, resources or
	// securityContext takes the server's (the Job runs the server binary), placement is its own.
	Workload
	// ViaHook runs `--migrate-only` in a Job before the server rolls; the server then skips
	// migrating at boot.
	ViaHook bool `json:"viaHook"`
	// BackoffLimit is how many times the migration Job retries (>= 0).
	BackoffLimit int32 `json:"backoffLimit"`
	// ActiveDeadlineSeconds bounds the migration Job's run time, in seconds (>= 1).
	ActiveDeadlineSeconds int64 `json:"activeDeadlineSeconds"`
}
