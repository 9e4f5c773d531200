package tests

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The outputs replace the chart's NOTES: every command names this stack's objects, and nothing
// plain carries a secret.
func TestOutputsReplaceNotes(t *testing.T) {
	t.Setenv("PULUMI_BACKEND_URL", "file:///srv/certctl-pulumi/.pulumi-state")
	r := RenderMode(t, "all-on")
	_, job := migrationJobOf(t, r)
	notes := r.Outputs["nextSteps"].Value.(string)
	for _, want := range []string{
		"kubectl -n certctl rollout status deployment/certctl-server",
		"kubectl -n certctl get secret certctl-tls -o jsonpath='{.data.ca\\.crt}' | base64 -d > certctl-ca.crt",
		"kubectl -n certctl port-forward service/certctl-server 8443:8443 &",
		"curl --cacert certctl-ca.crt --resolve certctl-server:8443:127.0.0.1 https://certctl-server:8443/health",
		"PULUMI_BACKEND_URL=file:///srv/certctl-pulumi/.pulumi-state pulumi --stack test stack output apiKey --show-secrets",
		"https://certctl-server:8443/api/v1/agents",
		"kubectl -n certctl rollout status daemonset/certctl-agent",
		"kubectl -n certctl logs job/" + job.Name,
		"kubectl -n certctl get cronjob/certctl-backup",
		"kubectl -n certctl create job --from=cronjob/certctl-backup certctl-backup-manual",
	} {
		assert.Contains(t, notes, want)
	}
	assert.Equal(t, map[string]any{
		"host": "certctl-postgres.certctl.svc.cluster.local", "port": 5432, "database": "certctl", "username": "certctl",
		"sslmode": "verify-full", "passwordSecret": "certctl-postgres (key password)",
	}, r.Outputs["postgres"].Value)
	for name, o := range r.Outputs {
		if o.Secret {
			continue
		}
		assert.NotContains(t, fmt.Sprint(o.Value), "GENERATED-", "output %s holds a generated secret in plain text", name)
	}
	for _, secret := range []string{"apiKey", "agentApiKey", "agentBootstrapToken"} {
		assert.True(t, r.Outputs[secret].Secret, secret)
	}
}

func TestNotesFollowTheMode(t *testing.T) {
	t.Setenv("PULUMI_BACKEND_URL", "") // `make test` exports the Makefile's
	notes := RenderMode(t, "default").Outputs["nextSteps"].Value.(string)
	assert.NotContains(t, notes, "PULUMI_BACKEND_URL", "no file backend in this environment")
	assert.NotContains(t, notes, "logs job/", "no migration Job")
	assert.NotContains(t, notes, "cronjob", "no backups")
	notes = RenderMode(t, "agent-deployment").Outputs["nextSteps"].Value.(string)
	assert.Contains(t, notes, "rollout status statefulset/certctl-agent")
}
