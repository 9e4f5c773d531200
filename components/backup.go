package components

import (
	"fmt"
	"strconv"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

const (
	componentBackup = "backup"
	// Where the backup pod stages a dump (an emptyDir: the image's root stays read-only) and
	// where the PVC sink keeps them.
	backupWorkDir = "/work"
	backupPVCDir  = "/backups"
	// backupFilePattern is what every dump is named: certctl-<UTC timestamp>.dump, so that names
	// sort by age.
	backupFilePattern = "certctl-*.dump"
	// annotationIRSARole is the ServiceAccount annotation EKS's pod identity webhook reads.
	annotationIRSARole = "eks.amazonaws.com/role-arn"
)

// BackupArgs is what NewBackup is given: the backup section with its workload resolved, the
// bundled Postgres' connection, and the server's sslmode and CA Secret for the database.
type BackupArgs struct {
	Release Release
	// Name is the CronJob's, ServiceAccount's and created PVC's name; the access-key Secret is
	// <Name>-aws.
	Name string
	// Backup has its workload resolved against the database's (config.BackupWorkload).
	Backup config.Backup
	// Database is the bundled Postgres the dumps are taken from.
	Database Connection
	// SSLMode is the server's postgresql.tls.mode; CASecret, when set, holds the ca.crt that
	// verify-ca and verify-full check the database with, as the server does.
	SSLMode  string
	CASecret string
}

// Backup is the scheduled pg_dump of the bundled database into a volume claim or an S3 bucket.
type Backup struct {
	pulumi.ResourceState

	CronJobName pulumi.StringOutput `pulumi:"cronJobName"`
	// ClaimName is the claim dumps go to (sink pvc).
	ClaimName pulumi.StringOutput `pulumi:"claimName"`
	// Bucket is the bucket dumps go to and Location their s3:// prefix (sink s3).
	Bucket   pulumi.StringOutput `pulumi:"bucket"`
	Location pulumi.StringOutput `pulumi:"location"`
}

// NewBackup registers a certctl:index:Backup component: a CronJob and its ServiceAccount, with a
// volume claim (sink pvc, unless existingClaim) or a bucket (s3.create) and the uploader's AWS
// access (sink s3). It returns the component with the CronJob's name and where the dumps go.
func NewBackup(ctx *pulumi.Context, name string, args *BackupArgs, opts ...pulumi.ResourceOption) (*Backup, error) {
	if args == nil || args.Name == "" {
		return nil, fmt.Errorf("backup %q: Name is required", name)
	}
	component := &Backup{}
	if err := ctx.RegisterComponentResource("certctl:index:Backup", name, component, opts...); err != nil {
		return nil, err
	}
	a, child := args, pulumi.Parent(component)
	b := a.Backup

	var sink backupSink
	var deps []pulumi.Resource
	if b.Sink == config.BackupSinkS3 {
		store, err := newBackupStore(ctx, name, bucketUser{Release: a.Release, ServiceAccount: a.Name, Component: componentBackup, S3: b.S3}, child)
		if err != nil {
			return nil, err
		}
		sink = store.sink
		deps = store.resources
		component.Bucket = store.sink.bucket
		component.Location = pulumi.Sprintf("s3://%s/%s", store.sink.bucket, b.S3.Prefix)
	} else {
		claim := b.PVC.ExistingClaim
		if claim == "" {
			pvc, err := corev1.NewPersistentVolumeClaim(ctx, name, backupClaimArgs(a), child, pulumi.RetainOnDelete(!b.PVC.DeleteOnDestroy))
			if err != nil {
				return nil, err
			}
			claim = a.Name
			deps = append(deps, pvc)
		}
		sink = backupSink{claim: claim}
		component.ClaimName = pulumi.String(claim).ToStringOutput()
	}

	sa, err := corev1.NewServiceAccount(ctx, name, &corev1.ServiceAccountArgs{
		Metadata:                     backupServiceAccountMeta(a, sink.roleARN),
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, child)
	if err != nil {
		return nil, err
	}
	cron, err := batchv1.NewCronJob(ctx, name, &batchv1.CronJobArgs{
		Metadata: a.Release.objectMeta(a.Name, componentBackup, nil),
		Spec:     backupCronJobSpec(a, sink),
	}, child, pulumi.DependsOn(append(deps, sa)))
	if err != nil {
		return nil, err
	}
	component.CronJobName = cron.Metadata.Name().Elem()
	return component, ctx.RegisterResourceOutputs(component, pulumi.Map{
		"cronJobName": component.CronJobName, "claimName": component.ClaimName, "bucket": component.Bucket, "location": component.Location,
	})
}

// backupSink is where the backup pod puts its dump.
type backupSink struct {
	claim string // sink pvc
	// sink s3:
	bucket pulumi.StringOutput
	// roleARN annotates the ServiceAccount for IRSA (nil otherwise).
	roleARN pulumi.StringInput
	// accessKey is the Secret holding an access key (iamUser, existingSecret).
	accessKey *config.BackupCredentialsSecret
}

func backupServiceAccountMeta(a *BackupArgs, roleARN pulumi.StringInput) *metav1.ObjectMetaArgs {
	meta := a.Release.objectMeta(a.Name, componentBackup, nil)
	if roleARN != nil {
		annotations := pulumi.ToStringMap(mergeMaps(a.Release.CommonAnnotations, nil))
		annotations[annotationIRSARole] = roleARN
		meta.Annotations = annotations
	}
	return meta
}

func backupClaimArgs(a *BackupArgs) *corev1.PersistentVolumeClaimArgs {
	pvc := a.Backup.PVC
	return &corev1.PersistentVolumeClaimArgs{
		Metadata: a.Release.objectMeta(a.Name, componentBackup, nil),
		Spec: &corev1.PersistentVolumeClaimSpecArgs{
			AccessModes:      pulumi.ToStringArray([]string{"ReadWriteOnce"}),
			StorageClassName: optString(pvc.StorageClass),
			Resources: &corev1.VolumeResourceRequirementsArgs{
				Requests: pulumi.StringMap{"storage": pulumi.String(pvc.Size)},
			},
		},
	}
}

func backupCronJobSpec(a *BackupArgs, sink backupSink) *batchv1.CronJobSpecArgs {
	b := a.Backup
	return &batchv1.CronJobSpecArgs{
		Schedule:                   pulumi.String(b.Schedule),
		ConcurrencyPolicy:          pulumi.String("Forbid"),
		StartingDeadlineSeconds:    pulumi.Int(int(b.StartingDeadlineSeconds)),
		SuccessfulJobsHistoryLimit: pulumi.Int(int(b.SuccessfulJobsHistoryLimit)),
		FailedJobsHistoryLimit:     pulumi.Int(int(b.FailedJobsHistoryLimit)),
		JobTemplate: &batchv1.JobTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(a.Release.labels(componentBackup))},
			Spec:     jobSpec(a.Release, componentBackup, b.BackoffLimit, b.ActiveDeadlineSeconds, b.PodAnnotations, backupPodSpec(a, sink)),
		},
	}
}

