package tests

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
)

func TestBundledPostgres(t *testing.T) {
	r := renderMode(t, "default")
	assert.Equal(t, map[string]string{"username": "certctl", "database": "certctl", "password": generatedValue("certctl-postgres-password")},
		r.Secret(t, "certctl-postgres").StringData)

	svc := r.Service(t, "certctl-postgres").Spec
	assert.Equal(t, corev1.ClusterIPNone, svc.ClusterIP, "headless")
	assert.Equal(t, []corev1.ServicePort{{Name: "postgres", Port: 5432, TargetPort: intstr.FromString("postgres"), Protocol: corev1.ProtocolTCP}}, svc.Ports)

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
	assert.Equal(t, "10Gi", claim.Spec.Resources.Requests.Storage().String())
	assert.Nil(t, claim.Spec.StorageClassName, "empty storageClass means the cluster default")

	pod := spec.Template.Spec
	c := pod.Containers[0]
	assert.Equal(t, "postgres:16-alpine", c.Image)
	_, src := envSources(t, c)
	assert.Equal(t, map[string]string{
		"POSTGRES_DB": "secret:certctl-postgres/database", "POSTGRES_USER": "secret:certctl-postgres/username",
		"POSTGRES_PASSWORD": "secret:certctl-postgres/password", "POSTGRES_INITDB_ARGS": "value:--encoding=UTF8",
		"PGDATA": "value:/var/lib/postgresql/data/pgdata",
	}, src)
	for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		assert.Equal(t, []string{"pg_isready", "-U", "certctl", "-d", "certctl"}, probe.Exec.Command[:5])
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
	r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"postgresql": map[string]any{
		"postgresqlConfig": map[string]any{"shared_buffers": "256MB", "max_connections": "200"},
		"storage":          map[string]any{"size": "50Gi", "storageClass": "fast-ssd", "deleteOnDestroy": true},
	}})))
	spec := r.StatefulSet(t, "certctl-postgres").Spec
	assert.Equal(t, []string{"postgres", "-p", "5432", "-c", "max_connections=200", "-c", "shared_buffers=256MB"},
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
