package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/certctl-io/certctl-pulumi/config"
)

// The provider gives up on a workload after 10 minutes unless told otherwise, which fails
// `pulumi up` while a big rollout or a long migration is still healthy: each wait follows what
// bounds the work.
func TestWaits(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		r := RenderMode(t, "default")
		assert.Equal(t, "10m0s", r.Object(t, "Deployment", "certctl-server").Wait, "one replica, 300 s start-up budget: the provider's default")
		assert.Equal(t, "10m0s", r.Object(t, "DaemonSet", "certctl-agent").Wait, "agent.rolloutTimeout of the small fleet")
		assert.Equal(t, "12m0s", r.Object(t, "Job", "certctl-pgpass-<digest>").Wait, "the Job's 600 s deadline and a margin")
		ds := r.DaemonSet(t, "certctl-agent")
		assert.Equal(t, appsv1.RollingUpdateDaemonSetStrategyType, ds.Spec.UpdateStrategy.Type)
		assert.Equal(t, intstr.FromInt32(1), *ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable)
	})
	t.Run("server replicas and start-up budget", func(t *testing.T) {
		r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"server": map[string]any{"replicas": 3, "startupTimeoutSeconds": 900}})))
		assert.Equal(t, "50m0s", r.Object(t, "Deployment", "certctl-server").Wait, "3 replicas × 900 s, plus 5 minutes")
		hook := r.Deployment(t, "certctl-server").Spec.Template.Spec.Containers[0].Lifecycle.PostStart.Exec.Command[2]
		assert.Contains(t, hook, `-gt 900 ]`, "the postStart hook waits the same budget")
	})
	t.Run("migration Job", func(t *testing.T) {
		r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"migrations": map[string]any{"viaHook": true, "activeDeadlineSeconds": 3600}})))
		assert.Equal(t, "1h2m0s", r.Object(t, "Job", "certctl-migrate-<digest>").Wait, "never shorter than the Job's own deadline")
	})
	t.Run("large fleet", func(t *testing.T) {
		r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"fleetSize": "large"})))
		assert.Equal(t, "1h0m0s", r.Object(t, "DaemonSet", "certctl-agent").Wait)
		assert.Equal(t, config.Sized(config.FleetLarge).Agent.UpdateStrategy.RollingUpdate.MaxUnavailable, r.DaemonSet(t, "certctl-agent").Spec.UpdateStrategy.RollingUpdate.MaxUnavailable,
			"a large fleet does not roll one node at a time")
		assert.Equal(t, "20m0s", r.Object(t, "Deployment", "certctl-server").Wait, "3 replicas × 300 s, plus 5 minutes")
	})
	t.Run("user strategy", func(t *testing.T) {
		r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"agent": map[string]any{
			"updateStrategy": map[string]any{"rollingUpdate": map[string]any{"maxUnavailable": "50%"}}, "rolloutTimeout": "2h",
		}})))
		ds := r.DaemonSet(t, "certctl-agent")
		require.NotNil(t, ds.Spec.UpdateStrategy.RollingUpdate)
		assert.Equal(t, intstr.FromString("50%"), *ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable)
		assert.Equal(t, "2h0m0s", r.Object(t, "DaemonSet", "certctl-agent").Wait)
	})
}
