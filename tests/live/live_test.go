package live

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/config"
	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
	"github.com/certctl-io/certctl-pulumi/tests/kubelet"
)

// liveModes are the modes the released certctl v2.1.7 binaries run in, as rendered.
var liveModes = []string{"default", "external-db", "db-tls", "cert-manager", "agent-deployment", "ha", "ha-monitoring", "migrations-hook", "server-keygen"}

// TestLive runs every live mode's pods the way a cluster would (tests/kubelet: kubelet's env,
// volumes, users, probes and hooks; Services through a kube-proxy), with the server and agent
// built from the v2.1.7 source and a real PostgreSQL, and checks what a user relies on: the
// server becomes ready, the admin key writes, every agent registers, heartbeats and holds the
// agent role only, the local issuer uses the program's CA, and a second rollout on the migrated
// database works.
func TestLive(t *testing.T) {
	bins := certctlbin.Binaries(t)
	pgBin := certctlbin.PostgresBinDir(t)
	for _, name := range liveModes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			newLiveDeployment(t, tests.ModeNamed(t, name), bins, pgBin).check(t)
		})
	}
}

// TestDocumentedLiveModes: the modes docs/testing.md says the live suite runs, and the modes it
// says certctl's job is proven in, are liveModes. It needs neither root nor binaries.
func TestDocumentedLiveModes(t *testing.T) {
	doc := tests.ProjectFile(t, "docs/testing.md")
	names := regexp.MustCompile("`([a-z0-9-]+)`")
	for _, span := range []struct{ from, until string }{
		{"runs the live suite (`tests/live`) for the modes", ". It renders"},
		{"Proven in every mode that runs agents", ":\n"},
	} {
		m := regexp.MustCompile(regexp.QuoteMeta(span.from) + "(?s)(.*?)" + span.until).FindStringSubmatch(doc)
		require.NotNil(t, m, "docs/testing.md has %q", span.from)
		var listed []string
		for _, n := range names.FindAllStringSubmatch(m[1], -1) {
			listed = append(listed, n[1])
		}
		assert.ElementsMatch(t, liveModes, listed, "docs/testing.md: %q", span.from)
	}
}

const (
	liveNamespace = "certctl"
	serverImage   = "ghcr.io/certctl-io/certctl-server:v2.1.7"
	agentImage    = "ghcr.io/certctl-io/certctl-agent:v2.1.7"
	postgresImage = "postgres:16-alpine"
	serverBase    = "https://certctl-server:8443"
	liveTimeout   = 90 * time.Second
)

// liveDeployment is one mode's render running on a kubelet.Cluster.
type liveDeployment struct {
	mode     tests.Mode
	render   *tests.Render
	objects  []map[string]any // what the cluster holds: the render and the mode's own Secrets
	cluster  *kubelet.Cluster
	api      *http.Client
	servers  []*kubelet.Pod
	postgres *kubelet.Pod
	// pki issues what the user and cert-manager provide; clusterCA is CloudNativePG's CA of a
	// rendered Cluster (its <cluster>-ca Secret), from which the operator issues the instances'
	// certificates.
	pki, clusterCA *testPKI
	// migration is the migration Job's pod, when the mode runs migrations in a Job.
	migration *kubelet.Pod
	// agents are the running agent pods by the identity they register under: the node for a
	// DaemonSet, the pod name for a StatefulSet (agent.kind Deployment).
	agents map[string]*kubelet.Pod
	// rollouts counts server rollouts, for unique pod names.
	rollouts int
}

// newLiveDeployment runs a mode as `pulumi up` would apply it: the render and the Secrets others
// provide on a new node, the database, the migration Job, the servers (ready) and the agents.
func newLiveDeployment(t *testing.T, m tests.Mode, bins certctlbin.Build, pgBin string) *liveDeployment {
	d := prepareLiveDeployment(t, m, bins, pgBin)
	d.startDatabase(t)
	d.deploy(t)
	return d
}

