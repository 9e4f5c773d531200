package components

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
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
	// localCAValidityHours is how long the generated local-issuer CA lives (10 years): the server
	// refuses to start with an expired CA, and a new CA changes every chain it issued.
	localCAValidityHours = 87600
)

const typeCertctlServer = "certctl:index:CertctlServer"

// Database is how the server reaches PostgreSQL.
type Database struct {
	// URL becomes CERTCTL_DATABASE_URL, password included (a Pulumi secret).
	URL pulumi.StringOutput
	// CASecret, when set, holds the ca.crt the server verifies the database with (PGSSLROOTCERT).
	CASecret string
	// Bundled: the database is the in-cluster Postgres, which the server NetworkPolicy admits.
	Bundled bool
}

// ServerEndpoint is how clients inside the namespace reach and trust the server, and where the
// agents' credentials are.
type ServerEndpoint struct {
	// URL is https://<service>:<port>.
	URL string
	// TLSSecret holds the CA clients verify the server with (key ca.crt); the server mounts it at
	// TLSMountPath, and so do the agents.
	TLSSecret    string
	TLSMountPath string
	// Secret is the server Secret holding the agents' key and the bootstrap token.
	Secret string
}

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
	MigrationsViaHook   bool
	Database            Database
	Credentials         Credentials
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

	// Endpoint is how agents reach the server.
	Endpoint ServerEndpoint
}

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
	// Agents read their key and the bootstrap token from here.
	secretValues[keyAgentAPIKey] = args.Credentials.AgentKey
	secret, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata:   a.Release.objectMeta(names.Server, componentServer, nil),
		Type:       pulumi.String("Opaque"),
		StringData: secretValues,
	}, child)
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

	podAnnotations := mergeMaps(a.Server.PodAnnotations, map[string]string{"checksum/config": checksum(settings)})
	deployment, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
		Metadata: a.Release.objectMeta(names.Server, componentServer, nil),
		Spec:     serverDeploymentSpec(a, env, podAnnotations, secretChecksum(rollOn)),
	}, child, pulumi.DependsOn(deps))
	if err != nil {
		return nil, err
	}
	svc, err := corev1.NewService(ctx, name, serverServiceArgs(a), child, pulumi.DependsOn([]pulumi.Resource{deployment}))
	if err != nil {
		return nil, err
	}
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
		Secret: names.Server,
	}
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{
		"serviceName": s.ServiceName, "secretName": s.SecretName, "tlsSecretName": s.TLSSecretName, "url": s.URL,
		"localCaCert": s.LocalCACert,
	})
}

// newLocalCA generates the local issuer's CA once and keeps it in the stack's state (the key as
// a secret): without CERTCTL_CA_CERT_PATH every server process invents its own CA at start, so
// replicas disagree and a restart orphans every certificate issued before it.
func newLocalCA(ctx *pulumi.Context, name string, r Release, names config.Names, opts ...pulumi.ResourceOption) (*corev1.Secret, pulumi.StringOutput, error) {
	key, err := tls.NewPrivateKey(ctx, name, &tls.PrivateKeyArgs{Algorithm: pulumi.String("ECDSA"), EcdsaCurve: pulumi.String("P256")}, opts...)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	cert, err := tls.NewSelfSignedCert(ctx, name, &tls.SelfSignedCertArgs{
		PrivateKeyPem:       key.PrivateKeyPem,
		IsCaCertificate:     pulumi.Bool(true),
		AllowedUses:         pulumi.ToStringArray([]string{"cert_signing", "crl_signing", "digital_signature"}),
		ValidityPeriodHours: pulumi.Int(localCAValidityHours),
		Subject: &tls.SelfSignedCertSubjectArgs{
			CommonName:   pulumi.String(names.Fullname + " local CA"),
			Organization: pulumi.String("certctl"),
		},
	}, opts...)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	secret, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata: r.objectMeta(names.LocalCA, componentServer, nil),
		Type:     pulumi.String("kubernetes.io/tls"),
		StringData: pulumi.StringMap{
			"tls.crt": cert.CertPem,
			"tls.key": pulumi.ToSecret(key.PrivateKeyPem).(pulumi.StringOutput),
		},
	}, opts...)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	return secret, cert.CertPem, nil
}

