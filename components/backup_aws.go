package components

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// backupStore is the S3 side of the backup: the bucket (built, or the user's) and the
// uploader's credentials, and the resources the CronJob must wait for.
type backupStore struct {
	sink      backupSink
	resources []pulumi.Resource
}

// bucketUser is who writes to the bucket: the pods' ServiceAccount (which IRSA and Pod Identity
// trust, and which names the access-key Secret <ServiceAccount>-aws), their component, their
// backup.s3 settings (Prefix and RetentionDays their own), and whether they delete what their
// retention expires (the Barman Cloud Plugin does; the dump uploader leaves it to the lifecycle).
type bucketUser struct {
	Release        Release
	ServiceAccount string
	Component      string
	S3             config.BackupS3
	Prunes         bool
}

func newBackupStore(ctx *pulumi.Context, name string, a bucketUser, opts ...pulumi.ResourceOption) (*backupStore, error) {
	section := a.S3
	st := &backupStore{}
	bucket := pulumi.String(section.Bucket).ToStringOutput()
	// A bucket the user names is in the partition of its region (aws-cn for cn-north-1), or on an
	// S3-compatible store, where only an access key applies (validation) and the ARN is unused.
	bucketARN := pulumi.String("arn:" + section.Partition() + ":s3:::" + section.Bucket).ToStringOutput()
	if section.Create {
		b, err := newBackupBucket(ctx, name, section, opts...)
		if err != nil {
			return nil, err
		}
		bucket, bucketARN = b.Bucket, b.Arn
		st.resources = append(st.resources, b)
	}
	st.sink.bucket = bucket
	access := bucketARN.ApplyT(func(arn string) (string, error) {
		return renderPolicy(backupAccessPolicy(arn, section.Prefix, section.KMSKeyID, a.Prunes))
	}).(pulumi.StringOutput)

	switch section.Credentials {
	case config.BackupCredentialsIRSA:
		if section.IRSARoleArn != "" {
			st.sink.roleARN = pulumi.String(section.IRSARoleArn)
			break
		}
		trust := a.Release.Namespace.ToStringOutput().ApplyT(func(ns string) (string, error) {
			return renderPolicy(irsaTrustPolicy(section.OIDCProviderArn, ns, a.ServiceAccount))
		}).(pulumi.StringOutput)
		role, err := backupRole(ctx, name, trust, access, opts...)
		if err != nil {
			return nil, err
		}
		st.sink.roleARN = role.Arn
		st.resources = append(st.resources, role)
	case config.BackupCredentialsPodIdentity:
		trust, err := renderPolicy(podIdentityTrustPolicy())
		if err != nil {
			return nil, err
		}
		role, err := backupRole(ctx, name, pulumi.String(trust).ToStringOutput(), access, opts...)
		if err != nil {
			return nil, err
		}
		assoc, err := eks.NewPodIdentityAssociation(ctx, name, &eks.PodIdentityAssociationArgs{
			ClusterName: pulumi.String(section.EKSClusterName), Namespace: a.Release.Namespace,
			ServiceAccount: pulumi.String(a.ServiceAccount), RoleArn: role.Arn,
		}, opts...)
		if err != nil {
			return nil, err
		}
		st.resources = append(st.resources, role, assoc)
	case config.BackupCredentialsIAMUser:
		secret, err := backupAccessKey(ctx, name, a, access, opts...)
		if err != nil {
			return nil, err
		}
		st.sink.accessKey = &config.BackupCredentialsSecret{Name: backupAccessKeySecret(a), AccessKeyIDKey: "AWS_ACCESS_KEY_ID", SecretAccessKeyKey: "AWS_SECRET_ACCESS_KEY"}
		st.resources = append(st.resources, secret)
	case config.BackupCredentialsExistingSecret:
		existing := section.CredentialsSecret
		st.sink.accessKey = &existing
	}
	return st, nil
}

