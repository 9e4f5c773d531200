package loadserver

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/certctl-io/certctl-pulumi/config"
	"github.com/certctl-io/certctl-pulumi/tests"
)

// tier is one fleet size: the tier's fleet (config.FleetOf) and how much of it this machine
// plays. Certificates are seeded in full; agents are played at 1/agentScale of the tier, at
// their real cadence.
type tier struct {
	name string
	config.Fleet
	agentScale int
}

// tiers are the fleet-size ladder. Two cores drive the small and medium fleets whole; the
// large fleet is played at a quarter of its agents (125 requests/s). At half (250 requests/s)
// the spread steady state alone kept the two cores busy (PostgreSQL 1.3 cores, the server 0.3),
// which measures the machine rather than certctl.
var tiers = []tier{
	{name: config.FleetSmall, Fleet: config.FleetOf(config.FleetSmall), agentScale: 1},
	{name: config.FleetMedium, Fleet: config.FleetOf(config.FleetMedium), agentScale: 1},
	{name: config.FleetLarge, Fleet: config.FleetOf(config.FleetLarge), agentScale: 4},
}

// played is the number of agents the load generator plays.
func (tr tier) played() int { return tr.Agents / tr.agentScale }

// renderTier renders the default configuration at the tier's fleetSize, with the Prometheus
// scrape on (its ServiceMonitor gives the scrape's key, path and interval), with real keys and
// certificates as the live suite does.
func renderTier(t *testing.T, tr tier) *tests.Render {
	t.Helper()
	m := tests.ModeNamed(t, "default")
	m.Config = tests.DeepMerge(m.Config, map[string]any{
		"fleetSize":  tr.name,
		"monitoring": map[string]any{"enabled": true, "serviceMonitor": map[string]any{"enabled": true}},
	})
	r, err := tests.RunWithRealKeys(t, m.Stack(t))
	require.NoError(t, err)
	return r
}

// containerEnv is a rendered container's environment as kubelet builds it from literal values
// and ConfigMap and Secret keys, the only sources the server and database containers use.
func containerEnv(t *testing.T, r *tests.Render, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch from := e.ValueFrom; {
		case from == nil:
			env[e.Name] = e.Value
		case from.ConfigMapKeyRef != nil:
			v, ok := r.ConfigMap(t, from.ConfigMapKeyRef.Name).Data[from.ConfigMapKeyRef.Key]
			require.True(t, ok, "env %s: ConfigMap %s has key %s", e.Name, from.ConfigMapKeyRef.Name, from.ConfigMapKeyRef.Key)
			env[e.Name] = v
		case from.SecretKeyRef != nil:
			env[e.Name] = secretValue(t, r, from.SecretKeyRef.Name, from.SecretKeyRef.Key)
		default:
			t.Fatalf("env %s of container %s: a source this test does not resolve", e.Name, c.Name)
		}
	}
	return env
}

// secretValue is one key of a rendered Secret.
func secretValue(t *testing.T, r *tests.Render, name, key string) string {
	t.Helper()
	s := r.Secret(t, name)
	if v, ok := s.StringData[key]; ok {
		return v
	}
	v, ok := s.Data[key]
	require.True(t, ok, "Secret %s has key %s", name, key)
	return string(v)
}
