package components

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

const (
	portNamePostgres = "postgres"
	postgresDataPath = "/var/lib/postgresql/data"
	// pgdataSubdir keeps the cluster below the volume root: a fresh volume's lost+found would make
	// initdb refuse the directory, and initdb must create (and own) the directory it uses.
	pgdataSubdir         = "pgdata"
	postgresTLSMountPath = "/etc/postgresql-tls"
	// Secret keys of the postgres Secret.
	keyPostgresPassword = "password"
	// postgresClaimTemplate names the StatefulSet's volume claim template: its one pod's claim
	// is <template>-<statefulset>-0.
	postgresClaimTemplate = "data"
)

// Connection is how clients reach the bundled Postgres.
type Connection struct {
	// Host is the Service name, resolvable from any pod in the namespace.
	Host     string
	Port     int
	Database string
	Username string
	// Password is a Pulumi secret; PasswordRef is where pods read it from.
	Password    pulumi.StringOutput
	PasswordRef config.SecretKeyRef
	// PasswordOnlyInRef: the program does not know the password (a Secret the user provides
	// holds it), so Password is unset and clients read it from PasswordRef as PGPASSWORD.
	PasswordOnlyInRef bool
}

// URL is the lib/pq connection URL with the password inside it, escaped, and kept secret: no
// pod has to assemble it (kubelet never expands $(VAR) in a value read from a Secret). With
// PasswordOnlyInRef it carries none, and lib/pq (v2.1.7's driver) takes PGPASSWORD.
func (c Connection) URL(sslmode string) pulumi.StringOutput {
	if c.PasswordOnlyInRef {
		return pulumi.ToSecret(pulumi.String(c.url(url.User(c.Username), sslmode))).(pulumi.StringOutput)
	}
	return c.Password.ApplyT(func(pw string) string { return c.url(url.UserPassword(c.Username, pw), sslmode) }).(pulumi.StringOutput)
}

func (c Connection) url(user *url.Userinfo, sslmode string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     user,
		Host:     net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		Path:     "/" + c.Database,
		RawQuery: url.Values{"sslmode": {sslmode}}.Encode(),
	}
	return u.String()
}

// BundledPostgresArgs is what NewBundledPostgres is given: the postgresql section, the clients
// its NetworkPolicy admits, and the name prefix and checksum key of the password-change Jobs.
type BundledPostgresArgs struct {
	Release Release
	// Name is the StatefulSet's, headless Service's and Secret's name.
	Name       string
	PostgreSQL config.PostgreSQL
	// NetworkPolicy admits only the Clients' pods to the database (networkPolicy.enabled).
	NetworkPolicy bool
	// Clients are the components whose pods connect: the server, and the migration Job and
	// backup CronJob when enabled (the password-change Job is always admitted).
	Clients []string
	// PasswordJobPrefix names the password-change Jobs (config.Names.PasswordChange).
	PasswordJobPrefix string
	// ChecksumKey keys the digest of the password in the Job's name.
	ChecksumKey pulumi.StringOutput
}

// BundledPostgres is the in-cluster PostgreSQL: one StatefulSet replica on a retained volume.
type BundledPostgres struct {
	pulumi.ResourceState

	// Host is the Service's cluster DNS name (the server itself uses the short name).
	Host       pulumi.StringOutput `pulumi:"host"`
	Port       pulumi.IntOutput    `pulumi:"port"`
	Database   pulumi.StringOutput `pulumi:"database"`
	Username   pulumi.StringOutput `pulumi:"username"`
	SecretName pulumi.StringOutput `pulumi:"secretName"`
	// PasswordKey is the key of SecretName holding the password.
	PasswordKey pulumi.StringOutput `pulumi:"passwordKey"`
	// Password is the database password (secret).
	Password pulumi.StringOutput `pulumi:"password"`

	// Connection carries the same facts as typed Go values for sibling components.
	Connection Connection
	// Claims matches the database's data volume claim (an RE2 for PromQL's =~), which
	// Monitoring alerts on.
	Claims string
	// Ready are the objects whose success means the database serves with the current password
	// (the StatefulSet and the password-change Job). Dependents wait on these, not on the
	// component (see NewCertctl).
	Ready []pulumi.Resource
}

