// Package engine runs the real Pulumi engine (CLI, Go language host, kubernetes, random and tls
// plugins from ../shared/toolchain) on the project's stacks against a simulated cluster
// (tests/cluster): what only the engine decides (awaits, diffs against what the API server
// stores, no-op updates) is tested here, not under mocks.
package engine

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests/cluster"
)

// TestDevStack: the dev stack, as its file says to deploy it (namespace and TLS Secret first),
// goes through the lifecycle every stack does (lifecycle); a renamed context is an update; an
// agents' key rotation survives a failed update, re-runs and --target; and a fullnameOverride
// keeps the local CA.
func TestDevStack(t *testing.T) {
	t.Parallel()
	d := deploy(t, "dev", "certctl-dev", cluster.Options{Nodes: 3}, prepareDev(t))
	d.lifecycle(scaleCheck{replicas: 2, changes: []string{"update ConfigMap certctl-server", "update Deployment certctl-server"},
		why: "server.replicas changes the Deployment and, with more than one replica, the rate-limit backend in the ConfigMap"},
		func() {
			d.checkRenamedContext()
			checkRotation(t, d.ctx, d.c, d.stack, d.ns, d.out)
			d.checkCAKept()
		},
		"pvc/data-certctl-postgres-0", "pvc/data-certctl-renamed-postgres-0")
}

// prepareDev does what the dev stack's file says to do before its first pulumi up: the
// namespace and the server's TLS Secret; and makes the volume its Postgres claim binds.
func prepareDev(t *testing.T) func(*cluster.Cluster) {
	return func(c *cluster.Cluster) {
		restrictedNamespace(t, c, "certctl-dev")
		c.Apply(t, tlsSecretYAML("certctl-dev", "certctl-tls", serviceNames("certctl-server", "certctl-dev")...))
		c.CreatePV(t, "engine-postgres", "10Gi")
		c.CreatePV(t, "engine-postgres-renamed", "10Gi") // for checkCAKept's renamed StatefulSet
	}
}

// TestAgentRolloutOn150Nodes: the dev stack on 150 nodes grows to fleetSize medium while every
// agent pod takes 5 s to become ready. The agents roll at most agent.updateStrategy's 10% at a
// time, and pulumi up waits for the whole rollout (the provider's default 10 minutes would
// not: one node at a time takes 150 × 5 s) and succeeds.
func TestAgentRolloutOn150Nodes(t *testing.T) {
	t.Parallel()
	const nodes, maxUnavailable = 150, 15 // medium: 10% of the nodes
	d := deploy(t, "dev", "certctl-dev", cluster.Options{Nodes: nodes}, prepareDev(t))
	up(t, d.ctx, d.stack, d.out)
	require.Equal(t, fmt.Sprint(nodes), d.get("daemonset/certctl-agent", "{.status.numberReady}"), "one agent per node")

	setConfig(t, d.ctx, d.stack, "certctl:fleetSize", "medium")
	podDelay(t, d.ctx, d.stack, "certctl:agent", "pod-ready", "5s")
	stop := make(chan struct{})
	worst := make(chan int)
	go func() {
		most := 0
		for {
			select {
			case <-stop:
				worst <- most
				return
			case <-time.After(500 * time.Millisecond):
			}
			out, err := d.c.Kubectl("-n", d.ns, "get", "daemonset/certctl-agent", "-o", "jsonpath={.status.numberUnavailable}")
			if n, convErr := strconv.Atoi(strings.TrimSpace(out)); err == nil && convErr == nil && n > most {
				most = n
			}
		}
	}()
	started := time.Now()
	up(t, d.ctx, d.stack, d.out)
	close(stop)
	t.Logf("the agents' rollout on %d nodes took %s", nodes, time.Since(started).Round(time.Second))
	assert.LessOrEqual(t, <-worst, maxUnavailable, "at most 10%% of the agents are unavailable at a time")
	assert.Equal(t, fmt.Sprint(nodes), d.get("daemonset/certctl-agent", "{.status.updatedNumberScheduled}"), "every agent rolled")
	assert.Equal(t, fmt.Sprint(nodes), d.get("daemonset/certctl-agent", "{.status.numberAvailable}"))
}

