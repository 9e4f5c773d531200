package components

import (
	"fmt"
	"slices"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// CertctlType is the type token of the Certctl component, in the program and in the package
// (provider/) alike.
const CertctlType = "certctl:index:Certctl"

// CertctlArgs is what NewCertctl is given: the whole `certctl:` configuration, validated.
type CertctlArgs struct {
	// Config must have passed Validate.
	Config *config.Config
	// Owner, when set, is an already registered component that the deployment is built into
	// (the package's Certctl, which registers its own outputs); NewCertctl then registers no
	// component of its own and passes its options to the children. Unset, NewCertctl registers
	// the returned Certctl with its options.
	Owner pulumi.ComponentResource
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
	// PostgresHost is the bundled database's cluster DNS name.
	PostgresHost pulumi.StringOutput `pulumi:"postgresHost"`
	// APIKey is the admin key (the newest of server.auth.apiKey).
	APIKey         pulumi.StringOutput `pulumi:"apiKey"`
	AgentAPIKey    pulumi.StringOutput `pulumi:"agentApiKey"`
	BootstrapToken pulumi.StringOutput `pulumi:"agentBootstrapToken"`
	// LocalCACert is the generated local-issuer CA certificate (unset with an existing CA Secret).
	LocalCACert pulumi.StringOutput `pulumi:"localCaCert"`
	// MigrationJobName is the current migration Job (migrations.viaHook).
	MigrationJobName pulumi.StringOutput `pulumi:"migrationJobName"`

	// Backup is the backup component, when backup.enabled.
	Backup *Backup
}

// NewCertctl registers the whole deployment. Components that must come after a sibling depend
// on the sibling's Ready objects, never on the sibling component itself: the Go SDK expands a
// component dependency into the children registered so far, and children register
// asynchronously, so a DependsOn on the component can miss its Deployment (pulumi/pulumi#7852).
// The engine tier caught the agents' Secret changing while the server still rolled.
func NewCertctl(ctx *pulumi.Context, name string, args *CertctlArgs, opts ...pulumi.ResourceOption) (*Certctl, error) {
	if args == nil || args.Config == nil {
		return nil, fmt.Errorf("certctl %q: Config is required", name)
	}
	c := &Certctl{}
	owner, childOpts := args.Owner, opts
	if owner == nil {
		if err := ctx.RegisterComponentResource(CertctlType, name, c, opts...); err != nil {
			return nil, err
		}
		owner, childOpts = c, nil
	}
	cfg := args.Config
	child := pulumi.Composite(append(slices.Clip(childOpts), pulumi.Parent(owner))...)

	ns, err := namespace(ctx, name, cfg, child)
	if err != nil {
		return nil, err
	}
	creds, err := newCredentials(ctx, owner, name, cfg.Server, cfg.Monitoring, cfg.KeyRotations())
	if err != nil {
		return nil, err
	}

	release, names := newRelease(cfg, ns), cfg.Names()
	db := Database{CASecret: postgresCASecret(cfg.PostgreSQL.TLS)}
	var databaseClaims string
	switch {
	case cfg.InCluster():
		pc, err := NewPostgresCluster(ctx, name+"-postgres-cluster", &PostgresClusterArgs{
			Release: release, Name: names.Postgres, PostgreSQL: cfg.PostgreSQL, Parameters: cfg.ClusterParameters(),
			NetworkPolicy: cfg.NetworkPolicy.Enabled, Clients: databaseClients(cfg),
			PodMonitor: cfg.Monitoring.Enabled, ScrapedFrom: cfg.NetworkPolicy.PrometheusNamespace, Bucket: cfg.Backup.S3,
		}, child)
		if err != nil {
			return nil, err
		}
		db.URL = pc.Connection.URL("verify-full")
		if pc.Connection.PasswordOnlyInRef {
			db.PasswordRef = pc.Connection.PasswordRef
		}
		db.CASecret = pc.CASecret
		db.Egress = pc.Egress
		db.Ready = pc.Ready
		databaseClaims = pc.Claims
		c.PostgresSecretName = pc.SecretName
		c.PostgresHost = pc.Host
	case cfg.PostgreSQL.Enabled:
		db.Egress = bundledDatabaseEgress(release)
		pg, err := NewBundledPostgres(ctx, name+"-postgres", &BundledPostgresArgs{
			Release: release, Name: names.Postgres, PostgreSQL: cfg.PostgreSQL,
			NetworkPolicy: cfg.NetworkPolicy.Enabled, Clients: databaseClients(cfg),
			PasswordJobPrefix: names.PasswordChange, ChecksumKey: creds.ChecksumKey,
		}, child)
		if err != nil {
			return nil, err
		}
		db.URL = pg.Connection.URL(cfg.PostgreSQL.TLS.Mode)
		db.Ready = pg.Ready
		databaseClaims = pg.Claims
		c.PostgresSecretName = pg.SecretName
		c.PostgresHost = pg.Host
		if cfg.Backup.Enabled {
			backup, err := NewBackup(ctx, name+"-backup", &BackupArgs{
				Release: release, Name: names.Backup, Backup: backupConfig(cfg), Database: pg.Connection,
				SSLMode: cfg.PostgreSQL.TLS.Mode, CASecret: db.CASecret,
			}, child, pulumi.DependsOn(pg.Ready))
			if err != nil {
				return nil, err
			}
			c.Backup = backup
		}
	default:
		db.URL = cfg.ExternalDatabase.URL.Output()
		if endpoint, ok := cfg.ExternalDatabase.Endpoint(); ok {
			db.Egress = externalDatabaseEgress(endpoint)
		}
	}

	server, err := NewCertctlServer(ctx, name+"-server", &CertctlServerArgs{
		Release:             release,
		Names:               names,
		Server:              cfg.Server,
		ServiceAccount:      cfg.ServiceAccount,
		RBAC:                cfg.RBAC,
		KubernetesSecrets:   cfg.KubernetesSecrets,
		Ingress:             cfg.Ingress,
		PodDisruptionBudget: cfg.PodDisruptionBudget,
		NetworkPolicy:       cfg.NetworkPolicy,
		ScrapedFrom:         scrapedFrom(cfg),
		ProxiedFrom:         proxiedFrom(cfg),
		Migrations:          migrationsConfig(cfg),
		Database:            db,
		Credentials:         creds,
	}, child)
	if err != nil {
		return nil, err
	}
	if cfg.Agent.Enabled {
		if _, err := NewAgent(ctx, name+"-agent", &AgentArgs{
			Release: release, Name: names.Agent, Agent: cfg.Agent, Server: server.Endpoint, Credentials: creds,
		}, child, pulumi.DependsOn(server.Ready)); err != nil {
			return nil, err
		}
	}

	if cfg.Monitoring.Enabled {
		if _, err := NewMonitoring(ctx, name+"-monitoring", &MonitoringArgs{
			Release: release, Names: names, Monitoring: cfg.Monitoring, Server: server.Endpoint, ScrapeKey: creds.ScrapeKey,
			Namespace: cfg.Namespace, DatabaseClaims: databaseClaims,
		}, child, pulumi.DependsOn(server.Ready)); err != nil {
			return nil, err
		}
	}

	c.Namespace = ns.ToStringOutput()
	c.ServerServiceName = server.ServiceName
	c.ServerDNSName = pulumi.Sprintf("%s.%s.svc.cluster.local", server.ServiceName, ns)
	c.ServerURL = server.URL
	c.ServerSecretName = server.SecretName
	c.TLSSecretName = server.TLSSecretName
	c.APIKey = firstKey(creds.AdminKeys)
	c.AgentAPIKey = creds.AgentKey
	c.BootstrapToken = creds.BootstrapToken
	c.LocalCACert = server.LocalCACert
	c.MigrationJobName = server.MigrationJobName
	if args.Owner != nil {
		return c, nil
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"namespace": c.Namespace, "serverServiceName": c.ServerServiceName, "serverDnsName": c.ServerDNSName,
		"serverUrl": c.ServerURL, "serverSecretName": c.ServerSecretName, "tlsSecretName": c.TLSSecretName,
	})
}

