package components

import (
	"strconv"
	"strings"

	"github.com/certctl-io/certctl-pulumi/config"
)

// serverEnv is every variable the server container can get, in declaration order; entries a
// setting turns off stay in the list (see when), so the list is also what the program reserves.
func serverEnv(a *CertctlServerArgs) []envEntry {
	s, db, creds := a.Server, a.Database, a.Credentials
	tls, smtp, acme := s.TLS.MountPath, s.SMTP, s.Issuer.ACME
	env := []envEntry{
		plainEnv("CERTCTL_SERVER_HOST", "0.0.0.0"),
		plainEnv("CERTCTL_SERVER_PORT", strconv.Itoa(s.Port)).setBy("server.port"),
		plainEnv("CERTCTL_SERVER_TLS_CERT_PATH", tls+"/tls.crt").setBy("server.tls.mountPath"),
		plainEnv("CERTCTL_SERVER_TLS_KEY_PATH", tls+"/tls.key").setBy("server.tls.mountPath"),
		secretEnv("CERTCTL_DATABASE_URL", "database-url", db.URL).setBy("externalDatabase.url"),
	}
	env = append(env, when(db.CASecret != "", plainEnv("PGSSLROOTCERT", postgresCAMountPath+"/ca.crt").setBy("postgresql.tls.caSecretRef"))...)
	env = append(env, when(db.PasswordRef.Name != "", refEnv("PGPASSWORD", db.PasswordRef, false).setBy("postgresql.cluster.ownerSecret"))...)
	env = append(env,
		plainEnv("CERTCTL_DATABASE_MAX_CONNS", strconv.Itoa(s.DatabaseMaxConns)).setBy("server.databaseMaxConns"),
		plainEnv("CERTCTL_LOG_LEVEL", s.Logging.Level).setBy("server.logging.level"),
		plainEnv("CERTCTL_LOG_FORMAT", s.Logging.Format).setBy("server.logging.format"),
		plainEnv("CERTCTL_AUTH_TYPE", s.Auth.Type).setBy("server.auth.type"),
		// v2.1.7 refuses to start without CERTCTL_AUTH_SECRET and ignores it once named keys
		// exist; the admin keys (already in the named keys) fill it, and the postStart hook
		// reads the admin key from it.
		secretEnv("CERTCTL_AUTH_SECRET", "api-key", creds.AdminKeys).setBy("server.auth.apiKey"),
		secretEnv("CERTCTL_API_KEYS_NAMED", "api-keys-named", namedKeys(creds, s.Auth.NamedKeys)).setBy("server.auth.namedKeys"),
		secretEnv("CERTCTL_AGENT_BOOTSTRAP_TOKEN", keyBootstrapToken, creds.BootstrapToken).setBy("server.auth.agentBootstrapToken"),
		secretEnv("CERTCTL_CONFIG_ENCRYPTION_KEY", "config-encryption-key", creds.EncryptionKey).setBy("server.configEncryptionKey"),
		plainEnv("CERTCTL_CA_CERT_PATH", localCAMountPath+"/tls.crt").setBy("server.issuer.local.existingSecret"),
		plainEnv("CERTCTL_CA_KEY_PATH", localCAMountPath+"/tls.key").setBy("server.issuer.local.existingSecret"),
		plainEnv("CERTCTL_KEYGEN_MODE", s.Keygen.Mode).setBy("server.keygen.mode"),
		plainEnv("CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL", s.JobProcessorInterval()).setBy("server.scheduler.jobProcessorInterval"),
		plainEnv("CERTCTL_CRL_GENERATION_INTERVAL", s.Scheduler.CRLGenerationInterval).setBy("server.scheduler.crlGenerationInterval"),
		plainEnv("CERTCTL_RATE_LIMIT_RPS", strconv.Itoa(s.RateLimiting.RPS)).setBy("server.rateLimiting.rps"),
		plainEnv("CERTCTL_RATE_LIMIT_BURST", strconv.Itoa(s.RateLimiting.Burst)).setBy("server.rateLimiting.burst"),
		plainEnv("CERTCTL_RATE_LIMIT_BACKEND", rateLimitBackend(s.RateLimiting.Backend, s.Replicas)).setBy("server.rateLimiting.backend"),
	)
	env = append(env, when(rateLimitBackend(s.RateLimiting.Backend, s.Replicas) == "postgres",
		plainEnv("CERTCTL_RATE_LIMIT_JANITOR_INTERVAL", s.RateLimiting.JanitorInterval).setBy("server.rateLimiting.janitorInterval"))...)
	env = append(env, when(len(s.TrustedProxies) > 0,
		plainEnv("CERTCTL_TRUSTED_PROXIES", strings.Join(s.TrustedProxies, ",")).setBy("server.trustedProxies"))...)
	env = append(env, when(s.CORS.Origins != "", plainEnv("CERTCTL_CORS_ORIGINS", s.CORS.Origins).setBy("server.cors.origins"))...)
	env = append(env, when(s.NetworkScan.Enabled,
		plainEnv("CERTCTL_NETWORK_SCAN_ENABLED", "true").setBy("server.networkScan.enabled"),
		plainEnv("CERTCTL_NETWORK_SCAN_INTERVAL", s.NetworkScan.Interval).setBy("server.networkScan.interval"))...)
	env = append(env, when(s.EST.Enabled,
		plainEnv("CERTCTL_EST_ENABLED", "true").setBy("server.est.enabled"),
		plainEnv("CERTCTL_EST_ISSUER_ID", s.EST.IssuerID).setBy("server.est.issuerID"))...)
	env = append(env, when(s.EST.Enabled && s.EST.ProfileID != "", plainEnv("CERTCTL_EST_PROFILE_ID", s.EST.ProfileID).setBy("server.est.profileID"))...)
	env = append(env, when(smtp.Enabled,
		plainEnv("CERTCTL_SMTP_HOST", smtp.Host).setBy("server.smtp.host"),
		plainEnv("CERTCTL_SMTP_PORT", strconv.Itoa(smtp.Port)).setBy("server.smtp.port"))...)
	env = append(env, when(smtp.Enabled && smtp.Username != "", plainEnv("CERTCTL_SMTP_USERNAME", smtp.Username).setBy("server.smtp.username"))...)
	env = append(env, when(smtp.Enabled && smtp.Password.IsSet(), secretEnv("CERTCTL_SMTP_PASSWORD", "smtp-password", smtp.Password.Output()).setBy("server.smtp.password"))...)
	env = append(env, when(smtp.Enabled,
		plainEnv("CERTCTL_SMTP_FROM_ADDRESS", smtp.FromAddress).setBy("server.smtp.fromAddress"),
		plainEnv("CERTCTL_SMTP_USE_TLS", strconv.FormatBool(smtp.UseTLS)).setBy("server.smtp.useTLS"))...)
	env = append(env, when(s.Digest.Enabled,
		plainEnv("CERTCTL_DIGEST_ENABLED", "true").setBy("server.digest.enabled"),
		plainEnv("CERTCTL_DIGEST_INTERVAL", s.Digest.Interval).setBy("server.digest.interval"),
		plainEnv("CERTCTL_DIGEST_RECIPIENTS", strings.Join(s.Digest.Recipients, ",")).setBy("server.digest.recipients"))...)
	env = append(env, when(acme.Enabled,
		plainEnv("CERTCTL_ACME_DIRECTORY_URL", acme.DirectoryURL).setBy("server.issuer.acme.directoryURL"),
		plainEnv("CERTCTL_ACME_EMAIL", acme.Email).setBy("server.issuer.acme.email"),
		plainEnv("CERTCTL_ACME_CHALLENGE_TYPE", acme.ChallengeType).setBy("server.issuer.acme.challengeType"))...)
	env = append(env, when(a.Migrations.ViaHook, plainEnv("CERTCTL_MIGRATIONS_VIA_HOOK", "true").setBy("migrations.viaHook"))...)
	return append(env, notifierEnv(s.Notifiers)...)
}