// TestServerRolloutBeyondTenMinutes: three server replicas, each taking 210 s to become ready
// (as a long boot would), roll one at a time (maxSurge 1, maxUnavailable 0): 630 s, beyond the
// provider's default 10-minute wait. pulumi up waits replicas × server.startupTimeoutSeconds +
// 5 minutes and succeeds while the rollout is healthy.
func TestServerRolloutBeyondTenMinutes(t *testing.T) {
	t.Parallel()
	d := deploy(t, "dev", "certctl-dev", cluster.Options{Nodes: 3}, prepareDev(t))
	setConfig(t, d.ctx, d.stack, "certctl:server.replicas", "3")
	podDelay(t, d.ctx, d.stack, "certctl:server", "pod-ready", "210s")
	up(t, d.ctx, d.stack, d.out)

	podDelay(t, d.ctx, d.stack, "certctl:server", "pod-ready", "211s") // a new pod template: the servers roll
	started := time.Now()
	rolled := up(t, d.ctx, d.stack, d.out)
	t.Logf("the servers' rollout took %s", time.Since(started).Round(time.Second))
	assert.Contains(t, rolled.changed(), "update Deployment certctl-server")
	assert.Equal(t, "3", d.get("deployment/certctl-server", "{.status.updatedReplicas}"), "every replica rolled")
	assert.Equal(t, "3", d.get("deployment/certctl-server", "{.status.readyReplicas}"))
}

