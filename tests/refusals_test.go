package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRefusals: the program as a whole refuses a bad configuration before it registers anything,
// so nothing is half-applied, whichever step refuses it: decoding the stack's values, the check
// for secrets in plain config, or validation (with the variables the components set). Which
// values are refused, and with what message, is tested in config (validate_test.go, load_test.go).
func TestRefusals(t *testing.T) {
	cases := []struct {
		name   string
		config map[string]any
		noBase bool
		key    string
	}{
		{name: "an empty stack: no TLS source", noBase: true, config: map[string]any{}, key: "certctl:server.tls"},
		{name: "a value of the wrong type", config: map[string]any{"server": map[string]any{"replicas": "three"}}, key: "certctl:server.replicas"},
		{name: "a secret in plain config", config: map[string]any{"server": map[string]any{"auth": map[string]any{"apiKey": "plain-text-key"}}}, key: "certctl:server.auth.apiKey"},
		{name: "a variable the program sets", config: map[string]any{"server": map[string]any{"env": map[string]any{"CERTCTL_LOG_LEVEL": "debug"}}}, key: "certctl:server.env.CERTCTL_LOG_LEVEL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DeepMerge(base(), tc.config)
			if tc.noBase {
				cfg = tc.config
			}
			r, err := run(t, withConfig(t, cfg))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.key+":", "the message names the key")
			assert.Empty(t, r.Resources, "a refused configuration registers nothing")
			assert.NotContains(t, err.Error(), "plain-text-key", "secret values never appear in messages")
		})
	}
}

// TestRefusalsAreCollected: several mistakes are reported together, so one run shows them all,
// and none of them registers anything.
func TestRefusalsAreCollected(t *testing.T) {
	r, err := run(t, withConfig(t, DeepMerge(base(), map[string]any{
		"server": map[string]any{"replicas": 0, "logging": map[string]any{"level": "loud"}},
		"agent":  map[string]any{"kind": "Pod"},
	})))
	require.Error(t, err)
	for _, key := range []string{"certctl:server.replicas:", "certctl:server.logging.level:", "certctl:agent.kind:"} {
		assert.Contains(t, err.Error(), key)
	}
	assert.Empty(t, r.Resources)
}

// A misspelled top-level key reaches the program only through the engine's configuration: the
// CLI accepts any key. It is refused with the key it was probably meant to be.
func TestUnknownTopLevelKeyIsRefused(t *testing.T) {
	r, err := run(t, withConfig(t, DeepMerge(base(), map[string]any{"sever": map[string]any{"replicas": 3}})))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certctl:sever: is not a setting of this program; did you mean server?")
	assert.Empty(t, r.Resources, "a refused configuration registers nothing")
	_, err = run(t, withConfig(t, DeepMerge(base(), map[string]any{"renderYamlToDirectory": "out"})))
	require.NoError(t, err, "renderYamlToDirectory is read by the program itself")
	_, err = run(t, withConfig(t, DeepMerge(base(), map[string]any{"kubernetes:context": "prod"})))
	assert.NoError(t, err, "other namespaces are not the program's to judge")
}
