package tests

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
)

// The bundled database carries the defaults (pinned in config/defaults_test.go); the values here
// come from config.Defaults().
func TestBundledPostgres(t *testing.T) {
	def := config.Defaults().PostgreSQL
	r := RenderMode(t, "default")
	assert.Equal(t, map[string]string{"username": def.Auth.Username, "database": def.Auth.Database, "password": generatedValue("certctl-postgres-password")},
		r.Secret(t, "certctl-postgres").StringData)

	svc := r.Service(t, "certctl-postgres").Spec
	assert.Equal(t, corev1.ClusterIPNone, svc.ClusterIP, "headless")
	assert.Equal(t, []corev1.ServicePort{{Name: "postgres", Port: int32(def.Service.Port), TargetPort: intstr.FromString("postgres"), Protocol: corev1.ProtocolTCP}}, svc.Ports)

	spec := r.StatefulSet(t, "certctl-postgres").Spec
	assert.Equal(t, appsv1.OnDeleteStatefulSetStrategyType, spec.UpdateStrategy.Type)
	assert.Equal(t, appsv1.OrderedReadyPodManagement, spec.PodManagementPolicy)
	assert.Equal(t, ptrTo[int32](1), spec.Replicas)
	assert.Equal(t, "certctl-postgres", spec.ServiceName)
	assert.Equal(t, &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
		spec.PersistentVolumeClaimRetentionPolicy, "the data volume must survive pulumi destroy and StatefulSet replacement")
	require.Len(t, spec.VolumeClaimTemplates, 1)
	claim := spec.VolumeClaimTemplates[0]
	assert.Equal(t, "data", claim.Name)
	assert.Equal(t, def.Storage.Size, claim.Spec.Resources.Requests.Storage().String())
	assert.Nil(t, claim.Spec.StorageClassName, "empty storageClass means the cluster default")

	pod := spec.Template.Spec
	c := pod.Containers[0]
	assert.Equal(t, def.Image.Ref(), c.Image)
	_, src := envSources(t, c)
	assert.Equal(t, map[string]string{
		"POSTGRES_DB": "secret:certctl-postgres/database", "POSTGRES_USER": "secret:certctl-postgres/username",
		"POSTGRES_PASSWORD": "secret:certctl-postgres/password", "POSTGRES_INITDB_ARGS": "value:--encoding=UTF8",
		"PGDATA": "value:/var/lib/postgresql/data/pgdata",
	}, src)
	for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		assert.Equal(t, []string{"pg_isready", "-U", def.Auth.Username, "-d", def.Auth.Database}, probe.Exec.Command[:5])
	}
	assert.Equal(t, &corev1.PodSecurityContext{
		RunAsNonRoot: ptrTo(true), RunAsUser: ptrTo[int64](999), RunAsGroup: ptrTo[int64](999), FSGroup: ptrTo[int64](999),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}, pod.SecurityContext)
	assert.Equal(t, &corev1.SecurityContext{
		ReadOnlyRootFilesystem: ptrTo(true), AllowPrivilegeEscalation: ptrTo(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}, c.SecurityContext)
	assert.Equal(t, []corev1.VolumeMount{
		{Name: "data", MountPath: "/var/lib/postgresql/data"},
		{Name: "run", MountPath: "/var/run/postgresql"},
		{Name: "tmp", MountPath: "/tmp"},
	}, c.VolumeMounts)
}

func TestBundledPostgresSettings(t *testing.T) {
	r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"postgresql": map[string]any{
		"postgresqlConfig": map[string]any{"shared_buffers": "256MB", "max_connections": "200"},
		"storage":          map[string]any{"size": "50Gi", "storageClass": "fast-ssd", "deleteOnDestroy": true},
	}})))
	spec := r.StatefulSet(t, "certctl-postgres").Spec
	assert.Equal(t, []string{"postgres", "-p", strconv.Itoa(config.Defaults().PostgreSQL.Service.Port), "-c", "max_connections=200", "-c", "shared_buffers=256MB"},
		spec.Template.Spec.Containers[0].Args)
	claim := spec.VolumeClaimTemplates[0].Spec
	assert.Equal(t, ptrTo("fast-ssd"), claim.StorageClassName)
	assert.Equal(t, "50Gi", claim.Resources.Requests.Storage().String())
	assert.Equal(t, appsv1.DeletePersistentVolumeClaimRetentionPolicyType, spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted)
}