// NewBundledPostgres registers a certctl:index:BundledPostgres component: a Secret, the headless
// Service, the StatefulSet, the password-change Job and, with networkPolicy.enabled, a
// NetworkPolicy. It returns the component with its Connection and Ready objects.
func NewBundledPostgres(ctx *pulumi.Context, name string, args *BundledPostgresArgs, opts ...pulumi.ResourceOption) (*BundledPostgres, error) {
	if args == nil || args.Name == "" {
		return nil, fmt.Errorf("bundled postgres %q: Name is required", name)
	}
	p := &BundledPostgres{}
	if err := ctx.RegisterComponentResource("certctl:index:BundledPostgres", name, p, opts...); err != nil {
		return nil, err
	}
	pg := args.PostgreSQL
	child := pulumi.Parent(p)

	// The password binds once, at initdb (see docs/runbooks/postgres-password.md).
	password, err := rotatable(ctx, name+"-password", pg.Auth.Password, pg.Auth.PasswordRotation, child)
	if err != nil {
		return nil, err
	}
	secret, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata: args.Release.objectMeta(args.Name, componentPostgres, nil),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			"username":          pulumi.ToSecret(pulumi.String(pg.Auth.Username)).(pulumi.StringOutput),
			"database":          pulumi.ToSecret(pulumi.String(pg.Auth.Database)).(pulumi.StringOutput),
			keyPostgresPassword: password,
		},
	}, child)
	if err != nil {
		return nil, err
	}
	svc, err := corev1.NewService(ctx, name, postgresServiceArgs(args), child)
	if err != nil {
		return nil, err
	}
	sts, err := appsv1.NewStatefulSet(ctx, name, &appsv1.StatefulSetArgs{
		Metadata: args.Release.objectMeta(args.Name, componentPostgres, nil),
		Spec:     postgresStatefulSetSpec(args),
	}, child, pulumi.DependsOn([]pulumi.Resource{secret, svc}))
	if err != nil {
		return nil, err
	}
	passwordChange, err := newPasswordChange(ctx, name, args, password, []pulumi.Resource{secret, sts}, child)
	if err != nil {
		return nil, err
	}
	p.Ready = []pulumi.Resource{sts, passwordChange}

	if args.NetworkPolicy {
		if _, err := networkingv1.NewNetworkPolicy(ctx, name, postgresNetworkPolicyArgs(args), child); err != nil {
			return nil, err
		}
	}

	p.Host = pulumi.Sprintf("%s.%s.svc.cluster.local", svc.Metadata.Name().Elem(), args.Release.Namespace)
	p.Port = pulumi.Int(pg.Service.Port).ToIntOutput()
	p.Database = pulumi.String(pg.Auth.Database).ToStringOutput()
	p.Username = pulumi.String(pg.Auth.Username).ToStringOutput()
	p.SecretName = secret.Metadata.Name().Elem()
	p.PasswordKey = pulumi.String(keyPostgresPassword).ToStringOutput()
	p.Password = password
	p.Connection = Connection{
		Host: args.Name, Port: pg.Service.Port, Database: pg.Auth.Database, Username: pg.Auth.Username,
		Password: password, PasswordRef: config.SecretKeyRef{Name: args.Name, Key: keyPostgresPassword},
	}
	p.Claims = regexp.QuoteMeta(postgresClaimTemplate + "-" + args.Name + "-0")
	return p, ctx.RegisterResourceOutputs(p, pulumi.Map{
		"host": p.Host, "port": p.Port, "database": p.Database, "username": p.Username,
		"secretName": p.SecretName, "passwordKey": p.PasswordKey,
	})
}

// postgresServiceArgs is the headless Service that gives the StatefulSet pod its stable DNS name.
func postgresServiceArgs(a *BundledPostgresArgs) *corev1.ServiceArgs {
	return &corev1.ServiceArgs{
		Metadata: a.Release.objectMeta(a.Name, componentPostgres, nil),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP: pulumi.String("None"),
			Selector:  pulumi.ToStringMap(a.Release.selectorLabels(componentPostgres)),
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String(portNamePostgres), Port: pulumi.Int(a.PostgreSQL.Service.Port),
				TargetPort: pulumi.String(portNamePostgres), Protocol: pulumi.String("TCP"),
			}},
		},
	}
}

// postgresCommandArgs starts the server with postgresqlConfig as `-c key=value` arguments, in key
// order, after the TLS settings so a user can still override those.
func postgresCommandArgs(pg config.PostgreSQL) []string {
	args := []string{"postgres", "-p", fmt.Sprint(pg.Service.Port)}
	if pg.TLS.CertSecretRef != "" {
		// The key file arrives root-owned with mode 0440 (0400 plus fsGroup read): Postgres
		// accepts a root-owned key readable by its group.
		args = append(args, "-c", "ssl=on",
			"-c", "ssl_cert_file="+postgresTLSMountPath+"/tls.crt",
			"-c", "ssl_key_file="+postgresTLSMountPath+"/tls.key")
	}
	for _, k := range slices.Sorted(maps.Keys(pg.PostgresqlConfig)) {
		args = append(args, "-c", k+"="+pg.PostgresqlConfig[k])
	}
	return args
}

