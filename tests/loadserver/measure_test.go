package loadserver

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/config"
)

// clockTick is the unit of /proc/<pid>/stat CPU times: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// window is what one pattern's window measured.
type window struct {
	pattern   pattern
	replicas  int
	agents    int
	elapsed   time.Duration // from the window's start until the last request answered
	endpoints map[string]endpointResult
	walk      walkResult
	usage     usage
	// connsOpen and connsActive are the peaks of the database's client connections, open and
	// running a query, sampled every 500 ms.
	connsOpen, connsActive int
	serverRSS              int64 // the largest replica's peak resident memory (VmHWM), bytes
}

// logErrors logs an example of each endpoint's errors, for the reader of a failed figure.
func (w window) logErrors(t *testing.T) {
	for _, ep := range endpoints {
		if r := w.endpoints[ep]; r.errors > 0 {
			t.Logf("%d replica(s), %s: %s: %d errors, e.g. %s", w.replicas, w.pattern.name, ep, r.errors, r.example)
		}
	}
}

// auditRowsPerAgentDay is the window's audit rows from the agents' own requests, per agent per
// day at their cadence.
func (w window) auditRowsPerAgentDay() float64 {
	return float64(w.usage.auditAgentRows) * float64(24*time.Hour) / float64(windowLength) / float64(w.agents)
}

// recorder collects every request's latency and outcome by endpoint.
type recorder struct {
	mu        sync.Mutex
	endpoints map[string]*endpointStats
}

type endpointStats struct {
	latencies         []time.Duration
	errors, throttled int
	example           string
}

func newRecorder() *recorder { return &recorder{endpoints: map[string]*endpointStats{}} }

// do sends one request and records its latency and outcome under endpoint; it returns the HTTP
// status (0 without an answer). A request cut off by the window's end is not recorded.
func (r *recorder) do(ctx context.Context, endpoint string, c *http.Client, method, url, key string, body any) int {
	start := time.Now()
	status, answer, err := call(ctx, c, method, url, key, body)
	if ctx.Err() != nil {
		return status
	}
	latency := time.Since(start)
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.endpoints[endpoint]
	if s == nil {
		s = &endpointStats{}
		r.endpoints[endpoint] = s
	}
	s.latencies = append(s.latencies, latency)
	switch {
	case status == http.StatusTooManyRequests:
		s.throttled++
	case err != nil || status < 200 || status > 299:
		s.errors++
		if s.example == "" {
			s.example = fmt.Sprintf("%d %v %.200s", status, err, answer)
		}
	}
	return status
}

// endpointResult is one endpoint's figures in a window.
type endpointResult struct {
	requests, errors, throttled int
	p50, p95, p99               time.Duration
	example                     string
}

func (r *recorder) results() map[string]endpointResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]endpointResult{}
	for ep, s := range r.endpoints {
		slices.Sort(s.latencies)
		out[ep] = endpointResult{
			requests: len(s.latencies), errors: s.errors, throttled: s.throttled, example: s.example,
			p50: percentile(s.latencies, 50), p95: percentile(s.latencies, 95), p99: percentile(s.latencies, 99),
		}
	}
	return out
}

// percentile of sorted latencies, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank-1, 0)]
}

// snapshot is the counters a window's figures are differences of.
type snapshot struct {
	server, postgres, load time.Duration // CPU time: every replica, the database, this process
	auditRows              int64
	auditAgentRows         int64 // rows whose actor is the agents' key
	auditBytes             int64 // pg_total_relation_size of audit_events
	sessions               int64 // connections the database has accepted (pg_stat_database)
}

// usage is a window's share of the counters, CPU as cores (CPU seconds per second).
type usage struct {
	serverCores, postgresCores, loadCores float64
	auditRows, auditAgentRows, auditBytes int64
	// sessionsPerSecond is the rate of new database connections: certctl keeps a fifth of its
	// pool idle, so traffic above that opens and closes connections.
	sessionsPerSecond float64
}

func (s snapshot) since(before snapshot, elapsed time.Duration) usage {
	cores := func(a, b time.Duration) float64 { return float64(a-b) / float64(elapsed) }
	return usage{
		serverCores: cores(s.server, before.server), postgresCores: cores(s.postgres, before.postgres), loadCores: cores(s.load, before.load),
		auditRows: s.auditRows - before.auditRows, auditAgentRows: s.auditAgentRows - before.auditAgentRows, auditBytes: s.auditBytes - before.auditBytes,
		sessionsPerSecond: float64(s.sessions-before.sessions) / elapsed.Seconds(),
	}
}

