package components

import (
	"slices"
	"strconv"
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
	// AgentKeys is what the server accepts under that name: AgentKey, and the previous key
	// during a rotation.
	AgentKey, AgentKeys pulumi.StringOutput
	// BootstrapToken registers agents. certctl v2.1.7 wants the registration bearer to be both
	// this token and a key holding agent.edit, so it is also a named key (see accessScript).
	BootstrapToken pulumi.StringOutput
	// EncryptionKey encrypts issuer and target credentials at rest.
	EncryptionKey pulumi.StringOutput
	// ScrapeKey is the key Prometheus presents, when the program provisions it (unset otherwise);
	// ScrapeKeys is what the server accepts for it, as AgentKeys.
	ScrapeKey, ScrapeKeys pulumi.StringOutput
	// ChecksumKey keys the digests of secret values in pod annotations (always generated).
	ChecksumKey pulumi.StringOutput
}

// newCredentials generates the credentials the user did not give, as children of owner (the
// Certctl component named name).
func newCredentials(ctx *pulumi.Context, owner pulumi.Resource, name string, s config.Server, m config.Monitoring, r config.KeyRotations) (Credentials, error) {
	var c Credentials
	opts := []pulumi.ResourceOption{pulumi.Parent(owner)}
	// Before v2.1.7 support CertctlServer generated the admin key and the bootstrap token: the
	// aliases keep an upgraded stack's values instead of new ones.
	admin, adminKeys, err := rotatingKey(ctx, name+"-api-key", r.Admin,
		movedFromServer(ctx, owner, name, name+"-server-api-key"), opts...)
	if err != nil {
		return Credentials{}, err
	}
	// A given admin key is already the accepted list ("new,old").
	c.AdminKeys = adminKeys
	if s.Auth.APIKey.IsSet() {
		c.AdminKeys = admin
	}
	if c.AgentKey, c.AgentKeys, err = rotatingKey(ctx, name+"-agent-api-key", r.Agents, nil, opts...); err != nil {
		return Credentials{}, err
	}
	if c.BootstrapToken, err = givenOrGenerated(ctx, name+"-bootstrap-token", s.Auth.AgentBootstrapToken,
		append(opts, movedFromServer(ctx, owner, name, name+"-server-bootstrap-token"))...); err != nil {
		return Credentials{}, err
	}
	if c.EncryptionKey, err = givenOrGenerated(ctx, name+"-config-encryption-key", s.ConfigEncryptionKey, opts...); err != nil {
		return Credentials{}, err
	}
	if c.ChecksumKey, err = generated(ctx, name+"-checksum-key", opts...); err != nil {
		return Credentials{}, err
	}
	if m.ProvisionsScrapeKey() {
		if c.ScrapeKey, c.ScrapeKeys, err = rotatingKey(ctx, name+"-scrape-key", r.Scrape, nil, opts...); err != nil {
			return Credentials{}, err
		}
	}
	return c, nil
}

// rotatingKey is a key the user gave, or a generated one with a rotation counter. Generation N
// lives in slot N%2: slot 0 keeps the key's original name (generation 0 is the key a stack had
// before counters), slot 1 is "<name>-b", and each slot's keeper is the latest generation of its
// parity, so a step up replaces only the older key. accepted is the current key and, until
// r.Done reaches the counter, the previous one. Clients the program owns move to current in the
// update that makes it; the user says when the others have, so nothing ends the overlap but
// configuration. slot0 (an alias, or nil) applies to slot 0 only.
func rotatingKey(ctx *pulumi.Context, name string, r config.KeyRotation, slot0 pulumi.ResourceOption, opts ...pulumi.ResourceOption) (current, accepted pulumi.StringOutput, err error) {
	if r.Given.IsSet() {
		return r.Given.Output(), r.Given.Output(), nil
	}
	slots := [2]pulumi.StringOutput{}
	for parity := range min(r.Rotation+1, 2) {
		slotName, slotOpts := name, opts
		if parity == 1 {
			slotName += "-b"
		} else if slot0 != nil {
			slotOpts = append(slices.Clone(opts), slot0)
		}
		if slots[parity], err = generatedWith(ctx, slotName, rotationKeepers(latestOfParity(r.Rotation, parity)), slotOpts...); err != nil {
			return current, accepted, err
		}
	}
	current = slots[r.Rotation%2]
	if !r.AcceptsPrevious() {
		return current, current, nil
	}
	return current, pulumi.Sprintf("%s,%s", current, slots[(r.Rotation+1)%2]), nil
}

// latestOfParity is the latest generation up to rotation with the given parity.
func latestOfParity(rotation, parity int) int {
	if rotation%2 == parity {
		return rotation
	}
	return rotation - 1
}

// rotationKeepers replaces a generated value when the generation changes; generation 0 has no
// keeper, so a key from before rotation counters stays what it was.
func rotationKeepers(generation int) pulumi.StringMapInput {
	if generation == 0 {
		return nil
	}
	return pulumi.StringMap{"rotation": pulumi.String(strconv.Itoa(generation))}
}

// movedFromServer aliases a resource to oldName under the CertctlServer component of owner.
func movedFromServer(ctx *pulumi.Context, owner pulumi.Resource, name, oldName string) pulumi.ResourceOption {
	ownerURN := owner.URN().ApplyT(func(u pulumi.URN) string { return string(u) }).(pulumi.StringOutput)
	server := pulumi.CreateURN(pulumi.String(name+"-server"), pulumi.String(typeCertctlServer), ownerURN,
		pulumi.String(ctx.Project()), pulumi.String(ctx.Stack()))
	return pulumi.Aliases([]pulumi.Alias{{Name: pulumi.String(oldName), ParentURN: server}})
}

// namedKeys is CERTCTL_API_KEYS_NAMED: every admin key under one admin name (certctl accepts one
// name with several keys, which is how a rotation keeps the old key valid), the agents' keys, the
// bootstrap token, Prometheus's scrape keys, then the user's own entries. The server grants
// r-viewer to every non-admin name at boot; accessScript narrows the agents', the bootstrap
// token's and the scrape key's names after that.
func namedKeys(c Credentials, user config.Secret) pulumi.StringOutput {
	scrape := pulumi.String("").ToStringOutput()
	if c.ScrapeKeys != (pulumi.StringOutput{}) {
		scrape = c.ScrapeKeys
	}
	return pulumi.All(c.AdminKeys, c.AgentKeys, c.BootstrapToken, scrape, user.Output()).ApplyT(func(v []any) string {
		var entries []string
		for _, k := range strings.Split(v[0].(string), ",") {
			entries = append(entries, config.AdminKeyName+":"+k+":admin")
		}
		for _, k := range strings.Split(v[1].(string), ",") {
			entries = append(entries, config.AgentsKeyName+":"+k)
		}
		entries = append(entries, config.AgentBootstrapKeyName+":"+v[2].(string))
		if keys := v[3].(string); keys != "" {
			for _, k := range strings.Split(keys, ",") {
				entries = append(entries, config.PrometheusKeyName+":"+k)
			}
		}
		if u := v[4].(string); u != "" {
			entries = append(entries, u)
		}
		return strings.Join(entries, ",")
	}).(pulumi.StringOutput)
}