// serverEnv is every variable the server container can get, in declaration order; entries a
// setting turns off stay in the list (see when), so the list is also what the program reserves.
func serverEnv(a *CertctlServerArgs) []envEntry {
	s, db, creds := a.Server, a.Database, a.Credentials
	tls, sm, acme := s.TLS.MountPath, s.SMTP, s.Issuer.ACME
	env := []envEntry{
		plainEnv("CERTCTL_SERVER_HOST", "0.0.0.0"),
		plainEnv("CERTCTL_SERVER_PORT", strconv.Itoa(s.Port)).setBy("server.port"),
		plainEnv("CERTCTL_SERVER_TLS_CERT_PATH", tls+"/tls.crt").setBy("server.tls.mountPath"),
		plainEnv("CERTCTL_SERVER_TLS_KEY_PATH", tls+"/tls.key").setBy("server.tls.mountPath"),
		secretEnv("CERTCTL_DATABASE_URL", "database-url", db.URL).setBy("externalDatabase.url"),
	}
	env = append(env, when(db.CASecret != "", plainEnv("PGSSLROOTCERT", postgresCAMountPath+"/ca.crt").setBy("postgresql.tls.caSecretRef"))...)
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
		plainEnv("CERTCTL_RATE_LIMIT_RPS", strconv.Itoa(s.RateLimiting.RPS)).setBy("server.rateLimiting.rps"),
		plainEnv("CERTCTL_RATE_LIMIT_BURST", strconv.Itoa(s.RateLimiting.Burst)).setBy("server.rateLimiting.burst"),
		plainEnv("CERTCTL_RATE_LIMIT_BACKEND", rateLimitBackend(s.Replicas)).setBy("server.replicas"),
	)
	env = append(env, when(s.CORS.Origins != "", plainEnv("CERTCTL_CORS_ORIGINS", s.CORS.Origins).setBy("server.cors.origins"))...)
	env = append(env, when(s.NetworkScan.Enabled,
		plainEnv("CERTCTL_NETWORK_SCAN_ENABLED", "true").setBy("server.networkScan.enabled"),
		plainEnv("CERTCTL_NETWORK_SCAN_INTERVAL", s.NetworkScan.Interval).setBy("server.networkScan.interval"))...)
	env = append(env, when(s.EST.Enabled,
		plainEnv("CERTCTL_EST_ENABLED", "true").setBy("server.est.enabled"),
		plainEnv("CERTCTL_EST_ISSUER_ID", s.EST.IssuerID).setBy("server.est.issuerID"))...)
	env = append(env, when(s.EST.Enabled && s.EST.ProfileID != "", plainEnv("CERTCTL_EST_PROFILE_ID", s.EST.ProfileID).setBy("server.est.profileID"))...)
	env = append(env, when(sm.Enabled,
		plainEnv("CERTCTL_SMTP_HOST", sm.Host).setBy("server.smtp.host"),
		plainEnv("CERTCTL_SMTP_PORT", strconv.Itoa(sm.Port)).setBy("server.smtp.port"))...)
	env = append(env, when(sm.Enabled && sm.Username != "", plainEnv("CERTCTL_SMTP_USERNAME", sm.Username).setBy("server.smtp.username"))...)
	env = append(env, when(sm.Enabled && sm.Password.IsSet(), secretEnv("CERTCTL_SMTP_PASSWORD", "smtp-password", sm.Password.Output()).setBy("server.smtp.password"))...)
	env = append(env, when(sm.Enabled,
		plainEnv("CERTCTL_SMTP_FROM_ADDRESS", sm.FromAddress).setBy("server.smtp.fromAddress"),
		plainEnv("CERTCTL_SMTP_USE_TLS", strconv.FormatBool(sm.UseTLS)).setBy("server.smtp.useTLS"))...)
	env = append(env, when(s.Digest.Enabled,
		plainEnv("CERTCTL_DIGEST_ENABLED", "true").setBy("server.digest.enabled"),
		plainEnv("CERTCTL_DIGEST_INTERVAL", s.Digest.Interval).setBy("server.digest.interval"),
		plainEnv("CERTCTL_DIGEST_RECIPIENTS", strings.Join(s.Digest.Recipients, ",")).setBy("server.digest.recipients"))...)
	env = append(env, when(acme.Enabled,
		plainEnv("CERTCTL_ACME_DIRECTORY_URL", acme.DirectoryURL).setBy("server.issuer.acme.directoryURL"),
		plainEnv("CERTCTL_ACME_EMAIL", acme.Email).setBy("server.issuer.acme.email"),
		plainEnv("CERTCTL_ACME_CHALLENGE_TYPE", acme.ChallengeType).setBy("server.issuer.acme.challengeType"))...)
	for _, o := range []struct{ name, key, value string }{
		{"CERTCTL_ACME_DNS_PRESENT_SCRIPT", "dnsPresentScript", acme.DNSPresentScript},
		{"CERTCTL_ACME_DNS_CLEANUP_SCRIPT", "dnsCleanupScript", acme.DNSCleanupScript},
		{"CERTCTL_ACME_DNS_PROPAGATION_WAIT", "dnsPropagationWait", acme.DNSPropagationWait},
		{"CERTCTL_ACME_DNS_PERSIST_ISSUER_DOMAIN", "dnsPersistIssuerDomain", acme.DNSPersistIssuerDomain},
		{"CERTCTL_ACME_EAB_KID", "eabKid", acme.EABKid},
	} {
		env = append(env, when(acme.Enabled && o.value != "", plainEnv(o.name, o.value).setBy("server.issuer.acme."+o.key))...)
	}
	env = append(env, when(acme.Enabled && acme.EABHmac.IsSet(), secretEnv("CERTCTL_ACME_EAB_HMAC", "acme-eab-hmac", acme.EABHmac.Output()).setBy("server.issuer.acme.eabHmac"))...)
	env = append(env, when(a.MigrationsViaHook, plainEnv("CERTCTL_MIGRATIONS_VIA_HOOK", "true").setBy("migrations.viaHook"))...)
	return append(env, notifierEnv(s.Notifiers)...)
}

