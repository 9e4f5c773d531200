package live

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
	"github.com/certctl-io/certctl-pulumi/tests/kubelet"
)

// TestLiveStartupBudget: a server that never becomes ready (its database is down) is given up
// by its postStart hook after server.startupTimeoutSeconds, as configured, not after a fixed
// 300 s; kubelet then restarts the container. The hook says which setting to raise.
func TestLiveStartupBudget(t *testing.T) {
	bins := certctlbin.Binaries(t)
	pgBin := certctlbin.PostgresBinDir(t)
	m := tests.ModeNamed(t, "default")
	d := newLiveDeployment(t, m, bins, pgBin)

	m.Config = tests.DeepMerge(m.Config, map[string]any{"server": map[string]any{"startupTimeoutSeconds": 3}})
	short, err := tests.RunWithRealKeys(t, m.Stack(t))
	require.NoError(t, err)
	d.postgres.Stop()
	dep := short.Object(t, "Deployment", "certctl-server").Manifest()
	pod, err := d.cluster.RunPod("certctl-server-budget", tests.Path(dep, "spec", "template").(map[string]any), kubelet.PodOptions{})
	require.Error(t, err, "the hook fails while the server is not ready")
	assert.Contains(t, err.Error()+pod.Logs(), "the server was not ready after 3s (server.startupTimeoutSeconds)")
}
