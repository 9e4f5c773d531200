package tests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPodDisruptionBudget(t *testing.T) {
	r := RenderMode(t, "ha")
	pdb := typed[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", "certctl-server").Spec
	assert.Equal(t, ptrTo(intstr.FromInt32(1)), pdb.MinAvailable)
	assert.Nil(t, pdb.MaxUnavailable)
	assert.Equal(t, "server", pdb.Selector.MatchLabels["app.kubernetes.io/component"])

	single := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"podDisruptionBudget": map[string]any{"enabled": true}})))
	assert.NotContains(t, single.ObjectSet(), "PodDisruptionBudget/certctl-server", "a budget on one replica would block every node drain")

	percent := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{
		"server":              map[string]any{"replicas": 4},
		"podDisruptionBudget": map[string]any{"enabled": true, "maxUnavailable": "25%"},
	})))
	spec := typed[policyv1.PodDisruptionBudget](t, percent, "PodDisruptionBudget", "certctl-server").Spec
	assert.Equal(t, ptrTo(intstr.FromString("25%")), spec.MaxUnavailable)
	assert.Nil(t, spec.MinAvailable, "maxUnavailable alone replaces the chart's default minAvailable")
}

func TestNetworkPolicies(t *testing.T) {
	r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"networkPolicy": map[string]any{
		"enabled": true,
		"extraEgress": []any{map[string]any{
			"to":    []any{map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0"}}},
			"ports": []any{map[string]any{"protocol": "TCP", "port": 443}},
		}},
	}})))
	server := typed[networkingv1.NetworkPolicy](t, r, "NetworkPolicy", "certctl-server").Spec
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, server.PolicyTypes)
	require.Len(t, server.Ingress, 1)
	assert.Equal(t, "agent", server.Ingress[0].From[0].PodSelector.MatchLabels["app.kubernetes.io/component"])
	assert.Equal(t, ptrTo(intstr.FromString("https")), server.Ingress[0].Ports[0].Port)
	egress := server.Egress
	require.Len(t, egress, 3, "DNS, bundled Postgres, the extra rule")
	assert.Equal(t, ptrTo(intstr.FromInt32(53)), egress[0].Ports[0].Port)
	assert.Equal(t, "postgres", egress[1].To[0].PodSelector.MatchLabels["app.kubernetes.io/component"])
	assert.Equal(t, "0.0.0.0/0", egress[2].To[0].IPBlock.CIDR)

	pg := typed[networkingv1.NetworkPolicy](t, r, "NetworkPolicy", "certctl-postgres").Spec
	assert.Equal(t, "server", pg.Ingress[0].From[0].PodSelector.MatchLabels["app.kubernetes.io/component"])
	assert.Empty(t, pg.Egress, "Postgres may open no connection")

	scraped := typed[networkingv1.NetworkPolicy](t, RenderMode(t, "ha-monitoring"), "NetworkPolicy", "certctl-server").Spec
	require.Len(t, scraped.Ingress, 2, "agents, and Prometheus while the ServiceMonitor scrapes")
	assert.Equal(t, map[string]string{"kubernetes.io/metadata.name": "monitoring"}, scraped.Ingress[1].From[0].NamespaceSelector.MatchLabels)
	assert.Nil(t, scraped.Ingress[1].From[0].PodSelector, "every pod of that namespace: Prometheus' labels differ per install")
	assert.Equal(t, ptrTo(intstr.FromString("https")), scraped.Ingress[1].Ports[0].Port)

	proxied := typed[networkingv1.NetworkPolicy](t, renderModeWith(t, "ingress", map[string]any{"networkPolicy": map[string]any{
		"enabled": true, "ingressControllerNamespace": "ingress-nginx",
	}}), "NetworkPolicy", "certctl-server").Spec
	require.Len(t, proxied.Ingress, 2, "agents, and the ingress controller")
	assert.Equal(t, map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}, proxied.Ingress[1].From[0].NamespaceSelector.MatchLabels)

	external := typed[networkingv1.NetworkPolicy](t, renderModeWith(t, "external-db", map[string]any{"networkPolicy": map[string]any{"enabled": true}}),
		"NetworkPolicy", "certctl-server").Spec.Egress
	require.Len(t, external, 2, "DNS and the external database")
	assert.Equal(t, ptrTo(intstr.FromInt32(5432)), external[1].Ports[0].Port, "the URL's port, lib/pq's default when it names none")
	assert.Empty(t, external[1].To, "a host name cannot be matched by a NetworkPolicy: the port, to any address")

	byIP := typed[networkingv1.NetworkPolicy](t, renderModeWith(t, "external-db", map[string]any{
		"networkPolicy":    map[string]any{"enabled": true},
		"externalDatabase": map[string]any{"url": strings.Replace(externalURL, "db.example.com:5432", "10.20.30.40:6432", 1)},
	}), "NetworkPolicy", "certctl-server").Spec.Egress
	require.Len(t, byIP, 2)
	assert.Equal(t, ptrTo(intstr.FromInt32(6432)), byIP[1].Ports[0].Port)
	assert.Equal(t, "10.20.30.40/32", byIP[1].To[0].IPBlock.CIDR, "an IP in the URL narrows the rule to that address")
}