// postgresCASecret is the Secret whose ca.crt the server verifies the database with, when the
// TLS mode verifies at all.
func postgresCASecret(tls config.PostgresTLS) string {
	if tls.Mode == "disable" {
		return ""
	}
	return tls.CASecretRef
}

// firstKey is the newest key of a "new,old" rotation list.
func firstKey(keys pulumi.StringOutput) pulumi.StringOutput {
	return keys.ApplyT(func(k string) string { return strings.Split(k, ",")[0] }).(pulumi.StringOutput)
}

// namespace returns the namespace name objects are created in; when the program owns the
// Namespace, using its output orders every object after it. Deleting a namespace deletes the
// volume claims in it (Postgres', the backups'), so it is kept on destroy while data is to be kept.
func namespace(ctx *pulumi.Context, name string, cfg *config.Config, opts ...pulumi.ResourceOption) (pulumi.StringInput, error) {
	if !cfg.CreateNamespace {
		return pulumi.String(cfg.Namespace), nil
	}
	keepData := cfg.PostgreSQL.Enabled && !cfg.PostgreSQL.Storage.DeleteOnDestroy || keepsBackupClaim(cfg)
	meta := newRelease(cfg, nil).clusterMeta(cfg.Namespace, "", nil)
	// Every pod here meets "restricted"; enforcing it keeps anything added later to that bar.
	meta.Labels.(pulumi.StringMap)["pod-security.kubernetes.io/enforce"] = pulumi.String("restricted")
	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{Metadata: meta}, append(opts, pulumi.RetainOnDelete(keepData))...)
	if err != nil {
		return nil, err
	}
	return ns.Metadata.Name().Elem(), nil
}