// prepareLiveDeployment renders the mode and starts an empty node that holds the render and the
// Secrets the user, cert-manager and CloudNativePG provide; no pod runs yet.
func prepareLiveDeployment(t *testing.T, m tests.Mode, bins certctlbin.Build, pgBin string) *liveDeployment {
	// The CRL is rebuilt every few seconds, so a revocation shows without an hour's wait.
	m.Config = tests.DeepMerge(m.Config, map[string]any{"server": map[string]any{"scheduler": map[string]any{"crlGenerationInterval": "5s"}}})
	r, err := tests.RunWithRealKeys(t, m.Stack(t))
	require.NoError(t, err)
	pki, clusterCA := newTestPKI(t), newTestPKI(t)

	var objects []map[string]any
	for _, o := range r.KubernetesObjects() {
		objects = append(objects, o.Manifest())
	}
	byOperators := slices.Concat(certManagerSecrets(r, pki), cnpgSecrets(r, clusterCA))
	objects = append(objects, userProvidedSecrets(t, m, pki, byOperators)...)
	objects = append(objects, byOperators...)
	d := &liveDeployment{mode: m, render: r, objects: objects, pki: pki, clusterCA: clusterCA, agents: map[string]*kubelet.Pod{}}
	d.cluster = kubelet.New(t, kubelet.Options{
		Namespace: liveNamespace,
		Objects:   objects,
		Images:    liveImages(t, bins, pgBin),
	})
	d.api = &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext:     d.cluster.DialContext,
			TLSClientConfig: &tls.Config{RootCAs: pki.pool()},
		},
	}
	return d
}

// startDatabase starts the database the mode's servers dial, ready: the external-db mode's
// managed one, the bundled StatefulSet's (with its password-change Job, as on a first install),
// or the primary instance of the rendered CloudNativePG Cluster, its certificate issued by the
// operator's CA.
func (d *liveDeployment) startDatabase(t *testing.T) {
	if d.mode.Name == "external-db" {
		d.startExternalDatabase(t)
	}
	if _, ok := d.object("StatefulSet", "certctl-postgres"); ok {
		d.startPostgres(t)
		// A first install: the Job finds the password initdb set.
		logs := d.runPasswordChange(t)
		require.Contains(t, logs, "has the new password")
	}
	if _, ok := d.cnpgCluster(); ok {
		d.startClusterPrimary(t, d.clusterCA, d.clusterServerNames(t))
	}
}

// deploy runs what comes after the database, as Pulumi orders it: the migration Job (when
// rendered) to success, then the server pods until ready, then the agents.
func (d *liveDeployment) deploy(t *testing.T) {
	if job, ok := d.migrationJob(); ok {
		pod, err := d.cluster.RunPod("certctl-migrate", tests.Path(job, "spec", "template").(map[string]any), kubelet.PodOptions{})
		require.NoError(t, err, "the migration Job must succeed:\n%s", pod.Logs())
		d.migration = pod
	}
	d.rollServers(t)
	d.startAgents(t)
}

// startPostgres runs the bundled database's pod on its claim (the same claim every time).
func (d *liveDeployment) startPostgres(t *testing.T) {
	sts, _ := d.object("StatefulSet", "certctl-postgres")
	d.postgres = d.cluster.StartPod("certctl-postgres-0", withClaims(t, sts, "certctl-postgres-0"), kubelet.PodOptions{})
	d.postgres.WaitReady(liveTimeout)
}

// runPasswordChange runs the rendered password-change Job's pod to success and returns its logs.
func (d *liveDeployment) runPasswordChange(t *testing.T) string {
	t.Helper()
	for _, o := range d.render.KubernetesObjects() {
		if o.Kind() == "Job" && strings.HasPrefix(o.ObjectName(), "certctl-pgpass-") {
			pod, err := d.cluster.RunPod(o.ObjectName(), tests.Path(o.Manifest(), "spec", "template").(map[string]any), kubelet.PodOptions{})
			require.NoError(t, err, "the password-change Job must succeed:\n%s", pod.Logs())
			return pod.Logs()
		}
	}
	t.Fatal("no password-change Job in the render")
	return ""
}

// psql runs one query in the database's pod, as its superuser over the local socket.
func (d *liveDeployment) psql(t *testing.T, query string) string {
	t.Helper()
	out, err := d.psqlSession(query)
	require.NoError(t, err, "%s: %s", query, out)
	return strings.TrimSpace(out)
}

// migrationJob is the rendered migration Job, if any (its name ends in a digest).
func (d *liveDeployment) migrationJob() (map[string]any, bool) {
	for _, o := range d.render.KubernetesObjects() {
		if o.Kind() == "Job" && strings.HasPrefix(o.ObjectName(), "certctl-migrate-") {
			return o.Manifest(), true
		}
	}
	return nil, false
}

// object is a rendered object's manifest.
func (d *liveDeployment) object(kind, name string) (map[string]any, bool) {
	for _, o := range d.render.KubernetesObjects() {
		if o.Kind() == kind && o.ObjectName() == name {
			return o.Manifest(), true
		}
	}
	return nil, false
}

