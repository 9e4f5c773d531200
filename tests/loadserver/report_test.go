package loadserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// report is the run's Markdown.
type report struct {
	machine string
	tiers   []tierResult
	took    time.Duration
}

// tierResult is one tier's windows and the database settings they ran with.
type tierResult struct {
	tier                     tier
	maxConnections, poolSize string
	storage                  resource.Quantity // the database volume's size (postgresql.storage.size)
	windows                  []window
}

// audit is the tier's audit growth: rows per agent per day (the mean of the steady-state
// windows: a lockstep window's failed requests write no row) and the table's growth per row over
// all its windows, its indexes included.
func (tr tierResult) audit() (rowsPerAgentDay, bytesPerRow float64) {
	var bytes, rows int64
	steady := 0
	for _, w := range tr.windows {
		if w.pattern.warm {
			rowsPerAgentDay += w.auditRowsPerAgentDay()
			steady++
		}
		bytes += w.usage.auditBytes
		rows += w.usage.auditRows
	}
	if rows > 0 {
		bytesPerRow = float64(bytes) / float64(rows)
	}
	return rowsPerAgentDay / float64(max(steady, 1)), bytesPerRow
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

func (r report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# certctl v2.1.7 server under load\n\nWritten by `make bench-server` (docs/sizing.md says what the tiers take from it).\n\n")
	fmt.Fprintf(&b, "Machine: %s. The run took %s.\n\n", r.machine, r.took.Round(time.Second))
	b.WriteString(method)
	b.WriteString("\n## Tiers\n\n")
	b.WriteString("| tier | certificates | agents (tier) | agents played (scale) | agent requests/s | `databaseMaxConns` per replica | `max_connections` |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, tr := range r.tiers {
		fmt.Fprintf(&b, "| %s | %d | %d | %d (1/%d) | %.1f | %s | %s |\n", tr.tier.name, tr.tier.Certificates, tr.tier.Agents,
			tr.tier.played(), tr.tier.agentScale, float64(tr.tier.played())*requestsPerAgentSecond, tr.poolSize, tr.maxConnections)
	}
	b.WriteString("\n## Latency per endpoint\n\n")
	b.WriteString("| tier | replicas | pattern | endpoint | requests | p50 ms | p95 ms | p99 ms | errors | 429 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, tr := range r.tiers {
		for _, w := range tr.windows {
			for _, ep := range endpoints {
				e, ok := w.endpoints[ep]
				if !ok {
					continue
				}
				fmt.Fprintf(&b, "| %s | %d | %s | `%s` | %d | %s | %s | %s | %d | %d |\n", tr.tier.name, w.replicas, w.pattern.name, ep,
					e.requests, millis(e.p50), millis(e.p95), millis(e.p99), e.errors, e.throttled)
			}
		}
	}
	b.WriteString("\n## Errors\n\nThe first error of each endpoint that had any, by window:\n\n")
	for _, tr := range r.tiers {
		for _, w := range tr.windows {
			for _, ep := range endpoints {
				if e := w.endpoints[ep]; e.errors > 0 {
					fmt.Fprintf(&b, "- %s, %d replica(s), %s, `%s`: %d, e.g. `%s`\n", tr.tier.name, w.replicas, w.pattern.name, ep, e.errors, strings.TrimSpace(e.example))
				}
			}
		}
	}
	b.WriteString("\n## Resources\n\n")
	b.WriteString("| tier | replicas | pattern | server CPU (cores, all replicas) | server peak RSS (MiB, largest replica) | PostgreSQL CPU (cores) " +
		"| load generator CPU (cores) | DB connections open / active (peak) | DB connections opened / s | inventory walk | audit rows / agent / day |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, tr := range r.tiers {
		for _, w := range tr.windows {
			fmt.Fprintf(&b, "| %s | %d | %s | %.2f | %.0f | %.2f | %.2f | %d / %d | %.1f | %s | %.0f |\n", tr.tier.name, w.replicas, w.pattern.name,
				w.usage.serverCores, float64(w.serverRSS)/mib, w.usage.postgresCores, w.usage.loadCores, w.connsOpen, w.connsActive,
				w.usage.sessionsPerSecond, w.walk, w.auditRowsPerAgentDay())
		}
	}
	b.WriteString("\n## Audit growth (never purged)\n\n")
	b.WriteString("| tier | audit rows / agent / day | bytes / row (table and indexes) | MiB / agent / day | GiB / day, whole tier " +
		"| days until audit alone fills `postgresql.storage.size` |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, tr := range r.tiers {
		rows, perRow := tr.audit()
		perDay := rows * perRow * float64(tr.tier.Agents)
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.2f | %.2f | %.0f (%s) |\n", tr.tier.name, rows, perRow, rows*perRow/mib,
			perDay/gib, float64(tr.storage.Value())/perDay, tr.storage.String())
	}
	return b.String()
}