func postgresStatefulSetSpec(a *BundledPostgresArgs) *appsv1.StatefulSetSpecArgs {
	pg := a.PostgreSQL
	ready := []string{"pg_isready", "-U", pg.Auth.Username, "-d", pg.Auth.Database, "-h", "127.0.0.1", "-p", fmt.Sprint(pg.Service.Port)}
	fromSecret := func(env, key string) corev1.EnvVarArgs {
		return corev1.EnvVarArgs{Name: pulumi.String(env), ValueFrom: &corev1.EnvVarSourceArgs{
			SecretKeyRef: &corev1.SecretKeySelectorArgs{Name: pulumi.String(a.Name), Key: pulumi.String(key)},
		}}
	}
	// With a read-only root the image still needs its socket dir and /tmp (nss_wrapper
	// writes its passwd file there when the uid has no /etc/passwd entry).
	mounts := corev1.VolumeMountArray{mount("data", postgresDataPath), mount("run", "/var/run/postgresql"), mount("tmp", "/tmp")}
	volumes := []corev1.VolumeArgs{emptyDirVolume("run", ""), emptyDirVolume("tmp", "")}
	if pg.TLS.CertSecretRef != "" {
		mounts = append(mounts, readOnlyMount("tls", postgresTLSMountPath))
		volumes = append(volumes, secretVolume("tls", pg.TLS.CertSecretRef))
	}
	container := workloadContainer(componentPostgres, pg.Workload)
	container.Args = pulumi.ToStringArray(postgresCommandArgs(pg))
	container.Ports = corev1.ContainerPortArray{corev1.ContainerPortArgs{
		Name: pulumi.String(portNamePostgres), ContainerPort: pulumi.Int(pg.Service.Port), Protocol: pulumi.String("TCP"),
	}}
	container.Env = corev1.EnvVarArray{
		fromSecret("POSTGRES_DB", "database"),
		fromSecret("POSTGRES_USER", "username"),
		fromSecret("POSTGRES_PASSWORD", keyPostgresPassword),
		corev1.EnvVarArgs{Name: pulumi.String("POSTGRES_INITDB_ARGS"), Value: pulumi.String("--encoding=UTF8")},
		corev1.EnvVarArgs{Name: pulumi.String("PGDATA"), Value: pulumi.String(postgresDataPath + "/" + pgdataSubdir)},
	}
	container.LivenessProbe = execProbe(ready, pg.LivenessProbe)
	container.ReadinessProbe = execProbe(ready, pg.ReadinessProbe)
	container.VolumeMounts = mounts
	spec := workloadPodSpec(a.Release, pg.Workload)
	spec.AutomountServiceAccountToken = pulumi.Bool(false)
	spec.Containers = corev1.ContainerArray{container}
	spec.Volumes = volumesInput(nil, volumes...)
	claim := corev1.PersistentVolumeClaimTypeArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(postgresClaimTemplate), Labels: pulumi.ToStringMap(a.Release.selectorLabels(componentPostgres))},
		Spec: &corev1.PersistentVolumeClaimSpecArgs{
			AccessModes:      pulumi.ToStringArray([]string{"ReadWriteOnce"}),
			StorageClassName: optString(pg.Storage.StorageClass),
			Resources: &corev1.VolumeResourceRequirementsArgs{
				Requests: pulumi.StringMap{"storage": pulumi.String(pg.Storage.Size)},
			},
		},
	}
	return &appsv1.StatefulSetSpecArgs{
		Replicas:    pulumi.Int(1),
		ServiceName: pulumi.String(a.Name),
		Selector:    a.Release.selector(componentPostgres),
		// OnDelete: a spec change never restarts the database by itself; the operator deletes the pod.
		UpdateStrategy:      &appsv1.StatefulSetUpdateStrategyArgs{Type: pulumi.String("OnDelete")},
		PodManagementPolicy: pulumi.String("OrderedReady"),
		PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
			WhenDeleted: pulumi.String(claimRetention(pg.Storage)),
			WhenScaled:  pulumi.String("Retain"),
		},
		Template: &corev1.PodTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Labels:      pulumi.ToStringMap(a.Release.labels(componentPostgres)),
				Annotations: optStringMap(pg.PodAnnotations),
			},
			Spec: &spec,
		},
		VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{claim},
	}
}

// claimRetention keeps the data volume when the StatefulSet is deleted (by `pulumi destroy` or a
// replacement) unless the user opted in to deleting it.
func claimRetention(s config.Storage) string {
	if s.DeleteOnDestroy {
		return "Delete"
	}
	return "Retain"
}