// rollServers replaces every server pod with new ones from the rendered Deployment, as a
// rollout would (all at once here: the harder case for the database).
func (d *liveDeployment) rollServers(t *testing.T) {
	d.stopServers()
	d.startServers(t, d.replicas())
}

// replicas is the rendered Deployment's replica count.
func (d *liveDeployment) replicas() int {
	dep, _ := d.object("Deployment", "certctl-server")
	return int(tests.Path(dep, "spec", "replicas").(float64))
}

// stopServers deletes every server pod, as scaling the Deployment to 0 does.
func (d *liveDeployment) stopServers() {
	for _, p := range d.servers {
		p.Stop()
	}
	d.servers = nil
}

// startServers starts replicas server pods from the rendered Deployment and waits until they are
// ready.
func (d *liveDeployment) startServers(t *testing.T, replicas int) {
	dep, _ := d.object("Deployment", "certctl-server")
	for i := range replicas {
		name := fmt.Sprintf("certctl-server-r%d-%d", d.rollouts, i)
		d.servers = append(d.servers, d.cluster.StartPod(name, tests.Path(dep, "spec", "template").(map[string]any), kubelet.PodOptions{}))
	}
	for _, p := range d.servers {
		p.WaitReady(liveTimeout)
	}
	d.rollouts++
}

// startAgents runs the rendered agent workload: a DaemonSet on two nodes, or a Deployment's
// replicas, each registering under its own identity.
func (d *liveDeployment) startAgents(t *testing.T) {
	if ds, ok := d.object("DaemonSet", "certctl-agent"); ok {
		for _, node := range []string{"node-a", "node-b"} {
			d.agents[node] = d.cluster.StartPod("certctl-agent-"+node, tests.Path(ds, "spec", "template").(map[string]any), kubelet.PodOptions{NodeName: node})
		}
	}
	if set, ok := d.object("StatefulSet", "certctl-agent"); ok {
		for i := range int(tests.Path(set, "spec", "replicas").(float64)) {
			name := fmt.Sprintf("certctl-agent-%d", i)
			d.agents[name] = d.cluster.StartPod(name, tests.Path(set, "spec", "template").(map[string]any), kubelet.PodOptions{})
		}
	}
	require.NotEmpty(t, d.agents)
}

func (d *liveDeployment) check(t *testing.T) {
	admin := d.render.Outputs["apiKey"].Value.(string)
	agentsKey := d.render.Outputs["agentApiKey"].Value.(string)
	token := d.render.Outputs["agentBootstrapToken"].Value.(string)

	if d.migration != nil {
		t.Run("the Job migrated; the servers did not", func(t *testing.T) {
			assert.Contains(t, d.migration.Logs(), "migrations completed")
			assert.NotEqual(t, "0", d.psql(t, "SELECT count(*) FROM schema_migrations"), "the schema is in place")
			for _, p := range d.servers {
				assert.Contains(t, p.Logs(), "skipping migrations at boot", p.Name())
				assert.NotContains(t, p.Logs(), `"msg":"running migrations"`, p.Name())
			}
		})
	}
	t.Run("server ready through the Service", d.checkReady)
	t.Run("admin key writes", func(t *testing.T) {
		d.checkAdminWrites(t, admin)
	})
	t.Run("agents online with the agent role only", func(t *testing.T) {
		ids := d.waitAgentsOnline(t, admin)
		assert.Equal(t, []string{"r-agent"}, d.roles(t, agentsKey), "the agents' key holds r-agent and nothing else")
		status, _ := d.call(t, "GET", "/api/v1/agents", agentsKey, nil)
		assert.Equal(t, http.StatusForbidden, status, "the agents' key cannot list agents")
		for name, id := range ids {
			status, body := d.call(t, "GET", "/api/v1/agents/"+id+"/work", agentsKey, nil)
			assert.Equal(t, http.StatusOK, status, "agent %s polls for work: %s", name, body)
		}
		d.checkBootstrapToken(t, token)
	})
	t.Run("local issuer signs with the program's CA", func(t *testing.T) {
		d.checkLocalCA(t)
	})
	if _, ok := d.object("ServiceMonitor", "certctl-server"); ok {
		t.Run("Prometheus scrapes with the ServiceMonitor's settings", func(t *testing.T) {
			d.checkScrape(t)
		})
	}
	t.Run("certctl issues, renews and revokes a certificate", func(t *testing.T) {
		d.checkIssuance(t, admin)
	})
	t.Run("no actor but admin holds r-admin", func(t *testing.T) {
		assert.Equal(t, config.AdminKeyName, d.psql(t, "SELECT string_agg(DISTINCT actor_id, ',') FROM actor_roles WHERE role_id = 'r-admin'"),
			"the demo actor's grant from migration 000029 is gone")
	})
	t.Run("a restarted agent keeps its identity", func(t *testing.T) {
		before := d.waitAgentsOnline(t, admin)
		for identity, p := range d.agents {
			template, opts := d.agentTemplate(identity)
			p.Stop()
			d.agents[identity] = d.cluster.StartPod(p.Name(), template, opts)
			break
		}
		after := d.waitAgentsOnline(t, admin)
		assert.Equal(t, before, after, "a DaemonSet's agent registers once per node, a StatefulSet's once per pod name")
	})
	t.Run("second rollout on the migrated database", func(t *testing.T) {
		d.rollServers(t)
		status, body := d.call(t, "GET", "/ready", "", nil)
		assert.Equal(t, http.StatusOK, status, "%s", body)
		// Every boot grants r-viewer to non-admin keys again; the postStart hook narrows them again.
		assert.Equal(t, []string{"r-agent"}, d.roles(t, agentsKey))
		d.checkBootstrapToken(t, token)
		d.waitAgentsOnline(t, admin)
		d.checkLocalCA(t)
		for _, p := range d.servers {
			assert.NotContains(t, p.Logs(), "residual role grant", "%s: the demo actor's grant was removed once, for good", p.Name())
		}
	})
	t.Run("the rate limit answers a flood from one address with 429", func(t *testing.T) {
		d.checkFloodThrottled(t)
	})
	if _, bundled := d.object("StatefulSet", "certctl-postgres"); bundled {
		t.Run("the audit trail yields only as the runbook says", d.checkAuditTrimming)
	}
	if t.Failed() {
		d.dumpLogs(t)
	}
}