// backupPodSpec dumps in one container and, for S3, uploads in a second one that runs after it
// (an init container runs to completion first): the postgres image has no AWS CLI and the AWS
// CLI image no pg_dump.
func backupPodSpec(a *BackupArgs, sink backupSink) *corev1.PodSpecArgs {
	b := a.Backup
	spec := workloadPodSpec(a.Release, b.Workload)
	spec.ServiceAccountName = pulumi.String(a.Name)
	spec.EnableServiceLinks = pulumi.Bool(false)
	volumes := []corev1.VolumeArgs{emptyDirVolume("work", "")}

	dump := workloadContainer("dump", b.Workload)
	dump.Env = envVars(active(backupDatabaseEnv(a)), "", "")
	dump.VolumeMounts = corev1.VolumeMountArray{mount("work", backupWorkDir)}
	if a.CASecret != "" {
		dump.VolumeMounts = append(dump.VolumeMounts.(corev1.VolumeMountArray), readOnlyMount("postgresql-ca", postgresCAMountPath))
		volumes = append(volumes, secretVolume("postgresql-ca", a.CASecret, "ca.crt"))
	}
	dump.Command = pulumi.ToStringArray([]string{"/bin/sh", "-c", backupScript(b)})
	if sink.claim != "" {
		dump.VolumeMounts = append(dump.VolumeMounts.(corev1.VolumeMountArray), mount("backups", backupPVCDir))
		volumes = append(volumes, corev1.VolumeArgs{
			Name:                  pulumi.String("backups"),
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: pulumi.String(sink.claim)},
		})
		spec.Containers = corev1.ContainerArray{dump}
	} else {
		upload := workloadContainer("upload", config.Workload{Image: b.S3.UploaderImage, Resources: b.Resources, SecurityContext: b.SecurityContext})
		upload.Command = pulumi.ToStringArray([]string{"/bin/sh", "-c", uploadScript(b.S3)})
		upload.Env = envVars(active(backupUploadEnv(b.S3, sink)), "", "")
		upload.VolumeMounts = corev1.VolumeMountArray{readOnlyMount("work", backupWorkDir), mount("tmp", "/tmp")}
		volumes = append(volumes, emptyDirVolume("tmp", ""))
		spec.InitContainers = corev1.ContainerArray{dump}
		spec.Containers = corev1.ContainerArray{upload}
	}
	spec.Volumes = volumesInput(nil, volumes...)
	return &spec
}

