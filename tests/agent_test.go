package tests

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/certctl-io/certctl-pulumi/config"
)

func TestAgent(t *testing.T) {
	t.Run("DaemonSet", func(t *testing.T) {
		def := config.Defaults()
		r := RenderMode(t, "default")
		pod := r.DaemonSet(t, "certctl-agent").Spec.Template.Spec
		require.Len(t, pod.Containers, 1)
		require.Len(t, pod.InitContainers, 1)
		c, register := pod.Containers[0], pod.InitContainers[0]
		assert.Equal(t, "ghcr.io/certctl-io/certctl-agent:v2.1.7", c.Image)
		assert.Equal(t, []string{"/bin/sh", "-c", "read -r CERTCTL_AGENT_ID </var/lib/certctl/identity/agent-id && export CERTCTL_AGENT_ID && exec /app/agent"},
			c.Command, "the agent starts with the ID its init container registered")
		order, src := envSources(t, c)
		assert.Equal(t, []string{"CERTCTL_SERVER_URL", "CERTCTL_SERVER_CA_BUNDLE_PATH", "CERTCTL_AGENT_NAME", "CERTCTL_API_KEY", "CERTCTL_KEY_DIR"}, order)
		assert.Equal(t, map[string]string{
			"CERTCTL_SERVER_URL":            "configMap:certctl-agent/server-url",
			"CERTCTL_API_KEY":               "secret:certctl-agent/agent-api-key",
			"CERTCTL_AGENT_NAME":            "field:spec.nodeName",
			"CERTCTL_KEY_DIR":               "configMap:certctl-agent/key-dir",
			"CERTCTL_SERVER_CA_BUNDLE_PATH": "configMap:certctl-agent/server-ca-bundle-path",
		}, src)

		assert.Equal(t, "register", register.Name)
		assert.Equal(t, c.Image, register.Image)
		_, regSrc := envSources(t, register)
		assert.Equal(t, map[string]string{
			"CERTCTL_SERVER_URL":            "configMap:certctl-agent/server-url",
			"CERTCTL_SERVER_CA_BUNDLE_PATH": "configMap:certctl-agent/server-ca-bundle-path",
			"CERTCTL_AGENT_NAME":            "field:spec.nodeName",
			"CERTCTL_AGENT_BOOTSTRAP_TOKEN": "secret:certctl-agent/bootstrap-token",
		}, regSrc, "only the init container holds the bootstrap token")
		assert.Equal(t, map[string]string{
			"server-url": "https://certctl-server:" + strconv.Itoa(def.Server.Service.Port), "key-dir": def.Agent.KeyDir, "server-ca-bundle-path": def.Server.TLS.MountPath + "/ca.crt",
		}, r.ConfigMap(t, "certctl-agent").Data)
		require.NotNil(t, pod.Volumes[0].EmptyDir.SizeLimit)
		assert.Equal(t, "1Gi", pod.Volumes[0].EmptyDir.SizeLimit.String(), "a runaway agent cannot fill the node's disk")
		pod.Volumes[0].EmptyDir.SizeLimit = nil
		assert.Equal(t, []corev1.Volume{
			{Name: "keys", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "identity", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "certctl-tls", DefaultMode: ptrTo[int32](0o400),
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}}},
		}, pod.Volumes, "agents mount the server's CA, never its key")
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "tls", MountPath: def.Server.TLS.MountPath, ReadOnly: true})
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "identity", MountPath: "/var/lib/certctl/identity", ReadOnly: true})
		// The agent creates CERTCTL_KEY_DIR and makes it 0700 before writing a key; it may not chmod
		// a mount point (root-owned, 0777), so the volume is mounted one level above.
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "keys", MountPath: "/var/lib/certctl"})
		assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
		assert.Equal(t, ptrTo(false), pod.EnableServiceLinks)
		for _, ctr := range []corev1.Container{c, register} {
			assert.Equal(t, ptrTo(true), ctr.SecurityContext.ReadOnlyRootFilesystem, ctr.Name)
		}
	})
	t.Run("Deployment with a fixed name, placement and extra env", func(t *testing.T) {
		r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"agent": map[string]any{
			"kind": "Deployment", "replicas": 1, "name": "edge-agent", "discoveryDirs": "/etc/ssl/certs,/etc/pki/tls",
			"nodeSelector": map[string]any{"node-role.kubernetes.io/worker": "true"},
			"tolerations":  []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "certs", "effect": "NoSchedule"}},
			"env":          map[string]any{"CERTCTL_AGENT_POLL_INTERVAL": "30s"},
		}})))
		d := r.StatefulSet(t, "certctl-agent")
		assert.Equal(t, ptrTo[int32](1), d.Spec.Replicas)
		pod := d.Spec.Template.Spec
		_, src := envSources(t, pod.Containers[0])
		assert.Equal(t, "configMap:certctl-agent/agent-name", src["CERTCTL_AGENT_NAME"])
		assert.Equal(t, "configMap:certctl-agent/discovery-dirs", src["CERTCTL_DISCOVERY_DIRS"])
		assert.Equal(t, "value:30s", src["CERTCTL_AGENT_POLL_INTERVAL"])
		data := r.ConfigMap(t, "certctl-agent").Data
		assert.Equal(t, "edge-agent", data["agent-name"])
		assert.Equal(t, "/etc/ssl/certs,/etc/pki/tls", data["discovery-dirs"])
		assert.Equal(t, map[string]string{"node-role.kubernetes.io/worker": "true"}, pod.NodeSelector)
		assert.Equal(t, []corev1.Toleration{{Key: "dedicated", Operator: "Equal", Value: "certs", Effect: "NoSchedule"}}, pod.Tolerations)
	})
	t.Run("Deployment replicas are a StatefulSet's pods, named after them", func(t *testing.T) {
		// A replaced StatefulSet pod takes its predecessor's name, so it is the same agent: a
		// Deployment's new pod names would register new agents and leave the old ones offline.
		d := RenderMode(t, "agent-deployment").StatefulSet(t, "certctl-agent")
		assert.Equal(t, ptrTo[int32](2), d.Spec.Replicas)
		assert.Equal(t, appsv1.ParallelPodManagement, d.Spec.PodManagementPolicy, "agents do not wait for each other")
		assert.Empty(t, d.Spec.VolumeClaimTemplates)
		_, src := envSources(t, d.Spec.Template.Spec.Containers[0])
		assert.Equal(t, "field:metadata.name", src["CERTCTL_AGENT_NAME"])
	})
	t.Run("disabled", func(t *testing.T) {
		r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"agent": map[string]any{"enabled": false}})))
		assert.Equal(t, without(sortedCopy(defaultObjects), "ConfigMap/certctl-agent", "DaemonSet/certctl-agent", "Secret/certctl-agent"), r.ObjectSet())
		assert.Equal(t, generatedValue("certctl-agent-api-key"), r.Outputs["agentApiKey"].Value, "agents outside the cluster use the agents' key from the stack output")
		assert.Contains(t, namedKeyValues(t, r, "agents"), generatedValue("certctl-agent-api-key"), "which the server accepts")
	})
}
