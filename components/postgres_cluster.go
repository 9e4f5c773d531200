package components

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

const (
	// labelCNPGCluster is the label CloudNativePG puts on every instance pod of a Cluster.
	labelCNPGCluster = "cnpg.io/cluster"
	// barmanPlugin is the Barman Cloud Plugin's name in a Cluster's plugins and externalClusters.
	barmanPlugin = "barman-cloud.cloudnative-pg.io"
	// cnpgPort is the instances' PostgreSQL port; cnpgStatusPort the instance manager's, which the
	// operator and the other instances call; cnpgMetricsPort the instances' exporter.
	cnpgPort        = 5432
	cnpgStatusPort  = 8000
	cnpgMetricsPort = 9187
	// recoverySource names the externalClusters entry a recovery bootstraps from.
	recoverySource = "origin"
	// archiveLifecycleMarginDays keeps the archive in a built bucket beyond the retention window:
	// the base backup that starts the window's oldest point is older than the window.
	archiveLifecycleMarginDays = 7
	// clusterReadyWait bounds the wait for a Cluster to become Ready: the instances' initdb and
	// joins, one after another; a recovery of a large archive may need more (re-run `pulumi up`).
	clusterReadyWait = 30 * time.Minute
)

// PostgresClusterArgs is what NewPostgresCluster is given: the postgresql section, its sized
// parameters, the clients its NetworkPolicy admits, and backup.s3 for the archive.
type PostgresClusterArgs struct {
	Release Release
	// Name is the Cluster's name; CloudNativePG derives <Name>-rw, <Name>-ca and the instances'
	// ServiceAccount <Name> from it.
	Name       string
	PostgreSQL config.PostgreSQL
	// Parameters are postgresql.parameters (config.ClusterParameters).
	Parameters map[string]string
	// NetworkPolicy restricts the instances to their clients, each other and the operator.
	NetworkPolicy bool
	// Clients are the components whose pods connect (as for BundledPostgres).
	Clients []string
	// PodMonitor scrapes the instances (monitoring.enabled); ScrapedFrom is Prometheus' namespace.
	PodMonitor  bool
	ScrapedFrom string
	// Bucket is backup.s3: where the archive goes with postgresql.cluster.backup.enabled.
	Bucket config.BackupS3
}

// PostgresCluster is the database on CloudNativePG: a Cluster of instances over distinct nodes,
// archived continuously to the backup bucket.
type PostgresCluster struct {
	pulumi.ResourceState

	// Host is the read-write Service's cluster DNS name.
	Host pulumi.StringOutput `pulumi:"host"`
	// SecretName is the kubernetes.io/basic-auth Secret of the application owner.
	SecretName pulumi.StringOutput `pulumi:"secretName"`

	// Connection is the read-write Service with the owner's credentials.
	Connection Connection
	// CASecret is the operator's <Name>-ca, whose ca.crt the clients verify the instances with.
	CASecret string
	// Egress reaches the instances on the PostgreSQL port.
	Egress *networkingv1.NetworkPolicyEgressRuleArgs
	// Ready is the Cluster (dependents wait on it, as on BundledPostgres.Ready).
	Ready []pulumi.Resource
	// Claims matches the instances' data volume claims, <Name>-<serial> (RE2), which Monitoring
	// alerts on; the serial grows as CloudNativePG replaces instances.
	Claims string
}

