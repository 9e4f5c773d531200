package components

import (
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// Reserved is what the program puts in the server and agent pods, whatever the configuration
// turns on: the entries of the very lists the components render from, so validation and the
// pods cannot disagree.
func Reserved(cfg *config.Config) config.Reserved {
	names := cfg.Names()
	// Only the lists' names and keys are read; values are placeholders.
	none := pulumi.String("").ToStringOutput()
	creds := Credentials{AdminKeys: none, AgentKey: none, AgentKeys: none, BootstrapToken: none, EncryptionKey: none}
	server := &CertctlServerArgs{Names: names, Server: cfg.Server, Database: Database{URL: none}, Credentials: creds}
	agent := &AgentArgs{Name: names.Agent, Agent: cfg.Agent, Server: ServerEndpoint{TLSMountPath: cfg.Server.TLS.MountPath}}
	var r config.Reserved
	for _, e := range serverEnv(server) {
		r.ServerEnv = append(r.ServerEnv, config.ReservedEnv{Name: e.name, Key: e.key})
	}
	for _, e := range append(agentEnv(agent, true), agentEnv(agent, false)...) {
		r.AgentEnv = append(r.AgentEnv, config.ReservedEnv{Name: e.name, Key: e.key})
	}
	for _, v := range serverVolumes(server) {
		r.ServerVolumes = append(r.ServerVolumes, reservedVolume(v))
	}
	for _, v := range agentVolumes(agent) {
		if v.name() != agentKeyVolume {
			r.AgentVolumes = append(r.AgentVolumes, reservedVolume(v))
		}
	}
	return r
}

// JobEnv is every variable the backup and password-change Jobs can get, with the config key that
// sets each. The Jobs take no user env, so nothing here is reserved; the README's reference names
// these variables as it does the server's and agents'.
func JobEnv(cfg *config.Config) []config.ReservedEnv {
	none := pulumi.String("").ToStringOutput()
	// Every optional entry stays listed (turned off) when its setting is unset; the placeholders
	// only fill what the lists' names and keys do not depend on.
	backup := &BackupArgs{Backup: cfg.Backup, SSLMode: cfg.PostgreSQL.TLS.Mode}
	sink := backupSink{bucket: none, accessKey: &config.BackupCredentialsSecret{}}
	postgres := &BundledPostgresArgs{Name: cfg.Names().Postgres, PostgreSQL: cfg.PostgreSQL}
	var out []config.ReservedEnv
	for _, e := range slices.Concat(backupDatabaseEnv(backup), backupUploadEnv(cfg.Backup.S3, sink), passwordChangeEnv(postgres)) {
		out = append(out, config.ReservedEnv{Name: e.name, Key: e.key})
	}
	return out
}

// reservedVolume is one of the program's volumes as validation sees it, with the config key that
// sets its mount path.
func reservedVolume(v ownVolume) config.ReservedVolume {
	r := config.ReservedVolume{Name: v.name(), MountPath: v.path}
	if v.name() == serverTLSVolume {
		r.Key = "server.tls.mountPath"
	}
	return r
}
