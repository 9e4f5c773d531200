package tests

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// namedKeyValues lists the keys CERTCTL_API_KEYS_NAMED holds under a name.
func namedKeyValues(t *testing.T, r *Render, name string) []string {
	t.Helper()
	var keys []string
	for _, entry := range strings.Split(r.Secret(t, "certctl-server").StringData["api-keys-named"], ",") {
		parts := strings.Split(entry, ":")
		if parts[0] == name {
			keys = append(keys, parts[1])
		}
	}
	return keys
}

func rotationStack(t *testing.T, admin, adminDone, agents, agentsDone int) StackConfig {
	return withConfig(t, DeepMerge(base(), map[string]any{"server": map[string]any{"auth": map[string]any{
		"apiKeyRotation": admin, "apiKeyRotationDone": adminDone, "agentApiKeyRotation": agents, "agentApiKeyRotationDone": agentsDone,
	}}}))
}

// A rotation is one step of a counter: the update that makes the new key keeps the old one
// accepted and moves the agents to the new one; the old one is dropped only when the
// configuration says the rotation is done, so what the server accepts never depends on how
// earlier updates ended.
func TestKeyRotation(t *testing.T) {
	first := RenderMode(t, "default")
	assert.Equal(t, []string{"GENERATED-certctl-agent-api-key"}, namedKeyValues(t, first, "agents"))
	pws := first.ByType("random:index/randomPassword:RandomPassword")
	require.NotEmpty(t, pws)
	for _, pw := range pws {
		assert.Nil(t, pw.Inputs["keepers"].V, "%s: no keeper before the first rotation, so existing keys stay", pw.Name)
	}
	const stackReference = "pulumi:pulumi:StackReference"
	assert.Empty(t, first.ByType(stackReference), "desired state follows from configuration, not from the stack's own outputs")
	referring, err := runBody(t, StackConfig{}, func(ctx *pulumi.Context) (pulumi.Map, error) {
		_, err := pulumi.NewStackReference(ctx, "certctl/prod", nil)
		return nil, err
	})
	require.NoError(t, err)
	require.Len(t, referring.ByType(stackReference), 1, "a stack reference registers under the token checked above")

	rotating := mustRun(t, rotationStack(t, 1, 0, 1, 0))
	assert.Equal(t, []string{"GENERATED-certctl-agent-api-key-b", "GENERATED-certctl-agent-api-key"}, namedKeyValues(t, rotating, "agents"),
		"the new key, and the old one until the rotation is done")
	assert.Equal(t, []string{"GENERATED-certctl-api-key-b", "GENERATED-certctl-api-key"}, namedKeyValues(t, rotating, "admin"))
	assert.Equal(t, "GENERATED-certctl-api-key-b", rotating.Outputs["apiKey"].Value)
	again := mustRun(t, rotationStack(t, 1, 0, 1, 0))
	assert.Equal(t, namedKeyValues(t, rotating, "agents"), namedKeyValues(t, again, "agents"), "a re-run, after a failed or a targeted update, keeps the overlap")

	done := mustRun(t, rotationStack(t, 1, 1, 1, 1))
	assert.Equal(t, []string{"GENERATED-certctl-agent-api-key-b"}, namedKeyValues(t, done, "agents"), "the old key is dropped")
	assert.Equal(t, []string{"GENERATED-certctl-api-key-b"}, namedKeyValues(t, done, "admin"))
	adminOnly := mustRun(t, rotationStack(t, 1, 1, 1, 0))
	assert.Equal(t, []string{"GENERATED-certctl-api-key-b"}, namedKeyValues(t, adminOnly, "admin"))
	assert.Len(t, namedKeyValues(t, adminOnly, "agents"), 2, "each key ends its own overlap")

	next := mustRun(t, rotationStack(t, 1, 1, 2, 1))
	keepers := map[string]any{}
	for _, pw := range next.ByType("random:index/randomPassword:RandomPassword") {
		keepers[pw.Name] = plain(pw.Inputs["keepers"])
	}
	assert.Equal(t, map[string]any{"rotation": "2"}, keepers["certctl-agent-api-key"], "generation 2 replaces slot 0")
	assert.Equal(t, map[string]any{"rotation": "1"}, keepers["certctl-agent-api-key-b"], "generation 1 stays until the rotation is done")
	assert.Equal(t, []string{"GENERATED-certctl-agent-api-key", "GENERATED-certctl-agent-api-key-b"}, namedKeyValues(t, next, "agents"))
}

func TestScrapeKeyRotation(t *testing.T) {
	stack := func(rotation, done int) StackConfig {
		m := ModeNamed(t, "ha-monitoring")
		m.Config = DeepMerge(m.Config, map[string]any{"monitoring": map[string]any{"serviceMonitor": map[string]any{
			"scrapeKeyRotation": rotation, "scrapeKeyRotationDone": done,
		}}})
		return m.Stack(t)
	}
	rotating := mustRun(t, stack(1, 0))
	assert.Equal(t, []string{"GENERATED-certctl-scrape-key-b", "GENERATED-certctl-scrape-key"}, namedKeyValues(t, rotating, "prometheus"))
	assert.Equal(t, "GENERATED-certctl-scrape-key-b", rotating.Secret(t, "certctl-metrics").StringData["api-key"], "Prometheus moves at once")
	done := mustRun(t, stack(1, 1))
	assert.Equal(t, []string{"GENERATED-certctl-scrape-key-b"}, namedKeyValues(t, done, "prometheus"))
}
