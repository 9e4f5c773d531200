package tests

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// awsRegistrations are the render's AWS provider and resources, as "<type> <name>". The S3 sink's
// mode has some: the checks that a render has none compare with it, so a wrong query fails them.
func awsRegistrations(r *Render) []string {
	var out []string
	for _, res := range r.Resources {
		if strings.HasPrefix(res.Type, "aws:") || res.Type == "pulumi:providers:aws" {
			out = append(out, res.Type+" "+res.Name)
		}
	}
	return out
}

func cronJob(t *testing.T, r *Render) *batchv1.CronJob {
	return typed[batchv1.CronJob](t, r, "CronJob", "certctl-backup")
}

// The CronJob carries the chart's schedule and bounds, runs as its own ServiceAccount without an
// API token, dumps with the database's own image and keeps dumps on the claim the program made.
func TestBackupPVC(t *testing.T) {
	r := RenderMode(t, "backup-pvc")
	cj := cronJob(t, r)
	assert.Equal(t, "30 2 * * *", cj.Spec.Schedule)
	assert.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
	assert.Equal(t, ptrTo[int64](300), cj.Spec.StartingDeadlineSeconds)
	assert.Equal(t, ptrTo[int32](3), cj.Spec.SuccessfulJobsHistoryLimit)
	assert.Equal(t, ptrTo[int32](1), cj.Spec.FailedJobsHistoryLimit)
	job := cj.Spec.JobTemplate.Spec
	assert.Equal(t, ptrTo[int32](1), job.BackoffLimit)
	assert.Equal(t, ptrTo[int64](3600), job.ActiveDeadlineSeconds)
	pod := job.Template.Spec
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	assert.Equal(t, "certctl-backup", pod.ServiceAccountName)
	assert.Equal(t, ptrTo(false), pod.AutomountServiceAccountToken)
	assert.Equal(t, ptrTo(false), typed[corev1.ServiceAccount](t, r, "ServiceAccount", "certctl-backup").AutomountServiceAccountToken)

	require.Len(t, pod.Containers, 1)
	dump := pod.Containers[0]
	assert.Equal(t, r.StatefulSet(t, "certctl-postgres").Spec.Template.Spec.Containers[0].Image, dump.Image, "pg_dump is the database's version")
	assert.Equal(t, []string{"/bin/sh", "-c"}, dump.Command[:2])
	script := dump.Command[2]
	assert.Contains(t, script, "pg_dump --format=custom --no-owner --no-acl")
	assert.Contains(t, script, "pg_restore --list")
	assert.Contains(t, script, "tail -n +15", "keeps the newest backup.pvc.keepLast (14) dumps")
	names, env := envSources(t, dump)
	assert.Equal(t, []string{"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSSLMODE"}, names)
	assert.Equal(t, "value:disable", env["PGSSLMODE"], "as the server connects")
	assert.Equal(t, "value:certctl-postgres", env["PGHOST"])
	assert.Equal(t, "secret:certctl-postgres/password", env["PGPASSWORD"])
	assert.Equal(t, []corev1.VolumeMount{{Name: "work", MountPath: "/work"}, {Name: "backups", MountPath: "/backups"}}, dump.VolumeMounts)
	assert.Equal(t, []corev1.Volume{
		{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "backups", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "certctl-backup"}}},
	}, pod.Volumes)

	pvc := r.Object(t, "PersistentVolumeClaim", "certctl-backup")
	assert.True(t, pvc.RetainOnDelete, "the dumps survive pulumi destroy")
	claim := typed[corev1.PersistentVolumeClaim](t, r, "PersistentVolumeClaim", "certctl-backup")
	assert.Equal(t, "20Gi", claim.Spec.Resources.Requests.Storage().String())
	assert.Equal(t, "certctl-backup", r.Outputs["backupClaimName"].Value)
	require.Contains(t, awsRegistrations(RenderMode(t, "backup-s3")), "pulumi:providers:aws aws")
	assert.Empty(t, awsRegistrations(r), "no AWS provider without AWS resources")
}

