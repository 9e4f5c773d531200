package components

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certctl-io/certctl-pulumi/config"
)

func TestConfigKey(t *testing.T) {
	for env, key := range map[string]string{
		"CERTCTL_LOG_LEVEL":          "log-level",
		"CERTCTL_DATABASE_MAX_CONNS": "database-max-conns",
		"PGSSLROOTCERT":              "pgsslrootcert",
	} {
		assert.Equal(t, key, configKey(env))
	}
}

func TestChecksumIsOrderFreeButContentBound(t *testing.T) {
	a := checksum(map[string]string{"a": "1", "b": "2"})
	assert.Equal(t, a, checksum(map[string]string{"b": "2", "a": "1"}))
	assert.NotEqual(t, a, checksum(map[string]string{"a": "1", "b": "3"}))
	// The separator keeps key/value boundaries: "ab"="" must not collide with "a"="b".
	assert.NotEqual(t, checksum(map[string]string{"ab": ""}), checksum(map[string]string{"a": "b"}))
}

func TestLabelsKeepSelectorsImmutable(t *testing.T) {
	cfg := config.Defaults()
	cfg.CommonLabels = map[string]string{"team": "pki", "app.kubernetes.io/component": "hijack"}
	l := labels(&cfg, componentServer)
	assert.Equal(t, "pki", l["team"])
	for k, v := range selectorLabels(&cfg, componentServer) {
		assert.Equal(t, v, l[k], "common labels must not override selector label %s", k)
	}
	assert.NotContains(t, selectorLabels(&cfg, componentServer), labelVersion, "a selector cannot change on upgrade")
}

func TestBundledDatabaseURL(t *testing.T) {
	cfg := config.Defaults()
	cfg.ReleaseName = "prod"
	cfg.PostgreSQL.TLS.Mode = "require"
	assert.Equal(t, "postgres://certctl:$(POSTGRES_PASSWORD)@prod-certctl-postgres:5432/certctl?sslmode=require", BundledDatabaseURL(&cfg))
}

func TestPostgresCommandArgs(t *testing.T) {
	pg := config.Defaults().PostgreSQL
	assert.Equal(t, []string{"postgres", "-p", "5432"}, postgresCommandArgs(pg))
	pg.TLS.CertSecretRef = "pg-tls"
	pg.PostgresqlConfig = map[string]string{"ssl_min_protocol_version": "TLSv1.3"}
	assert.Equal(t, []string{
		"postgres", "-p", "5432",
		"-c", "ssl=on", "-c", "ssl_cert_file=/etc/postgresql-tls/tls.crt", "-c", "ssl_key_file=/etc/postgresql-tls/tls.key",
		"-c", "ssl_min_protocol_version=TLSv1.3",
	}, postgresCommandArgs(pg))
}

func TestAgentNameSource(t *testing.T) {
	cfg := config.Defaults()
	cfg.Agent.Name = "ignored-on-daemonset"
	assert.Equal(t, "metadata.name", agentEntry(agentEnv(&cfg), "CERTCTL_AGENT_NAME").fieldPath)
	cfg.Agent.Kind = config.AgentDeployment
	assert.Equal(t, "ignored-on-daemonset", agentEntry(agentEnv(&cfg), "CERTCTL_AGENT_NAME").value)
}

func agentEntry(env []envEntry, name string) envEntry {
	for _, e := range env {
		if e.name == name {
			return e
		}
	}
	return envEntry{}
}
