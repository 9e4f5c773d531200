package components

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8scorev1 "k8s.io/api/core/v1"

	"github.com/certctl-io/certctl-pulumi/config"
)

const componentMigration = "migration"

// newMigrationJob runs `--migrate-only` once per Job spec, before the Deployment rolls (the
// caller makes the Deployment depend on it). Pulumi waits for the Job to succeed; a failed Job
// fails the update before any server pod changes.
//
// Its name ends in a digest of what it runs (migrationRun): a Job's pod template cannot change,
// so a new server image (or any other change to what the Job runs) makes a new Job, which runs
// the migrations against the new schema, and the old one is deleted after the rollout. Settings
// that live in the ConfigMap or Secret, the Job's placement and resources, and the SDK's own
// representation of a Job do not change it, so they do not run the migrations again.
func newMigrationJob(ctx *pulumi.Context, name string, a *CertctlServerArgs, env []envEntry, opts ...pulumi.ResourceOption) (*batchv1.Job, pulumi.StringOutput, error) {
	run, err := json.Marshal(migrationRunOf(a, env))
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	sum := sha256.Sum256(run)
	jobName := a.Names.Migration + config.DigestSuffix(hex.EncodeToString(sum[:]))
	// No pulumi.com/replaceUnready: the provider would replace the Job whenever it is not ready,
	// a running one included, deleting it first (its name is unchanged), which kills a migration
	// mid-way when `pulumi up` is re-run. Without it a re-run waits for the running Job; a failed
	// one is replaced on purpose (`pulumi up --replace`).
	meta := a.Release.objectMeta(a.Names.Migration, componentMigration, nil)
	meta.Name = pulumi.String(jobName)
	job, err := batchv1.NewJob(ctx, name+"-migrate", &batchv1.JobArgs{Metadata: meta, Spec: migrationJobSpec(a, env)},
		append(opts, waitFor(config.JobWait(a.Migrations.ActiveDeadlineSeconds)))...)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	return job, job.Metadata.Name().Elem(), nil
}

// migrationRun is what a migration Job does: the binary and its command, each variable and
// where it is read from, and what is mounted where. Only fields of the user's configuration and
// of this program go in, never an SDK struct, whose encoding changes when the SDK gains a field.
type migrationRun struct {
	Image      string                  `json:"image"`
	Command    []string                `json:"command"`
	Env        []string                `json:"env"`
	UserEnv    map[string]string       `json:"userEnv,omitempty"`
	ExtraEnv   []k8scorev1.EnvVar      `json:"extraEnv,omitempty"`
	Mounts     []string                `json:"mounts"`
	UserMounts []k8scorev1.VolumeMount `json:"userMounts,omitempty"`
	Volumes    []k8scorev1.Volume      `json:"volumes,omitempty"`
}

// migrationCommand runs the migrations and exits.
var migrationCommand = []string{"/app/server", "--migrate-only"}

func migrationRunOf(a *CertctlServerArgs, env []envEntry) migrationRun {
	s := a.Server
	run := migrationRun{
		Image: a.Migrations.Workload.Image.Ref(), Command: migrationCommand,
		UserEnv: s.Env, ExtraEnv: s.ExtraEnv, UserMounts: s.VolumeMounts, Volumes: s.Volumes,
	}
	for _, e := range env {
		from, name, key := e.source(a.Names.Server, a.Names.Server)
		run.Env = append(run.Env, e.name+" from "+from+" "+name+"/"+key)
	}
	for _, v := range serverVolumes(a) {
		if !v.off {
			run.Mounts = append(run.Mounts, fmt.Sprintf("%s at %s (read-only %t)", v.name(), v.path, v.readOnly))
		}
	}
	return run
}

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