// newBackupBucket builds the bucket: versioned, encrypted by default, never public, owned by
// the account, expiring dumps after backup.s3.retentionDays, reachable over TLS only. The bucket
// and its settings stay in the account on `pulumi destroy` unless backup.s3.deleteOnDestroy.
func newBackupBucket(ctx *pulumi.Context, name string, section config.BackupS3, opts ...pulumi.ResourceOption) (*s3.BucketV2, error) {
	keep := append(opts, pulumi.RetainOnDelete(!section.DeleteOnDestroy))
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		Bucket:       optString(section.Bucket),
		ForceDestroy: pulumi.Bool(section.DeleteOnDestroy),
	}, keep...)
	if err != nil {
		return nil, err
	}
	settings := append(keep, pulumi.Parent(bucket))
	id := bucket.ID().ToStringOutput()
	if _, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  id,
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, settings...); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, bucketEncryptionArgs(id, section.KMSKeyID), settings...); err != nil {
		return nil, err
	}
	block, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:          id,
		BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, settings...)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, name, &s3.BucketOwnershipControlsArgs{
		Bucket: id, Rule: &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, settings...); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, bucketLifecycleArgs(id, section), settings...); err != nil {
		return nil, err
	}
	// After the public access block: S3 refuses policy changes while the block is being set.
	if _, err := s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: id,
		Policy: bucket.Arn.ApplyT(func(arn string) (string, error) { return renderPolicy(tlsOnlyBucketPolicy(arn)) }),
	}, append(settings, pulumi.DependsOn([]pulumi.Resource{block}))...); err != nil {
		return nil, err
	}
	return bucket, nil
}

func bucketEncryptionArgs(bucket pulumi.StringInput, kmsKeyID string) *s3.BucketServerSideEncryptionConfigurationV2Args {
	byDefault := &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{SseAlgorithm: pulumi.String("AES256")}
	rule := s3.BucketServerSideEncryptionConfigurationV2RuleArgs{ApplyServerSideEncryptionByDefault: byDefault}
	if kmsKeyID != "" {
		byDefault.SseAlgorithm, byDefault.KmsMasterKeyId = pulumi.String("aws:kms"), pulumi.String(kmsKeyID)
		// One data key per bucket rather than per object: far fewer KMS calls.
		rule.BucketKeyEnabled = pulumi.Bool(true)
	}
	return &s3.BucketServerSideEncryptionConfigurationV2Args{Bucket: bucket, Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{rule}}
}

// bucketLifecycleArgs expires dumps after the retention days; with versioning an expired dump
// becomes a noncurrent version, deleted as many days later, so a dump deleted by mistake stays
// recoverable for that long. Uploads that never completed go after a day.
func bucketLifecycleArgs(bucket pulumi.StringInput, section config.BackupS3) *s3.BucketLifecycleConfigurationV2Args {
	return &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket,
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:                             pulumi.String("certctl-backup-retention"),
			Status:                         pulumi.String("Enabled"),
			Filter:                         &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String(section.Prefix)},
			Expiration:                     &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(section.RetentionDays)},
			NoncurrentVersionExpiration:    &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(section.RetentionDays)},
			AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{DaysAfterInitiation: pulumi.Int(1)},
		}},
	}
}

func backupRole(ctx *pulumi.Context, name string, trust, access pulumi.StringOutput, opts ...pulumi.ResourceOption) (*iam.Role, error) {
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.String("certctl backup uploader"),
		AssumeRolePolicy: trust,
	}, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{Role: role.Name, Policy: access}, append(opts, pulumi.Parent(role))...); err != nil {
		return nil, err
	}
	return role, nil
}

// backupAccessKey makes an IAM user for the uploader and stores its access key in a Kubernetes
// Secret (both secret in the state). Replacing the key (`pulumi up --replace` on it) rotates it.
func backupAccessKey(ctx *pulumi.Context, name string, a bucketUser, access pulumi.StringOutput, opts ...pulumi.ResourceOption) (*corev1.Secret, error) {
	user, err := iam.NewUser(ctx, name, &iam.UserArgs{Path: pulumi.String("/certctl/")}, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewUserPolicy(ctx, name, &iam.UserPolicyArgs{User: user.Name, Policy: access}, append(opts, pulumi.Parent(user))...); err != nil {
		return nil, err
	}
	key, err := iam.NewAccessKey(ctx, name, &iam.AccessKeyArgs{User: user.Name}, append(opts, pulumi.Parent(user))...)
	if err != nil {
		return nil, err
	}
	return corev1.NewSecret(ctx, name+"-aws", &corev1.SecretArgs{
		Metadata: a.Release.objectMeta(backupAccessKeySecret(a), a.Component, nil),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			"AWS_ACCESS_KEY_ID":     pulumi.ToSecret(key.ID().ToStringOutput()).(pulumi.StringOutput),
			"AWS_SECRET_ACCESS_KEY": key.Secret,
		},
	}, opts...)
}

