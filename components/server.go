package components

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

const (
	portNameHTTPS = "https"
	// Secret keys of the server Secret that other components read.
	keyAgentAPIKey    = "agent-api-key"
	keyBootstrapToken = "bootstrap-token"
	// Where the server mounts the CA it verifies Postgres with, and the local issuer's CA.
	postgresCAMountPath = "/etc/postgresql-ca"
	localCAMountPath    = "/etc/certctl/ca"
	// serverTLSVolume holds the server's certificate, at server.tls.mountPath in the server,
	// migration and agent containers.
	serverTLSVolume = "tls"
	// localCAValidityHours is how long the generated local-issuer CA lives (10 years): the server
	// refuses to start with an expired CA, and a new CA changes every chain it issued.
	localCAValidityHours = 87600
)

const typeCertctlServer = "certctl:index:CertctlServer"

// Database is how the server reaches PostgreSQL.
type Database struct {
	// URL becomes CERTCTL_DATABASE_URL, password included unless PasswordRef is set (a Pulumi secret).
	URL pulumi.StringOutput
	// CASecret, when set, holds the ca.crt the server verifies the database with (PGSSLROOTCERT).
	CASecret string
	// PasswordRef, when set, is where the pods read the password (PGPASSWORD) the URL lacks.
	PasswordRef config.SecretKeyRef
	// Egress is the server NetworkPolicy's rule to the database: its pods (bundled, the
	// cluster's instances) or its address (external); nil when a NetworkPolicy cannot name it.
	Egress *networkingv1.NetworkPolicyEgressRuleArgs
	// Ready are the resources that make the database available (the bundled Postgres), which
	// the migration Job waits for.
	Ready []pulumi.Resource
}

// ServerEndpoint is how clients inside the namespace reach and trust the server.
type ServerEndpoint struct {
	// URL is https://<service>:<port>.
	URL string
	// TLSSecret holds the CA clients verify the server with (key ca.crt); the server mounts it at
	// TLSMountPath, and so do the agents.
	TLSSecret    string
	TLSMountPath string
	// SentinelAgents is how many agents the server registers itself (the network scanner's,
	// with server.networkScan.enabled): certctl counts them as agents, and they never heartbeat.
	SentinelAgents int
}

// sentinelAgents counts the agents certctl v2.1.7 registers for its own discovery sources: the
// network scanner's "server-scanner" (cmd/server/main.go).
func sentinelAgents(s config.Server) int {
	if s.NetworkScan.Enabled {
		return 1
	}
	return 0
}

// CertctlServerArgs is what NewCertctlServer is given: the server section, the top-level sections
// of the server's objects, the resolved migrations section, and from its siblings the database
// and the credentials.
type CertctlServerArgs struct {
	Release Release
	Names   config.Names
	Server  config.Server
	// The chart's top-level sections that configure the server's objects.
	ServiceAccount      config.ServiceAccount
	RBAC                config.RBAC
	KubernetesSecrets   config.KubernetesSecrets
	Ingress             config.Ingress
	PodDisruptionBudget config.PodDisruptionBudget
	NetworkPolicy       config.NetworkPolicy
	// ScrapedFrom is the namespace Prometheus scrapes from; empty when nothing scrapes.
	ScrapedFrom string
	// ProxiedFrom is the ingress controller's namespace; empty without an Ingress.
	ProxiedFrom string
	// Migrations, with viaHook, runs the migrations in a Job before the Deployment rolls; its
	// workload is already resolved against the server's (config.MigrationWorkload).
	Migrations  config.Migrations
	Database    Database
	Credentials Credentials
}

// CertctlServer is the API server: identity and RBAC, settings, secrets, workload, exposure.
type CertctlServer struct {
	pulumi.ResourceState

	ServiceName   pulumi.StringOutput `pulumi:"serviceName"`
	SecretName    pulumi.StringOutput `pulumi:"secretName"`
	TLSSecretName pulumi.StringOutput `pulumi:"tlsSecretName"`
	URL           pulumi.StringOutput `pulumi:"url"`
	// LocalCACert is the local issuer's CA certificate (PEM), when the program generated it.
	LocalCACert pulumi.StringOutput `pulumi:"localCaCert"`
	// MigrationJobName is the current migration Job's name, with migrations.viaHook.
	MigrationJobName pulumi.StringOutput `pulumi:"migrationJobName"`

	// Endpoint is how agents reach the server.
	Endpoint ServerEndpoint
	// Ready are the objects whose success means every replica serves the current settings and
	// credentials behind the Service (the Deployment, the Service). Dependents wait on these,
	// not on the component (see NewCertctl).
	Ready []pulumi.Resource
}

