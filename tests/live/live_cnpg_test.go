package live

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
	"github.com/certctl-io/certctl-pulumi/tests/kubelet"
)

// TestLiveCNPG runs the postgres-cluster mode's server on the database CloudNativePG would run
// for the rendered Cluster, the test playing the operator: the Cluster's CA in <cluster>-ca
// (ca.crt and ca.key), the primary's certificate issued from it for the read-write Service's
// names, and initdb's database and owner made from the rendered owner Secret. The server migrates
// and serves over sslmode=verify-full with only ca.crt mounted; with a certificate of another CA,
// or of the right CA for another name, it refuses the database and never becomes ready.
func TestLiveCNPG(t *testing.T) {
	bins := certctlbin.Binaries(t)
	pgBin := certctlbin.PostgresBinDir(t)
	m := tests.ModeNamed(t, "postgres-cluster")
	// postgresql.cluster.ownerSecret: the owner's Secret is the user's; the URL has no password
	// and the pods read it as PGPASSWORD.
	usersOwner := m
	usersOwner.Config = tests.DeepMerge(m.Config, map[string]any{"postgresql": map[string]any{"cluster": map[string]any{"ownerSecret": liveOwnerSecret}}})
	usersOwner.UserProvided = append(slices.Clone(m.UserProvided), "Secret/"+liveOwnerSecret)

	for _, served := range []struct {
		name string
		mode tests.Mode
		// passwordInURL: the program knows the password and puts it into the URL.
		passwordInURL bool
	}{
		{"verify-full against the operator's CA", m, true},
		{"verify-full with the user's owner Secret", usersOwner, false},
	} {
		t.Run(served.name, func(t *testing.T) { checkClusterServed(t, served.mode, bins, pgBin, served.passwordInURL) })
	}

	for _, refused := range []struct {
		name string
		// ca and names make the primary's certificate.
		ca    func(t *testing.T, d *liveDeployment) *testPKI
		names func(t *testing.T, d *liveDeployment) []string
		want  string
	}{
		{
			name:  "refused: the primary's certificate from another CA",
			ca:    func(t *testing.T, _ *liveDeployment) *testPKI { return newTestPKI(t) },
			names: func(t *testing.T, d *liveDeployment) []string { return d.clusterServerNames(t) },
			want:  "x509: certificate signed by unknown authority",
		},
		{
			// verify-full, not verify-ca: the read-only Service's certificate does not do.
			name: "refused: the operator's certificate for another name",
			ca:   func(_ *testing.T, d *liveDeployment) *testPKI { return d.clusterCA },
			names: func(t *testing.T, d *liveDeployment) []string {
				var ro []string
				for _, n := range d.clusterServerNames(t) {
					ro = append(ro, strings.Replace(n, "-rw", "-ro", 1))
				}
				return ro
			},
			want: "x509: certificate is valid for",
		},
	} {
		t.Run(refused.name, func(t *testing.T) {
			t.Parallel()
			m := m
			// The hook gives up after 10 s; a server that came up would run until the pod's deadline.
			m.Config = tests.DeepMerge(m.Config, map[string]any{"server": map[string]any{"startupTimeoutSeconds": 10}})
			d := prepareLiveDeployment(t, m, bins, pgBin)
			d.startClusterPrimary(t, refused.ca(t, d), refused.names(t, d))
			dep := d.mustObject(t, "Deployment", "certctl-server")
			pod, err := d.cluster.RunPod("certctl-server-refused", tests.Path(dep, "spec", "template").(map[string]any), kubelet.PodOptions{Deadline: 30 * time.Second})
			require.Error(t, err, "the server must not come up:\n%s", pod.Logs())
			assert.Contains(t, err.Error()+pod.Logs(), "the server was not ready after 10s (server.startupTimeoutSeconds)", "it failed readiness")
			assert.Contains(t, pod.Logs(), refused.want, "the server refused the database's certificate")
			assert.NotContains(t, pod.Logs(), "migrations completed")
		})
	}
}