// checkRotation rotates the agents' key and proves that only configuration ends the overlap: a
// rotating update that fails part-way, the re-run after it, an update with --target on something
// else and a plain re-run all keep the previous key accepted,
// the agents' own Secret changes only after the server Deployment has rolled, and the old key
// goes only with agentApiKeyRotationDone.
func checkRotation(t *testing.T, ctx context.Context, c *cluster.Cluster, stack auto.Stack, ns string, out io.Writer) {
	t.Helper()
	agentsAccepted := func() int {
		named := secretKey(t, c, ns, "certctl-server", "api-keys-named")
		return strings.Count(","+named, ",agents:")
	}
	oldKey := secretKey(t, c, ns, "certctl-agent", "agent-api-key")
	setConfig(t, ctx, stack, "certctl:server.auth.agentApiKeyRotation", "1")
	// The rotating update fails part-way: the agents' pods take 30 s to become ready and
	// pulumi up waits 10 s for them.
	setConfig(t, ctx, stack, "certctl:agent.rolloutTimeout", "10s")
	podDelay(t, ctx, stack, "certctl:agent", "pod-ready", "30s")
	failed := newStepLog()
	_, err := stack.Up(ctx, optup.EventStreams(failed.events), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	require.Error(t, err, "the agents' rollout outlasts agent.rolloutTimeout")
	require.Contains(t, err.Error(), "DaemonSet", "the update fails at the agents, not before")
	failed.wait()
	newKey := secretKey(t, c, ns, "certctl-agent", "agent-api-key")
	assert.NotEqual(t, oldKey, newKey, "the agents move to the new key")
	assert.Equal(t, 2, agentsAccepted(), "after a failed update the server accepts the new key and the old one")
	assert.Less(t, failed.finished("Deployment certctl-server"), failed.started("Secret certctl-agent"),
		"the agents' Secret changes only after every server replica accepts the new key")

	require.NoError(t, stack.RemoveConfig(ctx, "certctl:agent"))
	rotating := up(t, ctx, stack, out)
	assert.Equal(t, 2, agentsAccepted(), "the re-run after the failure keeps the overlap")

	configMap := rotating.urn(t, "ConfigMap certctl-agent")
	_, err = stack.Up(ctx, optup.Target([]string{configMap}), optup.ProgressStreams(out))
	require.NoError(t, err, "pulumi up --target")
	assert.Equal(t, 2, agentsAccepted(), "a targeted update of something else keeps the overlap")
	up(t, ctx, stack, out)
	assert.Equal(t, 2, agentsAccepted(), "so does a plain re-run: nothing but configuration ends it")

	setConfig(t, ctx, stack, "certctl:server.auth.agentApiKeyRotationDone", "1")
	done := up(t, ctx, stack, out)
	assert.Equal(t, 1, agentsAccepted(), "the old key goes when the rotation is done")
	assert.NotContains(t, done.changed(), "update DaemonSet certctl-agent", "ending the overlap does not roll the agents")
	assert.Equal(t, newKey, secretKey(t, c, ns, "certctl-agent", "agent-api-key"))
}

// TestStagingStack: the staging stack creates its namespace; cert-manager (played by the test)
// issues the server's certificate; with monitoring on (the tier's overlay) the lifecycle; the
// admin and scrape key rotations and the Postgres password change as the runbooks prescribe them.
func TestStagingStack(t *testing.T) {
	t.Parallel()
	d := deploy(t, "staging", "certctl-staging", cluster.Options{Nodes: 3}, func(c *cluster.Cluster) {
		c.InstallCRDs(t, certManagerCRD, serviceMonitorCRD, prometheusRuleCRD)
		c.CreatePVWithClass(t, "engine-postgres", "20Gi", "gp3")
		c.CreatePV(t, "engine-backup", "20Gi")
	})
	d.playCertManager()
	d.lifecycle(scaleCheck{replicas: 3, changes: []string{"update Deployment certctl-server"},
		why: "with two replicas already, only the Deployment changes"},
		func() {
			d.checkAdminKeyRotation()
			d.checkScrapeKeyRotation()
			d.checkPasswordChange()
		},
		"pvc/data-certctl-postgres-0", "pvc/certctl-backup", "namespace/certctl-staging")
}

// TestProdStack: the prod stack (backup on a claim: no aws plugin here) in a namespace it does
// not own, with verified TLS to Postgres; the lifecycle; a new server image runs a new
// migration Job before the servers roll, and an update interrupted while that Job runs is re-run
// without the Job being deleted.
func TestProdStack(t *testing.T) {
	t.Parallel()
	d := deploy(t, "prod", "certctl", cluster.Options{Nodes: 3}, prepareProd(t))
	d.playCertManager()
	d.lifecycle(scaleCheck{replicas: 4, changes: []string{"update Deployment certctl-server"},
		why: "with three replicas already, only the Deployment changes"},
		func() {
			d.checkImageChangeMigrates()
			d.checkInterruptedMigration()
		},
		"pvc/data-certctl-postgres-0", "pvc/certctl-backup")
}

// prepareProd does what the prod stack's file says to do before its first pulumi up: the
// namespace and the Postgres TLS Secret; installs cert-manager's CRD (the test plays its
// controller) and makes the volumes its claims bind.
func prepareProd(t *testing.T) func(*cluster.Cluster) {
	return func(c *cluster.Cluster) {
		restrictedNamespace(t, c, "certctl")
		c.Apply(t, tlsSecretYAML("certctl", "certctl-postgres-tls", serviceNames("certctl-postgres", "certctl")...))
		c.InstallCRDs(t, certManagerCRD)
		c.CreatePVWithClass(t, "engine-postgres", "50Gi", "gp3")
		c.CreatePV(t, "engine-backup", "50Gi")
	}
}

// TestProdCNPGStack: the prod-cnpg stack (the database on CloudNativePG, archived to a bucket
// and through an IAM role made elsewhere: no aws plugin here) in a namespace it does not own, the
// test playing cert-manager and CloudNativePG's operator (playCNPG: no instance runs). pulumi up
// waits for the Cluster to be Ready before the migration Job and the servers start; the server
// verifies <cluster>-rw against the operator's <cluster>-ca; the lifecycle; and destroy keeps the
// Cluster (CloudNativePG deletes the instances' volumes with it) and what the running database
// relies on: its owner's Secret, ObjectStore, ScheduledBackup and NetworkPolicy.
func TestProdCNPGStack(t *testing.T) {
	t.Parallel()
	d := deploy(t, "prod-cnpg", "certctl", cluster.Options{Nodes: 3}, func(c *cluster.Cluster) {
		restrictedNamespace(t, c, "certctl")
		c.InstallCRDs(t, certManagerCRD, cnpgClusterCRD, scheduledBackupCRD, objectStoreCRD)
	})
	d.playCertManager()
	d.playCNPG()
	d.lifecycle(scaleCheck{replicas: 2, changes: []string{"update Deployment certctl-server"},
		why: "two replicas keep the rate-limit backend, and max_connections (200) refuses four: only the Deployment changes"},
		func() {
			d.checkWaitedForCluster()
			d.checkServerTrustsCluster()
		},
		"cluster/"+cnpgCluster, "secret/"+cnpgCluster+"-owner", "objectstore/"+cnpgCluster,
		"scheduledbackup/"+cnpgCluster, "networkpolicy/"+cnpgCluster)
}

// restrictedNamespace creates the namespace a stack file says to create before its first pulumi
// up, enforcing the restricted Pod Security Standard.
func restrictedNamespace(t *testing.T, c *cluster.Cluster, ns string) {
	t.Helper()
	kubectl(t, c, "create", "namespace", ns)
	kubectl(t, c, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
}

// TestMigrationBeyondTenMinutes: the prod stack's first migration Job runs 630 s (a large
// schema change) under migrations.activeDeadlineSeconds 900; pulumi up waits the deadline plus
// 2 minutes for it, beyond the provider's default 10 minutes, and succeeds.
func TestMigrationBeyondTenMinutes(t *testing.T) {
	t.Parallel()
	d := deploy(t, "prod", "certctl", cluster.Options{Nodes: 3}, prepareProd(t))
	d.playCertManager()
	setConfig(t, d.ctx, d.stack, "certctl:migrations.activeDeadlineSeconds", "900")
	podDelay(t, d.ctx, d.stack, "certctl:migrations", "pod-complete", "630s")
	steps := up(t, d.ctx, d.stack, d.out)
	assert.Less(t, steps.finished("Job certctl-server-migrate"), steps.started("Deployment certctl-server"), "the servers roll after the migration")
	job := d.outputs()["migrationJobName"].Value.(string)
	assert.Equal(t, "1", d.get("job/"+job, "{.status.succeeded}"))
}
