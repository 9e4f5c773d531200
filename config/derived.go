package config

import (
	"reflect"
	"strconv"
	"time"
)

// BackupWorkload is backup's workload with the database's image when backup.image is unset:
// pg_dump must be at least the server's major version, and the same image guarantees it.
func (c Config) BackupWorkload() Workload {
	w := c.Backup.Workload
	w.Image = w.Image.over(c.PostgreSQL.Image)
	return w
}

// MigrationWorkload is the migration Job's workload: its unset image, resources and security
// context take the server's (the Job runs the server binary); placement is its own.
func (c Config) MigrationWorkload() Workload {
	w, server := c.Migrations.Workload, c.Server.Workload
	w.Image = w.Image.over(server.Image)
	if len(w.Resources.Requests) == 0 && len(w.Resources.Limits) == 0 {
		w.Resources = server.Resources
	}
	if reflect.ValueOf(w.SecurityContext).IsZero() {
		w.SecurityContext = server.SecurityContext
	}
	return w
}

// over is the image with base's where no repository is set, and base's pull policy where none is.
func (i Image) over(base Image) Image {
	if i.Repository == "" {
		return base
	}
	if i.PullPolicy == "" {
		i.PullPolicy = base.PullPolicy
	}
	return i
}

// NeedsAWS reports whether the program creates AWS resources (the backup bucket, or IAM for the
// uploader), and so needs an AWS provider and credentials at `pulumi up`.
func (c Config) NeedsAWS() bool {
	b := c.Backup
	if !c.UsesBucket() {
		return false
	}
	switch b.S3.Credentials {
	case BackupCredentialsPodIdentity, BackupCredentialsIAMUser:
		return true
	case BackupCredentialsIRSA:
		return b.S3.Create || b.S3.OIDCProviderArn != ""
	}
	return b.S3.Create
}

// UsesBucket reports whether backup.s3's bucket is in use: by the dump uploads (backup.sink s3)
// or by the CloudNativePG cluster's archive.
func (c Config) UsesBucket() bool {
	return c.Backup.Enabled && c.Backup.Sink == BackupSinkS3 || c.ArchivesToBucket()
}

// InCluster reports whether the database is the CloudNativePG cluster (postgresql.cluster.enabled).
func (c Config) InCluster() bool { return c.PostgreSQL.Enabled && c.PostgreSQL.Cluster.Enabled }

// ArchivesToBucket reports whether the CloudNativePG cluster archives WAL and base backups to
// backup.s3's bucket (postgresql.cluster.backup.enabled).
func (c Config) ArchivesToBucket() bool { return c.InCluster() && c.PostgreSQL.Cluster.Backup.Enabled }

// ServerName is the archive name of one incarnation of the cluster named cluster: a recreated
// cluster archives under a new one, never into its predecessor's WAL.
func ServerName(cluster string, incarnation int) string {
	return cluster + "-i" + strconv.Itoa(incarnation)
}

// WorkloadKind is the kind of object the agents run as: a DaemonSet, or for agent.kind
// Deployment a StatefulSet, whose pods keep their names (the agents' identities) when replaced.
func (a Agent) WorkloadKind() string {
	if a.Kind == AgentDeployment {
		return "StatefulSet"
	}
	return "DaemonSet"
}

// JobProcessorInterval is server.scheduler.jobProcessorInterval, or when it is empty the
// interval that suits the keygen mode: with agents generating keys the processor's only useful
// work is passing scheduled renewals on to them, and every run can strand an agent's deployment
// (v2.1.7), so it runs daily; with server-side keys it does the issuing, at certctl's pace.
func (s Server) JobProcessorInterval() string {
	switch {
	case s.Scheduler.JobProcessorInterval != "":
		return s.Scheduler.JobProcessorInterval
	case s.Keygen.Mode == "agent":
		return "24h"
	default:
		return "30s"
	}
}

// KeyRotation is one generated key's rotation state. Generation Rotation is the current key; the
// server also accepts generation Rotation-1 until Done reaches Rotation. Both follow from
// configuration alone, so a failed or targeted update never ends an overlap by itself.
type KeyRotation struct {
	// Key is the counter's config key, Rotation its value; DoneKey and Done likewise.
	Key, DoneKey   string
	Rotation, Done int
	// Given is the key the user set instead (counters then do not apply), under GivenKey.
	Given    Secret
	GivenKey string
}

// AcceptsPrevious reports whether the server still accepts the previous generation (never for a
// key the user set).
func (r KeyRotation) AcceptsPrevious() bool {
	return !r.Given.IsSet() && r.Rotation > 0 && r.Done < r.Rotation
}

// KeyRotations are the rotation states of the generated keys that rotate with an overlap.
type KeyRotations struct {
	Admin, Agents, Scrape KeyRotation
}

// List is every rotation state, for checks that treat them alike.
func (r KeyRotations) List() []KeyRotation { return []KeyRotation{r.Admin, r.Agents, r.Scrape} }

// KeyRotations are the configured rotation states of the admin, agents' and scrape keys.
func (c Config) KeyRotations() KeyRotations {
	auth, sm := c.Server.Auth, c.Monitoring.ServiceMonitor
	return KeyRotations{
		Admin: KeyRotation{
			Key: "server.auth.apiKeyRotation", Rotation: auth.APIKeyRotation,
			DoneKey: "server.auth.apiKeyRotationDone", Done: auth.APIKeyRotationDone,
			GivenKey: "server.auth.apiKey", Given: auth.APIKey,
		},
		Agents: KeyRotation{
			Key: "server.auth.agentApiKeyRotation", Rotation: auth.AgentAPIKeyRotation,
			DoneKey: "server.auth.agentApiKeyRotationDone", Done: auth.AgentAPIKeyRotationDone,
			GivenKey: "server.auth.agentApiKey", Given: auth.AgentAPIKey,
		},
		Scrape: KeyRotation{
			Key: "monitoring.serviceMonitor.scrapeKeyRotation", Rotation: sm.ScrapeKeyRotation,
			DoneKey: "monitoring.serviceMonitor.scrapeKeyRotationDone", Done: sm.ScrapeKeyRotationDone,
			GivenKey: "monitoring.serviceMonitor.scrapeKey", Given: sm.ScrapeKey,
		},
	}
}

// ProvisionsScrapeKey reports whether the program gives Prometheus its own key: monitoring with a
// ServiceMonitor, unless the user names a Secret for the scrape.
func (m Monitoring) ProvisionsScrapeKey() bool {
	return m.Enabled && m.ServiceMonitor.Enabled && m.ServiceMonitor.BearerTokenSecret.Name == ""
}

// providerWait is how long the kubernetes provider waits for a workload unless told otherwise.
const providerWait = 10 * time.Minute

// RolloutWait is how long `pulumi up` waits for the server Deployment: its pods are replaced
// about one at a time, and each may take the whole start-up budget, plus a margin for
// scheduling and image pulls; never less than the provider's default.
func (s Server) RolloutWait() time.Duration {
	return max(providerWait, time.Duration(s.Replicas*s.StartupTimeoutSeconds)*time.Second+5*time.Minute)
}

// RolloutWait is agent.rolloutTimeout (validated).
func (a Agent) RolloutWait() time.Duration {
	d, _ := time.ParseDuration(a.RolloutTimeout)
	return d
}

// JobWait is how long `pulumi up` waits for a Job whose run the API server stops after
// deadlineSeconds: the deadline and a margin, so the wait never ends while the Job may still
// succeed.
func JobWait(deadlineSeconds int64) time.Duration {
	return time.Duration(deadlineSeconds)*time.Second + 2*time.Minute
}