// checkReady: /health and /ready answer 200 through the server Service, certificate verified
// (/ready pings the database).
func (d *liveDeployment) checkReady(t *testing.T) {
	for _, p := range []string{"/health", "/ready"} {
		status, body := d.call(t, "GET", p, "", nil)
		assert.Equal(t, http.StatusOK, status, "%s: %s", p, body)
	}
}

// checkAdminWrites: the admin key creates an agent group and deletes it again.
func (d *liveDeployment) checkAdminWrites(t *testing.T, admin string) {
	status, body := d.call(t, "POST", "/api/v1/agent-groups", admin, map[string]any{"name": "live-" + d.mode.Name})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var group struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &group))
	status, body = d.call(t, "DELETE", "/api/v1/agent-groups/"+group.ID, admin, nil)
	assert.Contains(t, []int{http.StatusOK, http.StatusNoContent}, status, "%s", body)
}

// checkAuditTrimming holds docs/runbooks/alerts.md#certctldatabasevolumefilling to the migrated
// v2.1.7 schema: a DELETE on audit_events is refused, the superuser's transaction with
// session_replication_role = replica deletes, the trigger guards the table again right after,
// and TRUNCATE is not stopped at all (tried in a transaction rolled back). The server flushes
// audit rows in the background while the agents keep calling, so the checks name the oldest row
// rather than count the table.
func (d *liveDeployment) checkAuditTrimming(t *testing.T) {
	oldest := d.psql(t, "SELECT id FROM audit_events ORDER BY timestamp, id LIMIT 1")
	require.NotEmpty(t, oldest, "the API calls so far were audited")
	deleteOldest := "DELETE FROM audit_events WHERE id = " + quoteLiteral(oldest)
	stored := "SELECT count(*) FROM audit_events WHERE id = " + quoteLiteral(oldest)
	out, err := d.psqlSession(deleteOldest)
	require.Error(t, err, "a plain DELETE must be refused: %s", out)
	assert.Contains(t, out, "audit_events is append-only")
	require.Equal(t, "1", d.psql(t, stored), "the refused DELETE removed nothing")
	out, err = d.psqlSession("BEGIN", "SET LOCAL session_replication_role = replica", deleteOldest, "COMMIT")
	require.NoError(t, err, out)
	assert.Equal(t, "0", d.psql(t, stored), "the runbook's delete removed the row")
	newest := d.psql(t, "SELECT id FROM audit_events ORDER BY timestamp DESC, id DESC LIMIT 1")
	_, err = d.psqlSession("DELETE FROM audit_events WHERE id = " + quoteLiteral(newest))
	require.Error(t, err, "SET LOCAL ends with its transaction: the trigger guards the table again")
	out, err = d.psqlSession("BEGIN", "TRUNCATE audit_events", "SELECT count(*) FROM audit_events", "ROLLBACK")
	require.NoError(t, err, "TRUNCATE is not stopped by the trigger: %s", out)
	assert.Equal(t, "0", strings.TrimSpace(out))
}