// requestsPerAgentSecond is an agent's request rate: a heartbeat a minute, a poll every 30 s.
var requestsPerAgentSecond = 1/heartbeatEvery.Seconds() + 1/pollEvery.Seconds()

// method is how the figures were made, for the reader of the tables.
const method = `Method: ` + "`tests/loadserver`" + ` (` + "`make bench-server`" + `). Per tier, the program's render at that ` + "`fleetSize`" + `
runs on this machine: the certctl v2.1.7 server built from source with the rendered Deployment's environment
(ConfigMap and Secret, the rendered local CA, a throwaway server certificate; the postStart hook run as kubelet
would), and PostgreSQL with the rendered StatefulSet's arguments, all on loopback. One replica, then a second
process on the same database. Each agent registers through the API and plays the real agent: its own source
address (as a pod's), its own HTTP/2 connection (TLS 1.3, 30 s timeout), the agents' key, a heartbeat every
60 s and a work poll every 30 s. A window is 60 s, one heartbeat and two polls per agent. **spread**: phases
random over the minute, connections already open (steady state). **lockstep**: every agent connects and sends
at the window's start (a mass restart), and polls again together at 30 s. **spread + inventory walk**: spread,
while an operator walks the inventory from the window's start (page by page, 50 a page as the CLI does, admin
key, first replica; a 429 waits 1 s). Agents go to replica i mod n. In every window Prometheus scrapes every
replica at the ServiceMonitor's interval with its key.
Certificates are seeded in full (one through the API, the rest cloned in SQL, active, none due for renewal);
agents at the scale shown. Audit rows are the agents' own (actor ` + "`agents`" + `), extrapolated from the window
to a day (a failed request writes none; the tier's figure is the mean of its steady-state windows); bytes per
row are the growth of ` + "`pg_total_relation_size('audit_events')`" + ` (heap, TOAST and its 8 indexes) over the
tier's windows, divided by the rows they added; the whole tier is the tier's full agent count. Latency is
measured by the client, from sending to the last byte; errors are transport failures and non-2xx answers other
than 429. Connections opened are new database sessions (` + "`pg_stat_database.sessions`" + `): certctl keeps at
most a fifth of its pool idle, so a busier pool opens and closes connections.
`

func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

// String is the walk as the table shows it: a walk the window cut short with the time the whole
// walk would take at its pace.
func (w walkResult) String() string {
	switch {
	case w.of == 0:
		return "-"
	case w.pages < w.of:
		whole := w.took * time.Duration(w.of) / time.Duration(max(w.pages, 1))
		return fmt.Sprintf("%d of %d pages in %.0f s (whole walk ~%s)", w.pages, w.of, w.took.Seconds(), whole.Round(10*time.Second))
	default:
		return fmt.Sprintf("%d pages in %.1f s", w.of, w.took.Seconds())
	}
}

// describeMachine names the CPUs, memory, PostgreSQL and Go the figures come from.
func describeMachine(t *testing.T, h host) string {
	t.Helper()
	model, memory := "unknown CPU", "unknown memory"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				model = strings.TrimSpace(value)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			memory = fmt.Sprintf("%.1f GiB memory", float64(kb)*1024/gib)
		}
	}
	pg, err := exec.Command(filepath.Join(h.pgBin, "postgres"), "--version").Output()
	if err != nil {
		t.Fatalf("postgres --version: %v", err)
	}
	return fmt.Sprintf("%d CPUs (%s), %s, %s, %s %s/%s", runtime.NumCPU(), model, memory,
		strings.TrimSpace(string(pg)), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