func (d *deployment) snapshot(t *testing.T) snapshot {
	t.Helper()
	var s snapshot
	s.server, s.postgres = d.serverCPU(t), d.postgresCPU(t)
	var self syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &self))
	s.load = time.Duration(self.Utime.Nano() + self.Stime.Nano())
	fields := strings.Split(d.db.session.value(t, fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE actor = '%s'),
		pg_total_relation_size('audit_events'), (SELECT sessions FROM pg_stat_database WHERE datname = current_database())
		FROM audit_events`, config.AgentsKeyName)), "|")
	require.Len(t, fields, 4)
	for i, p := range []*int64{&s.auditRows, &s.auditAgentRows, &s.auditBytes, &s.sessions} {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		require.NoError(t, err)
		*p = n
	}
	return s
}

// cpu is the CPU time of the replicas and the database together.
func (d *deployment) cpu(t *testing.T) time.Duration {
	t.Helper()
	return d.serverCPU(t) + d.postgresCPU(t)
}

// serverCPU is the CPU time of every replica.
func (d *deployment) serverCPU(t *testing.T) time.Duration {
	t.Helper()
	var total time.Duration
	for _, rep := range d.replicas {
		cpu, err := processCPU(rep.pid)
		require.NoError(t, err)
		total += cpu
	}
	return total
}

// postgresCPU is the database's CPU time.
func (d *deployment) postgresCPU(t *testing.T) time.Duration {
	t.Helper()
	cpu, err := d.db.cpu()
	require.NoError(t, err)
	return cpu
}

// settleAudit waits until the audit rows the window's requests queued are written: the server
// writes them from a goroutine per request, after answering. At most 30 s.
func (d *deployment) settleAudit(t *testing.T) {
	t.Helper()
	last := ""
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		n := d.db.session.value(t, "SELECT count(*) FROM audit_events")
		if n == last {
			return
		}
		last = n
	}
	t.Errorf("audit_events still growing 30 s after the window")
}

// peakRSS is the largest replica's peak resident set (VmHWM).
func (d *deployment) peakRSS(t *testing.T) int64 {
	t.Helper()
	var peak int64
	for _, rep := range d.replicas {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", rep.pid))
		require.NoError(t, err)
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				require.NoError(t, err)
				peak = max(peak, kb*1024)
			}
		}
	}
	return peak
}

// sampleConnections counts the database's client connections (the psql session aside) every
// 500 ms until ctx ends; the function it returns waits for the sampler and gives the peaks.
func (p *postgres) sampleConnections(ctx context.Context) func() (open, active int) {
	var open, active int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sleepUntil(ctx, time.Now().Add(500*time.Millisecond)) {
			rows, err := p.session.query(`SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity
				WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`)
			if err != nil || len(rows) != 1 {
				continue
			}
			var o, a int
			if _, err := fmt.Sscanf(rows[0], "%d|%d", &o, &a); err == nil {
				open, active = max(open, o), max(active, a)
			}
		}
	}()
	return func() (int, int) {
		<-done
		return open, active
	}
}

// cpu is the database's CPU time: the postmaster's and its backends' (running ones, and the ones
// that exited, which the postmaster waited for).
func (p *postgres) cpu() (time.Duration, error) {
	pm, err := p.postmasterPID()
	if err != nil {
		return 0, err
	}
	st, err := readStat(pm)
	if err != nil {
		return 0, err
	}
	total := st.own() + st.children()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if child, err := readStat(pid); err == nil && child.ppid == pm {
			total += child.own()
		}
	}
	return total, nil
}

// processCPU is a process's own CPU time, user and system.
func processCPU(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	return st.own(), err
}

// procStat is what the load test reads of /proc/<pid>/stat.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64 // clock ticks
}

func (s procStat) own() time.Duration      { return time.Duration(s.utime+s.stime) * clockTick }
func (s procStat) children() time.Duration { return time.Duration(s.cutime+s.cstime) * clockTick }

// readStat parses /proc/<pid>/stat: the fields after the command name's closing parenthesis,
// from field 3 (state) on.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var s procStat
	s.ppid, err = strconv.Atoi(f[1])
	for _, v := range []struct {
		p *int64
		f string
	}{{&s.utime, f[11]}, {&s.stime, f[12]}, {&s.cutime, f[13]}, {&s.cstime, f[14]}} {
		if err != nil {
			break
		}
		*v.p, err = strconv.ParseInt(v.f, 10, 64)
	}
	return s, err
}