// NewPostgresCluster registers a certctl:index:PostgresCluster component: the owner's Secret, the
// CloudNativePG Cluster and, as configured, its NetworkPolicy, PodMonitor, ObjectStore (with the
// bucket and its credentials) and ScheduledBackup.
func NewPostgresCluster(ctx *pulumi.Context, name string, args *PostgresClusterArgs, opts ...pulumi.ResourceOption) (*PostgresCluster, error) {
	if args == nil || args.Name == "" {
		return nil, fmt.Errorf("postgres cluster %q: Name is required", name)
	}
	p := &PostgresCluster{}
	if err := ctx.RegisterComponentResource("certctl:index:PostgresCluster", name, p, opts...); err != nil {
		return nil, err
	}
	a, pg := args, args.PostgreSQL
	// The instances' volumes go with the Cluster (CloudNativePG owns them), so destroy keeps it
	// unless asked, and with it what the still-running database relies on: its owner's Secret,
	// its archive (ObjectStore, credentials; a built bucket follows backup.s3.deleteOnDestroy),
	// its base backups, its NetworkPolicy and PodMonitor.
	child := pulumi.Composite(pulumi.Parent(p), pulumi.RetainOnDelete(!pg.Storage.DeleteOnDestroy))

	secretName := ownerSecret(a)
	var password pulumi.StringOutput
	var deps []pulumi.Resource
	if pg.Cluster.OwnerSecret == "" {
		generated, err := rotatable(ctx, name+"-password", pg.Auth.Password, 0, child)
		if err != nil {
			return nil, err
		}
		secret, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
			Metadata: a.Release.objectMeta(secretName, componentPostgres, nil),
			Type:     pulumi.String("kubernetes.io/basic-auth"),
			StringData: pulumi.StringMap{
				"username":          pulumi.ToSecret(pulumi.String(pg.Auth.Username)).(pulumi.StringOutput),
				keyPostgresPassword: generated,
			},
		}, child)
		if err != nil {
			return nil, err
		}
		password, deps = generated, []pulumi.Resource{secret}
	}
	var archive *clusterArchive
	if pg.Cluster.Backup.Enabled {
		var err error
		if archive, err = newClusterArchive(ctx, name, a, child); err != nil {
			return nil, err
		}
		deps = append(deps, archive.resources...)
	}
	cluster, err := apiextensions.NewCustomResource(ctx, name, clusterArgs(a, archive), child, pulumi.DependsOn(deps), waitFor(clusterReadyWait))
	if err != nil {
		return nil, err
	}
	if archive != nil {
		if _, err := apiextensions.NewCustomResource(ctx, name, scheduledBackupArgs(a), child, pulumi.DependsOn([]pulumi.Resource{cluster})); err != nil {
			return nil, err
		}
	}
	if a.NetworkPolicy {
		if _, err := networkingv1.NewNetworkPolicy(ctx, name, clusterNetworkPolicyArgs(a), child); err != nil {
			return nil, err
		}
	}
	if a.PodMonitor {
		if _, err := apiextensions.NewCustomResource(ctx, name, podMonitorArgs(a), child, pulumi.DependsOn([]pulumi.Resource{cluster})); err != nil {
			return nil, err
		}
	}

	rw := a.Name + "-rw"
	p.Host = pulumi.Sprintf("%s.%s.svc.cluster.local", rw, a.Release.Namespace)
	p.SecretName = pulumi.String(secretName).ToStringOutput()
	p.Claims = regexp.QuoteMeta(args.Name) + "-[0-9]+"
	p.Connection = Connection{
		Host: rw, Port: cnpgPort, Database: pg.Auth.Database, Username: pg.Auth.Username,
		Password: password, PasswordRef: config.SecretKeyRef{Name: secretName, Key: keyPostgresPassword},
		PasswordOnlyInRef: pg.Cluster.OwnerSecret != "",
	}
	p.CASecret = a.Name + "-ca"
	p.Egress = &networkingv1.NetworkPolicyEgressRuleArgs{
		To:    networkingv1.NetworkPolicyPeerArray{clusterPeer(a.Name)},
		Ports: tcpPortNumbers(cnpgPort),
	}
	p.Ready = []pulumi.Resource{cluster}
	return p, ctx.RegisterResourceOutputs(p, pulumi.Map{"host": p.Host, "secretName": p.SecretName})
}

// ownerSecret names the application owner's basic-auth Secret: the user's, or the one the
// component generates.
func ownerSecret(a *PostgresClusterArgs) string {
	if s := a.PostgreSQL.Cluster.OwnerSecret; s != "" {
		return s
	}
	return a.Name + "-owner"
}

// clusterArchive is the bucket side of the archive: the ObjectStore's and the instances'
// ServiceAccount's settings, and what the Cluster must wait for.
type clusterArchive struct {
	store     *backupStore
	resources []pulumi.Resource
}