// rateLimitBackend is the chosen backend, or else Postgres when several replicas must share
// their limits; one replica counts in memory (certctl's default).
func rateLimitBackend(chosen string, replicas int) string {
	switch {
	case chosen != "":
		return chosen
	case replicas > 1:
		return "postgres"
	default:
		return "memory"
	}
}

func notifierEnv(n config.Notifiers) []envEntry {
	const key = "server.notifiers."
	var env []envEntry
	env = append(env, when(n.Slack.Enabled,
		secretEnv("CERTCTL_SLACK_WEBHOOK_URL", "slack-webhook-url", n.Slack.WebhookURL.Output()).setBy(key+"slack.webhookUrl"))...)
	env = append(env, when(n.Slack.Enabled && n.Slack.Channel != "", plainEnv("CERTCTL_SLACK_CHANNEL", n.Slack.Channel).setBy(key+"slack.channel"))...)
	env = append(env, when(n.Slack.Enabled && n.Slack.Username != "", plainEnv("CERTCTL_SLACK_USERNAME", n.Slack.Username).setBy(key+"slack.username"))...)
	env = append(env, when(n.Teams.Enabled,
		secretEnv("CERTCTL_TEAMS_WEBHOOK_URL", "teams-webhook-url", n.Teams.WebhookURL.Output()).setBy(key+"teams.webhookUrl"))...)
	env = append(env, when(n.PagerDuty.Enabled,
		secretEnv("CERTCTL_PAGERDUTY_ROUTING_KEY", "pagerduty-routing-key", n.PagerDuty.RoutingKey.Output()).setBy(key+"pagerduty.routingKey"),
		plainEnv("CERTCTL_PAGERDUTY_SEVERITY", n.PagerDuty.Severity).setBy(key+"pagerduty.severity"))...)
	return append(env, when(n.Opsgenie.Enabled,
		secretEnv("CERTCTL_OPSGENIE_API_KEY", "opsgenie-api-key", n.Opsgenie.APIKey.Output()).setBy(key+"opsgenie.apiKey"),
		plainEnv("CERTCTL_OPSGENIE_PRIORITY", n.Opsgenie.Priority).setBy(key+"opsgenie.priority"))...)
}