// serverVolumes are the server's own volumes and mounts, the reserved ones included.
func serverVolumes(a *CertctlServerArgs) []ownVolume {
	return []ownVolume{
		{emptyDirVolume("tmp", ""), "/tmp", false, false},
		{secretVolume("tls", a.Names.TLSSecret), a.Server.TLS.MountPath, true, false},
		{secretVolume("local-ca", a.Names.LocalCA), localCAMountPath, true, false},
		{secretVolume("postgresql-ca", a.Database.CASecret), postgresCAMountPath, true, a.Database.CASecret == ""},
	}
}

// rateLimitBackend keeps the limits in Postgres when several replicas must share them; one
// replica counts in memory (certctl's default).
func rateLimitBackend(replicas int) string {
	if replicas > 1 {
		return "postgres"
	}
	return "memory"
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

// serverContainer runs the server image with the server's whole configuration (certctl
// validates all of it even for --migrate-only): the Deployment adds its port, probes and hook; a
// migration Job adds its arguments.
func serverContainer(a *CertctlServerArgs, env []envEntry, mounts []corev1.VolumeMountArgs) corev1.ContainerArgs {
	s := a.Server
	return corev1.ContainerArgs{
		Name:            pulumi.String(componentServer),
		Image:           pulumi.String(s.Image.Ref()),
		ImagePullPolicy: pulumi.String(s.Image.PullPolicy),
		Env:             append(envVars(env, a.Names.Server, a.Names.Server), extraEnv(s.Env, s.ExtraEnv)...),
		Resources:       resourceRequirements(s.Resources),
		SecurityContext: containerSecurityContext(s.SecurityContext),
		VolumeMounts:    volumeMountsInput(s.VolumeMounts, mounts...),
	}
}

func serverDeploymentSpec(a *CertctlServerArgs, env []envEntry, podAnnotations map[string]string, secretSum pulumi.StringOutput) *appsv1.DeploymentSpecArgs {
	s, names := a.Server, a.Names
	annotations := pulumi.ToStringMap(podAnnotations)
	annotations["checksum/secret"] = secretSum

	volumes, mounts := podVolumes(serverVolumes(a))
	container := serverContainer(a, env, mounts)
	container.Ports = corev1.ContainerPortArray{corev1.ContainerPortArgs{
		Name: pulumi.String(portNameHTTPS), ContainerPort: pulumi.Int(s.Port), Protocol: pulumi.String("TCP"),
	}}
	container.LivenessProbe = httpsProbe("/health", s.LivenessProbe)
	container.ReadinessProbe = httpsProbe("/ready", s.ReadinessProbe)
	container.Lifecycle = &corev1.LifecycleArgs{PostStart: &corev1.LifecycleHandlerArgs{
		Exec: &corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"/bin/sh", "-c", accessScript()})},
	}}
	return &appsv1.DeploymentSpecArgs{
		Replicas: pulumi.Int(s.Replicas),
		Selector: a.Release.selector(componentServer),
		Template: &corev1.PodTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Labels:      pulumi.ToStringMap(a.Release.labels(componentServer)),
				Annotations: annotations,
			},
			Spec: &corev1.PodSpecArgs{
				ServiceAccountName: pulumi.String(names.ServiceAccount),
				// The server only talks to the Kubernetes API for the (preview) Secrets connector.
				AutomountServiceAccountToken: pulumi.Bool(a.KubernetesSecrets.Enabled),
				EnableServiceLinks:           pulumi.Bool(false),
				SecurityContext:              podSecurityContext(s.SecurityContext),
				ImagePullSecrets:             a.Release.imagePullSecrets(),
				Containers:                   corev1.ContainerArray{container},
				Volumes:                      volumesInput(s.Volumes, volumes...),
				Affinity:                     affinityInput(s.Affinity),
				NodeSelector:                 optStringMap(s.NodeSelector),
				Tolerations:                  tolerationsInput(s.Tolerations),
			},
		},
	}
}

