package loadserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The objects the seeding creates through the API; the certificates are cloned from the first.
const (
	benchTeam     = "team-bench"
	benchOwner    = "owner-bench"
	benchTemplate = "mc-bench-1"
	benchIssuer   = "iss-local"  // seeded by certctl at boot
	benchPolicy   = "rp-default" // seeded by certctl's migrations
)

// seedTimeout bounds registering the agents and seeding the certificates.
const seedTimeout = 10 * time.Minute

// agentIdentity is one registered agent and the address it sends from, its own as each pod has.
type agentIdentity struct {
	id, name string
	ip       net.IP
}

// fleet is what the database holds once seeded.
type fleet struct {
	agents       []agentIdentity
	certificates int
}

// seedFleet registers the agents the tier plays through the API, as their init containers do,
// and seeds the tier's certificates: one through the API, the rest cloned from it in SQL (the
// API would take longer than the measurement).
func seedFleet(t *testing.T, d *deployment, tr tier) *fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), seedTimeout)
	defer cancel()
	f := &fleet{agents: registerAgents(ctx, t, d, tr.played()), certificates: tr.Certificates}
	seedCertificates(ctx, t, d, tr.Certificates)
	return f
}

// agentIP is agent i's source address, in 127.64.0.0/10: loopback, one address per agent.
func agentIP(i int) net.IP {
	n := i + 1
	return net.IPv4(127, byte(64+n>>16), byte(n>>8), byte(n))
}

// registerAgents registers n agents by name with the bootstrap token, 16 at a time, each from its
// own address on a connection of its own (the init container's curl).
func registerAgents(ctx context.Context, t *testing.T, d *deployment, n int) []agentIdentity {
	t.Helper()
	agents := make([]agentIdentity, n)
	err := forEach(n, 16, func(i int) error {
		a := agentIdentity{name: fmt.Sprintf("bench-agent-%05d", i), ip: agentIP(i)}
		c := d.client(a.ip, d.replicas[0].addr, d.dnsName, 30*time.Second)
		defer c.CloseIdleConnections()
		status, body, err := call(ctx, c, http.MethodPost, d.url("/api/v1/agents"), d.keys.bootstrap, map[string]string{"name": a.name, "hostname": a.name})
		if err != nil || status != http.StatusCreated {
			return fmt.Errorf("registering %s: %d %v %s", a.name, status, err, body)
		}
		var created struct{ ID string }
		if err := json.Unmarshal(body, &created); err != nil || created.ID == "" {
			return fmt.Errorf("registering %s: no ID in %s", a.name, body)
		}
		a.id = created.ID
		agents[i] = a
		return nil
	})
	require.NoError(t, err)
	return agents
}

// seedCertificates creates a team, an owner and one certificate through the API, then clones
// the certificate in SQL up to n, active, expiring 32 to 396 days from now (outside the renewal
// window, so the scheduler creates no jobs), each created a millisecond after the last.
func seedCertificates(ctx context.Context, t *testing.T, d *deployment, n int) {
	t.Helper()
	admin := d.client(nil, d.replicas[0].addr, d.dnsName, 30*time.Second)
	defer admin.CloseIdleConnections()
	for _, o := range []struct {
		path string
		body map[string]any
	}{
		{"/api/v1/teams", map[string]any{"id": benchTeam, "name": "bench team"}},
		{"/api/v1/owners", map[string]any{"id": benchOwner, "name": "bench owner", "email": "owner@bench.test", "team_id": benchTeam}},
		{"/api/v1/certificates", map[string]any{
			"id": benchTemplate, "name": "bench certificate 1", "common_name": "svc-1.bench.test", "sans": []string{"svc-1.bench.test"},
			"owner_id": benchOwner, "team_id": benchTeam, "issuer_id": benchIssuer, "renewal_policy_id": benchPolicy,
		}},
	} {
		status, body, err := call(ctx, admin, http.MethodPost, d.url(o.path), d.keys.admin, o.body)
		require.NoError(t, err, o.path)
		require.Equal(t, http.StatusCreated, status, "POST %s: %s", o.path, body)
	}
	d.db.session.exec(t, fmt.Sprintf(`INSERT INTO managed_certificates (id, name, common_name, sans, environment, owner_id,
		team_id, issuer_id, renewal_policy_id, certificate_profile_id, status, expires_at, tags, source, created_at, updated_at)
		SELECT 'mc-bench-' || i, 'bench certificate ' || i, 'svc-' || i || '.bench.test', ARRAY['svc-' || i || '.bench.test'],
			c.environment, c.owner_id, c.team_id, c.issuer_id, c.renewal_policy_id, c.certificate_profile_id, 'Active',
			now() + (32 + i %% 365) * interval '1 day', c.tags, c.source, c.created_at + i * interval '1 millisecond', c.updated_at
		FROM managed_certificates c, generate_series(2, %d) AS i WHERE c.id = '%s'`, n, benchTemplate))
	d.db.session.exec(t, "ANALYZE managed_certificates")
	require.Equal(t, strconv.Itoa(n), d.db.session.value(t, "SELECT count(*) FROM managed_certificates"))
}

// call sends one API request and reads the whole answer.
func call(ctx context.Context, c *http.Client, method, url, key string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json") // as the agent sends on every request
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// forEach runs fn for 0..n-1 on at most workers goroutines and returns the first error; after
// one, the remaining indexes are skipped.
func forEach(n, workers int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		failed   atomic.Bool
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && !failed.Load(); i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