// checkClusterServed runs the mode's server on the primary the test plays for the rendered
// Cluster and checks that it migrates and serves over verify-full, with only ca.crt mounted, as
// the owner, with the password in its URL or (passwordInURL false) in PGPASSWORD alone.
func checkClusterServed(t *testing.T, m tests.Mode, bins certctlbin.Build, pgBin string, passwordInURL bool) {
	t.Parallel()
	d := newLiveDeployment(t, m, bins, pgBin)
	cluster, _ := d.cnpgCluster()
	owner := tests.Path(cluster, "spec", "bootstrap", "initdb", "owner").(string)
	t.Run("the server trusts only ca.crt of the operator's CA", func(t *testing.T) {
		u := d.databaseURL(t)
		assert.Contains(t, u.Query()["sslmode"], "verify-full")
		_, hasPassword := u.User.Password()
		assert.Equal(t, passwordInURL, hasPassword, "the URL carries the password only when the program made it")
		d.checkClusterCAMount(t)
	})
	t.Run("the server migrated the owner's database at boot", func(t *testing.T) {
		for _, p := range d.servers {
			assert.Contains(t, p.Logs(), "migrations completed", p.Name())
		}
		assert.NotEqual(t, "0", d.psql(t, "SELECT count(*) FROM schema_migrations"), "the schema is in place")
		assert.Equal(t, owner, d.psql(t, "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"),
			"every table is the owner's: the server connected as the owner")
	})
	t.Run("the server's connections are TLS", func(t *testing.T) {
		assert.Equal(t, "true", d.psql(t, "SELECT string_agg(DISTINCT s.ssl::text, ',') FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = "+quoteLiteral(owner)),
			"the owner's sessions (the server's pool) all use TLS")
	})
	t.Run("server ready through the Service", d.checkReady)
	t.Run("admin key writes", func(t *testing.T) {
		d.checkAdminWrites(t, d.render.Outputs["apiKey"].Value.(string))
	})
	if t.Failed() {
		d.dumpLogs(t)
	}
}

// liveOwnerSecret is the owner's basic-auth Secret the user provides in the ownerSecret case.
const liveOwnerSecret = "certctl-db-owner"

// ownerSecretManifest is a kubernetes.io/basic-auth Secret for username with a new random password.
func ownerSecretManifest(t *testing.T, name, username string) map[string]any {
	password := make([]byte, 18)
	_, err := rand.Read(password)
	require.NoError(t, err)
	return secretManifest(name, "kubernetes.io/basic-auth", map[string]any{"username": username, "password": hex.EncodeToString(password)})
}

// cnpgSecrets are what CloudNativePG writes for each rendered Cluster before its instances start:
// <cluster>-ca, the cluster's CA (ca.crt and ca.key), from which it issues their certificates.
func cnpgSecrets(r *tests.Render, ca *testPKI) []map[string]any {
	var out []map[string]any
	for _, c := range cnpgClusters(r) {
		out = append(out, ca.operatorCASecret(tests.Path(c, "metadata", "name").(string)+"-ca"))
	}
	return out
}

// cnpgClusters are the rendered CloudNativePG Clusters' manifests.
func cnpgClusters(r *tests.Render) []map[string]any {
	var out []map[string]any
	for _, o := range r.KubernetesObjects() {
		if o.Kind() == "Cluster" && strings.HasPrefix(tests.Path(o.Manifest(), "apiVersion").(string), "postgresql.cnpg.io/") {
			out = append(out, o.Manifest())
		}
	}
	return out
}

// cnpgCluster is the rendered CloudNativePG Cluster, if any (a render has one at most).
func (d *liveDeployment) cnpgCluster() (map[string]any, bool) {
	if clusters := cnpgClusters(d.render); len(clusters) > 0 {
		return clusters[0], true
	}
	return nil, false
}

// databaseURL is the server's database URL as its pods get it: the Secret key the Deployment's
// CERTCTL_DATABASE_URL refers to.
func (d *liveDeployment) databaseURL(t *testing.T) *url.URL {
	t.Helper()
	dep := d.mustObject(t, "Deployment", "certctl-server")
	for _, e := range tests.Path(dep, "spec", "template", "spec", "containers", 0, "env").([]any) {
		if tests.Path(e, "name") != "CERTCTL_DATABASE_URL" {
			continue
		}
		ref := tests.Path(e, "valueFrom", "secretKeyRef")
		u, err := url.Parse(d.secretValue(t, tests.Path(ref, "name").(string), tests.Path(ref, "key").(string)))
		require.NoError(t, err)
		return u
	}
	t.Fatal("the server has no CERTCTL_DATABASE_URL")
	return nil
}

// clusterServerNames are the names the operator's certificate for the primary must hold for the
// server to reach it: the host of the server's database URL, which must be the Cluster's
// read-write Service, in its short and namespaced forms.
func (d *liveDeployment) clusterServerNames(t *testing.T) []string {
	t.Helper()
	cluster, ok := d.cnpgCluster()
	require.True(t, ok, "no CloudNativePG Cluster in the render")
	host := d.databaseURL(t).Hostname()
	require.Equal(t, tests.Path(cluster, "metadata", "name").(string)+"-rw", host, "the server dials the Cluster's read-write Service")
	ns := tests.Path(cluster, "metadata", "namespace").(string)
	return []string{host, host + "." + ns, host + "." + ns + ".svc"}
}