// backupDatabaseEnv is libpq's environment for the bundled database, with the server's TLS mode
// and CA; the password comes from the Postgres Secret.
func backupDatabaseEnv(a *BackupArgs) []envEntry {
	db := a.Database
	env := append(libpqEnv(db.Host, db.Port, db.Username, db.Database),
		refEnv("PGPASSWORD", db.PasswordRef, false).setBy("postgresql.auth.password"),
		literalEnv("PGSSLMODE", pulumi.String(a.SSLMode)).setBy("postgresql.tls.mode"))
	return append(env, when(a.CASecret != "",
		literalEnv("PGSSLROOTCERT", pulumi.String(postgresCAMountPath+"/ca.crt")).setBy("postgresql.tls.caSecretRef"))...)
}

// backupUploadEnv tells the upload script where to put the dump; the AWS CLI finds IRSA's and
// Pod Identity's credentials in the variables EKS injects, and an access key in these.
func backupUploadEnv(s3 config.BackupS3, sink backupSink) []envEntry {
	env := []envEntry{
		literalEnv("BUCKET", sink.bucket).setBy("backup.s3.bucket"),
		literalEnv("PREFIX", pulumi.String(s3.Prefix)).setBy("backup.s3.prefix"),
		// The CLI writes its cache under $HOME; the root filesystem is read-only.
		literalEnv("HOME", pulumi.String("/tmp")),
	}
	env = append(env, when(s3.Region != "",
		literalEnv("AWS_REGION", pulumi.String(s3.Region)).setBy("backup.s3.region"),
		literalEnv("AWS_DEFAULT_REGION", pulumi.String(s3.Region)).setBy("backup.s3.region"))...)
	env = append(env, when(s3.Endpoint != "", literalEnv("S3_ENDPOINT", pulumi.String(s3.Endpoint)).setBy("backup.s3.endpoint"))...)
	env = append(env, when(s3.KMSKeyID != "", literalEnv("KMS_KEY_ID", pulumi.String(s3.KMSKeyID)).setBy("backup.s3.kmsKeyId"))...)
	k := sink.accessKey
	if k == nil {
		k = &config.BackupCredentialsSecret{} // no access key: the entries stay listed, turned off
	}
	return append(env, when(sink.accessKey != nil,
		refEnv("AWS_ACCESS_KEY_ID", config.SecretKeyRef{Name: k.Name, Key: k.AccessKeyIDKey}, false).setBy("backup.s3.credentialsSecret.name"),
		refEnv("AWS_SECRET_ACCESS_KEY", config.SecretKeyRef{Name: k.Name, Key: k.SecretAccessKeyKey}, false).setBy("backup.s3.credentialsSecret.name"))...)
}

// backupScript dumps the database into the work directory under a timestamped name, checks that
// pg_restore can read the whole archive, and only then gives it its final name. With the PVC
// sink it copies the dump onto the volume under a hidden name and renames it there (a rename
// within one filesystem is atomic), then deletes all but the newest backup.pvc.keepLast dumps.
// A failing step stops the script with a non-zero exit, so the Job fails.
func backupScript(b config.Backup) string {
	script := `set -eu
name="certctl-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-owner --no-acl --file="` + backupWorkDir + `/$name.partial"
pg_restore --list "` + backupWorkDir + `/$name.partial" >/dev/null
mv "` + backupWorkDir + `/$name.partial" "` + backupWorkDir + `/$name"
echo "dumped and checked $name"
`
	if b.Sink != config.BackupSinkPVC {
		return script
	}
	return script + `cd ` + backupPVCDir + `
rm -f .certctl-*.partial
cp "` + backupWorkDir + `/$name" ".$name.partial"
mv ".$name.partial" "$name"
echo "stored ` + backupPVCDir + `/$name"
ls -1 ` + backupFilePattern + ` | sort -r | tail -n +` + strconv.Itoa(b.PVC.KeepLast+1) + ` | while read -r old; do
  rm -f "$old"
  echo "deleted $old (backup.pvc.keepLast=` + strconv.Itoa(b.PVC.KeepLast) + `)"
done
`
}

// uploadScript uploads the checked dump; an S3 object appears only once complete. It asks for
// server-side encryption: SSE-KMS with backup.s3.kmsKeyId, else SSE-S3.
func uploadScript(s3 config.BackupS3) string {
	sse := `--sse AES256`
	if s3.KMSKeyID != "" {
		sse = `--sse aws:kms --sse-kms-key-id "$KMS_KEY_ID"`
	}
	return `set -eu
for dump in ` + backupWorkDir + `/` + backupFilePattern + `; do
  aws ${S3_ENDPOINT:+--endpoint-url "$S3_ENDPOINT"} s3 cp "$dump" "s3://$BUCKET/$PREFIX$(basename "$dump")" ` + sse + ` --only-show-errors
  echo "uploaded s3://$BUCKET/$PREFIX$(basename "$dump")"
done
`
}
