package tests

import (
	"testing"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBundledPostgres(t *testing.T) {
	r := renderMode(t, "default")
	secret := r.Object(t, "Secret", "certctl-postgres")
	assert.Equal(t, map[string]any{"username": "certctl", "database": "certctl", "password": generatedValue("certctl-postgres-password")},
		secret.Manifest()["stringData"])

	svc := r.Object(t, "Service", "certctl-postgres").Manifest()
	assert.Equal(t, "None", path(svc, "spec", "clusterIP"), "headless")
	assert.Equal(t, []any{map[string]any{"name": "postgres", "port": 5432.0, "targetPort": "postgres", "protocol": "TCP"}}, path(svc, "spec", "ports"))

	sts := r.Object(t, "StatefulSet", "certctl-postgres").Manifest()
	spec := path(sts, "spec")
	assert.Equal(t, "OnDelete", path(spec, "updateStrategy", "type"))
	assert.Equal(t, "OrderedReady", path(spec, "podManagementPolicy"))
	assert.EqualValues(t, 1, path(spec, "replicas"))
	assert.Equal(t, "certctl-postgres", path(spec, "serviceName"))
	assert.Equal(t, map[string]any{"whenDeleted": "Retain", "whenScaled": "Retain"}, path(spec, "persistentVolumeClaimRetentionPolicy"),
		"the data volume must survive pulumi destroy and StatefulSet replacement")
	claim := path(spec, "volumeClaimTemplates", 0)
	assert.Equal(t, "data", path(claim, "metadata", "name"))
	assert.Equal(t, "10Gi", path(claim, "spec", "resources", "requests", "storage"))
	assert.Nil(t, path(claim, "spec", "storageClassName"), "empty storageClass means the cluster default")

	pod := path(spec, "template", "spec")
	c := path(pod, "containers", 0)
	assert.Equal(t, "postgres:16-alpine", path(c, "image"))
	_, src := envSources(t, c)
	assert.Equal(t, map[string]string{
		"POSTGRES_DB": "secret:certctl-postgres/database", "POSTGRES_USER": "secret:certctl-postgres/username",
		"POSTGRES_PASSWORD": "secret:certctl-postgres/password", "POSTGRES_INITDB_ARGS": "value:--encoding=UTF8",
		"PGDATA": "value:/var/lib/postgresql/data/pgdata",
	}, src)
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		cmd := path(c, probe, "exec", "command").([]any)
		assert.Equal(t, []any{"pg_isready", "-U", "certctl", "-d", "certctl"}, cmd[:5], probe)
	}
	assert.Equal(t, map[string]any{
		"runAsNonRoot": true, "runAsUser": 999.0, "runAsGroup": 999.0, "fsGroup": 999.0,
		"seccompProfile": map[string]any{"type": "RuntimeDefault"},
	}, path(pod, "securityContext"))
	assert.Equal(t, map[string]any{
		"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []any{"ALL"}},
	}, path(c, "securityContext"))
	assert.Equal(t, []any{
		map[string]any{"name": "data", "mountPath": "/var/lib/postgresql/data"},
		map[string]any{"name": "run", "mountPath": "/var/run/postgresql"},
		map[string]any{"name": "tmp", "mountPath": "/tmp"},
	}, path(c, "volumeMounts"))
}

func TestBundledPostgresSettings(t *testing.T) {
	r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"postgresql": map[string]any{
		"postgresqlConfig": map[string]any{"shared_buffers": "256MB", "max_connections": "200"},
		"storage":          map[string]any{"size": "50Gi", "storageClass": "fast-ssd", "deleteOnDestroy": true},
	}})))
	spec := path(r.Object(t, "StatefulSet", "certctl-postgres").Manifest(), "spec")
	assert.Equal(t, []any{"postgres", "-p", "5432", "-c", "max_connections=200", "-c", "shared_buffers=256MB"},
		path(spec, "template", "spec", "containers", 0, "args"))
	assert.Equal(t, "fast-ssd", path(spec, "volumeClaimTemplates", 0, "spec", "storageClassName"))
	assert.Equal(t, "50Gi", path(spec, "volumeClaimTemplates", 0, "spec", "resources", "requests", "storage"))
	assert.Equal(t, "Delete", path(spec, "persistentVolumeClaimRetentionPolicy", "whenDeleted"))
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
