package loadserver

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The agent's cadence, fixed in v2.1.7 (cmd/agent/main.go NewAgent: heartbeatInterval,
// pollInterval; Run starts both tickers at once, without jitter, after a first heartbeat and
// poll), and the measurement window: one heartbeat and two polls per agent.
const (
	heartbeatEvery = 60 * time.Second
	pollEvery      = 30 * time.Second
	windowLength   = 60 * time.Second
	// agentTimeout is the agent's HTTP client timeout.
	agentTimeout = 30 * time.Second
	// perPage is the page an operator walks the inventory by: the CLI's default (certs list).
	perPage = 50
)

// The endpoints the report lists.
const (
	epHeartbeat = "POST /api/v1/agents/{id}/heartbeat"
	epWork      = "GET /api/v1/agents/{id}/work"
	epList      = "GET /api/v1/certificates (page of 50)"
	epMetrics   = "GET /api/v1/metrics/prometheus"
)

// endpoints is the report's order.
var endpoints = []string{epHeartbeat, epWork, epList, epMetrics}

// pattern is how the agents' tickers line up in a window, and what else runs in it.
type pattern struct {
	name string
	// warm: the agents' connections are open before the window (steady state); otherwise every
	// agent connects at the window's start, as after a mass restart.
	warm bool
	// offset is an agent's first tick in the window.
	offset func(rng *rand.Rand) time.Duration
	// walk: an operator walks the inventory from the window's start.
	walk bool
}

// The patterns: agents started at random times (their phases spread over the heartbeat
// interval), the same with an operator walking the inventory, and every agent restarted at once
// (a node-pool upgrade, a DaemonSet rollout with a large maxUnavailable, a network partition
// healing): with no jitter they stay in lockstep.
var (
	spread   = pattern{name: "spread", warm: true, offset: randomPhase}
	walking  = pattern{name: "spread + inventory walk", warm: true, offset: randomPhase, walk: true}
	lockstep = pattern{name: "lockstep", offset: func(*rand.Rand) time.Duration { return 0 }}
)

func randomPhase(rng *rand.Rand) time.Duration {
	return time.Duration(rng.Int64N(int64(heartbeatEvery)))
}

// plan is a tier's windows in order. The walk runs with one replica only: it reads the
// database, which the replicas share, through one of them.
var plan = []struct {
	replicas int
	pattern  pattern
}{{1, spread}, {1, walking}, {1, lockstep}, {2, spread}, {2, lockstep}}

// event is one request of an agent, at its time from the window's start.
type event struct {
	at        time.Duration
	heartbeat bool
}

// schedule is an agent's requests in the window from its first tick: heartbeats every 60 s,
// polls every 30 s, the heartbeat first when both fall together (as Run starts).
func schedule(offset time.Duration) []event {
	var evs []event
	for at := offset % heartbeatEvery; at < windowLength; at += heartbeatEvery {
		evs = append(evs, event{at: at, heartbeat: true})
	}
	for at := offset % pollEvery; at < windowLength; at += pollEvery {
		evs = append(evs, event{at: at})
	}
	slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	return evs
}