// newClusterArchive builds (or names) the bucket with the Backup component's code, for the
// instances' ServiceAccount and the archive's prefix, and the ObjectStore pointing at it.
func newClusterArchive(ctx *pulumi.Context, name string, a *PostgresClusterArgs, opts ...pulumi.ResourceOption) (*clusterArchive, error) {
	s3 := a.Bucket
	s3.Prefix = a.PostgreSQL.Cluster.Backup.Prefix
	s3.RetentionDays = a.PostgreSQL.Cluster.Backup.RetentionDays + archiveLifecycleMarginDays
	store, err := newBackupStore(ctx, name, bucketUser{Release: a.Release, ServiceAccount: a.Name, Component: componentPostgres, S3: s3, Prunes: true}, opts...)
	if err != nil {
		return nil, err
	}
	os, err := apiextensions.NewCustomResource(ctx, name, objectStoreArgs(a, store.sink), append(opts, pulumi.DependsOn(store.resources))...)
	if err != nil {
		return nil, err
	}
	return &clusterArchive{store: store, resources: append(store.resources, os)}, nil
}

// objectStoreArgs is the Barman Cloud Plugin's ObjectStore: the bucket under the archive's
// prefix and the namespace (so two namespaces' clusters of one name never share a path), the
// credentials (the instances' IAM role, or an access key), encrypted by S3, and the retention.
func objectStoreArgs(a *PostgresClusterArgs, sink backupSink) *apiextensions.CustomResourceArgs {
	b := a.PostgreSQL.Cluster.Backup
	creds := pulumi.Map{"inheritFromIAMRole": pulumi.Bool(true)}
	if k := sink.accessKey; k != nil {
		creds = pulumi.Map{
			"accessKeyId":     pulumi.Map{"name": pulumi.String(k.Name), "key": pulumi.String(k.AccessKeyIDKey)},
			"secretAccessKey": pulumi.Map{"name": pulumi.String(k.Name), "key": pulumi.String(k.SecretAccessKeyKey)},
		}
	}
	encryption := pulumi.String("AES256")
	if a.Bucket.KMSKeyID != "" {
		encryption = pulumi.String("aws:kms")
	}
	configuration := pulumi.Map{
		"destinationPath": pulumi.Sprintf("s3://%s/%s%s", sink.bucket, b.Prefix, a.Release.Namespace),
		"s3Credentials":   creds,
		"wal":             pulumi.Map{"compression": pulumi.String("gzip"), "encryption": encryption},
		"data":            pulumi.Map{"compression": pulumi.String("gzip"), "encryption": encryption},
	}
	if a.Bucket.Endpoint != "" {
		configuration["endpointURL"] = pulumi.String(a.Bucket.Endpoint)
	}
	spec := pulumi.Map{
		"configuration":   configuration,
		"retentionPolicy": pulumi.String(strconv.Itoa(b.RetentionDays) + "d"),
	}
	if a.Bucket.Region != "" {
		spec["instanceSidecarConfiguration"] = pulumi.Map{"env": pulumi.Array{
			pulumi.Map{"name": pulumi.String("AWS_DEFAULT_REGION"), "value": pulumi.String(a.Bucket.Region)},
		}}
	}
	return &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String("barmancloud.cnpg.io/v1"),
		Kind:        pulumi.String("ObjectStore"),
		Metadata:    a.Release.objectMeta(a.Name, componentPostgres, nil),
		OtherFields: map[string]any{"spec": spec},
	}
}