func TestBackupPVCOptions(t *testing.T) {
	r := renderModeWith(t, "backup-pvc", map[string]any{"backup": map[string]any{
		"pvc":   map[string]any{"deleteOnDestroy": true, "keepLast": 3, "size": "5Gi", "storageClass": "gp3"},
		"image": map[string]any{"repository": "postgres", "tag": "17-alpine"},
	}})
	assert.False(t, r.Object(t, "PersistentVolumeClaim", "certctl-backup").RetainOnDelete)
	claim := typed[corev1.PersistentVolumeClaim](t, r, "PersistentVolumeClaim", "certctl-backup")
	assert.Equal(t, ptrTo("gp3"), claim.Spec.StorageClassName)
	dump := cronJob(t, r).Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "postgres:17-alpine", dump.Image)
	assert.Contains(t, dump.Command[2], "tail -n +4")

	r = renderModeWith(t, "backup-pvc", map[string]any{"backup": map[string]any{"pvc": map[string]any{"existingClaim": "nightly-dumps"}}})
	assert.NotContains(t, r.ObjectSet(), "PersistentVolumeClaim/certctl-backup")
	assert.Equal(t, "nightly-dumps", cronJob(t, r).Spec.JobTemplate.Spec.Template.Spec.Volumes[1].PersistentVolumeClaim.ClaimName)
}

// pg_dump verifies the database the way the server does.
func TestBackupVerifiesDatabaseTLS(t *testing.T) {
	r := RenderMode(t, "all-on")
	pod := cronJob(t, r).Spec.JobTemplate.Spec.Template.Spec
	dump := pod.InitContainers[0]
	_, env := envSources(t, dump)
	assert.Equal(t, "value:verify-full", env["PGSSLMODE"])
	assert.Equal(t, "value:/etc/postgresql-ca/ca.crt", env["PGSSLROOTCERT"])
	assert.Contains(t, dump.VolumeMounts, corev1.VolumeMount{Name: "postgresql-ca", MountPath: "/etc/postgresql-ca", ReadOnly: true})
	assert.Contains(t, pod.Volumes, corev1.Volume{Name: "postgresql-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "certctl-postgres-tls", DefaultMode: ptrTo[int32](0o400), Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
	}}})
}

// With NetworkPolicies on, the database admits the backup and migration pods besides the server.
func TestDatabaseAdmitsBackupAndMigration(t *testing.T) {
	r := RenderMode(t, "all-on")
	np := r.Object(t, "NetworkPolicy", "certctl-postgres").Manifest()
	var components []string
	for _, peer := range Path(np, "spec", "ingress", 0, "from").([]any) {
		components = append(components, Path(peer, "podSelector", "matchLabels", "app.kubernetes.io/component").(string))
	}
	assert.Equal(t, []string{"server", "migration", "backup", "postgres-password"}, components)
}

// policy decodes a rendered IAM policy document.
func policy(t *testing.T, raw any) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw.(string)), &doc))
	return doc
}

