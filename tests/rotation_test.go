package tests

import (
	"strings"
	"testing"

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

func rotationStack(t *testing.T, admin, agents int) stackConfig {
	return withConfig(t, deepMerge(base(), map[string]any{"server": map[string]any{"auth": map[string]any{
		"apiKeyRotation": admin, "agentApiKeyRotation": agents,
	}}}))
}

// A rotation is one step of a counter: the update that makes the new key keeps the old one
// accepted, the agents take the new one, and the update after drops the old.
func TestKeyRotation(t *testing.T) {
	first := renderMode(t, "default")
	assert.Equal(t, []string{"GENERATED-certctl-agent-api-key"}, namedKeyValues(t, first, "agents"))
	assert.Equal(t, map[string]any{"admin": 0, "agents": 0, "scrape": 0}, first.Outputs["keyRotations"].Value)
	assert.False(t, first.Outputs["keyRotations"].Secret)
	for _, pw := range first.ByType("random:index/randomPassword:RandomPassword") {
		assert.Nil(t, pw.Inputs["keepers"].V, "%s: no keeper before the first rotation, so existing keys stay", pw.Name)
	}

	rotating, err := runUpdate(t, rotationStack(t, 1, 1), first)
	require.NoError(t, err)
	assert.Equal(t, []string{"GENERATED-certctl-agent-api-key-b", "GENERATED-certctl-agent-api-key"}, namedKeyValues(t, rotating, "agents"),
		"the new key, and the old one until the update after")
	assert.Equal(t, []string{"GENERATED-certctl-api-key-b", "GENERATED-certctl-api-key"}, namedKeyValues(t, rotating, "admin"))
	assert.Equal(t, "GENERATED-certctl-agent-api-key-b", rotating.Secret(t, "certctl-server").StringData["agent-api-key"], "the agents move at once")
	assert.Equal(t, "GENERATED-certctl-api-key-b", rotating.Outputs["apiKey"].Value)

	done, err := runUpdate(t, rotationStack(t, 1, 1), rotating)
	require.NoError(t, err)
	assert.Equal(t, []string{"GENERATED-certctl-agent-api-key-b"}, namedKeyValues(t, done, "agents"), "the old key is dropped")
	assert.Equal(t, []string{"GENERATED-certctl-api-key-b"}, namedKeyValues(t, done, "admin"))

	next, err := runUpdate(t, rotationStack(t, 1, 2), done)
	require.NoError(t, err)
	for _, pw := range next.ByType("random:index/randomPassword:RandomPassword") {
		switch pw.Name {
		case "certctl-agent-api-key":
			assert.Equal(t, map[string]any{"rotation": "2"}, plain(pw.Inputs["keepers"]), "generation 2 replaces slot 0")
		case "certctl-agent-api-key-b":
			assert.Equal(t, map[string]any{"rotation": "1"}, plain(pw.Inputs["keepers"]), "generation 1 stays until the update after")
		}
	}
	assert.Equal(t, []string{"GENERATED-certctl-agent-api-key", "GENERATED-certctl-agent-api-key-b"}, namedKeyValues(t, next, "agents"))
}

func TestScrapeKeyRotation(t *testing.T) {
	stack := func(rotation int) stackConfig {
		m := modeNamed(t, "ha-monitoring")
		m.config = deepMerge(m.config, map[string]any{"monitoring": map[string]any{"serviceMonitor": map[string]any{"scrapeKeyRotation": rotation}}})
		return m.stack(t)
	}
	first := mustRun(t, stack(0))
	rotating, err := runUpdate(t, stack(1), first)
	require.NoError(t, err)
	assert.Equal(t, []string{"GENERATED-certctl-scrape-key-b", "GENERATED-certctl-scrape-key"}, namedKeyValues(t, rotating, "prometheus"))
	assert.Equal(t, "GENERATED-certctl-scrape-key-b", rotating.Secret(t, "certctl-metrics").StringData["api-key"], "Prometheus moves at once")
	done, err := runUpdate(t, stack(1), rotating)
	require.NoError(t, err)
	assert.Equal(t, []string{"GENERATED-certctl-scrape-key-b"}, namedKeyValues(t, done, "prometheus"))
}
