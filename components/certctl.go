package components

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

type CertctlArgs struct {
	// Config must have passed Validate.
	Config *config.Config
}

// Certctl is the whole deployment: namespace, database, server and agents.
type Certctl struct {
	pulumi.ResourceState

	Namespace          pulumi.StringOutput `pulumi:"namespace"`
	ServerServiceName  pulumi.StringOutput `pulumi:"serverServiceName"`
	ServerDNSName      pulumi.StringOutput `pulumi:"serverDnsName"`
	ServerURL          pulumi.StringOutput `pulumi:"serverUrl"`
	ServerSecretName   pulumi.StringOutput `pulumi:"serverSecretName"`
	TLSSecretName      pulumi.StringOutput `pulumi:"tlsSecretName"`
	PostgresSecretName pulumi.StringOutput `pulumi:"postgresSecretName"`
	APIKey             pulumi.StringOutput `pulumi:"apiKey"`
	BootstrapToken     pulumi.StringOutput `pulumi:"agentBootstrapToken"`
}

func NewCertctl(ctx *pulumi.Context, name string, args *CertctlArgs, opts ...pulumi.ResourceOption) (*Certctl, error) {
	if args == nil || args.Config == nil {
		return nil, fmt.Errorf("certctl %q: Config is required", name)
	}
	c := &Certctl{}
	if err := ctx.RegisterComponentResource("certctl:index:Certctl", name, c, opts...); err != nil {
		return nil, err
	}
	cfg := args.Config
	child := pulumi.Parent(c)

	ns, err := namespace(ctx, name, cfg, child)
	if err != nil {
		return nil, err
	}

	db := Database{}
	if cfg.PostgreSQL.Enabled {
		pg, err := NewBundledPostgres(ctx, name+"-postgres", &BundledPostgresArgs{Config: cfg, Namespace: ns}, child)
		if err != nil {
			return nil, err
		}
		db.URL = pulumi.String(BundledDatabaseURL(cfg))
		db.Password = &SecretKeyRef{Name: cfg.Names().Postgres, Key: keyPostgresPassword}
		c.PostgresSecretName = pg.SecretName
	} else {
		db.URL = cfg.ExternalDatabase.URL.Output()
	}

	server, err := NewCertctlServer(ctx, name+"-server", &CertctlServerArgs{Config: cfg, Namespace: ns, Database: db}, child)
	if err != nil {
		return nil, err
	}
	if cfg.Agent.Enabled {
		creds := pulumi.StringMap{keyBootstrapToken: server.BootstrapToken}
		if cfg.Server.Auth.Type == config.AuthAPIKey {
			creds[keyAgentAPIKey] = server.AgentAPIKey
		}
		if _, err := NewAgent(ctx, name+"-agent", &AgentArgs{Config: cfg, Namespace: ns, Credentials: creds},
			child, pulumi.DependsOn([]pulumi.Resource{server})); err != nil {
			return nil, err
		}
	}

	c.Namespace = ns.ToStringOutput()
	c.ServerServiceName = server.ServiceName
	c.ServerDNSName = pulumi.Sprintf("%s.%s.svc.cluster.local", server.ServiceName, ns)
	c.ServerURL = server.URL
	c.ServerSecretName = server.SecretName
	c.TLSSecretName = server.TLSSecretName
	c.APIKey = server.APIKey
	c.BootstrapToken = server.BootstrapToken
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"namespace": c.Namespace, "serverServiceName": c.ServerServiceName, "serverDnsName": c.ServerDNSName,
		"serverUrl": c.ServerURL, "serverSecretName": c.ServerSecretName, "tlsSecretName": c.TLSSecretName,
	})
}

// namespace returns the namespace name objects are created in; when the program owns the
// Namespace, using its output orders every object after it. Deleting a namespace deletes the
// Postgres volume claims in it, so it is kept on destroy while the data is to be kept.
func namespace(ctx *pulumi.Context, name string, cfg *config.Config, opts ...pulumi.ResourceOption) (pulumi.StringInput, error) {
	if !cfg.CreateNamespace {
		return pulumi.String(cfg.Namespace), nil
	}
	keepData := cfg.PostgreSQL.Enabled && !cfg.PostgreSQL.Storage.DeleteOnDestroy
	meta := clusterMeta(cfg, cfg.Namespace, "", nil)
	// Every pod here meets "restricted"; enforcing it keeps anything added later to that bar.
	meta.Labels.(pulumi.StringMap)["pod-security.kubernetes.io/enforce"] = pulumi.String("restricted")
	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{Metadata: meta}, append(opts, pulumi.RetainOnDelete(keepData))...)
	if err != nil {
		return nil, err
	}
	return ns.Metadata.Name().Elem(), nil
}
