package live

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
)

// TestLiveKeyRotation rotates the admin key, the agents' key and the scrape key with one counter
// step each, then ends the overlap with the matching rotationDone settings, applying every update
// as Pulumi would (Secrets, then the server rollout, then the agents), against v2.1.7: the old
// keys work until the rotation is done and not after, the new ones work from the first update,
// and the agents stay online throughout.
func TestLiveKeyRotation(t *testing.T) {
	bins := certctlbin.Binaries(t)
	pgBin := certctlbin.PostgresBinDir(t)
	m := tests.ModeNamed(t, "ha-monitoring")
	d := newLiveDeployment(t, m, bins, pgBin)
	oldAdmin := d.render.Outputs["apiKey"].Value.(string)
	oldAgents := d.render.Outputs["agentApiKey"].Value.(string)
	oldScrape := d.secretValue(t, "certctl-metrics", "api-key")
	ids := d.waitAgentsOnline(t, oldAdmin)

	m.Config = tests.DeepMerge(m.Config, map[string]any{
		"server":     map[string]any{"auth": map[string]any{"apiKeyRotation": 1, "agentApiKeyRotation": 1}},
		"monitoring": map[string]any{"serviceMonitor": map[string]any{"scrapeKeyRotation": 1}},
	})
	rotating, err := tests.RunWithRealKeys(t, m.Stack(t))
	require.NoError(t, err)
	d.apply(t, rotating)
	newAdmin := rotating.Outputs["apiKey"].Value.(string)
	newAgents := rotating.Outputs["agentApiKey"].Value.(string)
	require.NotEqual(t, oldAdmin, newAdmin)
	require.NotEqual(t, oldAgents, newAgents)
	assert.Equal(t, ids, d.waitAgentsOnline(t, newAdmin), "the agents, now on the new key, are online")
	for _, key := range []string{oldAdmin, newAdmin} {
		status, _ := d.call(t, "GET", "/api/v1/agents", key, nil)
		assert.Equal(t, http.StatusOK, status, "both admin keys work until the rotation is done")
	}
	for _, key := range []string{oldAgents, newAgents} {
		assert.Equal(t, []string{"r-agent"}, d.roles(t, key), "both agents' keys hold the agent role only")
	}
	newScrape := d.secretValue(t, "certctl-metrics", "api-key")
	require.NotEqual(t, oldScrape, newScrape)
	d.checkScrape(t) // Prometheus, with the ServiceMonitor's Secret, now on the new key
	status, _ := d.call(t, "GET", "/api/v1/metrics/prometheus", oldScrape, nil)
	assert.Equal(t, http.StatusOK, status, "the old scrape key works during the rotating update")

	m.Config = tests.DeepMerge(m.Config, map[string]any{
		"server":     map[string]any{"auth": map[string]any{"apiKeyRotationDone": 1, "agentApiKeyRotationDone": 1}},
		"monitoring": map[string]any{"serviceMonitor": map[string]any{"scrapeKeyRotationDone": 1}},
	})
	done, err := tests.RunWithRealKeys(t, m.Stack(t))
	require.NoError(t, err)
	d.apply(t, done)
	status, _ = d.call(t, "GET", "/api/v1/agents", oldAdmin, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "the old admin key is refused once the rotation is done")
	status, _ = d.call(t, "GET", "/api/v1/metrics/prometheus", oldScrape, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "the old scrape key is refused")
	d.checkScrape(t)
	status, _ = d.call(t, "GET", "/api/v1/agents/"+ids["node-a"]+"/work", oldAgents, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "the old agents' key is refused")
	status, _ = d.call(t, "GET", "/api/v1/agents", newAdmin, nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, ids, d.waitAgentsOnline(t, newAdmin), "the agents stayed online")
	if t.Failed() {
		d.dumpLogs(t)
	}
}

// replaceObject records an applied object in what the cluster holds.
func (d *liveDeployment) replaceObject(obj map[string]any) {
	for i, o := range d.objects {
		if o["kind"] == obj["kind"] && tests.Path(o, "metadata", "name") == tests.Path(obj, "metadata", "name") {
			d.objects[i] = obj
			return
		}
	}
	d.objects = append(d.objects, obj)
}

// apply brings the cluster to a new render as `pulumi up` orders it: the server's ConfigMaps and
// Secrets, the server rollout, then the agents' own ConfigMap and Secret and, when their pod
// template changed, the agents (the Agent component depends on the server component). Before
// the server rolls, it checks that an agent pod starting then (a node reboot, an eviction)
// would read credentials the running servers accept.
func (d *liveDeployment) apply(t *testing.T, next *tests.Render) {
	t.Helper()
	agentTemplate := func(r *tests.Render) any {
		ds, _ := (&liveDeployment{render: r}).object("DaemonSet", "certctl-agent")
		return tests.Path(ds, "spec", "template")
	}
	agentsChanged := !assert.ObjectsAreEqual(agentTemplate(d.render), agentTemplate(next))
	applyConfig := func(agents bool) {
		for _, o := range next.KubernetesObjects() {
			if (o.Kind() == "Secret" || o.Kind() == "ConfigMap") && (o.ObjectName() == "certctl-agent") == agents {
				d.cluster.AddObject(o.Manifest())
				d.replaceObject(o.Manifest())
			}
		}
	}
	applyConfig(false)
	d.checkAgentCredentialsAccepted(t)
	d.render = next
	d.rollServers(t)
	applyConfig(true)
	if agentsChanged {
		for identity, p := range d.agents {
			p.Stop()
			delete(d.agents, identity)
		}
		d.startAgents(t)
	}
}

// checkAgentCredentialsAccepted: the agents' key and bootstrap token that the agent pod template
// references in the cluster now are accepted by the running servers.
func (d *liveDeployment) checkAgentCredentialsAccepted(t *testing.T) {
	t.Helper()
	template, _ := d.agentTemplate("node-a")
	for _, c := range append(mapsOf(tests.Path(template, "spec", "initContainers")), mapsOf(tests.Path(template, "spec", "containers"))...) {
		for _, e := range mapsOf(c["env"]) {
			ref, ok := tests.Path(e, "valueFrom", "secretKeyRef").(map[string]any)
			if !ok {
				continue
			}
			value := d.secretValue(t, ref["name"].(string), ref["key"].(string))
			switch e["name"] {
			case "CERTCTL_API_KEY":
				assert.Equal(t, []string{"r-agent"}, d.roles(t, value), "a restarted agent's key is accepted by the running servers")
			case "CERTCTL_AGENT_BOOTSTRAP_TOKEN":
				d.checkBootstrapToken(t, value)
			}
		}
	}
}

// mapsOf is a manifest list of objects.
func mapsOf(v any) []map[string]any {
	var out []map[string]any
	list, _ := v.([]any)
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
