package components

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// Credentials are the deployment's secrets, generated once (in Certctl) unless the user gives
// them, and wired to the components that use them. Every value is a Pulumi secret.
type Credentials struct {
	// AdminKeys is the admin key list, newest first ("new,old" during a rotation).
	AdminKeys pulumi.StringOutput
	// AgentKey is the key every agent presents; the server narrows it to the r-agent role.
	AgentKey pulumi.StringOutput
	// BootstrapToken registers agents. certctl v2.1.7 wants the registration bearer to be both
	// this token and a key holding agent.edit, so it is also a named key (see accessScript).
	BootstrapToken pulumi.StringOutput
	// EncryptionKey encrypts issuer and target credentials at rest.
	EncryptionKey pulumi.StringOutput
	// ScrapeKey is the key Prometheus presents, when the program provisions it (unset otherwise).
	ScrapeKey pulumi.StringOutput
	// ChecksumKey keys the digests of secret values in pod annotations (always generated).
	ChecksumKey pulumi.StringOutput
}

// newCredentials generates the credentials the user did not give, as children of owner (the
// Certctl component named name).
func newCredentials(ctx *pulumi.Context, owner pulumi.Resource, name string, s config.Server, m config.Monitoring) (Credentials, error) {
	var c Credentials
	for _, x := range []struct {
		out    *pulumi.StringOutput
		suffix string
		given  config.Secret
		// movedFrom is the generated value's name when CertctlServer generated it (before
		// v2.1.7 support): the alias keeps an upgraded stack's value instead of a new one.
		movedFrom string
	}{
		{&c.AdminKeys, "-api-key", s.Auth.APIKey, "-server-api-key"},
		{&c.AgentKey, "-agent-api-key", s.Auth.AgentAPIKey, ""},
		{&c.BootstrapToken, "-bootstrap-token", s.Auth.AgentBootstrapToken, "-server-bootstrap-token"},
		{&c.EncryptionKey, "-config-encryption-key", s.ConfigEncryptionKey, ""},
	} {
		opts := []pulumi.ResourceOption{pulumi.Parent(owner)}
		if x.movedFrom != "" {
			opts = append(opts, movedFromServer(ctx, owner, name, name+x.movedFrom))
		}
		v, err := givenOrGenerated(ctx, name+x.suffix, x.given, opts...)
		if err != nil {
			return Credentials{}, err
		}
		*x.out = v
	}
	key, err := generated(ctx, name+"-checksum-key", pulumi.Parent(owner))
	if err != nil {
		return Credentials{}, err
	}
	c.ChecksumKey = key
	if scrapeKeyProvisioned(m) {
		v, err := givenOrGenerated(ctx, name+"-scrape-key", m.ServiceMonitor.ScrapeKey, pulumi.Parent(owner))
		if err != nil {
			return Credentials{}, err
		}
		c.ScrapeKey = v
	}
	return c, nil
}

// scrapeKeyProvisioned: the program gives Prometheus its own key unless the user names a Secret.
func scrapeKeyProvisioned(m config.Monitoring) bool {
	return m.Enabled && m.ServiceMonitor.Enabled && m.ServiceMonitor.BearerTokenSecret.Name == ""
}

// movedFromServer aliases a resource to oldName under the CertctlServer component of owner.
func movedFromServer(ctx *pulumi.Context, owner pulumi.Resource, name, oldName string) pulumi.ResourceOption {
	ownerURN := owner.URN().ApplyT(func(u pulumi.URN) string { return string(u) }).(pulumi.StringOutput)
	server := pulumi.CreateURN(pulumi.String(name+"-server"), pulumi.String(typeCertctlServer), ownerURN,
		pulumi.String(ctx.Project()), pulumi.String(ctx.Stack()))
	return pulumi.Aliases([]pulumi.Alias{{Name: pulumi.String(oldName), ParentURN: server}})
}

// namedKeys is CERTCTL_API_KEYS_NAMED: every admin key under one admin name (certctl accepts one
// name with several keys, which is how a rotation keeps the old key valid), the agents' key, the
// bootstrap token, Prometheus's scrape key, then the user's own entries. The server grants
// r-viewer to every non-admin name at boot, which is what the scrape key needs (metrics.read);
// accessScript narrows the agents' and the bootstrap token's names after that.
func namedKeys(c Credentials, user config.Secret) pulumi.StringOutput {
	scrape := pulumi.String("").ToStringOutput()
	if c.ScrapeKey != (pulumi.StringOutput{}) {
		scrape = c.ScrapeKey
	}
	return pulumi.All(c.AdminKeys, c.AgentKey, c.BootstrapToken, scrape, user.Output()).ApplyT(func(v []any) string {
		var entries []string
		for _, k := range strings.Split(v[0].(string), ",") {
			entries = append(entries, config.AdminKeyName+":"+k+":admin")
		}
		entries = append(entries, config.AgentsKeyName+":"+v[1].(string), config.AgentBootstrapKeyName+":"+v[2].(string))
		if k := v[3].(string); k != "" {
			entries = append(entries, config.PrometheusKeyName+":"+k)
		}
		if u := v[4].(string); u != "" {
			entries = append(entries, u)
		}
		return strings.Join(entries, ",")
	}).(pulumi.StringOutput)
}
