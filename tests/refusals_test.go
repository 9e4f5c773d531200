package tests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRefusals: each bad configuration is refused before anything is registered, and the
// message names the key to fix.
func TestRefusals(t *testing.T) {
	tlsBoth := map[string]any{"existingSecret": "certctl-tls", "certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "le"}}}
	cases := []struct {
		name   string
		config map[string]any
		secret []string
		noBase bool
		key    string
	}{
		{name: "TLS neither", noBase: true, config: map[string]any{}, key: "certctl:server.tls"},
		{name: "TLS both", config: map[string]any{"server": map[string]any{"tls": tlsBoth}}, key: "certctl:server.tls"},
		{name: "cert-manager without issuer", config: map[string]any{"server": map[string]any{"tls": map[string]any{"existingSecret": "", "certManager": map[string]any{"enabled": true}}}}, key: "certctl:server.tls.certManager.issuerRef.name"},
		{name: "auth type jwt", config: map[string]any{"server": map[string]any{"auth": map[string]any{"type": "jwt"}}}, key: "certctl:server.auth.type"},
		{name: "no database", config: map[string]any{"postgresql": map[string]any{"enabled": false}}, key: "certctl:externalDatabase.url"},
		{name: "ingress cert-manager without issuer", config: map[string]any{"ingress": map[string]any{"enabled": true, "certManager": map[string]any{"enabled": true}}}, key: "certctl:ingress.certManager.issuerRef.name"},
		{name: "PDB both bounds", config: map[string]any{"podDisruptionBudget": map[string]any{"enabled": true, "minAvailable": 1, "maxUnavailable": 1}}, key: "certctl:podDisruptionBudget"},
		{name: "agent kind", config: map[string]any{"agent": map[string]any{"kind": "StatefulSet"}}, key: "certctl:agent.kind"},
		{name: "replicas zero", config: map[string]any{"server": map[string]any{"replicas": 0}}, key: "certctl:server.replicas"},
		{name: "max conns zero", config: map[string]any{"server": map[string]any{"databaseMaxConns": 0}}, key: "certctl:server.databaseMaxConns"},
		{name: "bad quantity", config: map[string]any{"server": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "512MB"}}}}, key: "certctl:server.resources.limits.memory"},
		{name: "log level", config: map[string]any{"server": map[string]any{"logging": map[string]any{"level": "verbose"}}}, key: "certctl:server.logging.level"},
		{name: "keygen mode", config: map[string]any{"server": map[string]any{"keygen": map[string]any{"mode": "hsm"}}}, key: "certctl:server.keygen.mode"},
		{name: "db tls mode", config: map[string]any{"postgresql": map[string]any{"tls": map[string]any{"mode": "prefer"}}}, key: "certctl:postgresql.tls.mode"},
		{name: "verify-full without CA", config: map[string]any{"postgresql": map[string]any{"tls": map[string]any{"mode": "verify-full"}}}, key: "certctl:postgresql.tls.caSecretRef"},
		{name: "smtp without host", config: map[string]any{"server": map[string]any{"smtp": map[string]any{"enabled": true, "fromAddress": "a@example.com"}}}, key: "certctl:server.smtp.host"},
		{name: "acme without directory", config: map[string]any{"server": map[string]any{"issuer": map[string]any{"acme": map[string]any{"enabled": true, "email": "a@example.com"}}}}, key: "certctl:server.issuer.acme.directoryURL"},
		{name: "fullname too long", config: map[string]any{"fullnameOverride": strings.Repeat("c", 50)}, key: "certctl:fullnameOverride"},
		{name: "invalid namespace", config: map[string]any{"namespace": "Certctl_Prod"}, key: "certctl:namespace"},
		{name: "unknown key", config: map[string]any{"server": map[string]any{"replica": 3}}, key: "certctl:server.replica"},
		{name: "secret in plain config", config: map[string]any{"server": map[string]any{"auth": map[string]any{"apiKey": "plain-text-key"}}}, key: "certctl:server.auth.apiKey"},
		{name: "backup with an external database", config: map[string]any{"postgresql": map[string]any{"enabled": false}, "externalDatabase": map[string]any{"url": externalURL}, "backup": map[string]any{"enabled": true}}, secret: []string{"externalDatabase"}, key: "certctl:backup.enabled"},
		{name: "backup schedule the cron parser rejects", config: map[string]any{"backup": map[string]any{"enabled": true, "schedule": "30 25 * * *"}}, key: "certctl:backup.schedule"},
		{name: "backup keeps nothing", config: map[string]any{"backup": map[string]any{"enabled": true, "pvc": map[string]any{"keepLast": 0}}}, key: "certctl:backup.pvc.keepLast"},
		{name: "backup bucket retention", config: map[string]any{"backup": map[string]any{"s3": map[string]any{"retentionDays": 0}}}, key: "certctl:backup.s3.retentionDays"},
		{name: "s3 sink without credentials", config: map[string]any{"backup": map[string]any{"enabled": true, "sink": "s3", "s3": map[string]any{"region": "eu-west-1"}}}, key: "certctl:backup.s3.credentials"},
		{name: "s3 sink without a bucket", config: map[string]any{"backup": map[string]any{"enabled": true, "sink": "s3", "s3": map[string]any{"region": "eu-west-1", "create": false, "credentials": "iamUser"}}}, key: "certctl:backup.s3.bucket"},
		{name: "env collides with a managed variable", config: map[string]any{"server": map[string]any{"env": map[string]any{"CERTCTL_LOG_LEVEL": "debug"}}}, key: "certctl:server.env.CERTCTL_LOG_LEVEL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DeepMerge(base(), tc.config)
			if tc.noBase {
				cfg = tc.config
			}
			r, err := run(t, withConfig(t, cfg, tc.secret...))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.key+":", "the message names the key")
			assert.Empty(t, r.Resources, "a refused configuration registers nothing")
			assert.NotContains(t, err.Error(), "plain-text-key", "secret values never appear in messages")
		})
	}
}

// TestRefusalsAreCollected: several mistakes are reported together, so one run shows them all.
func TestRefusalsAreCollected(t *testing.T) {
	_, err := run(t, withConfig(t, DeepMerge(base(), map[string]any{
		"server": map[string]any{"replicas": 0, "logging": map[string]any{"level": "loud"}},
		"agent":  map[string]any{"kind": "Pod"},
	})))
	require.Error(t, err)
	for _, key := range []string{"certctl:server.replicas:", "certctl:server.logging.level:", "certctl:agent.kind:"} {
		assert.Contains(t, err.Error(), key)
	}
}

// A misspelled top-level key reaches the program only through the engine's configuration: the
// CLI accepts any key. It is refused with the key it was probably meant to be.
func TestUnknownTopLevelKeyIsRefused(t *testing.T) {
	_, err := run(t, withConfig(t, DeepMerge(base(), map[string]any{"sever": map[string]any{"replicas": 3}})))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certctl:sever: is not a setting of this program; did you mean server?")
	_, err = run(t, withConfig(t, DeepMerge(base(), map[string]any{"renderYamlToDirectory": "out"})))
	require.NoError(t, err, "renderYamlToDirectory is read by the program itself")
	_, err = run(t, withConfig(t, DeepMerge(base(), map[string]any{"kubernetes:context": "prod"})))
	assert.NoError(t, err, "other namespaces are not the program's to judge")
}