// psqlSession runs statements in order in one session as the database's superuser, quietly (rows
// only), stopping at the first error; the output holds the error.
func (d *liveDeployment) psqlSession(statements ...string) (string, error) {
	args := []string{"sh", "-c", `psql -v ON_ERROR_STOP=1 -qAt -U "$POSTGRES_USER" -d "$POSTGRES_DB" "$@"`, "psql"}
	for _, st := range statements {
		args = append(args, "-c", st)
	}
	return d.postgres.Exec("postgres", args...)
}

// checkFloodThrottled floods an API endpoint from the test's one address, as fast as 64 streams
// go, until it is answered 429 (at most floodLimit times the replicas' rendered bursts): v2.1.7's
// limiter runs before authentication, keyed by address, so it must admit about the burst plus the
// refill and answer the rest 429 with Retry-After. The requests carry no key: the admitted ones
// are refused 401 at once (with a key each would write an audit row). Stopping at the first 429
// rather than after a fixed count keeps the check sound on a busy machine, where a fixed flood may
// not outrun the refill. It then waits for the bucket to refill, so that later checks from this
// address are not throttled.
func (d *liveDeployment) checkFloodThrottled(t *testing.T) {
	const floodLimit = 20
	rps, err := strconv.Atoi(d.serverSetting(t, "rate-limit-rps"))
	require.NoError(t, err)
	burst, err := strconv.Atoi(d.serverSetting(t, "rate-limit-burst"))
	require.NoError(t, err)
	var admitted, throttled, other atomic.Int64
	var retryAfter atomic.Value
	// Each replica admits its own burst (the limiter lives in its memory), plus its refill.
	replicas := d.replicas()
	limit := int64(floodLimit * replicas * burst)
	var sent atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for throttled.Load() == 0 && sent.Add(1) <= limit {
				resp, err := d.api.Get(serverBase + "/api/v1/certificates")
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusUnauthorized:
					admitted.Add(1)
				case http.StatusTooManyRequests:
					retryAfter.Store(resp.Header.Get("Retry-After"))
					throttled.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	assert.Zero(t, other.Load(), "every request is admitted (401 without a key) or answered 429")
	require.Positive(t, throttled.Load(), "%d requests in %s from one address, none refused", admitted.Load(), elapsed)
	assert.Equal(t, "1", retryAfter.Load(), "a 429 says when to try again")
	assert.LessOrEqual(t, float64(admitted.Load()), float64(replicas)*(float64(burst)+float64(rps)*elapsed.Seconds())+1,
		"admitted at most the burst and the refill of %d per second", rps)
	time.Sleep(time.Duration(float64(burst)/float64(rps)*float64(time.Second)) + time.Second)
}

// agentTemplate is the rendered pod template an agent pod was started from, and its placement.
func (d *liveDeployment) agentTemplate(identity string) (map[string]any, kubelet.PodOptions) {
	if ds, ok := d.object("DaemonSet", "certctl-agent"); ok {
		return tests.Path(ds, "spec", "template").(map[string]any), kubelet.PodOptions{NodeName: identity}
	}
	set, _ := d.object("StatefulSet", "certctl-agent")
	return tests.Path(set, "spec", "template").(map[string]any), kubelet.PodOptions{}
}

// waitAgentsOnline waits until every running agent is listed online with the metadata only
// its heartbeat sends, and returns the IDs of all listed agents by name.
func (d *liveDeployment) waitAgentsOnline(t *testing.T, admin string) map[string]string {
	t.Helper()
	var last string
	deadline := time.Now().Add(liveTimeout)
	for time.Now().Before(deadline) {
		status, body := d.call(t, "GET", "/api/v1/agents?per_page=500", admin, nil)
		require.Equal(t, http.StatusOK, status, "%s", body)
		var list struct {
			Data []struct {
				ID, Name, Status, OS string
			}
		}
		require.NoError(t, json.Unmarshal(body, &list))
		ids, online := map[string]string{}, 0
		for _, a := range list.Data {
			ids[a.Name] = a.ID
			if _, running := d.agents[a.Name]; running && a.Status == "Online" && a.OS != "" {
				online++
			}
		}
		if online == len(d.agents) {
			return ids
		}
		last = string(body)
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("agents %v not all online with a heartbeat; last list: %s", slices.Sorted(maps.Keys(d.agents)), last)
	return nil
}

// roles are the role IDs the key's name holds.
func (d *liveDeployment) roles(t *testing.T, key string) []string {
	return d.me(t, key).Roles
}

// checkBootstrapToken: the token holds one role, with exactly what registering needs.
func (d *liveDeployment) checkBootstrapToken(t *testing.T, token string) {
	t.Helper()
	me := d.me(t, token)
	assert.Len(t, me.Roles, 1, "the bootstrap token holds agent-registrar only: %v", me.Roles)
	var perms []string
	for _, p := range me.EffectivePermissions {
		perms = append(perms, p.Permission+"@"+p.ScopeType)
	}
	assert.ElementsMatch(t, []string{"agent.edit@global", "agent.read@global"}, perms)
}

type authMe struct {
	Roles                []string
	EffectivePermissions []struct {
		Permission string
		ScopeType  string `json:"scope_type"`
	} `json:"effective_permissions"`
}

func (d *liveDeployment) me(t *testing.T, key string) authMe {
	t.Helper()
	status, body := d.call(t, "GET", "/api/v1/auth/me", key, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var me authMe
	require.NoError(t, json.Unmarshal(body, &me))
	return me
}

// checkLocalCA fetches each server replica's CRL for the local issuer: each must be signed by
// the CA the program generated (stack output localCaCert), not by a CA of the process's own.
func (d *liveDeployment) checkLocalCA(t *testing.T) {
	t.Helper()
	block, _ := pem.Decode([]byte(d.render.Outputs["localCaCert"].Value.(string)))
	require.NotNil(t, block)
	ca, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	for _, p := range d.servers {
		der, err := p.Exec("server", "curl", "-sSfk", "https://127.0.0.1:8443/.well-known/pki/crl/iss-local")
		require.NoError(t, err, "%s: %s", p.Name(), der)
		crl, err := x509.ParseRevocationList([]byte(der))
		require.NoError(t, err, "%s", p.Name())
		assert.NoError(t, crl.CheckSignatureFrom(ca), "%s: the CRL must be signed by the program's CA", p.Name())
	}
}

// call sends one API request through the server Service, verifying its certificate.
func (d *liveDeployment) call(t *testing.T, method, p, key string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, serverBase+p, rd)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.api.Do(req)
	require.NoError(t, err, "%s %s", method, p)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

func (d *liveDeployment) dumpLogs(t *testing.T) {
	for _, p := range append(append([]*kubelet.Pod{}, d.servers...), mapValues(d.agents)...) {
		t.Logf("--- %s\n%s", p.Name(), p.Logs())
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// liveImages are the images the rendered pods name, made of what they contain: the certctl
// images' binaries at /app with WORKDIR /app (../shared/certctl/README.md), and a postgres image
// whose entrypoint initialises an empty data directory as the official one does.
func liveImages(t *testing.T, bins certctlbin.Build, pgBin string) map[string]kubelet.Image {
	dir := t.TempDir()
	entrypoint := filepath.Join(dir, "docker-entrypoint.sh")
	require.NoError(t, os.WriteFile(entrypoint, []byte(postgresEntrypoint), 0o755))
	// The official image's entrypoint gives an arbitrary uid a passwd entry (nss_wrapper) for
	// initdb; the image's own passwd does that here.
	hostPasswd, err := os.ReadFile("/etc/passwd")
	require.NoError(t, err)
	passwd := filepath.Join(dir, "passwd")
	require.NoError(t, os.WriteFile(passwd, append(hostPasswd, "pgimage:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n"...), 0o644))
	alpinePath := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// The certctl images are alpine 3.19: sh and the tools the pods' scripts use are busybox
	// applets (curl is alpine's own), so a construct busybox does not take fails here.
	appletDir, applets := busyboxApplets(t)
	alpineTools := appletDir + ":" + alpinePath
	withApplets := func(files map[string]string) map[string]string {
		maps.Copy(files, applets)
		return files
	}
	return map[string]kubelet.Image{
		serverImage: {
			Entrypoint: []string{"/app/server"}, WorkingDir: "/app", User: "1000:1000",
			Env:   map[string]string{"PATH": alpineTools},
			Files: withApplets(map[string]string{"/app/server": bins.Server, "/app/migrations": bins.Migrations}),
		},
		agentImage: {
			Entrypoint: []string{"/app/agent"}, WorkingDir: "/app", User: "1000:1000",
			Env:   map[string]string{"PATH": alpineTools},
			Files: withApplets(map[string]string{"/app/agent": bins.Agent}),
		},
		// The Debian package's AWS CLI v2, with the image's PATH leading to it.
		awsCLIImage: {Entrypoint: []string{"aws"}, Env: map[string]string{"PATH": "/usr/bin:/bin"}},
		fakeS3Image: {Entrypoint: []string{"/fakes3"}, Files: map[string]string{"/fakes3": fakeS3Binary(t)}},
		postgresImage: {
			Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"postgres"},
			Env:   map[string]string{"PATH": "/usr/local/bin:" + pgBin + ":" + alpinePath, "PGDATA": "/var/lib/postgresql/data"},
			Files: map[string]string{"/usr/local/bin/docker-entrypoint.sh": entrypoint, "/etc/passwd": passwd},
		},
	}
}

// busyboxApplets are the image files that make busybox the container's /bin/sh and, first on
// PATH (in appletDir, a directory of links to busybox, which the host layers provide), every
// tool busybox provides.
func busyboxApplets(t *testing.T) (appletDir string, files map[string]string) {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("busybox not found: the pods' scripts run under it (CI installs the Debian package)")
		}
		t.Skip("busybox not installed (apt-get install busybox); CI runs this test")
	}
	busybox, err = filepath.EvalSymlinks(busybox)
	require.NoError(t, err)
	list, err := exec.Command(busybox, "--list").Output()
	require.NoError(t, err, "busybox --list")
	links := filepath.Join(t.TempDir(), "busybox")
	require.NoError(t, os.Mkdir(links, 0o755))
	for _, applet := range strings.Fields(string(list)) {
		require.NoError(t, os.Symlink(busybox, filepath.Join(links, applet)))
	}
	appletDir = "/usr/local/busybox"
	return appletDir, map[string]string{"/bin/sh": busybox, appletDir: links}
}

// postgresEntrypoint does what the postgres image's docker-entrypoint.sh does for a container
// that starts as a non-root user on an empty PGDATA: initdb with POSTGRES_USER and
// POSTGRES_PASSWORD, password auth for every TCP client, POSTGRES_DB created; then the server.
const postgresEntrypoint = `#!/bin/sh
set -eu
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec "$@"
`

// withClaims turns a StatefulSet's volumeClaimTemplates into the pod's claims
// (<template>-<pod>), as the StatefulSet controller does.
func withClaims(t *testing.T, sts map[string]any, pod string) map[string]any {
	template := tests.DeepCopy(t, tests.Path(sts, "spec", "template").(map[string]any))
	spec := template["spec"].(map[string]any)
	volumes, _ := spec["volumes"].([]any)
	for _, c := range tests.Path(sts, "spec", "volumeClaimTemplates").([]any) {
		name := tests.Path(c, "metadata", "name").(string)
		volumes = append(volumes, map[string]any{"name": name, "persistentVolumeClaim": map[string]any{"claimName": name + "-" + pod}})
	}
	spec["volumes"] = volumes
	return template
}

// userProvidedSecrets are the Secrets a mode expects the user to have created, issued by the
// test CA for the names the pods dial; those an operator of the test writes (byOperators) are
// the operator's, not the user's.
func userProvidedSecrets(t *testing.T, m tests.Mode, pki *testPKI, byOperators []map[string]any) []map[string]any {
	serverNames := []string{"certctl-server", "certctl-server.certctl.svc", "certctl-server.certctl.svc.cluster.local"}
	var out []map[string]any
	for _, obj := range m.UserProvided {
		name := strings.TrimPrefix(obj, "Secret/")
		switch {
		case slices.ContainsFunc(byOperators, func(s map[string]any) bool { return tests.Path(s, "metadata", "name") == name }):
		case name == "certctl-tls":
			out = append(out, pki.tlsSecret(name, serverNames...))
		case name == "certctl-postgres-tls":
			out = append(out, pki.tlsSecret(name, "certctl-postgres"))
		case strings.HasSuffix(name, "-ca"):
			out = append(out, pki.caSecret(name))
		case name == liveOwnerSecret:
			out = append(out, ownerSecretManifest(t, name, config.Defaults().PostgreSQL.Auth.Username))
		default:
			t.Fatalf("live suite: no recipe for the user-provided %s", obj)
		}
	}
	return out
}

// certManagerSecrets are what cert-manager writes for each rendered Certificate: a TLS Secret
// for its dnsNames, with the issuing CA as ca.crt.
func certManagerSecrets(r *tests.Render, pki *testPKI) []map[string]any {
	var out []map[string]any
	for _, c := range r.KubernetesObjects() {
		if c.Kind() != "Certificate" {
			continue
		}
		spec := tests.Path(c.Manifest(), "spec")
		out = append(out, pki.tlsSecret(tests.Path(spec, "secretName").(string), stringsOf(tests.Path(spec, "dnsNames"))...))
	}
	return out
}

// startExternalDatabase runs the "managed database" of the external-db mode: a PostgreSQL with
// TLS from the test CA, reached by the name in externalDatabase.url.
func (d *liveDeployment) startExternalDatabase(t *testing.T) {
	d.cluster.AddObject(d.pki.tlsSecret("external-db-tls", "db.example.com"))
	d.startTLSPostgres(t, tlsPostgres{
		pod: "external-db-0", service: "external-db", port: 5432, tlsSecret: "external-db-tls",
		labels: map[string]any{"app": "external-db"},
		env:    map[string]string{"POSTGRES_USER": "certctl", "POSTGRES_PASSWORD": "s3cr3t-db-pass", "POSTGRES_DB": "certctl"},
	})
	d.cluster.AddAlias("db.example.com", "external-db")
}

// tlsPostgres is a database pod of the test's own (not of the render): PostgreSQL serving TLS
// with a kubernetes.io/tls Secret, behind a Service.
type tlsPostgres struct {
	pod, service string
	port         int // the Service's; the server listens on 5432
	tlsSecret    string
	labels       map[string]any    // the pod's, which the Service selects
	env          map[string]string // POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB for the entrypoint
}

// startTLSPostgres creates db's Service and starts its pod, ready, as this installation's
// database: psql reaches it as it reaches the bundled one.
func (d *liveDeployment) startTLSPostgres(t *testing.T, db tlsPostgres) {
	d.cluster.AddObject(map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": db.service, "namespace": liveNamespace},
		"spec":     map[string]any{"selector": db.labels, "ports": []any{map[string]any{"port": db.port, "targetPort": 5432}}},
	})
	env := []any{map[string]any{"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}}
	for _, k := range slices.Sorted(maps.Keys(db.env)) {
		env = append(env, map[string]any{"name": k, "value": db.env[k]})
	}
	pod := d.cluster.StartPod(db.pod, map[string]any{
		"metadata": map[string]any{"labels": db.labels},
		"spec": map[string]any{
			"securityContext": map[string]any{"runAsUser": 999, "runAsGroup": 999, "fsGroup": 999, "runAsNonRoot": true},
			"containers": []any{map[string]any{
				"name": "postgres", "image": postgresImage,
				"args":  []any{"postgres", "-c", "ssl=on", "-c", "ssl_cert_file=/etc/postgresql-tls/tls.crt", "-c", "ssl_key_file=/etc/postgresql-tls/tls.key"},
				"env":   env,
				"ports": []any{map[string]any{"containerPort": 5432}},
				"volumeMounts": []any{
					map[string]any{"name": "data", "mountPath": "/var/lib/postgresql/data"},
					map[string]any{"name": "run", "mountPath": "/var/run/postgresql"},
					map[string]any{"name": "tmp", "mountPath": "/tmp"},
					map[string]any{"name": "tls", "mountPath": "/etc/postgresql-tls", "readOnly": true},
				},
				"readinessProbe": map[string]any{"exec": map[string]any{"command": []any{"pg_isready", "-h", "127.0.0.1"}}},
			}},
			"volumes": []any{
				map[string]any{"name": "data", "emptyDir": map[string]any{}},
				map[string]any{"name": "run", "emptyDir": map[string]any{}},
				map[string]any{"name": "tmp", "emptyDir": map[string]any{}},
				map[string]any{"name": "tls", "secret": map[string]any{"secretName": db.tlsSecret, "defaultMode": 0o400}},
			},
		},
	}, kubelet.PodOptions{})
	pod.WaitReady(liveTimeout)
	d.postgres = pod
}

// stringsOf is a manifest list of strings (Path's []any) as []string.
func stringsOf(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
