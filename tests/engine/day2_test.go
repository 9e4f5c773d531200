package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests/cluster"
)

// adminKeys are the admin keys the server's environment accepts (CERTCTL_API_KEYS_NAMED's
// "admin:<key>:admin" entries).
func (d *deployment) adminKeys() []string {
	var keys []string
	for _, entry := range strings.Split(secretKey(d.t, d.c, d.ns, "certctl-server", "api-keys-named"), ",") {
		if k, ok := strings.CutPrefix(entry, "admin:"); ok {
			keys = append(keys, strings.TrimSuffix(k, ":admin"))
		}
	}
	return keys
}

// checkAdminKeyRotation follows docs/runbooks/api-key-rotation.md for the admin key: the counter
// step makes a new key that the apiKey output hands out while the server accepts both, without
// rolling the agents; "done" leaves only the new key.
func (d *deployment) checkAdminKeyRotation() {
	t := d.t
	old := d.outputs()["apiKey"].Value.(string)
	setConfig(t, d.ctx, d.stack, "certctl:server.auth.apiKeyRotation", "1")
	start := up(t, d.ctx, d.stack, d.out)
	current := d.outputs()["apiKey"].Value.(string)
	assert.NotEqual(t, old, current, "the apiKey output is the new key")
	assert.Equal(t, []string{current, old}, d.adminKeys(), "during the overlap the server accepts the new key and the old one")
	assert.NotContains(t, start.changed(), "update DaemonSet certctl-agent", "an admin key rotation does not roll the agents")

	setConfig(t, d.ctx, d.stack, "certctl:server.auth.apiKeyRotationDone", "1")
	up(t, d.ctx, d.stack, d.out)
	assert.Equal(t, []string{current}, d.adminKeys(), "done: only the new key")
	assert.Equal(t, current, d.outputs()["apiKey"].Value.(string))
}

