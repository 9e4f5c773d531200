package live

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/kubelet"
)

// issuanceTimeout bounds one issuance round: the agent polls every 30 s (fixed in v2.1.7), once
// for the CSR and once more for the deployment job the signing creates.
const issuanceTimeout = 150 * time.Second

// The objects the issuance check creates, one set per installation.
const (
	liveCert        = "mc-live"
	liveTarget      = "tgt-live"
	liveCertPath    = "/tmp/live-cert.pem" // in the agent's tmp volume: the NGINX target writes it
	liveChainPath   = "/tmp/live-chain.pem"
	liveCommonName  = "svc.live.test"
	liveTeam        = "team-live"
	liveOwner       = "owner-live"
	liveRenewPolicy = "rp-default" // seeded by certctl's migrations
	liveIssuer      = "iss-local"
)

// checkIssuance has certctl do its job as a user would, through the API: a certificate on the
// local issuer, issued, renewed (with agents: after every agent pod was replaced), and revoked. With
// agent-side keys (the default) the certificate is deployed by one agent to an NGINX target on
// its pod, and the agent keeps the key; with server-side keys the server's job processor issues.
// Each version must chain to the program's CA (stack output localCaCert), and the revoked serial
// must be on the CRL of every server replica.
func (d *liveDeployment) checkIssuance(t *testing.T, admin string) {
	agentKeys := d.serverSetting(t, "keygen-mode") == "agent"
	ids := d.waitAgentsOnline(t, admin)
	d.create(t, admin, "/api/v1/teams", map[string]any{"id": liveTeam, "name": "live team"})
	d.create(t, admin, "/api/v1/owners", map[string]any{"id": liveOwner, "name": "live owner", "email": "owner@live.test", "team_id": liveTeam})
	var identity string
	if agentKeys {
		identity = slices.Sorted(maps.Keys(d.agents))[0]
		d.create(t, admin, "/api/v1/targets", map[string]any{
			"id": liveTarget, "name": "live nginx", "type": "NGINX", "agent_id": ids[identity],
			"config": map[string]any{"cert_path": liveCertPath, "chain_path": liveChainPath, "reload_command": "true", "validate_command": "true"},
		})
	}
	d.create(t, admin, "/api/v1/certificates", map[string]any{
		"id": liveCert, "name": "live certificate", "common_name": liveCommonName, "sans": []string{liveCommonName},
		"owner_id": liveOwner, "team_id": liveTeam, "issuer_id": liveIssuer, "renewal_policy_id": liveRenewPolicy,
	})
	if agentKeys {
		// v2.1.7 stores a certificate's target_ids nowhere and has no route that links a
		// certificate to a target (its own test guide inserts the row too).
		d.psql(t, fmt.Sprintf("INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES ('%s', '%s')", liveCert, liveTarget))
	}

	var serials []*big.Int
	round := func(t *testing.T, first bool) {
		want := "Renewal"
		if first {
			want = "Issuance"
		}
		leaf := d.issue(t, admin, want, agentKeys, len(serials)+1)
		for _, s := range serials {
			assert.NotEqual(t, s, leaf.SerialNumber, "every version has a serial of its own")
		}
		serials = append(serials, leaf.SerialNumber)
		if agentKeys {
			d.checkAgentKey(t, identity, leaf)
		}
	}
	t.Run("issued", func(t *testing.T) { round(t, true) })
	if !agentKeys {
		t.Run("renewed", func(t *testing.T) { round(t, false) })
	} else {
		// The renewal comes after a rollout of every agent pod: the new pod must be the same agent
		// (its target routes to it), create its key directory anew and generate a new key.
		t.Run("renewed after the agents rolled, with no agent left behind", func(t *testing.T) {
			before := d.waitAgentsOnline(t, admin)
			d.rollAgents(t)
			after := d.waitAgentsOnline(t, admin)
			assert.Equal(t, before, after, "every new pod is the agent its predecessor was")
			assert.ElementsMatch(t, slices.Collect(maps.Keys(d.agents)), slices.Collect(maps.Keys(after)),
				"the server lists exactly the agents that run: no offline ghost")
			round(t, false)
		})
	}
	t.Run("revoked, on every replica's CRL", func(t *testing.T) {
		require.NotEmpty(t, serials)
		status, body := d.call(t, "POST", "/api/v1/certificates/"+liveCert+"/revoke", admin, map[string]any{"reason": "keyCompromise"})
		require.Equal(t, http.StatusOK, status, "%s", body)
		var cert struct{ Status string }
		status, body = d.call(t, "GET", "/api/v1/certificates/"+liveCert, admin, nil)
		require.Equal(t, http.StatusOK, status, "%s", body)
		require.NoError(t, json.Unmarshal(body, &cert))
		assert.Equal(t, "Revoked", cert.Status)
		revoked := serials[len(serials)-1]
		for _, p := range d.servers {
			d.waitRevokedOnCRL(t, p, revoked)
		}
	})
}

