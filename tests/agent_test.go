package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAgent(t *testing.T) {
	t.Run("DaemonSet", func(t *testing.T) {
		r := renderMode(t, "default")
		ds := r.Object(t, "DaemonSet", "certctl-agent").Manifest()
		pod := path(ds, "spec", "template", "spec")
		c := path(pod, "containers", 0)
		assert.Equal(t, "ghcr.io/certctl-io/certctl-agent:v2.1.7", path(c, "image"))
		assert.Equal(t, []any{"/bin/sh", "-c", "read -r CERTCTL_AGENT_ID </var/lib/certctl/identity/agent-id && export CERTCTL_AGENT_ID && exec /app/agent"},
			path(c, "command"), "the agent starts with the ID its init container registered")
		order, src := envSources(t, c)
		assert.Equal(t, []string{"CERTCTL_SERVER_URL", "CERTCTL_SERVER_CA_BUNDLE_PATH", "CERTCTL_AGENT_NAME", "CERTCTL_API_KEY", "CERTCTL_KEY_DIR"}, order)
		assert.Equal(t, map[string]string{
			"CERTCTL_SERVER_URL":            "configMap:certctl-agent/server-url",
			"CERTCTL_API_KEY":               "secret:certctl-server/agent-api-key",
			"CERTCTL_AGENT_NAME":            "field:spec.nodeName",
			"CERTCTL_KEY_DIR":               "configMap:certctl-agent/key-dir",
			"CERTCTL_SERVER_CA_BUNDLE_PATH": "configMap:certctl-agent/server-ca-bundle-path",
		}, src)

		register := path(pod, "initContainers", 0)
		assert.Equal(t, "register", path(register, "name"))
		assert.Equal(t, path(c, "image"), path(register, "image"))
		_, regSrc := envSources(t, register)
		assert.Equal(t, map[string]string{
			"CERTCTL_SERVER_URL":            "configMap:certctl-agent/server-url",
			"CERTCTL_SERVER_CA_BUNDLE_PATH": "configMap:certctl-agent/server-ca-bundle-path",
			"CERTCTL_AGENT_NAME":            "field:spec.nodeName",
			"CERTCTL_AGENT_BOOTSTRAP_TOKEN": "secret:certctl-server/bootstrap-token",
		}, regSrc, "only the init container holds the bootstrap token")
		assert.Equal(t, map[string]any{
			"server-url": "https://certctl-server:8443", "key-dir": "/var/lib/certctl/keys", "server-ca-bundle-path": "/etc/certctl/tls/ca.crt",
		}, path(r.Object(t, "ConfigMap", "certctl-agent").Manifest(), "data"))
		assert.Equal(t, []any{
			map[string]any{"name": "keys", "emptyDir": map[string]any{"sizeLimit": "1Gi"}},
			map[string]any{"name": "identity", "emptyDir": map[string]any{}},
			map[string]any{"name": "tmp", "emptyDir": map[string]any{}},
			map[string]any{"name": "tls", "secret": map[string]any{"secretName": "certctl-tls", "defaultMode": 256.0,
				"items": []any{map[string]any{"key": "ca.crt", "path": "ca.crt"}}}},
		}, path(pod, "volumes"), "agents mount the server's CA, never its key")
		assert.Contains(t, path(c, "volumeMounts"), map[string]any{"name": "tls", "mountPath": "/etc/certctl/tls", "readOnly": true})
		assert.Contains(t, path(c, "volumeMounts"), map[string]any{"name": "identity", "mountPath": "/var/lib/certctl/identity", "readOnly": true})
		assert.Equal(t, "RuntimeDefault", path(pod, "securityContext", "seccompProfile", "type"))
		assert.Equal(t, false, path(pod, "enableServiceLinks"))
		for _, ctr := range []any{c, register} {
			assert.Equal(t, true, path(ctr, "securityContext", "readOnlyRootFilesystem"))
		}
	})
	t.Run("Deployment with a fixed name, placement and extra env", func(t *testing.T) {
		r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"agent": map[string]any{
			"kind": "Deployment", "replicas": 1, "name": "edge-agent", "discoveryDirs": "/etc/ssl/certs,/etc/pki/tls",
			"nodeSelector": map[string]any{"node-role.kubernetes.io/worker": "true"},
			"tolerations":  []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "certs", "effect": "NoSchedule"}},
			"env":          map[string]any{"CERTCTL_AGENT_POLL_INTERVAL": "30s"},
		}})))
		d := r.Object(t, "Deployment", "certctl-agent").Manifest()
		assert.EqualValues(t, 1, path(d, "spec", "replicas"))
		pod := path(d, "spec", "template", "spec")
		_, src := envSources(t, path(pod, "containers", 0))
		assert.Equal(t, "configMap:certctl-agent/agent-name", src["CERTCTL_AGENT_NAME"])
		assert.Equal(t, "configMap:certctl-agent/discovery-dirs", src["CERTCTL_DISCOVERY_DIRS"])
		assert.Equal(t, "value:30s", src["CERTCTL_AGENT_POLL_INTERVAL"])
		data := path(r.Object(t, "ConfigMap", "certctl-agent").Manifest(), "data")
		assert.Equal(t, "edge-agent", path(data, "agent-name"))
		assert.Equal(t, "/etc/ssl/certs,/etc/pki/tls", path(data, "discovery-dirs"))
		assert.Equal(t, map[string]any{"node-role.kubernetes.io/worker": "true"}, path(pod, "nodeSelector"))
		assert.Equal(t, []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "certs", "effect": "NoSchedule"}}, path(pod, "tolerations"))
	})
	t.Run("Deployment replicas name themselves after their pods", func(t *testing.T) {
		d := renderMode(t, "agent-deployment").Object(t, "Deployment", "certctl-agent").Manifest()
		assert.EqualValues(t, 2, path(d, "spec", "replicas"))
		_, src := envSources(t, path(d, "spec", "template", "spec", "containers", 0))
		assert.Equal(t, "field:metadata.name", src["CERTCTL_AGENT_NAME"])
	})
	t.Run("disabled", func(t *testing.T) {
		r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"agent": map[string]any{"enabled": false}})))
		assert.Equal(t, without(sortedCopy(defaultObjects), "ConfigMap/certctl-agent", "DaemonSet/certctl-agent"), r.ObjectSet())
		assert.Contains(t, path(r.Object(t, "Secret", "certctl-server").Manifest(), "stringData"), "agent-api-key",
			"agents outside the cluster still use the agents' key")
	})
}