// startClusterPrimary plays CloudNativePG for the rendered Cluster: its primary, a PostgreSQL
// serving TLS with the certificate Secret <cluster>-server issued by ca for names, behind the
// read-write Service the server's URL names, with bootstrap.initdb's database owned by its owner,
// who logs in with the password of the owner Secret initdb names.
func (d *liveDeployment) startClusterPrimary(t *testing.T, ca *testPKI, names []string) {
	t.Helper()
	cluster, ok := d.cnpgCluster()
	require.True(t, ok, "no CloudNativePG Cluster in the render")
	name := tests.Path(cluster, "metadata", "name").(string)
	initdb := tests.Path(cluster, "spec", "bootstrap", "initdb")
	database, owner := tests.Path(initdb, "database").(string), tests.Path(initdb, "owner").(string)
	ownerSecret := tests.Path(initdb, "secret", "name").(string)
	require.Equal(t, owner, d.secretValue(t, ownerSecret, "username"), "CloudNativePG takes initdb.owner's password from a Secret of that username")
	password := d.secretValue(t, ownerSecret, "password")
	u := d.databaseURL(t)
	require.Equal(t, "/"+database, u.Path, "the server uses initdb's database")
	require.Equal(t, owner, u.User.Username(), "the server logs in as initdb's owner")

	serverSecret := name + "-server"
	d.cluster.AddObject(ca.tlsSecret(serverSecret, names...))
	superuser := make([]byte, 16)
	_, err := rand.Read(superuser)
	require.NoError(t, err)
	port := 5432 // libpq's default
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		require.NoError(t, err)
	}
	d.startTLSPostgres(t, tlsPostgres{
		pod: name + "-1", service: u.Hostname(), port: port, tlsSecret: serverSecret,
		labels: map[string]any{"cnpg.io/cluster": name, "cnpg.io/instanceRole": "primary"},
		// The operator's superuser is postgres; initdb's database is then handed to the owner.
		env: map[string]string{"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": hex.EncodeToString(superuser), "POSTGRES_DB": database},
	})
	d.psql(t, "CREATE ROLE "+quoteIdent(owner)+" LOGIN PASSWORD "+quoteLiteral(password))
	d.psql(t, "ALTER DATABASE "+quoteIdent(database)+" OWNER TO "+quoteIdent(owner))
}

// checkClusterCAMount: the rendered server pods mount of <cluster>-ca only the key ca.crt, where
// PGSSLROOTCERT points, and every running server sees there the operator's CA certificate and
// nothing else.
func (d *liveDeployment) checkClusterCAMount(t *testing.T) {
	t.Helper()
	cluster, _ := d.cnpgCluster()
	caSecret := tests.Path(cluster, "metadata", "name").(string) + "-ca"
	root := d.serverSetting(t, "pgsslrootcert")
	spec := tests.Path(d.mustObject(t, "Deployment", "certctl-server"), "spec", "template", "spec")
	var volume string
	for _, v := range tests.Path(spec, "volumes").([]any) {
		if tests.Path(v, "secret", "secretName") == caSecret {
			volume = tests.Path(v, "name").(string)
			assert.Equal(t, []any{map[string]any{"key": "ca.crt", "path": path.Base(root)}}, tests.Path(v, "secret", "items"),
				"only ca.crt of %s is projected (the Secret holds the CA key too)", caSecret)
		}
	}
	require.NotEmpty(t, volume, "the server pods mount %s", caSecret)
	var mounted bool
	for _, vm := range tests.Path(spec, "containers", 0, "volumeMounts").([]any) {
		if tests.Path(vm, "name") == volume {
			mounted = true
			assert.Equal(t, path.Dir(root), tests.Path(vm, "mountPath"), "PGSSLROOTCERT is in the mounted volume")
		}
	}
	assert.True(t, mounted, "the server container mounts %s", volume)
	for _, p := range d.servers {
		out, err := p.Exec("server", "sh", "-c", `ls "${PGSSLROOTCERT%/*}" && cat "$PGSSLROOTCERT"`)
		require.NoError(t, err, "%s: %s", p.Name(), out)
		assert.Equal(t, "ca.crt\n"+d.clusterCA.certPEM, out, "%s: only the operator's CA certificate", p.Name())
	}
}

// quoteIdent is s as an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteLiteral is s as an SQL string literal (standard_conforming_strings, the default).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
