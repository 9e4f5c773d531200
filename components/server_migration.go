package components

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8scorev1 "k8s.io/api/core/v1"

	"github.com/certctl-io/certctl-pulumi/config"
)

const componentMigration = "migration"

// newMigrationJob runs `--migrate-only` once per pod template, before the Deployment rolls (the
// caller makes the Deployment depend on it). Pulumi waits for the Job to succeed; a failed Job
// fails the update before any server pod changes.
//
// Its name ends in a digest of its pod template (podTemplateDigest). A Job's template cannot
// change, and the provider replaces a same-named Job by deleting it first, which kills a running
// migration. With the digest in the name, any change to what or where the Job runs (a new server
// image, a variable, its resources or placement) is a new Job, created before the previous one
// is deleted; settings that live in the ConfigMap or Secret do not change the template, so they
// do not run the migrations again.
func newMigrationJob(ctx *pulumi.Context, name string, a *CertctlServerArgs, env []envEntry, opts ...pulumi.ResourceOption) (*batchv1.Job, pulumi.StringOutput, error) {
	spec := migrationJobSpec(a, env)
	jobName := spec.ToJobSpecOutput().Template().ApplyT(func(t corev1.PodTemplateSpec) (string, error) {
		digest, err := podTemplateDigest(t)
		return a.Names.Migration + config.DigestSuffix(digest), err
	}).(pulumi.StringOutput)
	// No pulumi.com/replaceUnready: the provider would replace the Job whenever it is not ready,
	// a running one included, deleting it first (its name is unchanged), which kills a migration
	// mid-way when `pulumi up` is re-run. Without it a re-run waits for the running Job; a failed
	// one is replaced on purpose (`pulumi up --replace`).
	meta := a.Release.objectMeta(a.Names.Migration, componentMigration, nil)
	meta.Name = jobName
	job, err := batchv1.NewJob(ctx, name+"-migrate", &batchv1.JobArgs{Metadata: meta, Spec: spec},
		append(opts, waitFor(config.JobWait(a.Migrations.ActiveDeadlineSeconds)))...)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	return job, job.Metadata.Name().Elem(), nil
}

// podTemplateDigest is a digest of a pod template in the Kubernetes API's own encoding, where
// unset fields are left out: a field the SDK gains, or a change to how it represents a template,
// does not change it (JSON field names match case-insensitively between the two).
func podTemplateDigest(t corev1.PodTemplateSpec) (string, error) {
	sdk, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	var api k8scorev1.PodTemplateSpec
	if err := json.Unmarshal(sdk, &api); err != nil {
		return "", fmt.Errorf("the migration Job's pod template as a Kubernetes object: %w", err)
	}
	canonical, err := json.Marshal(api)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:]), nil
}

// migrationCommand runs the migrations and exits.
var migrationCommand = []string{"/app/server", "--migrate-only"}

func migrationJobSpec(a *CertctlServerArgs, env []envEntry) *batchv1.JobSpecArgs {
	m := a.Migrations
	volumes, mounts := podVolumes(serverVolumes(a))
	container := serverContainer(a, componentMigration, m.Workload, env, mounts)
	container.Command = pulumi.ToStringArray(migrationCommand)
	// The pod's status then carries the log's tail, so `kubectl describe` shows why it failed.
	container.TerminationMessagePolicy = pulumi.String("FallbackToLogsOnError")
	spec := serverPodSpec(a, m.Workload, container, volumes)
	return jobSpec(a.Release, componentMigration, m.BackoffLimit, m.ActiveDeadlineSeconds, m.PodAnnotations, spec)
}