func TestBundledPostgresOutputs(t *testing.T) {
	cfg := config.Defaults()
	cfg.Namespace = "certctl-dev"
	r, err := runBody(t, withConfig(t, nil), func(ctx *pulumi.Context) (pulumi.Map, error) {
		pg, err := components.NewBundledPostgres(ctx, "pg", &components.BundledPostgresArgs{
			Release: components.Release{AppName: "certctl", Instance: "certctl", Namespace: pulumi.String(cfg.Namespace)},
			Name:    cfg.Names().Postgres, PostgreSQL: cfg.PostgreSQL,
			PasswordJobPrefix: cfg.Names().PasswordChange, ChecksumKey: pulumi.String("checksum-key").ToStringOutput(),
		})
		if err != nil {
			return nil, err
		}
		return pulumi.Map{"host": pg.Host, "port": pg.Port, "database": pg.Database, "username": pg.Username,
			"secretName": pg.SecretName, "passwordKey": pg.PasswordKey, "password": pg.Password}, nil
	})
	require.NoError(t, err)
	values := map[string]any{}
	for k, o := range r.Outputs {
		values[k] = o.Value
	}
	assert.Equal(t, map[string]any{
		"host": "certctl-postgres.certctl-dev.svc.cluster.local", "port": 5432, "database": "certctl", "username": "certctl",
		"secretName": "certctl-postgres", "passwordKey": "password", "password": generatedValue("pg-password"),
	}, values)
	assert.True(t, r.Outputs["password"].Secret)
}

// passwordChangeJobOf is the render's one password-change Job.
func passwordChangeJobOf(t *testing.T, r *Render) Resource {
	t.Helper()
	var found []Resource
	for _, res := range r.KubernetesObjects() {
		if res.Kind() == "Job" && strings.HasPrefix(res.ObjectName(), "certctl-pgpass-") {
			found = append(found, res)
		}
	}
	require.Len(t, found, 1, "a password-change Job")
	return found[0]
}

// A new password is applied to the running role by a Job before anything presents it: the Job
// signs in with the new or the current password, and the current-password Secret and the
// server's URL follow it.
func TestPasswordChangeJob(t *testing.T) {
	r := RenderMode(t, "default")
	job := passwordChangeJobOf(t, r)
	spec := typed[batchv1.Job](t, r, "Job", job.ObjectName()).Spec
	pod := spec.Template.Spec
	c := pod.Containers[0]
	assert.Equal(t, r.StatefulSet(t, "certctl-postgres").Spec.Template.Spec.Containers[0].Image, c.Image)
	assert.Contains(t, c.Command[2], `ALTER ROLE :"role" WITH PASSWORD :'"'"'new'"'"';`)
	_, env := envSources(t, c)
	assert.Equal(t, "secret:certctl-postgres/password", env["NEW_PASSWORD"])
	assert.Equal(t, "secret:certctl-postgres-current/password", env["CURRENT_PASSWORD"])
	assert.Equal(t, ptrTo(true), c.Env[5].ValueFrom.SecretKeyRef.Optional, "absent on a first install")
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	assert.Equal(t, "postgres-password", spec.Template.Labels["app.kubernetes.io/component"])

	current := r.Object(t, "Secret", "certctl-postgres-current")
	assert.True(t, current.secretAt("stringData", "password"))
	jobURN := urnOf(t, r, job)
	assert.Contains(t, current.Dependencies, jobURN, "the current password is recorded only once applied")
	assert.Contains(t, r.Object(t, "Secret", "certctl-server").Dependencies, jobURN,
		"the server's URL changes after the database has the password")

	rotated := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"postgresql": map[string]any{"auth": map[string]any{"password": "another-password"}}}), "postgresql"))
	rotatedName := passwordChangeJobOf(t, rotated).ObjectName()
	assert.NotEqual(t, job.ObjectName(), rotatedName, "a new password is a new Job")
	assert.NotContains(t, rotatedName, "another-password")
}

func TestPasswordRotationCounter(t *testing.T) {
	keepers := func(rotation int) any {
		r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"postgresql": map[string]any{"auth": map[string]any{"passwordRotation": rotation}}})))
		for _, pw := range r.ByType("random:index/randomPassword:RandomPassword") {
			if pw.Name == "certctl-postgres-password" {
				return plain(pw.Inputs["keepers"])
			}
		}
		t.Fatal("no generated Postgres password")
		return nil
	}
	assert.Nil(t, keepers(0), "no keeper until the first rotation: an existing stack keeps its password")
	assert.Equal(t, map[string]any{"rotation": "2"}, keepers(2))
}