// scrapeKeys are the keys the server's environment accepts for Prometheus (the "prometheus"
// entries of CERTCTL_API_KEYS_NAMED).
func (d *deployment) scrapeKeys() []string {
	var keys []string
	for _, entry := range strings.Split(secretKey(d.t, d.c, d.ns, "certctl-server", "api-keys-named"), ",") {
		if k, ok := strings.CutPrefix(entry, "prometheus:"); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// checkScrapeKeyRotation follows the runbook for the scrape key: the counter step makes a new
// key, which Prometheus's Secret gets only after the server Deployment (which accepts both) has
// rolled; "done" leaves only the new key, and Prometheus's Secret does not change again.
func (d *deployment) checkScrapeKeyRotation() {
	t := d.t
	old := secretKey(t, d.c, d.ns, "certctl-metrics", "api-key")
	require.Equal(t, []string{old}, d.scrapeKeys(), "the server accepts the key Prometheus holds")
	setConfig(t, d.ctx, d.stack, "certctl:monitoring.serviceMonitor.scrapeKeyRotation", "1")
	start := up(t, d.ctx, d.stack, d.out)
	current := secretKey(t, d.c, d.ns, "certctl-metrics", "api-key")
	assert.NotEqual(t, old, current, "Prometheus gets the new key")
	assert.ElementsMatch(t, []string{current, old}, d.scrapeKeys(), "during the overlap the server accepts both")
	assert.Less(t, start.finished("Deployment certctl-server"), start.started("Secret certctl-monitoring-scrape-key"),
		"Prometheus's Secret changes only after every server replica accepts the new key")

	setConfig(t, d.ctx, d.stack, "certctl:monitoring.serviceMonitor.scrapeKeyRotationDone", "1")
	done := up(t, d.ctx, d.stack, d.out)
	assert.Equal(t, []string{current}, d.scrapeKeys(), "done: only the new key")
	assert.Equal(t, apitype.OpSame, done.op("Secret certctl-monitoring-scrape-key"), "Prometheus's Secret stays")
}

// checkPasswordChange follows the Postgres password runbook (postgresql.auth.passwordRotation):
// the password-change Job runs and completes before the server's database URL and the
// "-current" Secret carry the new password.
func (d *deployment) checkPasswordChange() {
	t := d.t
	old := secretKey(t, d.c, d.ns, "certctl-postgres", "password")
	setConfig(t, d.ctx, d.stack, "certctl:postgresql.auth.passwordRotation", "1")
	steps := up(t, d.ctx, d.stack, d.out)
	password := secretKey(t, d.c, d.ns, "certctl-postgres", "password")
	assert.NotEqual(t, old, password, "a new password")
	assert.Equal(t, password, d.dbURLPassword(), "the server's database URL carries it")
	assert.Equal(t, password, secretKey(t, d.c, d.ns, "certctl-postgres-current", "password"))
	assert.Equal(t, apitype.OpReplace, steps.op("Job certctl-postgres-password-change"), "a new password-change Job")
	assert.Less(t, steps.finished("Job certctl-postgres-password-change"), steps.started("Secret certctl-server"),
		"the server's URL changes only after the role has the new password")
}

// checkImageChangeMigrates: a new server image makes a new migration Job, which completes
// before the server Deployment changes; the previous Job is deleted after the rollout.
func (d *deployment) checkImageChangeMigrates() {
	t := d.t
	before := d.jobs("migration")
	require.Len(t, before, 1, "one migration Job: %v", before)
	setConfig(t, d.ctx, d.stack, "certctl:server.image.tag", "v2.1.8")
	steps := up(t, d.ctx, d.stack, d.out)
	after := d.jobs("migration")
	require.Len(t, after, 1, "one migration Job after the update: %v", after)
	for name := range after {
		assert.NotContains(t, before, name, "a new image runs a new migration Job")
		assert.Equal(t, name, d.outputs()["migrationJobName"].Value.(string))
	}
	assert.Less(t, steps.finished("Job certctl-server-migrate"), steps.started("Deployment certctl-server"), "the migration completes before the servers roll")
	assert.Contains(t, d.get("deployment/certctl-server", "{.spec.template.spec.containers[0].image}"), "v2.1.8")
}

// checkInterruptedMigration: an update is interrupted (as Ctrl-C interrupts pulumi up) while its
// migration Job runs; the re-run waits for that same Job instead of deleting it, and the
// servers roll after it completes. A later change to the Job's pod makes a new Job before the
// completed one goes.
func (d *deployment) checkInterruptedMigration() {
	t := d.t
	setConfig(t, d.ctx, d.stack, "certctl:server.image.tag", "v2.1.9")
	// The migration takes 60 s.
	podDelay(t, d.ctx, d.stack, "certctl:migrations", "pod-complete", "60s")
	before := d.jobs("migration")
	ctx, cancel := context.WithCancel(d.ctx)
	interrupted := make(chan error, 1)
	go func() {
		_, err := d.stack.Up(ctx, optup.ProgressStreams(d.out), optup.ErrorProgressStreams(d.out))
		interrupted <- err
	}()
	var running string
	cluster.Eventually(t, 3*time.Minute, "the new migration Job running", func() (bool, string) {
		for name := range d.jobs("migration") {
			if _, old := before[name]; !old {
				running = name
			}
		}
		if running == "" {
			return false, "no new Job"
		}
		active := d.get("job/"+running, "{.status.active}")
		return active == "1", "active: " + active
	})
	uid := d.jobs("migration")[running]
	cancel()
	select {
	case err := <-interrupted:
		require.Error(t, err, "the interrupted update fails")
	case <-time.After(2 * time.Minute):
		t.Fatal("pulumi up did not stop within 2 minutes of the interrupt")
	}
	assert.Equal(t, "1", d.get("job/"+running, "{.status.active}"), "the migration still runs after the interrupt")

	rerun := up(t, d.ctx, d.stack, d.out)
	assert.Equal(t, uid, d.jobs("migration")[running], "the re-run waited for the running Job instead of deleting it")
	assert.Equal(t, "1", d.get("job/"+running, "{.status.succeeded}"))
	assert.Contains(t, d.get("deployment/certctl-server", "{.spec.template.spec.containers[0].image}"), "v2.1.9")
	assert.True(t, rerun.did("Job certctl-server-migrate", apitype.OpUpdate), "the re-run waits for the Job: %v", rerun.ops)
	assert.False(t, rerun.did("Job certctl-server-migrate", apitype.OpCreateReplacement), "and makes no other")

	// A change to the Job's pod (here: its annotations) is a new Job, created before the
	// completed one is deleted: never a same-named replacement, which deletes first.
	require.NoError(t, d.stack.RemoveConfigWithOptions(d.ctx, "certctl:migrations.podAnnotations", &auto.ConfigOptions{Path: true}))
	placement := up(t, d.ctx, d.stack, d.out)
	ops := placement.ops["Job certctl-server-migrate"]
	require.Contains(t, ops, apitype.OpCreateReplacement, "a new Job: %v", ops)
	assert.Less(t, slices.Index(ops, apitype.OpCreateReplacement), slices.Index(ops, apitype.OpDeleteReplaced), "created before the old one is deleted: %v", ops)
	assert.NotContains(t, d.jobs("migration"), running, "the old Job is gone after the update")
}

// checkRenamedContext: the same cluster under a renamed kubeconfig context (a new kubeconfig file)
// updates the provider and nothing else, because the stack file sets kubernetes:clusterIdentifier;
// without it the provider, and with it every object, would be replaced.
func (d *deployment) checkRenamedContext() {
	t := d.t
	kubeconfig, err := os.ReadFile(d.c.Kubeconfig)
	require.NoError(t, err)
	renamed := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(renamed, []byte(strings.ReplaceAll(string(kubeconfig), "certctl-test", "renamed-context")), 0o600))
	require.NoError(t, d.stack.SetConfig(d.ctx, "kubernetes:kubeconfig", auto.ConfigValue{Value: renamed, Secret: true}))
	require.NoError(t, d.stack.SetConfig(d.ctx, "kubernetes:context", auto.ConfigValue{Value: "renamed-context"}))
	steps := up(t, d.ctx, d.stack, d.out)
	assert.ElementsMatch(t, []string{"update kubernetes"}, steps.changed(), "only the provider changes")
}

// checkCAKept: a fullnameOverride renames every object and changes the local CA certificate's
// subject, but neither the CA key nor the certificate is replaced, so everything the CA issued
// still chains (docs/runbooks say how to rotate it on purpose).
func (d *deployment) checkCAKept() {
	t := d.t
	ca := d.outputs()["localCaCert"].Value.(string)
	setConfig(t, d.ctx, d.stack, "certctl:fullnameOverride", "certctl-renamed")
	steps := up(t, d.ctx, d.stack, d.out)
	assert.Equal(t, apitype.OpReplace, steps.op("Deployment certctl-server"), "the objects are renamed")
	for _, op := range steps.ops["certctl-server-ca"] { // the CA's key and certificate
		assert.NotContains(t, []apitype.OpType{apitype.OpReplace, apitype.OpCreateReplacement, apitype.OpDeleteReplaced, apitype.OpCreate, apitype.OpDelete}, op,
			"the CA is not replaced")
	}
	assert.Equal(t, ca, d.outputs()["localCaCert"].Value.(string), "the same CA")
	assert.Equal(t, ca, secretKey(t, d.c, d.ns, "certctl-renamed-ca", "tls.crt"), "in the renamed Secret")
}
