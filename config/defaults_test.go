package config

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The bracketed defaults of the chart (certctl-chart.md), asserted one by one.
func TestDefaultsMatchChart(t *testing.T) {
	d := Defaults()
	s := d.Server

	assert.Equal(t, "certctl", d.ReleaseName)
	assert.Equal(t, 1, s.Replicas)
	// Not the chart's "ghcr.io/certctl-io/certctl": the release publishes certctl-server.
	assert.Equal(t, "ghcr.io/certctl-io/certctl-server", s.Image.Repository)
	assert.Equal(t, "ghcr.io/certctl-io/certctl-server:v2.1.7", s.Image.Ref())
	assert.Equal(t, "ghcr.io/certctl-io/certctl-agent:v2.1.7", d.Agent.Image.Ref())
	assert.Equal(t, 8443, s.Port)
	assert.Equal(t, Resources{
		Requests: map[string]string{"cpu": "100m", "memory": "128Mi"},
		Limits:   map[string]string{"cpu": "500m", "memory": "512Mi"},
	}, s.Resources)
	assertRestricted(t, s.SecurityContext, 1000)
	assert.Equal(t, ProbeTiming{InitialDelaySeconds: 10, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}, s.LivenessProbe)
	assert.Equal(t, ProbeTiming{InitialDelaySeconds: 5, PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 2}, s.ReadinessProbe)
	assert.Equal(t, "ClusterIP", s.Service.Type)
	assert.Equal(t, 8443, s.Service.Port)
	assert.Equal(t, "api-key", s.Auth.Type)
	assert.False(t, s.Auth.APIKey.IsSet(), "the API key is generated, never defaulted")
	assert.Equal(t, Logging{Level: "info", Format: "json"}, s.Logging)
	assert.False(t, s.SMTP.Enabled)
	assert.Equal(t, 587, s.SMTP.Port)
	assert.True(t, s.SMTP.UseTLS)
	// Backend empty: postgres with several replicas, memory with one (the chart says memory).
	assert.Equal(t, RateLimiting{RPS: 100, Burst: 200, JanitorInterval: "5m"}, s.RateLimiting)
	assert.Equal(t, "None", s.Service.SessionAffinity)
	assert.EqualValues(t, 10800, s.Service.SessionAffinityTimeoutSeconds)
	assert.Equal(t, NetworkScan{Enabled: false, Interval: "6h"}, s.NetworkScan)
	assert.Equal(t, "agent", s.Keygen.Mode)
	assert.Empty(t, s.CORS.Origins)
	assert.True(t, s.Issuer.Local.Enabled)
	assert.False(t, s.Issuer.ACME.Enabled)
	assert.False(t, s.Issuer.StepCA.Enabled)
	assert.False(t, s.Issuer.OpenSSL.Enabled)
	assert.Equal(t, 25, s.DatabaseMaxConns)

	tls := s.TLS
	assert.Empty(t, tls.ExistingSecret)
	assert.Equal(t, "/etc/certctl/tls", tls.MountPath)
	cm := tls.CertManager
	assert.False(t, cm.Enabled)
	assert.Equal(t, IssuerRef{Kind: "ClusterIssuer", Group: "cert-manager.io"}, cm.IssuerRef)
	assert.Equal(t, "certctl-server", cm.CommonName)
	assert.Equal(t, []string{"certctl-server", "localhost"}, cm.DNSNames)
	assert.Equal(t, "2160h", cm.Duration)
	assert.Equal(t, "360h", cm.RenewBefore)

	pg := d.PostgreSQL
	assert.True(t, pg.Enabled)
	assert.Equal(t, "postgres:16-alpine", pg.Image.Ref())
	assert.Equal(t, PostgresAuth{Database: "certctl", Username: "certctl"}, pg.Auth)
	assert.Equal(t, "disable", pg.TLS.Mode)
	assert.Equal(t, "10Gi", pg.Storage.Size)
	assert.Empty(t, pg.Storage.StorageClass)
	assert.Equal(t, Resources{
		Requests: map[string]string{"cpu": "100m", "memory": "256Mi"},
		Limits:   map[string]string{"cpu": "500m", "memory": "512Mi"},
	}, pg.Resources)
	assertRestricted(t, pg.SecurityContext, 999)
	assert.Equal(t, 5432, pg.Service.Port)
	assert.False(t, d.ExternalDatabase.URL.IsSet())

	a := d.Agent
	assert.True(t, a.Enabled)
	assert.Equal(t, "DaemonSet", a.Kind)
	assert.Equal(t, 1, a.Replicas)
	assert.Equal(t, "ghcr.io/certctl-io/certctl-agent", a.Image.Repository)
	assert.Equal(t, "/var/lib/certctl/keys", a.KeyDir)
	assert.Equal(t, Resources{
		Requests: map[string]string{"cpu": "50m", "memory": "64Mi"},
		Limits:   map[string]string{"cpu": "200m", "memory": "256Mi"},
	}, a.Resources)
	assertRestricted(t, a.SecurityContext, 1000)

	assert.False(t, d.Ingress.Enabled)
	assert.True(t, d.ServiceAccount.Create)
	assert.True(t, d.RBAC.Create)
	assert.False(t, d.KubernetesSecrets.Enabled)
	assert.False(t, d.PodDisruptionBudget.Enabled)
	require.NotNil(t, d.PodDisruptionBudget.MinAvailable)
	assert.Equal(t, intstr.FromInt32(1), *d.PodDisruptionBudget.MinAvailable)
	assert.Nil(t, d.PodDisruptionBudget.MaxUnavailable)
	assert.False(t, d.NetworkPolicy.Enabled)
	assert.Equal(t, "30s", d.Monitoring.ServiceMonitor.Interval)
	assert.Equal(t, "10s", d.Monitoring.ServiceMonitor.ScrapeTimeout)
	assert.False(t, d.Backup.Enabled)
	assert.Equal(t, BackupSinkPVC, d.Backup.Sink)
	assert.False(t, d.Migrations.ViaHook)
}