// serverSetting is a value of the rendered server ConfigMap.
func (d *liveDeployment) serverSetting(t *testing.T, key string) string {
	cm, ok := d.object("ConfigMap", "certctl-server")
	require.True(t, ok)
	return tests.Path(cm, "data", key).(string)
}

// create POSTs an object with the admin key and requires 201.
func (d *liveDeployment) create(t *testing.T, admin, route string, body map[string]any) {
	t.Helper()
	status, out := d.call(t, "POST", route, admin, body)
	require.Equal(t, http.StatusCreated, status, "POST %s: %s", route, out)
}

// liveJob is a job as GET /api/v1/jobs lists it.
type liveJob struct {
	ID, Type, Status string
	CertificateID    string `json:"certificate_id"`
	LastError        string `json:"last_error"`
}

func (d *liveDeployment) certificateJobs(t *testing.T, admin string) map[string]liveJob {
	t.Helper()
	status, body := d.call(t, "GET", "/api/v1/jobs?per_page=500", admin, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var list struct{ Data []liveJob }
	require.NoError(t, json.Unmarshal(body, &list))
	jobs := map[string]liveJob{}
	for _, j := range list.Data {
		if j.CertificateID == liveCert {
			jobs[j.ID] = j
		}
	}
	return jobs
}

// issue triggers one issuance of the certificate (POST .../renew, what a user or the renewal
// check does), waits until its job of type want has completed and, with agent-side keys, the
// deployment job the signing creates too, then checks that version is the newest of versions
// and chains to the program's CA. It returns the new leaf.
func (d *liveDeployment) issue(t *testing.T, admin, want string, agentKeys bool, versions int) *x509.Certificate {
	t.Helper()
	before := d.certificateJobs(t, admin)
	status, body := d.call(t, "POST", "/api/v1/certificates/"+liveCert+"/renew", admin, nil)
	require.Equal(t, http.StatusAccepted, status, "%s", body)

	wanted := []string{want}
	if agentKeys {
		wanted = append(wanted, "Deployment")
	}
	var last map[string]liveJob
	deadline := time.Now().Add(issuanceTimeout)
	for {
		last = d.certificateJobs(t, admin)
		done := map[string]bool{}
		for id, j := range last {
			if _, old := before[id]; old {
				continue
			}
			require.NotEqual(t, "Failed", j.Status, "%s job %s failed: %s", j.Type, j.ID, j.LastError)
			if j.Status == "Completed" {
				done[j.Type] = true
			}
		}
		if done[want] && (!agentKeys || done["Deployment"]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs %v of %s not all completed after %s; jobs: %+v", wanted, liveCert, issuanceTimeout, last)
		}
		time.Sleep(time.Second)
	}

	status, body = d.call(t, "GET", "/api/v1/certificates/"+liveCert+"/versions", admin, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var list struct {
		Total int
		Data  []struct {
			SerialNumber string `json:"serial_number"`
			PEMChain     string `json:"pem_chain"`
		}
	}
	require.NoError(t, json.Unmarshal(body, &list))
	require.Equal(t, versions, list.Total, "one stored version per issuance")
	newest := list.Data[0]
	leaf := d.verifyChain(t, newest.PEMChain)
	serial, ok := new(big.Int).SetString(newest.SerialNumber, 16)
	require.True(t, ok, "serial %q", newest.SerialNumber)
	assert.Equal(t, serial, leaf.SerialNumber, "the stored serial is the certificate's")
	assert.Equal(t, []string{liveCommonName}, leaf.DNSNames)
	return leaf
}

// verifyChain parses a version's chain (leaf first) and verifies the leaf against the CA the
// program generated, the localCaCert output, alone.
func (d *liveDeployment) verifyChain(t *testing.T, chain string) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode([]byte(chain))
	require.NotNil(t, block, "the chain holds a certificate")
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.Contains(t, string(rest), "BEGIN CERTIFICATE", "the chain carries the issuing CA")
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM([]byte(d.render.Outputs["localCaCert"].Value.(string))))
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: liveCommonName})
	assert.NoError(t, err, "the leaf chains to the localCaCert output")
	return leaf
}