// runWindow plays one pattern for one window against the running replicas, with a Prometheus
// scrape of every replica at the ServiceMonitor's interval (and the pattern's inventory walk),
// and measures it.
func runWindow(t *testing.T, d *deployment, f *fleet, p pattern) window {
	t.Helper()
	d.quiesce(t)
	clients := d.agentClients(f)
	defer closeAll(clients)
	if p.warm {
		require.NoError(t, d.warmUp(clients), "opening the agents' connections")
	}
	rng := rand.New(rand.NewPCG(uint64(len(f.agents)), uint64(len(d.replicas))))
	rec := newRecorder()
	before := d.snapshot(t)
	ctx, cancel := context.WithTimeout(context.Background(), windowLength)
	defer cancel()
	peaks := d.db.sampleConnections(ctx)
	start := time.Now()
	var wg sync.WaitGroup
	for i, a := range f.agents {
		evs := schedule(p.offset(rng))
		wg.Go(func() { d.playAgent(a, clients[i], start, evs, rec) })
	}
	var walk walkResult
	if p.walk {
		wg.Go(func() { walk = d.walkInventory(ctx, rec, f.certificates) })
	}
	for _, rep := range d.replicas {
		offset := time.Duration(rng.Int64N(int64(d.scrape.interval)))
		wg.Go(func() { d.scrapeReplica(ctx, rep, start.Add(offset), rec) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	open, active := peaks()
	d.settleAudit(t)
	after := d.snapshot(t)
	return window{
		pattern: p, replicas: len(d.replicas), agents: len(f.agents), elapsed: elapsed,
		endpoints: rec.results(), walk: walk, usage: after.since(before, elapsed),
		connsOpen: open, connsActive: active, serverRSS: d.peakRSS(t),
	}
}

// agentClients are fresh clients for the agents, agent i connecting to replica i mod n: the
// Service spreads connections over the replicas evenly on average.
func (d *deployment) agentClients(f *fleet) []*http.Client {
	clients := make([]*http.Client, len(f.agents))
	for i, a := range f.agents {
		clients[i] = d.client(a.ip, d.replicas[i%len(d.replicas)].addr, d.dnsName, agentTimeout)
	}
	return clients
}

func closeAll(clients []*http.Client) {
	for _, c := range clients {
		c.CloseIdleConnections()
	}
}

// warmUp opens every agent's connection with an unaudited request (/health), 32 at a time,
// each tried up to three times a second apart, as an agent would try again.
func (d *deployment) warmUp(clients []*http.Client) error {
	return forEach(len(clients), 32, func(i int) error {
		var failure error
		for range 3 {
			status, body, err := call(context.Background(), clients[i], http.MethodGet, d.url("/health"), "", nil)
			if err == nil && status == http.StatusOK {
				return nil
			}
			failure = fmt.Errorf("/health: %d %v %s", status, err, body)
			time.Sleep(time.Second)
		}
		return failure
	})
}

// quiesce waits until the replicas and the database are idle, under 0.2 cores together over
// 2 s, so that a window does not measure what came before it (a replica's start, the backlog
// of a lockstep); at most 60 s.
func (d *deployment) quiesce(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		before := d.cpu(t)
		time.Sleep(2 * time.Second)
		if d.cpu(t)-before < 400*time.Millisecond {
			return
		}
	}
	t.Logf("%d replica(s): the server and the database were still busy after a minute's wait", len(d.replicas))
}

// playAgent sends an agent's requests in order, each at its time or as soon as the previous one
// has answered (the agent's loop is sequential), with the agent's key and bodies.
func (d *deployment) playAgent(a agentIdentity, c *http.Client, start time.Time, evs []event, rec *recorder) {
	heartbeat := map[string]string{
		"version": "1.0.0", "hostname": a.name, "os": runtime.GOOS, "architecture": runtime.GOARCH, "ip_address": a.ip.String(),
	}
	for _, ev := range evs {
		time.Sleep(time.Until(start.Add(ev.at)))
		if ev.heartbeat {
			rec.do(context.Background(), epHeartbeat, c, http.MethodPost, d.url("/api/v1/agents/"+a.id+"/heartbeat"), d.keys.agents, heartbeat)
		} else {
			rec.do(context.Background(), epWork, c, http.MethodGet, d.url("/api/v1/agents/"+a.id+"/work"), d.keys.agents, nil)
		}
	}
}

// walkResult is how far the operator's walk got in the window.
type walkResult struct {
	pages, of int
	took      time.Duration
}

// walkInventory is an operator listing every certificate page by page with the admin key
// through the first replica, from the window's start until done or the window ends; on a 429
// it waits the second Retry-After asks and asks again.
func (d *deployment) walkInventory(ctx context.Context, rec *recorder, certificates int) walkResult {
	c := d.client(nil, d.replicas[0].addr, d.dnsName, agentTimeout)
	defer c.CloseIdleConnections()
	w := walkResult{of: (certificates + perPage - 1) / perPage}
	start := time.Now()
	for w.pages < w.of && ctx.Err() == nil {
		url := d.url(fmt.Sprintf("/api/v1/certificates?page=%d&per_page=%d", w.pages+1, perPage))
		if rec.do(ctx, epList, c, http.MethodGet, url, d.keys.admin, nil) == http.StatusTooManyRequests {
			sleepUntil(ctx, time.Now().Add(time.Second))
			continue
		}
		w.pages++
	}
	w.took = time.Since(start)
	return w
}

// scrapeReplica scrapes one replica as Prometheus does, with the ServiceMonitor's key, path,
// interval, timeout and TLS server name, from first until the window ends.
func (d *deployment) scrapeReplica(ctx context.Context, rep *replica, first time.Time, rec *recorder) {
	c := d.client(nil, rep.addr, d.scrape.serverName, d.scrape.timeout)
	defer c.CloseIdleConnections()
	url := "https://" + d.scrape.serverName + ":" + d.env["CERTCTL_SERVER_PORT"] + d.scrape.path
	for at := first; sleepUntil(ctx, at); at = at.Add(d.scrape.interval) {
		rec.do(ctx, epMetrics, c, http.MethodGet, url, d.keys.scrape, nil)
	}
}

// sleepUntil waits until at; false when ctx ends first.
func sleepUntil(ctx context.Context, at time.Time) bool {
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