func serverServiceArgs(a *CertctlServerArgs) *corev1.ServiceArgs {
	s := a.Server
	return &corev1.ServiceArgs{
		Metadata: a.Release.objectMeta(a.Names.Server, componentServer, s.Service.Annotations),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String(s.Service.Type),
			Selector: pulumi.ToStringMap(a.Release.selectorLabels(componentServer)),
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String(portNameHTTPS), Port: pulumi.Int(s.Service.Port),
				TargetPort: pulumi.String(portNameHTTPS), Protocol: pulumi.String("TCP"),
			}},
		},
	}
}

func serviceAccountArgs(a *CertctlServerArgs) *corev1.ServiceAccountArgs {
	return &corev1.ServiceAccountArgs{
		Metadata:                     a.Release.objectMeta(a.Names.ServiceAccount, componentServer, a.ServiceAccount.Annotations),
		AutomountServiceAccountToken: pulumi.Bool(a.KubernetesSecrets.Enabled),
	}
}

// clusterRoleArgs has no rules unless the preview Kubernetes Secrets connector is enabled.
func clusterRoleArgs(a *CertctlServerArgs) *rbacv1.ClusterRoleArgs {
	rules := rbacv1.PolicyRuleArray{}
	if a.KubernetesSecrets.Enabled {
		rules = append(rules, rbacv1.PolicyRuleArgs{
			ApiGroups: pulumi.ToStringArray([]string{""}),
			Resources: pulumi.ToStringArray([]string{"secrets"}),
			Verbs:     pulumi.ToStringArray([]string{"get", "list", "create", "update", "patch"}),
		})
	}
	return &rbacv1.ClusterRoleArgs{Metadata: a.Release.clusterMeta(clusterScopedName(a.Names), componentServer, nil), Rules: rules}
}

func clusterRoleBindingArgs(a *CertctlServerArgs) *rbacv1.ClusterRoleBindingArgs {
	name := clusterScopedName(a.Names)
	return &rbacv1.ClusterRoleBindingArgs{
		Metadata: a.Release.clusterMeta(name, componentServer, nil),
		RoleRef: &rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("ClusterRole"), Name: pulumi.String(name),
		},
		Subjects: rbacv1.SubjectArray{rbacv1.SubjectArgs{
			Kind: pulumi.String("ServiceAccount"), Name: pulumi.String(a.Names.ServiceAccount), Namespace: a.Release.Namespace,
		}},
	}
}

// clusterScopedName is the fullname, as in the chart. Two releases with the same fullname in
// different namespaces would share it; validation cannot see other stacks, so the README says so.
func clusterScopedName(n config.Names) string { return n.Fullname }