// checkAgentKey: the agent generated the leaf's key, keeps it owner-only in the key directory it
// created itself, and deployed the leaf to the target's path.
func (d *liveDeployment) checkAgentKey(t *testing.T, identity string, leaf *x509.Certificate) {
	t.Helper()
	p := d.agents[identity]
	keyDir := tests.Path(d.mustObject(t, "ConfigMap", "certctl-agent"), "data", "key-dir").(string)
	keyFile := keyDir + "/" + liveCert + ".key"
	out, err := p.Exec("agent", "stat", "-c", "%u %a", keyDir, keyFile)
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "1000 700\n1000 600\n", out, "key directory and key belong to the agent's user, owner-only")
	keyPEM, err := p.Exec("agent", "cat", keyFile)
	require.NoError(t, err)
	block, _ := pem.Decode([]byte(keyPEM))
	require.NotNil(t, block, "the key file holds a PEM key")
	key, err := x509.ParseECPrivateKey(block.Bytes)
	require.NoError(t, err)
	assert.True(t, key.PublicKey.Equal(leaf.PublicKey), "the leaf certifies the key the agent holds")
	deployed, err := p.Exec("agent", "cat", liveCertPath)
	require.NoError(t, err)
	block, _ = pem.Decode([]byte(deployed))
	require.NotNil(t, block, "the target holds the certificate")
	assert.Equal(t, leaf.Raw, block.Bytes, "the agent deployed this version")
}

// waitRevokedOnCRL waits until the server replica's CRL for the local issuer lists serial; the
// server rebuilds it every server.scheduler.crlGenerationInterval.
func (d *liveDeployment) waitRevokedOnCRL(t *testing.T, p *kubelet.Pod, serial *big.Int) {
	t.Helper()
	deadline := time.Now().Add(liveTimeout)
	for {
		der, err := p.Exec("server", "curl", "-sSfk", "https://127.0.0.1:8443/.well-known/pki/crl/"+liveIssuer)
		require.NoError(t, err, "%s: %s", p.Name(), der)
		crl, err := x509.ParseRevocationList([]byte(der))
		require.NoError(t, err, "%s", p.Name())
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(serial) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: serial %x not on the CRL after %s", p.Name(), serial, liveTimeout)
		}
		time.Sleep(time.Second)
	}
}

// rollAgents replaces every agent pod, as a rollout does: a DaemonSet's on the same node, a
// StatefulSet's under the same name.
func (d *liveDeployment) rollAgents(t *testing.T) {
	t.Helper()
	for identity, p := range d.agents {
		template, opts := d.agentTemplate(identity)
		p.Stop()
		d.agents[identity] = d.cluster.StartPod(p.Name(), template, opts)
	}
}

// mustObject is a rendered object's manifest, which must exist.
func (d *liveDeployment) mustObject(t *testing.T, kind, name string) map[string]any {
	t.Helper()
	o, ok := d.object(kind, name)
	require.True(t, ok, "no %s/%s in the render", kind, name)
	return o
}
