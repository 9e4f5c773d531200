package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// connectionHeadroom is what max_connections must hold beyond the servers' pools: the superuser
// reserve (3), a migration or password Job, a backup, replication and the metrics exporter.
const connectionHeadroom = 10

// defaultMaxConnections is PostgreSQL's own max_connections.
const defaultMaxConnections = 100

// MaxConnectionsNeeded is what the database must accept: every server pod's pool, one more
// pool for a rollout's surge pod, and connectionHeadroom.
func (c Config) MaxConnectionsNeeded() int {
	return (c.Server.Replicas+1)*c.Server.DatabaseMaxConns + connectionHeadroom
}

// ClusterParameters are the cluster's postgresql.parameters: postgresqlConfig (sized by
// fleetSize), with max_connections raised to MaxConnectionsNeeded when it is not set.
func (c Config) ClusterParameters() map[string]string {
	params := map[string]string{"max_connections": strconv.Itoa(max(defaultMaxConnections, c.MaxConnectionsNeeded()))}
	for k, v := range c.PostgreSQL.PostgresqlConfig {
		params[k] = v
	}
	return params
}

// checkMaxConnections refuses a max_connections that cannot take the servers' pools during a rollout.
func checkMaxConnections(p *problems, c Config) {
	const key = "postgresql.postgresqlConfig.max_connections"
	v, set := c.PostgreSQL.PostgresqlConfig["max_connections"]
	if !set {
		return
	}
	have, err := strconv.Atoi(v)
	if err != nil {
		p.addf(key, "use a whole number", "%q is not a number", v)
		return
	}
	if need := c.MaxConnectionsNeeded(); have < need {
		p.addf(key, fmt.Sprintf("set it to %d or more, or lower server.databaseMaxConns or server.replicas", need),
			"%d is below what (server.replicas %d + 1 during a rollout) × server.databaseMaxConns %d + %d of headroom need",
			have, c.Server.Replicas, c.Server.DatabaseMaxConns, connectionHeadroom)
	}
}

// validatePostgresCluster checks postgresql.cluster, the CloudNativePG mode.
func validatePostgresCluster(p *problems, c Config) {
	const key = "postgresql.cluster"
	pc := c.PostgreSQL.Cluster
	tls := c.PostgreSQL.TLS
	if tls.Mode != "disable" && tls.Mode != "verify-full" || tls.CASecretRef != "" || tls.CertSecretRef != "" {
		p.add("postgresql.tls", "is set while postgresql.cluster.enabled is true, but the cluster's TLS is CloudNativePG's: the server always verifies <cluster>-rw (verify-full) against the operator's <cluster>-ca",
			"remove postgresql.tls.mode, caSecretRef and certSecretRef")
	}
	atLeast(p, key+".instances", pc.Instances, 1)
	if pc.Instances >= 1 {
		if pc.SynchronousReplicas > pc.Instances-1 {
			p.addf(key+".synchronousReplicas", fmt.Sprintf("set it to %d at most (instances - 1), or 0 to replicate asynchronously", pc.Instances-1),
				"%d standbys cannot confirm commits with %d instances", pc.SynchronousReplicas, pc.Instances)
		}
	}
	atLeast(p, key+".synchronousReplicas", pc.SynchronousReplicas, 0)
	oneOf(p, key+".dataDurability", pc.DataDurability, "required", "preferred")
	checkName(p, key+".operatorNamespace", pc.OperatorNamespace, dnsLabel)
	atLeast(p, key+".incarnation", pc.Incarnation, 1)
	checkMaxConnections(p, c)
	if c.PostgreSQL.Auth.PasswordRotation != 0 {
		p.add("postgresql.auth.passwordRotation", "is set while postgresql.cluster.enabled is true, but the program's password Job changes the bundled StatefulSet's password only",
			"remove it; to change the password, set postgresql.auth.password (CloudNativePG applies a changed Secret to the role)")
	}

	checkOptionalName(p, key+".ownerSecret", pc.OwnerSecret, dnsSubdomain)
	if pc.OwnerSecret != "" && c.PostgreSQL.Auth.Password.IsSet() {
		p.add("postgresql.auth.password", "is set while postgresql.cluster.ownerSecret names the Secret that holds the owner's password",
			"remove postgresql.auth.password, or remove postgresql.cluster.ownerSecret to have the program keep the password")
	}

	b := pc.Backup
	if _, err := cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(b.Schedule); err != nil || len(strings.Fields(b.Schedule)) != 6 {
		p.addf(key+".backup.schedule", `use six cron fields, seconds first, such as "0 0 2 * * *" (02:00 every day)`,
			"%q is not a six-field schedule", b.Schedule)
	}
	if strings.HasPrefix(b.Prefix, "/") || b.Prefix != "" && !strings.HasSuffix(b.Prefix, "/") {
		p.addf(key+".backup.prefix", `use a path without a leading "/" ending in "/", such as "certctl-cnpg/"`, "%q is not such a prefix", b.Prefix)
	}
	atLeast(p, key+".backup.retentionDays", b.RetentionDays, 1)
	if b.Enabled {
		s3 := c.Backup.S3
		if b.Prefix == s3.Prefix {
			p.addf(key+".backup.prefix", "give the archive its own prefix, e.g. \"certctl-cnpg/\"", "%q is backup.s3.prefix too, whose lifecycle rule would expire the archive", b.Prefix)
		}
		if s3.Credentials == BackupCredentialsPodIdentity {
			p.add("backup.s3.credentials", "is podIdentity, which the program does not wire for the cluster's ServiceAccount",
				"use irsa (the program trusts system:serviceaccount:<namespace>:<cluster>), iamUser or existingSecret")
		}
	}

	r := pc.Recovery
	if r.Enabled && !b.Enabled {
		p.add(key+".recovery.enabled", "restores from the object store, but postgresql.cluster.backup.enabled is false, so there is none",
			"set postgresql.cluster.backup.enabled=true with the bucket the archive is in (backup.s3)")
	}
	if r.Enabled && (r.SourceIncarnation < 1 || r.SourceIncarnation >= pc.Incarnation) {
		p.addf(key+".recovery.sourceIncarnation", "set it to the incarnation being restored, and postgresql.cluster.incarnation above it (the restored cluster archives anew)",
			"%d is not an earlier incarnation than postgresql.cluster.incarnation (%d)", r.SourceIncarnation, pc.Incarnation)
	}
	if r.TargetTime != "" {
		if _, err := time.Parse(time.RFC3339, r.TargetTime); err != nil {
			p.addf(key+".recovery.targetTime", `use an RFC 3339 time such as "2026-12-03T10:15:00Z"`, "%q is not one", r.TargetTime)
		}
	}
}