func assertRestricted(t *testing.T, sc SecurityContext, uid int64) {
	t.Helper()
	require.NotNil(t, sc.RunAsUser)
	require.NotNil(t, sc.RunAsGroup)
	require.NotNil(t, sc.FSGroup)
	assert.Equal(t, uid, *sc.RunAsUser)
	assert.Equal(t, uid, *sc.RunAsGroup)
	assert.Equal(t, uid, *sc.FSGroup)
	assert.Equal(t, ptr(true), sc.RunAsNonRoot)
	assert.Equal(t, ptr(true), sc.ReadOnlyRootFilesystem)
	assert.Equal(t, ptr(false), sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []string{"ALL"}, sc.Capabilities.Drop)
}

// Defaults must hand out fresh maps and pointers: Load decodes into them.
func TestDefaultsDoNotShareState(t *testing.T) {
	a, b := Defaults(), Defaults()
	a.Server.Resources.Requests["cpu"] = "9"
	*a.Server.SecurityContext.RunAsUser = 7
	assert.Equal(t, "100m", b.Server.Resources.Requests["cpu"])
	assert.Equal(t, int64(1000), *b.Server.SecurityContext.RunAsUser)
	assert.Equal(t, int64(1000), *a.Agent.SecurityContext.RunAsUser, "server and agent must not share a pointer")
}

func TestFullname(t *testing.T) {
	for _, tc := range []struct {
		name                                string
		release, nameOverride, fullOverride string
		want                                string
	}{
		{"release is the chart name", "certctl", "", "", "certctl"},
		{"release without the chart name", "prod", "", "", "prod-certctl"},
		{"release containing the chart name", "my-certctl-x", "", "", "my-certctl-x"},
		{"nameOverride replaces the chart name", "prod", "vault", "", "prod-vault"},
		{"release containing the nameOverride", "prod-vault", "vault", "", "prod-vault"},
		{"nameOverride makes the chart name ordinary", "certctl", "pki", "", "certctl-pki"},
		{"fullnameOverride wins", "prod", "vault", "edge", "edge"},
		{"trailing dash trimmed from fullnameOverride", "prod", "", "edge-", "edge"},
		{"trailing dash trimmed from release", "certctl-", "", "", "certctl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{ReleaseName: tc.release, NameOverride: tc.nameOverride, FullnameOverride: tc.fullOverride}
			assert.Equal(t, tc.want, c.Fullname())
		})
	}
}

