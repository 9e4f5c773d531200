package engine

import (
	"encoding/json"
	"net/url"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	// cnpgCluster is prod-cnpg's Cluster (<fullname>-postgres), and cnpgClusters its resource.
	cnpgCluster  = "certctl-postgres"
	cnpgClusters = "clusters.postgresql.cnpg.io"
	// cnpgInitTime is how long the played operator takes to make a new Cluster Ready (initdb and
	// the standbys' joins, seconds on a small database): long enough that an object pulumi up
	// started without waiting would be visibly older than the Ready condition.
	cnpgInitTime = 10 * time.Second
)

// playCNPG plays CloudNativePG's operator for the stack's Clusters while the test runs:
// cnpgInitTime after a Cluster is created it makes <cluster>-ca (ca.crt and ca.key, whose ca.crt
// the server mounts) and sets the Cluster's Ready condition, which pulumi up waits for
// (pulumi.com/waitFor). No instance runs, and no <cluster>-rw Service is made: nothing in the
// simulated cluster connects to the database (kwok reports the server pods ready).
func (d *deployment) playCNPG() {
	d.playController(cnpgClusters, func(name string, raw json.RawMessage) bool {
		var cluster struct {
			Metadata struct {
				CreationTimestamp time.Time `json:"creationTimestamp"`
			}
		}
		if json.Unmarshal(raw, &cluster) != nil || time.Since(cluster.Metadata.CreationTimestamp) < cnpgInitTime {
			return false
		}
		if _, err := d.c.KubectlInput(caSecretYAML(d.ns, name+"-ca", name), "apply", "-f", "-"); err != nil {
			return false
		}
		return d.setReady(cnpgClusters, name, "ClusterIsReady", "Cluster is Ready")
	})
}

// checkWaitedForCluster: pulumi up created the migration Job and the server Deployment only once
// the Cluster was Ready (cnpgInitTime after its creation), as the Cluster's pulumi.com/waitFor
// and the server's dependency on it say; without the wait they would start with the Cluster.
func (d *deployment) checkWaitedForCluster() {
	t := d.t
	ready := d.timestamp(cnpgClusters+"/"+cnpgCluster, `{.status.conditions[?(@.type=="Ready")].lastTransitionTime}`)
	job := d.outputs()["migrationJobName"].Value.(string)
	for _, object := range []string{"job/" + job, "deployment/certctl-server"} {
		created := d.timestamp(object, "{.metadata.creationTimestamp}")
		assert.False(t, created.Before(ready), "%s was created at %s, before the Cluster was Ready at %s", object, created, ready)
	}
}

// checkServerTrustsCluster: the server's database URL is the Cluster's read-write Service with
// verify-full, and the CA it verifies it with is ca.crt of the operator's <cluster>-ca.
func (d *deployment) checkServerTrustsCluster() {
	t := d.t
	u, err := url.Parse(secretKey(t, d.c, d.ns, "certctl-server", "database-url"))
	require.NoError(t, err)
	assert.Equal(t, cnpgCluster+"-rw:5432", u.Host, "the server connects to the primary behind <cluster>-rw")
	assert.Equal(t, "verify-full", u.Query().Get("sslmode"))
	assert.Equal(t, cnpgCluster+"-ca",
		d.get("deployment/certctl-server", `{.spec.template.spec.volumes[?(@.name=="postgresql-ca")].secret.secretName}`),
		"the server mounts the operator's CA")
	assert.Contains(t, secretKey(t, d.c, d.ns, cnpgCluster+"-ca", "ca.crt"), "BEGIN CERTIFICATE")
}

// timestamp is an RFC 3339 time of one object in the stack's namespace, by jsonpath.
func (d *deployment) timestamp(object, jsonpath string) time.Time {
	d.t.Helper()
	at, err := time.Parse(time.RFC3339, d.get(object, jsonpath))
	require.NoError(d.t, err, "%s %s", object, jsonpath)
	return at
}
