package tests

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// clusterMode is the postgres-cluster mode's configuration with more merged over it.
func clusterMode(t *testing.T, more map[string]any) *Render {
	t.Helper()
	m := ModeNamed(t, "postgres-cluster")
	return mustRun(t, withConfig(t, DeepMerge(DeepMerge(base(), m.Config), more)))
}

// The server dials the cluster's read-write Service and verifies it against the operator's CA,
// of which it mounts the certificate alone (the Secret also holds the CA's key).
func TestPostgresClusterServerConnection(t *testing.T) {
	r := RenderMode(t, "postgres-cluster")
	assert.Regexp(t, `^postgres://certctl:[^@]+@certctl-postgres-rw:5432/certctl\?sslmode=verify-full$`, r.Secret(t, "certctl-server").StringData["database-url"])
	assert.True(t, r.Object(t, "Secret", "certctl-server").secretAt("stringData", "database-url"))
	pod := r.Deployment(t, "certctl-server").Spec.Template.Spec
	assert.Contains(t, pod.Volumes, secretVolume("postgresql-ca", "certctl-postgres-ca", "ca.crt"))
	assert.Equal(t, "/etc/postgresql-ca/ca.crt", r.ConfigMap(t, "certctl-server").Data["pgsslrootcert"])

	owner := r.Object(t, "Secret", "certctl-postgres-owner")
	assert.Equal(t, "kubernetes.io/basic-auth", plain(owner.Inputs["type"]))
	assert.True(t, owner.secretAt("stringData", "password"), "the owner's password stays secret")
	assert.Contains(t, r.Secret(t, "certctl-server").StringData["database-url"], ":"+r.Secret(t, "certctl-postgres-owner").StringData["password"]+"@",
		"the server's URL carries the owner's password")
}

// With the user's owner Secret the program neither generates nor reads the password: the
// Cluster's initdb and the pods name that Secret, and the URL carries no password, so lib/pq
// takes PGPASSWORD.
func TestPostgresClusterOwnerSecret(t *testing.T) {
	r := clusterMode(t, map[string]any{
		"postgresql": map[string]any{"cluster": map[string]any{"ownerSecret": "certctl-db-owner"}},
		"migrations": map[string]any{"viaHook": true},
	})
	assert.NotContains(t, r.ObjectSet(), "Secret/certctl-postgres-owner", "no owner Secret of the program's")
	passwords := func(r *Render) (names []string) {
		for _, res := range r.ByType("random:index/randomPassword:RandomPassword") {
			names = append(names, res.Name)
		}
		return names
	}
	assert.Len(t, passwords(r), len(passwords(RenderMode(t, "postgres-cluster")))-1, "no owner's password to generate")
	assert.Equal(t, map[string]any{"name": "certctl-db-owner"}, Path(plain(r.Object(t, "Cluster", "certctl-postgres").Inputs["spec"]), "bootstrap", "initdb", "secret"))
	assert.Equal(t, "postgres://certctl@certctl-postgres-rw:5432/certctl?sslmode=verify-full", r.Secret(t, "certctl-server").StringData["database-url"])
	_, job := migrationJobOf(t, r)
	for _, c := range []corev1.Container{r.Deployment(t, "certctl-server").Spec.Template.Spec.Containers[0], job.Spec.Template.Spec.Containers[0]} {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "PGPASSWORD" })
		require.GreaterOrEqual(t, i, 0, "%s reads the password", c.Name)
		assert.Equal(t, &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "certctl-db-owner"}, Key: "password", Optional: ptrTo(false)},
			c.Env[i].ValueFrom.SecretKeyRef, "%s: from the user's Secret", c.Name)
	}
	generated := RenderMode(t, "postgres-cluster").Deployment(t, "certctl-server").Spec.Template.Spec.Containers[0].Env
	assert.False(t, slices.ContainsFunc(generated, func(e corev1.EnvVar) bool { return e.Name == "PGPASSWORD" }),
		"with the generated Secret the URL holds the password")
}

