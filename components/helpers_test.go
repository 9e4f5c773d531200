package components

import (
	"net/url"
	"testing"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	r := newRelease(&cfg, nil)
	l := r.labels(componentServer)
	assert.Equal(t, "pki", l["team"])
	for k, v := range r.selectorLabels(componentServer) {
		assert.Equal(t, v, l[k], "common labels must not override selector label %s", k)
	}
	assert.NotContains(t, r.selectorLabels(componentServer), labelVersion, "a selector cannot change on upgrade")
}

func TestDatabaseURLEscapesThePassword(t *testing.T) {
	c := Connection{Host: "prod-certctl-postgres", Port: 5432, Database: "certctl", Username: "certctl"}
	got := c.url(url.UserPassword(c.Username, "p@ss:w/rd?#%"), "require")
	assert.Equal(t, "postgres://certctl:p%40ss%3Aw%2Frd%3F%23%25@prod-certctl-postgres:5432/certctl?sslmode=require", got)
	u, err := url.Parse(got)
	require.NoError(t, err)
	pw, _ := u.User.Password()
	assert.Equal(t, "p@ss:w/rd?#%", pw, "lib/pq decodes what the URL carries")

	bare, err := url.Parse(c.url(url.User(c.Username), "require"))
	require.NoError(t, err)
	_, hasPassword := bare.User.Password()
	assert.False(t, hasPassword, "the user's Secret holds the password: the URL names the user alone, and lib/pq reads PGPASSWORD")
}

func TestPostgresCommandArgs(t *testing.T) {
	pg := config.Defaults().PostgreSQL
	pg.Service.Port = 6432
	assert.Equal(t, []string{"postgres", "-p", "6432"}, postgresCommandArgs(pg), "the Service's port")
	pg.TLS.CertSecretRef = "pg-tls"
	pg.PostgresqlConfig = map[string]string{"ssl_min_protocol_version": "TLSv1.3"}
	assert.Equal(t, []string{
		"postgres", "-p", "6432",
		"-c", "ssl=on", "-c", "ssl_cert_file=/etc/postgresql-tls/tls.crt", "-c", "ssl_key_file=/etc/postgresql-tls/tls.key",
		"-c", "ssl_min_protocol_version=TLSv1.3",
	}, postgresCommandArgs(pg))
}

func TestAgentNameSource(t *testing.T) {
	a := config.Defaults().Agent
	a.Name = "ignored-on-daemonset"
	assert.Equal(t, "spec.nodeName", agentNameEnv(a).fieldPath, "one agent per node keeps its identity across restarts")
	a.Kind = config.AgentDeployment
	assert.Equal(t, "ignored-on-daemonset", agentNameEnv(a).value)
	a.Name = ""
	assert.Equal(t, "metadata.name", agentNameEnv(a).fieldPath)
}

func TestAgentCredentialsStaySeparate(t *testing.T) {
	a := &AgentArgs{Agent: config.Defaults().Agent, Server: ServerEndpoint{URL: "https://certctl-server:8443"}}
	register, agent := agentEnv(a, true), agentEnv(a, false)
	assert.NotEmpty(t, agentEntry(register, "CERTCTL_AGENT_BOOTSTRAP_TOKEN").secretKey)
	assert.Empty(t, agentEntry(register, "CERTCTL_API_KEY").secretKey, "the init container registers with the bootstrap token only")
	assert.NotEmpty(t, agentEntry(agent, "CERTCTL_API_KEY").secretKey)
	assert.Empty(t, agentEntry(agent, "CERTCTL_AGENT_BOOTSTRAP_TOKEN").secretKey, "the agent never reads the bootstrap token")
}

func TestRateLimitBackend(t *testing.T) {
	assert.Equal(t, "memory", rateLimitBackend("", 1))
	assert.Equal(t, "postgres", rateLimitBackend("", 2), "replicas share their limits through the database")
	assert.Equal(t, "memory", rateLimitBackend("memory", 3), "an explicit choice wins")
}

func agentEntry(env []envEntry, name string) envEntry {
	for _, e := range env {
		if e.name == name {
			return e
		}
	}
	return envEntry{}
}

// The migration Job's digest is of the Kubernetes object, not of the SDK's struct: how the SDK
// represents unset fields (nil or empty) does not change it, what the pod runs does.
func TestPodTemplateDigest(t *testing.T) {
	digest := func(spec corev1.PodSpec) string {
		d, err := podTemplateDigest(corev1.PodTemplateSpec{Spec: &spec})
		require.NoError(t, err)
		return d
	}
	name, image, newImage := "migrate", "a:1", "a:2"
	base := digest(corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: &image}}})
	assert.Equal(t, base, digest(corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: &image, Env: []corev1.EnvVar{}}},
		Volumes: []corev1.Volume{}, NodeSelector: map[string]string{}}), "empty fields are unset fields")
	assert.NotEqual(t, base, digest(corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: &newImage}}}), "a new image is a new Job")
}
