package components

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

const componentMigration = "migration"

// newMigrationJob runs `--migrate-only` once per Job spec, before the Deployment rolls (the
// caller makes the Deployment depend on it). Pulumi waits for the Job to succeed; a failed Job
// fails the update before any server pod changes.
//
// Its name ends in a digest of its spec: a Job's pod template cannot change, so a new server
// image (or any other change to what the Job runs) makes a new Job, which runs the migrations
// against the new schema, and the old one is deleted after the rollout. Settings that live in
// the ConfigMap or Secret do not change the spec, so they do not run the migrations again.
func newMigrationJob(ctx *pulumi.Context, name string, a *CertctlServerArgs, env []envEntry, opts ...pulumi.ResourceOption) (*batchv1.Job, pulumi.StringOutput, error) {
	spec := migrationJobSpec(a, env).ToJobSpecOutput()
	jobName := pulumi.Unsecret(spec.ApplyT(func(s batchv1.JobSpec) (string, error) {
		b, err := json.Marshal(s)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		return a.Names.Migration + config.DigestSuffix(hex.EncodeToString(sum[:])), nil
	}).(pulumi.StringOutput)).(pulumi.StringOutput)
	meta := a.Release.objectMeta(a.Names.Migration, componentMigration, map[string]string{
		// A failed Job is replaced by the next `pulumi up` instead of being reported failed again.
		"pulumi.com/replaceUnready": "true",
	})
	meta.Name = jobName
	job, err := batchv1.NewJob(ctx, name+"-migrate", &batchv1.JobArgs{Metadata: meta, Spec: spec},
		append(opts, waitFor(config.JobWait(a.Migrations.ActiveDeadlineSeconds)))...)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	return job, job.Metadata.Name().Elem(), nil
}

func migrationJobSpec(a *CertctlServerArgs, env []envEntry) *batchv1.JobSpecArgs {
	m := a.Migrations
	volumes, mounts := podVolumes(serverVolumes(a))
	container := serverContainer(a, componentMigration, m.Workload, env, mounts)
	container.Command = pulumi.ToStringArray([]string{"/app/server", "--migrate-only"})
	// The pod's status then carries the log's tail, so `kubectl describe` shows why it failed.
	container.TerminationMessagePolicy = pulumi.String("FallbackToLogsOnError")
	spec := serverPodSpec(a, m.Workload, container, volumes)
	return jobSpec(a.Release, componentMigration, m.BackoffLimit, m.ActiveDeadlineSeconds, m.PodAnnotations, spec)
}