// pulumi destroy keeps the Cluster (the instances' volumes go with it) and what the database,
// still running, relies on; the bucket follows its own deleteOnDestroy. deleteOnDestroy lets
// everything go.
func TestPostgresClusterKeptOnDestroy(t *testing.T) {
	kept := []string{"Secret/certctl-postgres-owner", "Cluster/certctl-postgres", "ObjectStore/certctl-postgres",
		"ScheduledBackup/certctl-postgres", "PodMonitor/certctl-postgres", "NetworkPolicy/certctl-postgres"}
	r := RenderMode(t, "postgres-cluster")
	for _, o := range kept {
		kind, name, _ := strings.Cut(o, "/")
		assert.True(t, r.Object(t, kind, name).RetainOnDelete, "%s stays with the database", o)
	}
	assert.True(t, r.Registered(t, "aws:iam/role:Role").RetainOnDelete, "the archive's role stays with the database")
	assert.False(t, r.Object(t, "Deployment", "certctl-server").RetainOnDelete)

	gone := clusterMode(t, map[string]any{"postgresql": map[string]any{"storage": map[string]any{"deleteOnDestroy": true}}})
	for _, o := range kept {
		kind, name, _ := strings.Cut(o, "/")
		assert.False(t, gone.Object(t, kind, name).RetainOnDelete, "%s goes with deleteOnDestroy", o)
	}
	assert.True(t, gone.Registered(t, "aws:s3/bucketV2:BucketV2").RetainOnDelete, "the bucket follows backup.s3.deleteOnDestroy")
}

// The Cluster: three instances over distinct nodes, a synchronous standby, unattended primary
// updates, initdb with the owner's Secret, archiving through the plugin under incarnation 1.
func TestPostgresClusterSpec(t *testing.T) {
	r := RenderMode(t, "postgres-cluster")
	cluster := r.Object(t, "Cluster", "certctl-postgres")
	spec := plain(cluster.Inputs["spec"])
	assert.EqualValues(t, 3, Path(spec, "instances"))
	assert.Equal(t, "unsupervised", Path(spec, "primaryUpdateStrategy"))
	assert.Equal(t, map[string]any{"enablePodAntiAffinity": true, "podAntiAffinityType": "required", "topologyKey": "kubernetes.io/hostname"}, Path(spec, "affinity"))
	assert.Equal(t, map[string]any{"method": "any", "number": float64(1), "dataDurability": "required"}, Path(spec, "postgresql", "synchronous"))
	assert.Equal(t, map[string]any{"database": "certctl", "owner": "certctl", "secret": map[string]any{"name": "certctl-postgres-owner"}}, Path(spec, "bootstrap", "initdb"))
	assert.Equal(t, []any{map[string]any{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": true,
		"parameters": map[string]any{"barmanObjectName": "certctl-postgres", "serverName": "certctl-postgres-i1"}}}, Path(spec, "plugins"))

	zones := plain(clusterMode(t, map[string]any{"postgresql": map[string]any{"cluster": map[string]any{
		"spreadOverZones": true, "synchronousReplicas": 0,
	}}}).Object(t, "Cluster", "certctl-postgres").Inputs["spec"])
	assert.Equal(t, "topology.kubernetes.io/zone", Path(zones, "affinity", "topologyKey"))
	assert.Nil(t, Path(zones, "postgresql", "synchronous"), "0 synchronous standbys replicate asynchronously")
}

// max_connections holds every server pool and a rollout's surge: raised when unset, the
// user's value when set.
func TestPostgresClusterMaxConnections(t *testing.T) {
	large := clusterMode(t, map[string]any{"server": map[string]any{"replicas": 4, "databaseMaxConns": 30}})
	assert.Equal(t, "160", Path(plain(large.Object(t, "Cluster", "certctl-postgres").Inputs["spec"]), "postgresql", "parameters", "max_connections"))
	set := clusterMode(t, map[string]any{"postgresql": map[string]any{"postgresqlConfig": map[string]any{"max_connections": "500"}}})
	assert.Equal(t, "500", Path(plain(set.Object(t, "Cluster", "certctl-postgres").Inputs["spec"]), "postgresql", "parameters", "max_connections"))
}