// NewCertctlServer registers a certctl:index:CertctlServer component: ConfigMap, Secret, Deployment
// and Service <fullname>-server and, as configured, ServiceAccount, RBAC, local CA, Certificate,
// migration Job, Ingress, PodDisruptionBudget and NetworkPolicy. It returns Endpoint and Ready.
func NewCertctlServer(ctx *pulumi.Context, name string, args *CertctlServerArgs, opts ...pulumi.ResourceOption) (*CertctlServer, error) {
	if args == nil || args.Names.Server == "" {
		return nil, fmt.Errorf("certctl server %q: Names are required", name)
	}
	s := &CertctlServer{}
	if err := ctx.RegisterComponentResource(typeCertctlServer, name, s, opts...); err != nil {
		return nil, err
	}
	a, names := args, args.Names
	child := pulumi.Parent(s)

	if a.ServiceAccount.Create {
		if _, err := corev1.NewServiceAccount(ctx, name, serviceAccountArgs(a), child); err != nil {
			return nil, err
		}
	}
	if a.RBAC.Create {
		role, err := rbacv1.NewClusterRole(ctx, name, clusterRoleArgs(a), child)
		if err != nil {
			return nil, err
		}
		if _, err := rbacv1.NewClusterRoleBinding(ctx, name, clusterRoleBindingArgs(a), child, pulumi.DependsOn([]pulumi.Resource{role})); err != nil {
			return nil, err
		}
	}

	env := active(serverEnv(a))
	settings := configData(env)
	cm, err := corev1.NewConfigMap(ctx, name, &corev1.ConfigMapArgs{
		Metadata: a.Release.objectMeta(names.Server, componentServer, nil),
		Data:     pulumi.ToStringMap(settings),
	}, child)
	if err != nil {
		return nil, err
	}
	secretValues := secretData(env)
	// The database URL changes only once the database has the password in it (the bundled
	// Postgres applies a new one first), so a pod that restarts meanwhile still signs in.
	secret, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata:   a.Release.objectMeta(names.Server, componentServer, nil),
		Type:       pulumi.String("Opaque"),
		StringData: secretValues,
	}, child, pulumi.DependsOn(a.Database.Ready))
	if err != nil {
		return nil, err
	}

	deps := []pulumi.Resource{cm, secret}
	// A new CA must restart the server (it reads the files at boot), like a new secret.
	rollOn := maps.Clone(secretValues)
	if a.Server.Issuer.Local.ExistingSecret == "" {
		caSecret, caCert, err := newLocalCA(ctx, name+"-ca", a.Release, names, child)
		if err != nil {
			return nil, err
		}
		deps = append(deps, caSecret)
		rollOn["local-ca.crt"] = caCert
		s.LocalCACert = caCert
	}
	if a.Server.TLS.CertManager.Enabled {
		cert, err := apiextensions.NewCustomResource(ctx, name+"-tls", certificateArgs(a), child)
		if err != nil {
			return nil, err
		}
		deps = append(deps, cert)
	}

	if a.Migrations.ViaHook {
		job, jobName, err := newMigrationJob(ctx, name, a, env, child, pulumi.DependsOn(append(slices.Clone(deps), a.Database.Ready...)))
		if err != nil {
			return nil, err
		}
		deps = append(deps, job)
		s.MigrationJobName = jobName
	}

	deployment, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
		Metadata: a.Release.objectMeta(names.Server, componentServer, nil),
		Spec:     serverDeploymentSpec(a, env, podAnnotations(a.Server.PodAnnotations, settings, rollOn, a.Credentials.ChecksumKey)),
	}, child, pulumi.DependsOn(deps), waitFor(a.Server.RolloutWait()))
	if err != nil {
		return nil, err
	}
	svc, err := corev1.NewService(ctx, name, serverServiceArgs(a), child, pulumi.DependsOn([]pulumi.Resource{deployment}))
	if err != nil {
		return nil, err
	}
	s.Ready = []pulumi.Resource{deployment, svc}
	if a.Ingress.Enabled {
		if _, err := networkingv1.NewIngress(ctx, name, ingressArgs(a), child, pulumi.DependsOn([]pulumi.Resource{svc})); err != nil {
			return nil, err
		}
	}
	if wantPodDisruptionBudget(a) {
		if _, err := policyv1.NewPodDisruptionBudget(ctx, name, podDisruptionBudgetArgs(a), child); err != nil {
			return nil, err
		}
	}
	if a.NetworkPolicy.Enabled {
		if _, err := networkingv1.NewNetworkPolicy(ctx, name, serverNetworkPolicyArgs(a), child); err != nil {
			return nil, err
		}
	}

	s.ServiceName = svc.Metadata.Name().Elem()
	s.SecretName = secret.Metadata.Name().Elem()
	s.TLSSecretName = pulumi.String(names.TLSSecret).ToStringOutput()
	s.URL = pulumi.Sprintf("https://%s.%s.svc.cluster.local:%d", s.ServiceName, a.Release.Namespace, a.Server.Service.Port)
	s.Endpoint = ServerEndpoint{
		URL:       fmt.Sprintf("https://%s:%d", names.Server, a.Server.Service.Port),
		TLSSecret: names.TLSSecret, TLSMountPath: a.Server.TLS.MountPath,
		SentinelAgents: sentinelAgents(a.Server),
	}
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{
		"serviceName": s.ServiceName, "secretName": s.SecretName, "tlsSecretName": s.TLSSecretName, "url": s.URL,
		"localCaCert": s.LocalCACert, "migrationJobName": s.MigrationJobName,
	})
}
