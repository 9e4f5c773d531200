package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPodDisruptionBudget(t *testing.T) {
	r := renderMode(t, "ha")
	pdb := r.Object(t, "PodDisruptionBudget", "certctl-server").Manifest()
	assert.EqualValues(t, 1, path(pdb, "spec", "minAvailable"))
	assert.Nil(t, path(pdb, "spec", "maxUnavailable"))
	assert.Equal(t, "server", path(pdb, "spec", "selector", "matchLabels", "app.kubernetes.io/component"))

	single := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"podDisruptionBudget": map[string]any{"enabled": true}})))
	assert.NotContains(t, single.ObjectSet(), "PodDisruptionBudget/certctl-server", "a budget on one replica would block every node drain")

	percent := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{
		"server":              map[string]any{"replicas": 4},
		"podDisruptionBudget": map[string]any{"enabled": true, "maxUnavailable": "25%"},
	})))
	spec := path(percent.Object(t, "PodDisruptionBudget", "certctl-server").Manifest(), "spec")
	assert.Equal(t, "25%", path(spec, "maxUnavailable"))
	assert.Nil(t, path(spec, "minAvailable"), "maxUnavailable alone replaces the chart's default minAvailable")
}

func TestNetworkPolicies(t *testing.T) {
	r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"networkPolicy": map[string]any{
		"enabled": true,
		"extraEgress": []any{map[string]any{
			"to":    []any{map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0"}}},
			"ports": []any{map[string]any{"protocol": "TCP", "port": 443}},
		}},
	}})))
	server := path(r.Object(t, "NetworkPolicy", "certctl-server").Manifest(), "spec")
	assert.Equal(t, []any{"Ingress", "Egress"}, path(server, "policyTypes"))
	assert.Equal(t, "agent", path(server, "ingress", 0, "from", 0, "podSelector", "matchLabels", "app.kubernetes.io/component"))
	assert.Equal(t, "https", path(server, "ingress", 0, "ports", 0, "port"))
	egress := path(server, "egress").([]any)
	assert.Len(t, egress, 3, "DNS, bundled Postgres, the extra rule")
	assert.EqualValues(t, 53, path(egress[0], "ports", 0, "port"))
	assert.Equal(t, "postgres", path(egress[1], "to", 0, "podSelector", "matchLabels", "app.kubernetes.io/component"))
	assert.Equal(t, "0.0.0.0/0", path(egress[2], "to", 0, "ipBlock", "cidr"))

	pg := path(r.Object(t, "NetworkPolicy", "certctl-postgres").Manifest(), "spec")
	assert.Equal(t, "server", path(pg, "ingress", 0, "from", 0, "podSelector", "matchLabels", "app.kubernetes.io/component"))
	assert.Nil(t, path(pg, "egress"), "Postgres may open no connection")

	external := renderModeWith(t, "external-db", map[string]any{"networkPolicy": map[string]any{"enabled": true}})
	assert.Len(t, path(external.Object(t, "NetworkPolicy", "certctl-server").Manifest(), "spec", "egress").([]any), 1,
		"without the bundled Postgres only DNS is allowed; the external database is the user's extraEgress")
}