// The archive: the bucket the Backup code builds, the instances' ServiceAccount trusted and
// annotated, deletes allowed under the archive's prefix only, the lifecycle beyond retention.
func TestPostgresClusterArchive(t *testing.T) {
	r := RenderMode(t, "postgres-cluster")
	role := r.Registered(t, "aws:iam/role:Role")
	issuer := "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	assert.Equal(t, "system:serviceaccount:certctl:certctl-postgres",
		Path(policy(t, plain(role.Inputs["assumeRolePolicy"])), "Statement", 0, "Condition", "StringEquals", issuer+":sub"))
	access := policy(t, plain(r.Registered(t, "aws:iam/rolePolicy:RolePolicy").Inputs["policy"]))
	assert.Equal(t, []any{"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}, Path(access, "Statement", 1, "Action"))
	assert.Equal(t, []any{"arn:aws:s3:::certctl-postgres-cluster-generated/certctl-cnpg/*"}, Path(access, "Statement", 1, "Resource"))
	rules := plain(r.Registered(t, "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2").Inputs["rules"])
	assert.Equal(t, "certctl-cnpg/", Path(rules, 0, "filter", "prefix"))
	assert.EqualValues(t, 37, Path(rules, 0, "expiration", "days"), "retention (30 days) plus a week")

	spec := plain(r.Object(t, "Cluster", "certctl-postgres").Inputs["spec"])
	assert.Equal(t, "arn:aws:iam::123456789012:role/certctl-postgres-cluster-generated",
		Path(spec, "serviceAccountTemplate", "metadata", "annotations", "eks.amazonaws.com/role-arn"))
	store := plain(r.Object(t, "ObjectStore", "certctl-postgres").Inputs["spec"])
	assert.Equal(t, "s3://certctl-postgres-cluster-generated/certctl-cnpg/certctl", Path(store, "configuration", "destinationPath"))
	assert.Equal(t, map[string]any{"inheritFromIAMRole": true}, Path(store, "configuration", "s3Credentials"))
	assert.Equal(t, "30d", Path(store, "retentionPolicy"))
	sb := plain(r.Object(t, "ScheduledBackup", "certctl-postgres").Inputs["spec"])
	assert.Equal(t, "0 0 2 * * *", Path(sb, "schedule"))
	assert.Equal(t, "plugin", Path(sb, "method"))
}

// A recovery bootstraps from the source incarnation's archive, to the target time, and
// archives under the new incarnation.
func TestPostgresClusterRecovery(t *testing.T) {
	r := clusterMode(t, map[string]any{"postgresql": map[string]any{"cluster": map[string]any{
		"incarnation": 2, "recovery": map[string]any{"enabled": true, "sourceIncarnation": 1, "targetTime": "2026-12-03T10:15:00Z"},
	}}})
	spec := plain(r.Object(t, "Cluster", "certctl-postgres").Inputs["spec"])
	assert.Nil(t, Path(spec, "bootstrap", "initdb"))
	assert.Equal(t, map[string]any{"source": "origin", "database": "certctl", "owner": "certctl",
		"secret": map[string]any{"name": "certctl-postgres-owner"}, "recoveryTarget": map[string]any{"targetTime": "2026-12-03T10:15:00Z"}},
		Path(spec, "bootstrap", "recovery"))
	assert.Equal(t, []any{map[string]any{"name": "origin", "plugin": map[string]any{"name": "barman-cloud.cloudnative-pg.io",
		"parameters": map[string]any{"barmanObjectName": "certctl-postgres", "serverName": "certctl-postgres-i1"}}}}, Path(spec, "externalClusters"))
	assert.Equal(t, "certctl-postgres-i2", Path(spec, "plugins", 0, "parameters", "serverName"))
}

// The NetworkPolicies: the server reaches the instances; the instances admit their clients,
// each other, the operator and Prometheus.
func TestPostgresClusterNetworkPolicies(t *testing.T) {
	r := RenderMode(t, "postgres-cluster")
	egress := plain(r.Object(t, "NetworkPolicy", "certctl-server").Inputs["spec"])
	assert.Contains(t, Path(egress, "egress"), map[string]any{
		"to":    []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"cnpg.io/cluster": "certctl-postgres"}}}},
		"ports": []any{map[string]any{"protocol": "TCP", "port": float64(5432)}},
	})
	np := plain(r.Object(t, "NetworkPolicy", "certctl-postgres").Inputs["spec"])
	require.Len(t, Path(np, "ingress"), 4)
	assert.Equal(t, map[string]any{"cnpg.io/cluster": "certctl-postgres"}, Path(np, "podSelector", "matchLabels"))
	assert.Equal(t, "cnpg-system", Path(np, "ingress", 2, "from", 0, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"))
	assert.Equal(t, "monitoring", Path(np, "ingress", 3, "from", 0, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"))
	assert.EqualValues(t, 9187, Path(np, "ingress", 3, "ports", 0, "port"))
	pm := plain(r.Object(t, "PodMonitor", "certctl-postgres").Inputs["spec"])
	assert.Equal(t, map[string]any{"cnpg.io/cluster": "certctl-postgres"}, Path(pm, "selector", "matchLabels"))
}
