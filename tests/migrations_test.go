package tests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// migrationJobOf is the render's one migration Job, decoded.
func migrationJobOf(t *testing.T, r *Render) (Resource, *batchv1.Job) {
	t.Helper()
	var found []Resource
	for _, res := range r.KubernetesObjects() {
		if res.Kind() == "Job" && strings.HasPrefix(res.ObjectName(), "certctl-migrate-") {
			found = append(found, res)
		}
	}
	require.Len(t, found, 1)
	return found[0], typed[batchv1.Job](t, r, "Job", found[0].ObjectName())
}

// The migration Job runs --migrate-only with exactly the server's environment and mounts (v2.1.7
// validates all of it before migrating), waits for the database, and gates the Deployment.
func TestMigrationJob(t *testing.T) {
	r := RenderMode(t, "migrations-hook")
	res, job := migrationJobOf(t, r)
	server := r.Deployment(t, "certctl-server").Spec.Template.Spec

	pod := job.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, []string{"/app/server", "--migrate-only"}, c.Command)
	assert.Equal(t, server.Containers[0].Image, c.Image)
	assert.Equal(t, server.Containers[0].Env, c.Env, "the server's whole environment")
	assert.Equal(t, server.Containers[0].VolumeMounts, c.VolumeMounts)
	assert.Equal(t, server.Volumes, pod.Volumes)
	assert.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, c.TerminationMessagePolicy)
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	assert.Equal(t, ptrTo(false), pod.AutomountServiceAccountToken)
	assert.Equal(t, ptrTo[int32](1), job.Spec.BackoffLimit)
	assert.Equal(t, ptrTo[int64](600), job.Spec.ActiveDeadlineSeconds)
	assert.Equal(t, "migration", job.Spec.Template.Labels["app.kubernetes.io/component"])
	assert.NotContains(t, job.Annotations, "pulumi.com/replaceUnready", "a re-run must wait for a running Job, not replace (and kill) it")
	assert.Equal(t, "true", r.ConfigMap(t, "certctl-server").Data["migrations-via-hook"], "the server skips migrating at boot")
	assert.Equal(t, job.Name, r.Outputs["migrationJobName"].Value)

	jobURN := urnOf(t, r, res)
	assert.Contains(t, r.Object(t, "Deployment", "certctl-server").Dependencies, jobURN, "the Deployment rolls only after the Job succeeded")
	assert.Contains(t, res.Dependencies, urnOf(t, r, r.Object(t, "StatefulSet", "certctl-postgres")), "the Job waits for the database")
}

// urnOf is a registration's URN as its dependents record it (a URN ends in
// "<parent types>$<type>::<name>", or "::<type>::<name>" at the top).
func urnOf(t *testing.T, r *Render, res Resource) string {
	t.Helper()
	tail := res.Type + "::" + res.Name
	for _, other := range r.Resources {
		for _, dep := range other.Dependencies {
			if strings.HasSuffix(dep, "$"+tail) || strings.HasSuffix(dep, "::"+tail) {
				return dep
			}
		}
	}
	t.Fatalf("nothing depends on %s %s", res.Type, res.Name)
	return ""
}

// The Job's name is a digest of its pod template: a new server image, a variable the migrations
// read, or the Job's resources or placement make a new Job (created before the previous one is
// deleted: the provider would delete a same-named Job first, killing a running migration); a
// setting that lives in the ConfigMap does not (the digest is pinned by the goldens).
func TestMigrationJobName(t *testing.T) {
	name := func(extra map[string]any) string {
		_, job := migrationJobOf(t, renderModeWith(t, "migrations-hook", extra))
		return job.Name
	}
	base := name(nil)
	assert.Regexp(t, `^certctl-migrate-[0-9a-f]{8}$`, base)
	assert.Equal(t, base, name(map[string]any{"server": map[string]any{"logging": map[string]any{"level": "debug"}}}),
		"a ConfigMap setting does not re-run the migrations")
	assert.NotEqual(t, base, name(map[string]any{"migrations": map[string]any{
		"resources": map[string]any{"requests": map[string]any{"cpu": "1"}}, "nodeSelector": map[string]any{"pool": "batch"},
	}}), "the Job's resources and placement are a new Job, never a same-named replacement")
	assert.NotEqual(t, base, name(map[string]any{"server": map[string]any{"env": map[string]any{"CERTCTL_EXTRA": "1"}}}),
		"a variable the migrations read re-runs them")
	assert.NotEqual(t, base, name(map[string]any{"server": map[string]any{"image": map[string]any{"tag": "v2.1.8"}}}),
		"a new server image re-runs them")
	_, job := migrationJobOf(t, renderModeWith(t, "migrations-hook", map[string]any{"server": map[string]any{"image": map[string]any{"tag": "v2.1.8"}}}))
	assert.Equal(t, "ghcr.io/certctl-io/certctl-server:v2.1.8", job.Spec.Template.Spec.Containers[0].Image)
}

func TestMigrationJobOwnWorkload(t *testing.T) {
	r := renderModeWith(t, "migrations-hook", map[string]any{"migrations": map[string]any{
		"backoffLimit": 0, "activeDeadlineSeconds": 120,
		"resources":    map[string]any{"requests": map[string]any{"cpu": "250m", "memory": "256Mi"}},
		"nodeSelector": map[string]any{"pool": "batch"},
	}})
	_, job := migrationJobOf(t, r)
	assert.Equal(t, ptrTo[int32](0), job.Spec.BackoffLimit)
	assert.Equal(t, ptrTo[int64](120), job.Spec.ActiveDeadlineSeconds)
	assert.Equal(t, "250m", job.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().String())
	assert.Equal(t, map[string]string{"pool": "batch"}, job.Spec.Template.Spec.NodeSelector)
	assert.Nil(t, r.Deployment(t, "certctl-server").Spec.Template.Spec.NodeSelector, "the server keeps its own placement")
}