func backupAccessKeySecret(a bucketUser) string { return a.ServiceAccount + "-aws" }

// IAM policy documents, built as values so tests can assert them field by field.

type policyDocument struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal map[string]any               `json:"Principal,omitempty"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource,omitempty"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

const policyVersion = "2012-10-17"

// backupAccessPolicy lets the uploader write dumps under the prefix and, for restores, list and
// read them there; nothing else in the bucket, and deletes only for a user that prunes its own
// backups (otherwise the lifecycle rule expires them).
func backupAccessPolicy(bucketARN, prefix, kmsKeyARN string, prunes bool) policyDocument {
	objectActions := []string{"s3:PutObject", "s3:GetObject"}
	if prunes {
		objectActions = append(objectActions, "s3:DeleteObject")
	}
	doc := policyDocument{Version: policyVersion, Statement: []policyStatement{
		{Sid: "ListBackups", Effect: "Allow", Action: []string{"s3:ListBucket"}, Resource: []string{bucketARN},
			Condition: map[string]map[string]string{"StringLike": {"s3:prefix": prefix + "*"}}},
		{Sid: "WriteAndReadBackups", Effect: "Allow", Action: objectActions,
			Resource: []string{bucketARN + "/" + prefix + "*"}},
	}}
	if kmsKeyARN != "" {
		doc.Statement = append(doc.Statement, policyStatement{Sid: "UseBackupKey", Effect: "Allow",
			Action: []string{"kms:GenerateDataKey", "kms:Decrypt"}, Resource: []string{kmsKeyARN}})
	}
	return doc
}

// irsaTrustPolicy lets exactly the backup ServiceAccount assume the role through the cluster's
// OIDC provider.
func irsaTrustPolicy(oidcProviderARN, namespace, serviceAccount string) policyDocument {
	issuer := oidcIssuer(oidcProviderARN)
	return policyDocument{Version: policyVersion, Statement: []policyStatement{{
		Sid: "BackupServiceAccount", Effect: "Allow",
		Principal: map[string]any{"Federated": oidcProviderARN},
		Action:    []string{"sts:AssumeRoleWithWebIdentity"},
		Condition: map[string]map[string]string{"StringEquals": {
			issuer + ":sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
			issuer + ":aud": "sts.amazonaws.com",
		}},
	}}}
}

// oidcIssuer is the issuer host and path an OIDC provider ARN names
// (arn:aws:iam::<account>:oidc-provider/<issuer>), as IAM condition keys spell it.
func oidcIssuer(providerARN string) string {
	parsed, err := arn.Parse(providerARN)
	if err != nil {
		panic("validated OIDC provider ARN: " + err.Error())
	}
	return strings.TrimPrefix(parsed.Resource, "oidc-provider/")
}

// podIdentityTrustPolicy lets EKS Pod Identity assume the role; the association limits it to the
// backup ServiceAccount.
func podIdentityTrustPolicy() policyDocument {
	return policyDocument{Version: policyVersion, Statement: []policyStatement{{
		Sid: "EKSPodIdentity", Effect: "Allow",
		Principal: map[string]any{"Service": "pods.eks.amazonaws.com"},
		Action:    []string{"sts:AssumeRole", "sts:TagSession"},
	}}}
}

// tlsOnlyBucketPolicy refuses every request made without TLS.
func tlsOnlyBucketPolicy(bucketARN string) policyDocument {
	return policyDocument{Version: policyVersion, Statement: []policyStatement{{
		Sid: "DenyInsecureTransport", Effect: "Deny",
		Principal: map[string]any{"AWS": "*"},
		Action:    []string{"s3:*"},
		Resource:  []string{bucketARN, bucketARN + "/*"},
		Condition: map[string]map[string]string{"Bool": {"aws:SecureTransport": "false"}},
	}}}
}

// renderPolicy is a policy document as the JSON string AWS takes.
func renderPolicy(d policyDocument) (string, error) {
	b, err := json.Marshal(d)
	return string(b), err
}