func TestNames(t *testing.T) {
	c := Defaults()
	c.ReleaseName = "prod"
	assert.Equal(t, Names{
		Fullname:       "prod-certctl",
		Server:         "prod-certctl-server",
		Postgres:       "prod-certctl-postgres",
		Agent:          "prod-certctl-agent",
		Certificate:    "prod-certctl-server-tls",
		TLSSecret:      "prod-certctl-tls",
		ServiceAccount: "prod-certctl",
		Backup:         "prod-certctl-backup",
		Migration:      "prod-certctl-migrate",
		PasswordChange: "prod-certctl-pgpass",
		Metrics:        "prod-certctl-metrics",
		Rules:          "prod-certctl-rules",
		Dashboard:      "prod-certctl-dashboard",
		LocalCA:        "prod-certctl-ca",
	}, c.Names())

	c.Server.TLS.CertManager.SecretName = "cm-tls"
	assert.Equal(t, "cm-tls", c.Names().TLSSecret)
	c.Server.TLS.ExistingSecret = "mine"
	assert.Equal(t, "mine", c.Names().TLSSecret, "an existing Secret wins over the cert-manager one")
	c.ServiceAccount.Name = "runner"
	assert.Equal(t, "runner", c.Names().ServiceAccount)
	c.Server.Issuer.Local.ExistingSecret = "corp-sub-ca"
	assert.Equal(t, "corp-sub-ca", c.Names().LocalCA)
	assert.Equal(t, "prod-certctl", c.Names().Fullname)
}

func TestImageRef(t *testing.T) {
	assert.Equal(t, "ghcr.io/certctl-io/certctl:"+AppVersion, Image{Repository: "ghcr.io/certctl-io/certctl"}.Ref())
	digest := "sha256:" + string(make64('a'))
	assert.Equal(t, "postgres@"+digest, Image{Repository: "postgres", Tag: "16-alpine", Digest: digest}.Ref(), "a digest pins the image; the tag is not sent")
}

func make64(b byte) []byte {
	out := make([]byte, 64)
	for i := range out {
		out[i] = b
	}
	return out
}

// The alert thresholds have the newest chart's key names and defaults (prometheusrules.yaml).
func TestAlertDefaultsMatchChart(t *testing.T) {
	pr := Defaults().Monitoring.PrometheusRules
	assert.Equal(t, "60s", pr.Interval)
	assert.Equal(t, AlertThresholds{
		ExpiringCertificateCount: 0, ExpiringCertificateFor: "5m",
		OfflineAgentCount: 0, OfflineAgentFor: "1h",
		JobFailureRate: 0.05, JobFailureRateFor: "15m",
		IssuanceFailureRate: 0, IssuanceFailureFor: "15m",
		// Ours (the chart has no database volume alert).
		DatabaseVolumeFreeRatio: 0.15, DatabaseVolumeFullWithin: "7d", DatabaseVolumeFor: "30m",
	}, pr.Thresholds)
}

func TestFleetSizes(t *testing.T) {
	assert.Equal(t, Defaults(), Sized(FleetSmall), "small is the chart's defaults")
	for _, size := range []string{FleetMedium, FleetLarge} {
		c := Sized(size)
		c.Server.TLS.ExistingSecret = "certctl-tls"
		require.NoError(t, c.Validate(testReserved), size)
		maxConns, err := strconv.Atoi(c.PostgreSQL.PostgresqlConfig["max_connections"])
		require.NoError(t, err)
		// A rollout surges one pod: every pod's pool plus one more, with room for psql and maintenance.
		assert.Less(t, (c.Server.Replicas+1)*c.Server.DatabaseMaxConns, maxConns, "%s: the pools fit max_connections", size)
	}
	medium, large := Sized(FleetMedium), Sized(FleetLarge)
	assert.Equal(t, 2, medium.Server.Replicas)
	assert.Equal(t, 3, large.Server.Replicas)
	agent, defaults := large.Agent, Defaults().Agent
	assert.Equal(t, defaults.Workload, agent.Workload, "an agent's load is its node's certificates, not the fleet's")
	assert.Equal(t, "1h", agent.RolloutTimeout, "a larger fleet's rollout takes longer")
	assert.Equal(t, "10%", medium.Agent.UpdateStrategy.RollingUpdate.MaxUnavailable.String())
	assert.Equal(t, "1", defaults.UpdateStrategy.RollingUpdate.MaxUnavailable.String(), "the small fleet keeps the Kubernetes default")
}