// databaseClients are the components whose pods connect to the bundled database.
func databaseClients(cfg *config.Config) []string {
	clients := []string{componentServer}
	if cfg.Migrations.ViaHook {
		clients = append(clients, componentMigration)
	}
	if cfg.Backup.Enabled {
		clients = append(clients, componentBackup)
	}
	return clients
}

// backupConfig is the backup section with its image resolved against the database's.
func backupConfig(cfg *config.Config) config.Backup {
	b := cfg.Backup
	b.Workload = cfg.BackupWorkload()
	return b
}

// migrationsConfig is the migrations section with its workload resolved against the server's.
func migrationsConfig(cfg *config.Config) config.Migrations {
	m := cfg.Migrations
	m.Workload = cfg.MigrationWorkload()
	return m
}

// keepsBackupClaim: the program creates a backup claim that must survive destroy.
func keepsBackupClaim(cfg *config.Config) bool {
	b := cfg.Backup
	return b.Enabled && b.Sink == config.BackupSinkPVC && b.PVC.ExistingClaim == "" && !b.PVC.DeleteOnDestroy
}

// proxiedFrom is the namespace the server's NetworkPolicy admits the ingress controller from:
// only with an Ingress.
func proxiedFrom(cfg *config.Config) string {
	if cfg.Ingress.Enabled {
		return cfg.NetworkPolicy.IngressControllerNamespace
	}
	return ""
}

// scrapedFrom is the namespace the server's NetworkPolicy admits Prometheus from: only while the
// ServiceMonitor scrapes.
func scrapedFrom(cfg *config.Config) string {
	if cfg.Monitoring.Enabled && cfg.Monitoring.ServiceMonitor.Enabled {
		return cfg.NetworkPolicy.PrometheusNamespace
	}
	return ""
}