// clusterArgs is the CloudNativePG Cluster: the instances on distinct nodes (or zones), a
// synchronous standby policy, unsupervised primary updates, the section's storage, resources and
// parameters, the owner from initdb (or a recovery from the archive), and WAL archiving through
// the plugin under this incarnation's serverName.
func clusterArgs(a *PostgresClusterArgs, archive *clusterArchive) *apiextensions.CustomResourceArgs {
	pg, pc := a.PostgreSQL, a.PostgreSQL.Cluster
	topologyKey := "kubernetes.io/hostname"
	if pc.SpreadOverZones {
		topologyKey = "topology.kubernetes.io/zone"
	}
	postgresql := pulumi.Map{"parameters": pulumi.ToStringMap(a.Parameters)}
	if pc.SynchronousReplicas > 0 {
		postgresql["synchronous"] = pulumi.Map{
			"method": pulumi.String("any"), "number": pulumi.Int(pc.SynchronousReplicas), "dataDurability": pulumi.String(pc.DataDurability),
		}
	}
	storage := pulumi.Map{"size": pulumi.String(pg.Storage.Size)}
	if pg.Storage.StorageClass != "" {
		storage["storageClass"] = pulumi.String(pg.Storage.StorageClass)
	}
	spec := pulumi.Map{
		"instances":             pulumi.Int(pc.Instances),
		"primaryUpdateStrategy": pulumi.String("unsupervised"),
		"postgresql":            postgresql,
		"storage":               storage,
		"resources":             resourcesMap(pg.Resources),
		"affinity": pulumi.Map{
			"enablePodAntiAffinity": pulumi.Bool(true),
			"podAntiAffinityType":   pulumi.String("required"),
			"topologyKey":           pulumi.String(topologyKey),
		},
		"bootstrap": clusterBootstrap(a),
	}
	if archive != nil {
		spec["plugins"] = pulumi.Array{pulumi.Map{
			"name":          pulumi.String(barmanPlugin),
			"isWALArchiver": pulumi.Bool(true),
			"parameters":    barmanParameters(a.Name, config.ServerName(a.Name, pc.Incarnation)),
		}}
		if pc.Recovery.Enabled {
			spec["externalClusters"] = pulumi.Array{pulumi.Map{
				"name":   pulumi.String(recoverySource),
				"plugin": pulumi.Map{"name": pulumi.String(barmanPlugin), "parameters": barmanParameters(a.Name, config.ServerName(a.Name, pc.Recovery.SourceIncarnation))},
			}}
		}
		if role := archive.store.sink.roleARN; role != nil {
			spec["serviceAccountTemplate"] = pulumi.Map{"metadata": pulumi.Map{
				"annotations": pulumi.StringMap{annotationIRSARole: role},
			}}
		}
	}
	return &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("postgresql.cnpg.io/v1"),
		Kind:       pulumi.String("Cluster"),
		// The server needs the operator's <Name>-ca and a primary behind <Name>-rw: wait for Ready.
		Metadata:    a.Release.objectMeta(a.Name, componentPostgres, map[string]string{"pulumi.com/waitFor": "condition=Ready"}),
		OtherFields: map[string]any{"spec": spec},
	}
}

// clusterBootstrap creates the database and its owner with the owner's Secret, or recovers
// the source incarnation from the archive (to recovery.targetTime when set); a recovered
// database keeps its roles, and the owner's Secret then sets its password.
func clusterBootstrap(a *PostgresClusterArgs) pulumi.Map {
	pg, r := a.PostgreSQL, a.PostgreSQL.Cluster.Recovery
	owner := pulumi.Map{"name": pulumi.String(ownerSecret(a))}
	if !r.Enabled {
		return pulumi.Map{"initdb": pulumi.Map{
			"database": pulumi.String(pg.Auth.Database), "owner": pulumi.String(pg.Auth.Username), "secret": owner,
		}}
	}
	recovery := pulumi.Map{
		"source": pulumi.String(recoverySource), "database": pulumi.String(pg.Auth.Database),
		"owner": pulumi.String(pg.Auth.Username), "secret": owner,
	}
	if r.TargetTime != "" {
		recovery["recoveryTarget"] = pulumi.Map{"targetTime": pulumi.String(r.TargetTime)}
	}
	return pulumi.Map{"recovery": recovery}
}

// barmanParameters point the plugin at the ObjectStore (named after the cluster) and an
// incarnation's serverName.
func barmanParameters(store, serverName string) pulumi.StringMap {
	return pulumi.StringMap{"barmanObjectName": pulumi.String(store), "serverName": pulumi.String(serverName)}
}

// resourcesMap is a container's requests and limits as a custom resource's untyped map.
func resourcesMap(r config.Resources) pulumi.Map {
	out := pulumi.Map{}
	if len(r.Requests) > 0 {
		out["requests"] = pulumi.ToStringMap(r.Requests)
	}
	if len(r.Limits) > 0 {
		out["limits"] = pulumi.ToStringMap(r.Limits)
	}
	return out
}