// certificateArgs builds the cert-manager Certificate. The Service's in-cluster names are always
// added to dnsNames: agents dial https://<fullname>-server:<port> and must be able to verify it.
func certificateArgs(a *CertctlServerArgs) *apiextensions.CustomResourceArgs {
	cm, names, ns := a.Server.TLS.CertManager, a.Names, a.Release.Namespace
	dnsNames := pulumi.StringArray{}
	seen := map[string]bool{}
	add := func(n pulumi.StringInput, key string) {
		if !seen[key] {
			seen[key] = true
			dnsNames = append(dnsNames, n)
		}
	}
	for _, n := range cm.DNSNames {
		add(pulumi.String(n), n)
	}
	add(pulumi.String(names.Server), names.Server)
	add(pulumi.Sprintf("%s.%s.svc", names.Server, ns), "svc")
	add(pulumi.Sprintf("%s.%s.svc.cluster.local", names.Server, ns), "svc.cluster.local")
	issuer := pulumi.Map{"name": pulumi.String(cm.IssuerRef.Name), "kind": pulumi.String(cm.IssuerRef.Kind)}
	if cm.IssuerRef.Group != "" {
		issuer["group"] = pulumi.String(cm.IssuerRef.Group)
	}
	return &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"),
		Kind:       pulumi.String("Certificate"),
		// Await issuance: the server mounts the Secret this Certificate writes.
		Metadata: a.Release.objectMeta(names.Certificate, componentServer, map[string]string{"pulumi.com/waitFor": "condition=Ready"}),
		OtherFields: map[string]any{"spec": pulumi.Map{
			"secretName":  pulumi.String(names.TLSSecret),
			"commonName":  pulumi.String(cm.CommonName),
			"dnsNames":    dnsNames,
			"duration":    pulumi.String(cm.Duration),
			"renewBefore": pulumi.String(cm.RenewBefore),
			"issuerRef":   issuer,
			"privateKey": pulumi.Map{
				"algorithm": pulumi.String("ECDSA"), "size": pulumi.Int(256), "rotationPolicy": pulumi.String("Always"),
			},
			"usages": pulumi.ToStringArray([]string{"server auth", "digital signature", "key encipherment"}),
		}},
	}
}

func ingressArgs(a *CertctlServerArgs) *networkingv1.IngressArgs {
	in, names := a.Ingress, a.Names
	annotations := map[string]string{}
	if in.ClassName == "nginx" {
		// The backend speaks HTTPS only; ingress-nginx would otherwise proxy plain HTTP to it.
		annotations["nginx.ingress.kubernetes.io/backend-protocol"] = "HTTPS"
	}
	if in.CertManager.Enabled {
		key := "cert-manager.io/cluster-issuer"
		if in.CertManager.IssuerRef.Kind == "Issuer" {
			key = "cert-manager.io/issuer"
		}
		annotations[key] = in.CertManager.IssuerRef.Name
	}
	var rules networkingv1.IngressRuleArray
	for _, h := range in.Hosts {
		var paths networkingv1.HTTPIngressPathArray
		for _, p := range h.Paths {
			paths = append(paths, networkingv1.HTTPIngressPathArgs{
				Path: pulumi.String(p.Path), PathType: pulumi.String(p.PathType),
				Backend: &networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
					Name: pulumi.String(names.Server),
					Port: &networkingv1.ServiceBackendPortArgs{Name: pulumi.String(portNameHTTPS)},
				}},
			})
		}
		rules = append(rules, networkingv1.IngressRuleArgs{Host: optString(h.Host), Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: paths}})
	}
	var tls networkingv1.IngressTLSArray
	for _, t := range in.TLS {
		tls = append(tls, networkingv1.IngressTLSArgs{SecretName: optString(t.SecretName), Hosts: optStrings(t.Hosts)})
	}
	return &networkingv1.IngressArgs{
		Metadata: a.Release.objectMeta(names.Fullname, componentServer, mergeMaps(annotations, in.Annotations)),
		Spec: &networkingv1.IngressSpecArgs{
			IngressClassName: optString(in.ClassName),
			Rules:            rules,
			Tls:              tls,
		},
	}
}
