// Package loadserver is the load test of the real certctl server (issue 19, deliverable 1). For
// each fleet-size tier it runs the released v2.1.7 server, one replica and then two, on a real
// PostgreSQL, both configured as the program renders the tier; it seeds the tier's certificates
// and registers its agents, then plays the agents at their real cadence (cmd/agent: a heartbeat
// every 60 s and a work poll every 30 s, on tickers without jitter), spread over the minute and
// in lockstep as after a mass restart, while an operator walks the inventory and Prometheus
// scrapes every replica. It reports per-endpoint latency, errors and 429s, the CPU and memory of
// the server and the database, database connections, and audit_events growth per agent per day.
//
// It is opt-in and bounded: it runs only with CERTCTL_BENCH_SERVER=1 (make bench-server), on
// loopback only, one minute per pattern. CERTCTL_BENCH_OUT names a file for the Markdown report;
// CERTCTL_BENCH_TIERS (comma-separated tier names) runs some tiers only.
package loadserver

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
)

const (
	benchEnv = "CERTCTL_BENCH_SERVER"
	outEnv   = "CERTCTL_BENCH_OUT"
	tiersEnv = "CERTCTL_BENCH_TIERS"
)

// TestServerUnderLoad runs every tier and writes the report.
func TestServerUnderLoad(t *testing.T) {
	if os.Getenv(benchEnv) != "1" {
		t.Skipf("the server load test is opt-in and takes about 20 minutes: make bench-server (or %s=1)", benchEnv)
	}
	h := newHost(t)
	rep := report{machine: describeMachine(t, h)}
	started := time.Now()
	for _, tr := range selectedTiers(t) {
		t.Run(tr.name, func(t *testing.T) {
			rep.tiers = append(rep.tiers, runTier(t, h, tr))
		})
	}
	rep.took = time.Since(started)
	md := rep.markdown()
	t.Log("\n" + md)
	if out := os.Getenv(outEnv); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(md), 0o644))
	}
}

// host is what the machine provides: the certctl binaries, PostgreSQL, and the tools the
// server's postStart hook runs.
type host struct {
	certctl certctlbin.Build
	pgBin   string
}

// newHost finds the prerequisites; a missing one skips the test, or fails it under CI.
func newHost(t *testing.T) host {
	t.Helper()
	tools := []string{"sh", "curl"}
	if os.Geteuid() == 0 {
		tools = append(tools, "runuser") // postgres refuses to run as root
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found: the load test needs it", tool)
			}
			t.Skipf("%s not installed; CI runs this test", tool)
		}
	}
	return host{certctl: certctlbin.Binaries(t), pgBin: certctlbin.PostgresBinDir(t)}
}

// selectedTiers are the tiers CERTCTL_BENCH_TIERS names, or all of them.
func selectedTiers(t *testing.T) []tier {
	t.Helper()
	names := os.Getenv(tiersEnv)
	if names == "" {
		return tiers
	}
	var out []tier
	for _, tr := range tiers {
		if slices.Contains(strings.Split(names, ","), tr.name) {
			out = append(out, tr)
		}
	}
	require.NotEmpty(t, out, "%s=%s names no tier", tiersEnv, names)
	return out
}

// runTier measures one tier: one database, seeded once, under one replica and then two.
func runTier(t *testing.T, h host, tr tier) tierResult {
	r := renderTier(t, tr)
	db := startPostgres(t, h, r)
	d := newDeployment(t, h, r, db)
	d.addReplica(t)
	f := seedFleet(t, d, tr)
	res := tierResult{
		tier: tr, maxConnections: db.setting(t, "max_connections"), poolSize: d.env["CERTCTL_DATABASE_MAX_CONNS"],
		storage: r.StatefulSet(t, "certctl-postgres").Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage],
	}
	for _, step := range plan {
		for len(d.replicas) < step.replicas {
			d.addReplica(t)
		}
		w := runWindow(t, d, f, step.pattern)
		w.logErrors(t)
		res.windows = append(res.windows, w)
	}
	return res
}
