package program

import (
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
)

// outputs are the stack outputs: names, the generated credentials (secret), and the commands the
// chart's NOTES.txt would have printed, made for this stack.
func outputs(ctx *pulumi.Context, cfg *config.Config, c *components.Certctl) pulumi.Map {
	out := pulumi.Map{
		"namespace":           c.Namespace,
		"serverServiceName":   c.ServerServiceName,
		"serverDnsName":       c.ServerDNSName,
		"serverUrl":           c.ServerURL,
		"serverSecretName":    c.ServerSecretName,
		"tlsSecretName":       c.TLSSecretName,
		"apiKey":              c.APIKey,
		"agentApiKey":         c.AgentAPIKey,
		"agentBootstrapToken": c.BootstrapToken,
	}
	if cfg.Server.Issuer.Local.ExistingSecret == "" {
		out["localCaCert"] = c.LocalCACert
	}
	if cfg.PostgreSQL.Enabled {
		out["postgresSecretName"] = c.PostgresSecretName
		pg := cfg.PostgreSQL
		out["postgres"] = pulumi.Map{
			"host": c.PostgresHost, "port": pulumi.Int(pg.Service.Port),
			"database": pulumi.String(pg.Auth.Database), "username": pulumi.String(pg.Auth.Username),
			"sslmode":        pulumi.String(pg.TLS.Mode),
			"passwordSecret": pulumi.Sprintf("%s (key password)", c.PostgresSecretName),
		}
	}
	if cfg.Migrations.ViaHook {
		out["migrationJobName"] = c.MigrationJobName
	}
	if b := c.Backup; b != nil {
		out["backupCronJobName"] = b.CronJobName
		if cfg.Backup.Sink == config.BackupSinkS3 {
			out["backupBucket"], out["backupLocation"] = b.Bucket, b.Location
		} else {
			out["backupClaimName"] = b.ClaimName
		}
	}
	n := notesFor(ctx, cfg)
	out["nextSteps"] = pulumi.All(c.Namespace, c.ServerServiceName, c.TLSSecretName, c.MigrationJobName).ApplyT(func(v []any) string {
		return n.text(v[0].(string), v[1].(string), v[2].(string), v[3].(string))
	}).(pulumi.StringOutput)
	return out
}

// notes are what the commands depend on besides the objects' names.
type notes struct {
	stack, backend string
	port           int
	agent          string // "daemonset/<name>" or "statefulset/<name>", "" without agents
	backup         string // the CronJob, "" without backups
	migrations     bool
}

func notesFor(ctx *pulumi.Context, cfg *config.Config) notes {
	n := notes{stack: ctx.Stack(), port: cfg.Server.Service.Port, migrations: cfg.Migrations.ViaHook}
	// With the Makefile's file backend, `pulumi` finds this stack only with the same URL.
	if url := os.Getenv("PULUMI_BACKEND_URL"); strings.HasPrefix(url, "file://") {
		n.backend = "PULUMI_BACKEND_URL=" + url + " "
	}
	names := cfg.Names()
	if cfg.Agent.Enabled {
		n.agent = strings.ToLower(cfg.Agent.WorkloadKind()) + "/" + names.Agent
	}
	if cfg.Backup.Enabled {
		n.backup = names.Backup
	}
	return n
}

// text is the NOTES: every command runs as printed from the repository's directory.
func (n notes) text(ns, service, tlsSecret, migrationJob string) string {
	pulumi := n.backend + "pulumi --stack " + n.stack
	url := fmt.Sprintf("https://%s:%d", service, n.port)
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# The server:")
	line("kubectl -n %s rollout status deployment/%s", ns, service)
	line("# The CA that signs the server's certificate:")
	line("kubectl -n %s get secret %s -o jsonpath='{.data.ca\\.crt}' | base64 -d > certctl-ca.crt", ns, tlsSecret)
	line("# Reach it from here (the certificate names %s, so resolve that name to the tunnel):", service)
	line("kubectl -n %s port-forward service/%s %d:%d &", ns, service, n.port, n.port)
	line("curl --cacert certctl-ca.crt --resolve %s:%d:127.0.0.1 %s/health", service, n.port, url)
	line("# The admin API key, and the agents the server knows:")
	line("%s stack output apiKey --show-secrets", pulumi)
	line(`curl --cacert certctl-ca.crt --resolve %s:%d:127.0.0.1 -H "Authorization: Bearer $(%s stack output apiKey --show-secrets)" %s/api/v1/agents`, service, n.port, pulumi, url)
	if n.agent != "" {
		line("kubectl -n %s rollout status %s", ns, n.agent)
	}
	if n.migrations {
		line("# The migration Job of the current server image:")
		line("kubectl -n %s logs job/%s", ns, migrationJob)
	}
	if n.backup != "" {
		line("# Backups (restore: docs/runbooks/backup-restore.md):")
		line("kubectl -n %s get cronjob/%s", ns, n.backup)
		line("kubectl -n %s get jobs -l app.kubernetes.io/component=backup", ns)
		line("kubectl -n %s create job --from=cronjob/%s %s-manual", ns, n.backup, n.backup)
	}
	return b.String()
}
