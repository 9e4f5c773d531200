package components

import (
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/certctl-io/certctl-pulumi/config"
)

// newLocalCA generates the local issuer's CA once and keeps it in the stack's state (the key as
// a secret): without CERTCTL_CA_CERT_PATH every server process invents its own CA at start, so
// replicas disagree and a restart orphans every certificate issued before it.
func newLocalCA(ctx *pulumi.Context, name string, r Release, names config.Names, opts ...pulumi.ResourceOption) (*corev1.Secret, pulumi.StringOutput, error) {
	// A change of these inputs (a fullnameOverride in the subject, a provider upgrade's new
	// defaults) would mint a new CA, and nothing issued before would chain any more: only a
	// deliberate replacement of the key (`pulumi up --replace`) makes a new CA, and the
	// certificate follows its key.
	key, err := tls.NewPrivateKey(ctx, name, &tls.PrivateKeyArgs{Algorithm: pulumi.String("ECDSA"), EcdsaCurve: pulumi.String("P256")},
		append(opts, pulumi.IgnoreChanges([]string{"algorithm", "ecdsaCurve", "rsaBits"}))...)
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
	}, append(opts, pulumi.IgnoreChanges([]string{"subject", "validityPeriodHours", "allowedUses", "isCaCertificate", "earlyRenewalHours"}))...)
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

// serverVolumes are the server's own volumes and mounts, the reserved ones included.
func serverVolumes(a *CertctlServerArgs) []ownVolume {
	return []ownVolume{
		{volume: emptyDirVolume("tmp", ""), path: "/tmp"},
		{volume: secretVolume(serverTLSVolume, a.Names.TLSSecret), path: a.Server.TLS.MountPath, readOnly: true},
		{volume: secretVolume("local-ca", a.Names.LocalCA), path: localCAMountPath, readOnly: true},
		{volume: secretVolume("postgresql-ca", a.Database.CASecret, "ca.crt"), path: postgresCAMountPath, readOnly: true, off: a.Database.CASecret == ""},
	}
}

// serverPodSpec is a pod running the server binary with the server's volumes, placed and secured
// as w says (the server's workload, or the migration Job's).
func serverPodSpec(a *CertctlServerArgs, w config.Workload, container corev1.ContainerArgs, volumes []corev1.VolumeArgs) *corev1.PodSpecArgs {
	spec := workloadPodSpec(a.Release, w)
	spec.ServiceAccountName = pulumi.String(a.Names.ServiceAccount)
	// The server only talks to the Kubernetes API for the (preview) Secrets connector.
	spec.AutomountServiceAccountToken = pulumi.Bool(a.KubernetesSecrets.Enabled)
	spec.EnableServiceLinks = pulumi.Bool(false)
	spec.Containers = corev1.ContainerArray{container}
	spec.Volumes = volumesInput(a.Server.Volumes, volumes...)
	return &spec
}

// serverContainer runs the server binary with the server's whole configuration (certctl
// validates all of it even for --migrate-only), with w's image, resources and security context:
// the Deployment adds its port, probes and hook; the migration Job adds its arguments.
func serverContainer(a *CertctlServerArgs, name string, w config.Workload, env []envEntry, mounts []corev1.VolumeMountArgs) corev1.ContainerArgs {
	s := a.Server
	c := workloadContainer(name, w)
	c.Env = append(envVars(env, a.Names.Server, a.Names.Server), extraEnv(s.Env, s.ExtraEnv)...)
	c.VolumeMounts = volumeMountsInput(s.VolumeMounts, mounts...)
	return c
}