// The bucket the program builds, setting by setting.
func TestBackupBucket(t *testing.T) {
	r := RenderMode(t, "backup-s3")
	aws := r.Registered(t, "pulumi:providers:aws")
	assert.Equal(t, "eu-west-1", plain(aws.Inputs["region"]))

	bucket := r.Registered(t, "aws:s3/bucketV2:BucketV2")
	assert.True(t, bucket.RetainOnDelete)
	assert.Equal(t, false, plain(bucket.Inputs["forceDestroy"]))
	assert.Contains(t, bucket.Provider, "pulumi:providers:aws::aws")
	const name = "certctl-backup-generated"
	for _, token := range []string{
		"aws:s3/bucketVersioningV2:BucketVersioningV2", "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
		"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
		"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "aws:s3/bucketPolicy:BucketPolicy",
	} {
		res := r.Registered(t, token)
		assert.Equal(t, name, plain(res.Inputs["bucket"]), token)
		assert.True(t, res.RetainOnDelete, "%s stays with the retained bucket", token)
	}
	assert.Equal(t, map[string]any{"status": "Enabled"}, plain(r.Registered(t, "aws:s3/bucketVersioningV2:BucketVersioningV2").Inputs["versioningConfiguration"]))
	assert.Equal(t, []any{map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": "AES256"}}},
		plain(r.Registered(t, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2").Inputs["rules"]))
	block := plainMap(r.Registered(t, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").Inputs)
	for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		assert.Equal(t, true, block[k], k)
	}
	assert.Equal(t, map[string]any{"objectOwnership": "BucketOwnerEnforced"}, plain(r.Registered(t, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").Inputs["rule"]))
	assert.Equal(t, []any{map[string]any{
		"id": "certctl-backup-retention", "status": "Enabled",
		"filter":                         map[string]any{"prefix": "certctl/"},
		"expiration":                     map[string]any{"days": float64(30)},
		"noncurrentVersionExpiration":    map[string]any{"noncurrentDays": float64(30)},
		"abortIncompleteMultipartUpload": map[string]any{"daysAfterInitiation": float64(1)},
	}}, plain(r.Registered(t, "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2").Inputs["rules"]))
	arn := "arn:aws:s3:::" + name
	assert.Equal(t, map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": map[string]any{"AWS": "*"},
		"Action": []any{"s3:*"}, "Resource": []any{arn, arn + "/*"},
		"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	}}}, policy(t, plain(r.Registered(t, "aws:s3/bucketPolicy:BucketPolicy").Inputs["policy"])))
	assert.Equal(t, name, r.Outputs["backupBucket"].Value)
	assert.Equal(t, "s3://"+name+"/certctl/", r.Outputs["backupLocation"].Value)
}

func TestBackupBucketKMSAndDeletion(t *testing.T) {
	r := renderModeWith(t, "backup-s3", map[string]any{"backup": map[string]any{"s3": map[string]any{
		"kmsKeyId": testKMSKey, "deleteOnDestroy": true, "bucket": "acme-certctl-backups",
	}}})
	bucket := r.Registered(t, "aws:s3/bucketV2:BucketV2")
	assert.False(t, bucket.RetainOnDelete)
	assert.Equal(t, true, plain(bucket.Inputs["forceDestroy"]))
	assert.Equal(t, "acme-certctl-backups", plain(bucket.Inputs["bucket"]))
	assert.Equal(t, []any{map[string]any{
		"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": "aws:kms", "kmsMasterKeyId": testKMSKey},
		"bucketKeyEnabled":                   true,
	}}, plain(r.Registered(t, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2").Inputs["rules"]))
	upload := cronJob(t, r).Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	assert.Contains(t, upload.Command[2], `--sse aws:kms --sse-kms-key-id "$KMS_KEY_ID"`)
}

// accessPolicy is the permission every uploader identity gets: write and read under the prefix,
// list the prefix, nothing else.
func accessPolicy(bucketARN, prefix string) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Sid": "ListBackups", "Effect": "Allow", "Action": []any{"s3:ListBucket"}, "Resource": []any{bucketARN},
			"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": prefix + "*"}}},
		map[string]any{"Sid": "WriteAndReadBackups", "Effect": "Allow", "Action": []any{"s3:PutObject", "s3:GetObject"},
			"Resource": []any{bucketARN + "/" + prefix + "*"}},
	}}
}

// IRSA: a role only the backup ServiceAccount of this namespace can assume, annotated on it.
func TestBackupIRSARole(t *testing.T) {
	r := RenderMode(t, "backup-s3")
	role := r.Registered(t, "aws:iam/role:Role")
	issuer := "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	assert.Equal(t, map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "BackupServiceAccount", "Effect": "Allow",
		"Principal": map[string]any{"Federated": testOIDCProvider},
		"Action":    []any{"sts:AssumeRoleWithWebIdentity"},
		"Condition": map[string]any{"StringEquals": map[string]any{
			issuer + ":sub": "system:serviceaccount:certctl:certctl-backup",
			issuer + ":aud": "sts.amazonaws.com",
		}},
	}}}, policy(t, plain(role.Inputs["assumeRolePolicy"])))
	rolePolicy := r.Registered(t, "aws:iam/rolePolicy:RolePolicy")
	assert.Equal(t, "certctl-backup-generated", plain(rolePolicy.Inputs["role"]))
	assert.Equal(t, accessPolicy("arn:aws:s3:::certctl-backup-generated", "certctl/"), policy(t, plain(rolePolicy.Inputs["policy"])))

	sa := typed[corev1.ServiceAccount](t, r, "ServiceAccount", "certctl-backup")
	assert.Equal(t, "arn:aws:iam::123456789012:role/certctl-backup-generated", sa.Annotations["eks.amazonaws.com/role-arn"])

	pod := cronJob(t, r).Spec.JobTemplate.Spec.Template.Spec
	require.Len(t, pod.InitContainers, 1, "the dump runs to completion before the upload")
	assert.Equal(t, "dump", pod.InitContainers[0].Name)
	upload := pod.Containers[0]
	assert.Equal(t, "amazon/aws-cli:2.27.0", upload.Image)
	assert.Contains(t, upload.Command[2], `s3 cp "$dump" "s3://$BUCKET/$PREFIX$(basename "$dump")" --sse AES256`)
	names, env := envSources(t, upload)
	assert.Equal(t, []string{"BUCKET", "PREFIX", "HOME", "AWS_REGION", "AWS_DEFAULT_REGION"}, names, "IRSA needs no key: EKS injects the web identity")
	assert.Equal(t, "value:certctl-backup-generated", env["BUCKET"])
	assert.Equal(t, []corev1.VolumeMount{{Name: "work", MountPath: "/work", ReadOnly: true}, {Name: "tmp", MountPath: "/tmp"}}, upload.VolumeMounts)
}

func TestBackupCredentialChoices(t *testing.T) {
	s3 := func(v map[string]any) map[string]any { return map[string]any{"backup": map[string]any{"s3": v}} }
	created := awsRegistrations(RenderMode(t, "backup-s3"))
	t.Run("existing IRSA role", func(t *testing.T) {
		r := renderModeWith(t, "backup-s3", s3(map[string]any{"oidcProviderArn": "", "irsaRoleArn": "arn:aws:iam::123456789012:role/backups"}))
		require.Contains(t, created, "aws:iam/role:Role certctl-backup")
		assert.ElementsMatch(t, without(created, "aws:iam/role:Role certctl-backup", "aws:iam/rolePolicy:RolePolicy certctl-backup"), awsRegistrations(r),
			"the bucket and its settings, without a role of the program's")
		sa := typed[corev1.ServiceAccount](t, r, "ServiceAccount", "certctl-backup")
		assert.Equal(t, "arn:aws:iam::123456789012:role/backups", sa.Annotations["eks.amazonaws.com/role-arn"])
	})
	t.Run("pod identity", func(t *testing.T) {
		r := renderModeWith(t, "backup-s3", s3(map[string]any{"oidcProviderArn": "", "credentials": "podIdentity", "eksClusterName": "prod"}))
		role := r.Registered(t, "aws:iam/role:Role")
		assert.Equal(t, map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Sid": "EKSPodIdentity", "Effect": "Allow", "Principal": map[string]any{"Service": "pods.eks.amazonaws.com"},
			"Action": []any{"sts:AssumeRole", "sts:TagSession"},
		}}}, policy(t, plain(role.Inputs["assumeRolePolicy"])))
		assoc := plainMap(r.Registered(t, "aws:eks/podIdentityAssociation:PodIdentityAssociation").Inputs)
		assert.Equal(t, map[string]any{
			"clusterName": "prod", "namespace": "certctl", "serviceAccount": "certctl-backup",
			"roleArn": "arn:aws:iam::123456789012:role/certctl-backup-generated",
		}, assoc)
		assert.NotContains(t, typed[corev1.ServiceAccount](t, r, "ServiceAccount", "certctl-backup").Annotations, "eks.amazonaws.com/role-arn")
	})
	t.Run("IAM user", func(t *testing.T) {
		r := renderModeWith(t, "backup-s3", s3(map[string]any{"oidcProviderArn": "", "credentials": "iamUser", "prefix": "prod/"}))
		userPolicy := r.Registered(t, "aws:iam/userPolicy:UserPolicy")
		assert.Equal(t, accessPolicy("arn:aws:s3:::certctl-backup-generated", "prod/"), policy(t, plain(userPolicy.Inputs["policy"])))
		secret := r.Object(t, "Secret", "certctl-backup-aws")
		assert.True(t, secret.secretAt("stringData", "AWS_ACCESS_KEY_ID"))
		assert.True(t, secret.secretAt("stringData", "AWS_SECRET_ACCESS_KEY"))
		assert.Equal(t, "AKIA-certctl-backup", Path(secret.Manifest(), "stringData", "AWS_ACCESS_KEY_ID"))
		_, env := envSources(t, cronJob(t, r).Spec.JobTemplate.Spec.Template.Spec.Containers[0])
		assert.Equal(t, "secret:certctl-backup-aws/AWS_ACCESS_KEY_ID", env["AWS_ACCESS_KEY_ID"])
		assert.Equal(t, "secret:certctl-backup-aws/AWS_SECRET_ACCESS_KEY", env["AWS_SECRET_ACCESS_KEY"])
	})
	t.Run("S3-compatible store with an existing Secret", func(t *testing.T) {
		r := renderModeWith(t, "backup-s3", s3(map[string]any{
			"oidcProviderArn": "", "credentials": "existingSecret", "create": false, "bucket": "certctl-backups",
			"endpoint": "https://minio.example.com:9000", "region": "",
			"credentialsSecret": map[string]any{"name": "minio-backup", "accessKeyIdKey": "user", "secretAccessKeyKey": "password"},
		}))
		require.NotEmpty(t, created)
		assert.Empty(t, awsRegistrations(r), "no AWS resource")
		_, env := envSources(t, cronJob(t, r).Spec.JobTemplate.Spec.Template.Spec.Containers[0])
		assert.Equal(t, "value:https://minio.example.com:9000", env["S3_ENDPOINT"])
		assert.Equal(t, "value:certctl-backups", env["BUCKET"])
		assert.Equal(t, "secret:minio-backup/user", env["AWS_ACCESS_KEY_ID"])
		assert.Equal(t, "secret:minio-backup/password", env["AWS_SECRET_ACCESS_KEY"])
	})
}