// scheduledBackupArgs takes base backups through the plugin on the six-field schedule, from a
// standby when one is up (the primary keeps serving).
func scheduledBackupArgs(a *PostgresClusterArgs) *apiextensions.CustomResourceArgs {
	return &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("postgresql.cnpg.io/v1"),
		Kind:       pulumi.String("ScheduledBackup"),
		Metadata:   a.Release.objectMeta(a.Name, componentPostgres, nil),
		OtherFields: map[string]any{"spec": pulumi.Map{
			"schedule":             pulumi.String(a.PostgreSQL.Cluster.Backup.Schedule),
			"cluster":              pulumi.Map{"name": pulumi.String(a.Name)},
			"method":               pulumi.String("plugin"),
			"pluginConfiguration":  pulumi.Map{"name": pulumi.String(barmanPlugin)},
			"target":               pulumi.String("prefer-standby"),
			"backupOwnerReference": pulumi.String("self"),
			"immediate":            pulumi.Bool(true),
		}},
	}
}

// podMonitorArgs scrapes every instance's exporter (CloudNativePG's enablePodMonitor is
// deprecated).
func podMonitorArgs(a *PostgresClusterArgs) *apiextensions.CustomResourceArgs {
	return &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("PodMonitor"),
		Metadata:   a.Release.objectMeta(a.Name, componentPostgres, nil),
		OtherFields: map[string]any{"spec": pulumi.Map{
			"selector":            pulumi.Map{"matchLabels": pulumi.StringMap{labelCNPGCluster: pulumi.String(a.Name)}},
			"podMetricsEndpoints": pulumi.Array{pulumi.Map{"port": pulumi.String("metrics")}},
		}},
	}
}

// clusterNetworkPolicyArgs admits the clients to the instances' PostgreSQL port, the instances to
// each other (replication, and the instance manager's status port), the operator to the status
// port and Prometheus to the exporter; the instances may reach each other, DNS, the API server
// (the instance manager watches its Cluster) and, archiving, the object store over HTTPS.
func clusterNetworkPolicyArgs(a *PostgresClusterArgs) *networkingv1.NetworkPolicyArgs {
	instances := networkingv1.NetworkPolicyPeerArray{clusterPeer(a.Name)}
	ingress := networkingv1.NetworkPolicyIngressRuleArray{
		networkingv1.NetworkPolicyIngressRuleArgs{From: clientPeers(a.Release, a.Clients), Ports: tcpPortNumbers(cnpgPort)},
		networkingv1.NetworkPolicyIngressRuleArgs{From: instances, Ports: tcpPortNumbers(cnpgPort, cnpgStatusPort)},
		networkingv1.NetworkPolicyIngressRuleArgs{From: namespacePeer(a.PostgreSQL.Cluster.OperatorNamespace), Ports: tcpPortNumbers(cnpgStatusPort)},
	}
	if a.PodMonitor && a.ScrapedFrom != "" {
		ingress = append(ingress, networkingv1.NetworkPolicyIngressRuleArgs{From: namespacePeer(a.ScrapedFrom), Ports: tcpPortNumbers(cnpgMetricsPort)})
	}
	egress := networkingv1.NetworkPolicyEgressRuleArray{
		dnsEgress(),
		networkingv1.NetworkPolicyEgressRuleArgs{To: instances, Ports: tcpPortNumbers(cnpgPort, cnpgStatusPort)},
		// The API server's address and port differ per cluster (443, 6443 behind the Service).
		networkingv1.NetworkPolicyEgressRuleArgs{Ports: tcpPortNumbers(443, 6443)},
	}
	return &networkingv1.NetworkPolicyArgs{
		Metadata: a.Release.objectMeta(a.Name, componentPostgres, nil),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: clusterSelector(a.Name),
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress:     ingress,
			Egress:      egress,
		},
	}
}

// clusterSelector selects the cluster's instance pods.
func clusterSelector(cluster string) *metav1.LabelSelectorArgs {
	return labelSelector(map[string]string{labelCNPGCluster: cluster})
}

// clusterPeer is the cluster's instance pods.
func clusterPeer(cluster string) networkingv1.NetworkPolicyPeerArgs {
	return networkingv1.NetworkPolicyPeerArgs{PodSelector: clusterSelector(cluster)}
}

// tcpPortNumbers opens TCP ports by number (CloudNativePG's port names are its own).
func tcpPortNumbers(ports ...int) networkingv1.NetworkPolicyPortArray {
	var out networkingv1.NetworkPolicyPortArray
	for _, p := range ports {
		out = append(out, networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(p)})
	}
	return out
}