func serverDeploymentSpec(a *CertctlServerArgs, env []envEntry, annotations pulumi.StringMap) *appsv1.DeploymentSpecArgs {
	s := a.Server

	volumes, mounts := podVolumes(serverVolumes(a))
	container := serverContainer(a, componentServer, s.Workload, env, mounts)
	container.Ports = corev1.ContainerPortArray{corev1.ContainerPortArgs{
		Name: pulumi.String(portNameHTTPS), ContainerPort: pulumi.Int(s.Port), Protocol: pulumi.String("TCP"),
	}}
	container.LivenessProbe = httpsProbe("/health", s.LivenessProbe)
	container.ReadinessProbe = httpsProbe("/ready", s.ReadinessProbe)
	container.Lifecycle = &corev1.LifecycleArgs{PostStart: &corev1.LifecycleHandlerArgs{
		Exec: &corev1.ExecActionArgs{Command: pulumi.ToStringArray([]string{"/bin/sh", "-c", accessScript(a.Credentials.ScrapeKeys != (pulumi.StringOutput{}), a.Server.StartupTimeoutSeconds)})},
	}}
	spec := serverPodSpec(a, s.Workload, container, volumes)
	if spread := defaultServerSpread(a); spread != nil {
		spec.TopologySpreadConstraints = spread
	}
	return &appsv1.DeploymentSpecArgs{
		Replicas: pulumi.Int(s.Replicas),
		Selector: a.Release.selector(componentServer),
		// A rollout adds the new pod before removing an old one: serving capacity (and the
		// PodDisruptionBudget's count) never drops during an update.
		Strategy: &appsv1.DeploymentStrategyArgs{
			Type: pulumi.String("RollingUpdate"),
			RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
				MaxUnavailable: pulumi.Int(0), MaxSurge: pulumi.Int(1),
			},
		},
		Template: &corev1.PodTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Labels:      pulumi.ToStringMap(a.Release.labels(componentServer)),
				Annotations: annotations,
			},
			Spec: spec,
		},
	}
}

// defaultServerSpread spreads several replicas over nodes and, where nodes carry zone labels,
// zones, so one node or zone lost leaves servers running. ScheduleAnyway: a small cluster still
// schedules every replica. The user's affinity or constraints replace it.
func defaultServerSpread(a *CertctlServerArgs) corev1.TopologySpreadConstraintArray {
	s := a.Server
	if s.Replicas <= 1 || s.Affinity != nil || len(s.TopologySpreadConstraints) > 0 {
		return nil
	}
	var spread corev1.TopologySpreadConstraintArray
	for _, key := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		spread = append(spread, corev1.TopologySpreadConstraintArgs{
			TopologyKey:       pulumi.String(key),
			MaxSkew:           pulumi.Int(1),
			WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
			LabelSelector:     a.Release.selector(componentServer),
		})
	}
	return spread
}

func serviceAccountArgs(a *CertctlServerArgs) *corev1.ServiceAccountArgs {
	return &corev1.ServiceAccountArgs{
		Metadata:                     a.Release.objectMeta(a.Names.ServiceAccount, componentServer, a.ServiceAccount.Annotations),
		AutomountServiceAccountToken: pulumi.Bool(a.KubernetesSecrets.Enabled),
	}
}

// clusterRoleArgs has no rules unless the preview Kubernetes Secrets connector is enabled. No
// rules is no list at all: the API server stores an empty list as none, and an empty list sent
// would show as a change at every update.
func clusterRoleArgs(a *CertctlServerArgs) *rbacv1.ClusterRoleArgs {
	var rules rbacv1.PolicyRuleArray
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

// wantPodDisruptionBudget: as in the chart, only with more than one replica; a budget on a
// single replica would block every node drain.
func wantPodDisruptionBudget(a *CertctlServerArgs) bool {
	return a.PodDisruptionBudget.Enabled && a.Server.Replicas > 1
}

func podDisruptionBudgetArgs(a *CertctlServerArgs) *policyv1.PodDisruptionBudgetArgs {
	pdb := a.PodDisruptionBudget
	return &policyv1.PodDisruptionBudgetArgs{
		Metadata: a.Release.objectMeta(a.Names.Server, componentServer, nil),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			Selector:       a.Release.selector(componentServer),
			MinAvailable:   intOrString(pdb.MinAvailable),
			MaxUnavailable: intOrString(pdb.MaxUnavailable),
		},
	}
}

func intOrString(v *intstr.IntOrString) pulumi.Input {
	switch {
	case v == nil:
		return nil
	case v.Type == intstr.String:
		return pulumi.String(v.StrVal)
	default:
		return pulumi.Int(int(v.IntVal))
	}
}
