package config

// envOwner names a variable the program sets and the config key that sets it ("" when the
// program derives it alone).
type envOwner struct {
	name string
	key  string
}

var serverEnvOwners = []envOwner{
	{"CERTCTL_SERVER_HOST", ""},
	{"CERTCTL_SERVER_PORT", "server.port"},
	{"CERTCTL_SERVER_TLS_CERT_PATH", "server.tls.mountPath"},
	{"CERTCTL_SERVER_TLS_KEY_PATH", "server.tls.mountPath"},
	{"CERTCTL_DATABASE_URL", "externalDatabase.url"},
	{"CERTCTL_DATABASE_MAX_CONNS", "server.databaseMaxConns"},
	{"PGSSLROOTCERT", "postgresql.tls.caSecretRef"},
	{"CERTCTL_LOG_LEVEL", "server.logging.level"},
	{"CERTCTL_LOG_FORMAT", "server.logging.format"},
	{"CERTCTL_AUTH_TYPE", "server.auth.type"},
	{"CERTCTL_AUTH_SECRET", "server.auth.apiKey"},
	{"CERTCTL_API_KEYS_NAMED", "server.auth.namedKeys"},
	{"CERTCTL_CONFIG_ENCRYPTION_KEY", "server.configEncryptionKey"},
	{"CERTCTL_CA_CERT_PATH", "server.issuer.local.existingSecret"},
	{"CERTCTL_CA_KEY_PATH", "server.issuer.local.existingSecret"},
	{"CERTCTL_AGENT_BOOTSTRAP_TOKEN", "server.auth.agentBootstrapToken"},
	{"CERTCTL_KEYGEN_MODE", "server.keygen.mode"},
	{"CERTCTL_RATE_LIMIT_RPS", "server.rateLimiting.rps"},
	{"CERTCTL_RATE_LIMIT_BURST", "server.rateLimiting.burst"},
	{"CERTCTL_RATE_LIMIT_BACKEND", "server.replicas"},
	{"CERTCTL_CORS_ORIGINS", "server.cors.origins"},
	{"CERTCTL_NETWORK_SCAN_ENABLED", "server.networkScan.enabled"},
	{"CERTCTL_NETWORK_SCAN_INTERVAL", "server.networkScan.interval"},
	{"CERTCTL_EST_ENABLED", "server.est.enabled"},
	{"CERTCTL_EST_ISSUER_ID", "server.est.issuerID"},
	{"CERTCTL_EST_PROFILE_ID", "server.est.profileID"},
	{"CERTCTL_SMTP_HOST", "server.smtp.host"},
	{"CERTCTL_SMTP_PORT", "server.smtp.port"},
	{"CERTCTL_SMTP_USERNAME", "server.smtp.username"},
	{"CERTCTL_SMTP_PASSWORD", "server.smtp.password"},
	{"CERTCTL_SMTP_FROM_ADDRESS", "server.smtp.fromAddress"},
	{"CERTCTL_SMTP_USE_TLS", "server.smtp.useTLS"},
	{"CERTCTL_DIGEST_ENABLED", "server.digest.enabled"},
	{"CERTCTL_DIGEST_INTERVAL", "server.digest.interval"},
	{"CERTCTL_DIGEST_RECIPIENTS", "server.digest.recipients"},
	{"CERTCTL_ACME_DIRECTORY_URL", "server.issuer.acme.directoryURL"},
	{"CERTCTL_ACME_EMAIL", "server.issuer.acme.email"},
	{"CERTCTL_ACME_CHALLENGE_TYPE", "server.issuer.acme.challengeType"},
	{"CERTCTL_ACME_DNS_PRESENT_SCRIPT", "server.issuer.acme.dnsPresentScript"},
	{"CERTCTL_ACME_DNS_CLEANUP_SCRIPT", "server.issuer.acme.dnsCleanupScript"},
	{"CERTCTL_ACME_DNS_PROPAGATION_WAIT", "server.issuer.acme.dnsPropagationWait"},
	{"CERTCTL_ACME_DNS_PERSIST_ISSUER_DOMAIN", "server.issuer.acme.dnsPersistIssuerDomain"},
	{"CERTCTL_ACME_EAB_KID", "server.issuer.acme.eabKid"},
	{"CERTCTL_ACME_EAB_HMAC", "server.issuer.acme.eabHmac"},
	{"CERTCTL_MIGRATIONS_VIA_HOOK", "migrations.viaHook"},
	{"CERTCTL_SLACK_WEBHOOK_URL", "server.notifiers.slack.webhookUrl"},
	{"CERTCTL_SLACK_CHANNEL", "server.notifiers.slack.channel"},
	{"CERTCTL_SLACK_USERNAME", "server.notifiers.slack.username"},
	{"CERTCTL_TEAMS_WEBHOOK_URL", "server.notifiers.teams.webhookUrl"},
	{"CERTCTL_PAGERDUTY_ROUTING_KEY", "server.notifiers.pagerduty.routingKey"},
	{"CERTCTL_PAGERDUTY_SEVERITY", "server.notifiers.pagerduty.severity"},
	{"CERTCTL_OPSGENIE_API_KEY", "server.notifiers.opsgenie.apiKey"},
	{"CERTCTL_OPSGENIE_PRIORITY", "server.notifiers.opsgenie.priority"},
}

var agentEnvOwners = []envOwner{
	{"CERTCTL_SERVER_URL", ""},
	{"CERTCTL_API_KEY", "server.auth.agentApiKey"},
	{"CERTCTL_AGENT_ID", ""},
	{"CERTCTL_AGENT_BOOTSTRAP_TOKEN", "server.auth.agentBootstrapToken"},
	{"CERTCTL_AGENT_NAME", "agent.name"},
	{"CERTCTL_KEY_DIR", "agent.keyDir"},
	{"CERTCTL_SERVER_CA_BUNDLE_PATH", ""},
	{"CERTCTL_DISCOVERY_DIRS", "agent.discoveryDirs"},
}

// ServerManagedEnv are the server container's variables the program sets; server.env and
// server.extraEnv may not set them.
var ServerManagedEnv = envNames(serverEnvOwners)

// AgentManagedEnv are the agent container's variables the program sets.
var AgentManagedEnv = envNames(agentEnvOwners)

// ReservedVolumeNames are the volume names the program uses in its own pods; server.volumes
// may not take them.
var ReservedVolumeNames = []string{"tmp", "tls", "postgresql-ca", "local-ca", "keys", "identity", "data", "run"}

// PostgresCAMountPath is where the postgresql.tls.caSecretRef Secret is mounted (PGSSLROOTCERT
// points at ca.crt inside it).
const PostgresCAMountPath = "/etc/postgresql-ca"

// LocalCAMountPath is where the local issuer's CA Secret is mounted in the server.
const LocalCAMountPath = "/etc/certctl/ca"

func envNames(owners []envOwner) []string {
	names := make([]string, len(owners))
	for i, o := range owners {
		names[i] = o.name
	}
	return names
}
