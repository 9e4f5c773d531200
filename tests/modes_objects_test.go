package tests

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
)

// TestModeObjectSets pins the exact Kubernetes objects of every mode: an object that appears or
// disappears is a change users would deploy.
func TestModeObjectSets(t *testing.T) {
	for _, m := range modes() {
		t.Run(m.name, func(t *testing.T) {
			r := mustRun(t, m.stack(t))
			want := slices.Clone(m.objects)
			slices.Sort(want)
			assert.Equal(t, want, r.ObjectSet())
		})
	}
}

func TestComponentsParentAndProvider(t *testing.T) {
	r := renderMode(t, "default")
	components := map[string]string{}
	for _, res := range r.Resources {
		if strings.HasPrefix(res.Type, "certctl:index:") {
			components[res.Type] = res.Name
		}
	}
	assert.Equal(t, map[string]string{
		"certctl:index:Certctl": "certctl", "certctl:index:CertctlServer": "certctl-server",
		"certctl:index:BundledPostgres": "certctl-postgres", "certctl:index:Agent": "certctl-agent",
	}, components)
	for _, res := range r.KubernetesObjects() {
		assert.NotEmpty(t, res.Parent, "%s/%s has no parent component", res.Kind(), res.ObjectName())
		assert.True(t, strings.Contains(res.Provider, "pulumi:providers:kubernetes::kubernetes"),
			"%s/%s is not on the explicit kubernetes provider: %q", res.Kind(), res.ObjectName(), res.Provider)
		wantNamespace := any("certctl")
		if isClusterScoped(res.Kind()) {
			wantNamespace = nil
		}
		assert.Equal(t, wantNamespace, path(res.Manifest(), "metadata", "namespace"), "%s/%s namespace", res.Kind(), res.ObjectName())
	}
}

func isClusterScoped(kind string) bool {
	return kind == "ClusterRole" || kind == "ClusterRoleBinding" || kind == "Namespace"
}

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

// An owned namespace would take the volume claims with it on destroy, so it is retained while
// the data is to be kept.
func TestOwnedNamespaceRetainedWithData(t *testing.T) {
	for _, tc := range []struct {
		deleteOnDestroy bool
		retained        bool
	}{{false, true}, {true, false}} {
		r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{
			"createNamespace": true, "namespace": "certctl-dev",
			"postgresql": map[string]any{"storage": map[string]any{"deleteOnDestroy": tc.deleteOnDestroy}},
		})))
		ns := r.Object(t, "Namespace", "certctl-dev")
		assert.Equal(t, "restricted", path(ns.Manifest(), "metadata", "labels", "pod-security.kubernetes.io/enforce"))
		assert.Equal(t, tc.retained, ns.RetainOnDelete, "deleteOnDestroy=%v", tc.deleteOnDestroy)
		assert.Equal(t, "certctl-dev", path(r.Object(t, "Deployment", "certctl-server").Manifest(), "metadata", "namespace"))
	}
}

func TestDatabaseWiring(t *testing.T) {
	t.Run("external database URL is used verbatim and stays secret", func(t *testing.T) {
		r := renderMode(t, "external-db")
		secret := r.Object(t, "Secret", "certctl-server")
		assert.Equal(t, externalURL, path(secret.Manifest(), "stringData", "database-url"))
		assert.True(t, secret.secretAt("stringData", "database-url"))
		_, src := envSources(t, path(r.Object(t, "Deployment", "certctl-server").Manifest(), "spec", "template", "spec", "containers", 0))
		assert.NotContains(t, src, "POSTGRES_PASSWORD")
		assert.Equal(t, "secret:certctl-server/database-url", src["CERTCTL_DATABASE_URL"])
		for _, res := range r.Resources {
			assert.NotContains(t, res.Name, "postgres", "external mode registers no postgres resource at all")
		}
	})
	t.Run("verify-full with a CA Secret", func(t *testing.T) {
		r := renderMode(t, "db-tls")
		secret := r.Object(t, "Secret", "certctl-server").Manifest()
		assert.True(t, strings.HasSuffix(path(secret, "stringData", "database-url").(string), "?sslmode=verify-full"))
		pod := path(r.Object(t, "Deployment", "certctl-server").Manifest(), "spec", "template", "spec")
		c := path(pod, "containers", 0)
		_, src := envSources(t, c)
		assert.Equal(t, "configMap:certctl-server/pgsslrootcert", src["PGSSLROOTCERT"])
		assert.Equal(t, "/etc/postgresql-ca/ca.crt", path(r.Object(t, "ConfigMap", "certctl-server").Manifest(), "data", "pgsslrootcert"))
		assert.Contains(t, path(pod, "volumes"), map[string]any{"name": "postgresql-ca", "secret": map[string]any{"secretName": "certctl-postgres-ca", "defaultMode": 256.0}})
		assert.Contains(t, path(c, "volumeMounts"), map[string]any{"name": "postgresql-ca", "mountPath": "/etc/postgresql-ca", "readOnly": true})

		pgPod := path(r.Object(t, "StatefulSet", "certctl-postgres").Manifest(), "spec", "template", "spec")
		assert.Equal(t, []any{"postgres", "-p", "5432", "-c", "ssl=on", "-c", "ssl_cert_file=/etc/postgresql-tls/tls.crt", "-c", "ssl_key_file=/etc/postgresql-tls/tls.key"},
			path(pgPod, "containers", 0, "args"), "the bundled server must serve TLS for sslmode verify-full to connect")
		assert.Contains(t, path(pgPod, "volumes"), map[string]any{"name": "tls", "secret": map[string]any{"secretName": "certctl-postgres-tls", "defaultMode": 256.0}})
	})
	t.Run("postgres password given vs generated", func(t *testing.T) {
		generated := renderMode(t, "default")
		assert.Len(t, generated.ByType("random:index/randomPassword:RandomPassword"), 5,
			"admin key, agents' key, bootstrap token, config encryption key, postgres password")
		given := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"postgresql": map[string]any{"auth": map[string]any{"password": "given-pg-password"}}}), "postgresql"))
		for _, pw := range given.ByType("random:index/randomPassword:RandomPassword") {
			assert.NotEqual(t, "certctl-postgres-password", pw.Name, "a given password must not be generated")
		}
		secret := given.Object(t, "Secret", "certctl-postgres")
		assert.Equal(t, "given-pg-password", path(secret.Manifest(), "stringData", "password"))
		assert.True(t, secret.secretAt("stringData", "password"))
	})
}

func TestAgent(t *testing.T) {
	t.Run("DaemonSet", func(t *testing.T) {
		r := renderMode(t, "default")
		ds := r.Object(t, "DaemonSet", "certctl-agent").Manifest()
		pod := path(ds, "spec", "template", "spec")
		c := path(pod, "containers", 0)
		assert.Equal(t, "ghcr.io/certctl-io/certctl-agent:v2.1.7", path(c, "image"))
		assert.Equal(t, []any{"/bin/sh", "-c", "read -r CERTCTL_AGENT_ID </var/lib/certctl/identity/agent-id && export CERTCTL_AGENT_ID && exec /app/agent"},
			path(c, "command"), "the agent starts with the ID its init container registered")
		order, src := envSources(t, c)
		assert.Equal(t, []string{"CERTCTL_SERVER_URL", "CERTCTL_SERVER_CA_BUNDLE_PATH", "CERTCTL_AGENT_NAME", "CERTCTL_API_KEY", "CERTCTL_KEY_DIR"}, order)
		assert.Equal(t, map[string]string{
			"CERTCTL_SERVER_URL":            "configMap:certctl-agent/server-url",
			"CERTCTL_API_KEY":               "secret:certctl-server/agent-api-key",
			"CERTCTL_AGENT_NAME":            "field:spec.nodeName",
			"CERTCTL_KEY_DIR":               "configMap:certctl-agent/key-dir",
			"CERTCTL_SERVER_CA_BUNDLE_PATH": "configMap:certctl-agent/server-ca-bundle-path",
		}, src)

		register := path(pod, "initContainers", 0)
		assert.Equal(t, "register", path(register, "name"))
		assert.Equal(t, path(c, "image"), path(register, "image"))
		_, regSrc := envSources(t, register)
		assert.Equal(t, map[string]string{
			"CERTCTL_SERVER_URL":            "configMap:certctl-agent/server-url",
			"CERTCTL_SERVER_CA_BUNDLE_PATH": "configMap:certctl-agent/server-ca-bundle-path",
			"CERTCTL_AGENT_NAME":            "field:spec.nodeName",
			"CERTCTL_AGENT_BOOTSTRAP_TOKEN": "secret:certctl-server/bootstrap-token",
		}, regSrc, "only the init container holds the bootstrap token")
		assert.Equal(t, map[string]any{
			"server-url": "https://certctl-server:8443", "key-dir": "/var/lib/certctl/keys", "server-ca-bundle-path": "/etc/certctl/tls/ca.crt",
		}, path(r.Object(t, "ConfigMap", "certctl-agent").Manifest(), "data"))
		assert.Equal(t, []any{
			map[string]any{"name": "keys", "emptyDir": map[string]any{"sizeLimit": "1Gi"}},
			map[string]any{"name": "identity", "emptyDir": map[string]any{}},
			map[string]any{"name": "tmp", "emptyDir": map[string]any{}},
			map[string]any{"name": "tls", "secret": map[string]any{"secretName": "certctl-tls", "defaultMode": 256.0,
				"items": []any{map[string]any{"key": "ca.crt", "path": "ca.crt"}}}},
		}, path(pod, "volumes"), "agents mount the server's CA, never its key")
		assert.Contains(t, path(c, "volumeMounts"), map[string]any{"name": "tls", "mountPath": "/etc/certctl/tls", "readOnly": true})
		assert.Contains(t, path(c, "volumeMounts"), map[string]any{"name": "identity", "mountPath": "/var/lib/certctl/identity", "readOnly": true})
		assert.Equal(t, "RuntimeDefault", path(pod, "securityContext", "seccompProfile", "type"))
		assert.Equal(t, false, path(pod, "enableServiceLinks"))
		for _, ctr := range []any{c, register} {
			assert.Equal(t, true, path(ctr, "securityContext", "readOnlyRootFilesystem"))
		}
	})
	t.Run("Deployment with a fixed name, placement and extra env", func(t *testing.T) {
		r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"agent": map[string]any{
			"kind": "Deployment", "replicas": 1, "name": "edge-agent", "discoveryDirs": "/etc/ssl/certs,/etc/pki/tls",
			"nodeSelector": map[string]any{"node-role.kubernetes.io/worker": "true"},
			"tolerations":  []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "certs", "effect": "NoSchedule"}},
			"env":          map[string]any{"CERTCTL_AGENT_POLL_INTERVAL": "30s"},
		}})))
		d := r.Object(t, "Deployment", "certctl-agent").Manifest()
		assert.EqualValues(t, 1, path(d, "spec", "replicas"))
		pod := path(d, "spec", "template", "spec")
		_, src := envSources(t, path(pod, "containers", 0))
		assert.Equal(t, "configMap:certctl-agent/agent-name", src["CERTCTL_AGENT_NAME"])
		assert.Equal(t, "configMap:certctl-agent/discovery-dirs", src["CERTCTL_DISCOVERY_DIRS"])
		assert.Equal(t, "value:30s", src["CERTCTL_AGENT_POLL_INTERVAL"])
		data := path(r.Object(t, "ConfigMap", "certctl-agent").Manifest(), "data")
		assert.Equal(t, "edge-agent", path(data, "agent-name"))
		assert.Equal(t, "/etc/ssl/certs,/etc/pki/tls", path(data, "discovery-dirs"))
		assert.Equal(t, map[string]any{"node-role.kubernetes.io/worker": "true"}, path(pod, "nodeSelector"))
		assert.Equal(t, []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "certs", "effect": "NoSchedule"}}, path(pod, "tolerations"))
	})
	t.Run("Deployment replicas name themselves after their pods", func(t *testing.T) {
		d := renderMode(t, "agent-deployment").Object(t, "Deployment", "certctl-agent").Manifest()
		assert.EqualValues(t, 2, path(d, "spec", "replicas"))
		_, src := envSources(t, path(d, "spec", "template", "spec", "containers", 0))
		assert.Equal(t, "field:metadata.name", src["CERTCTL_AGENT_NAME"])
	})
	t.Run("disabled", func(t *testing.T) {
		r := mustRun(t, withConfig(t, deepMerge(base(), map[string]any{"agent": map[string]any{"enabled": false}})))
		assert.Equal(t, without(sortedCopy(defaultObjects), "ConfigMap/certctl-agent", "DaemonSet/certctl-agent"), r.ObjectSet())
		assert.Contains(t, path(r.Object(t, "Secret", "certctl-server").Manifest(), "stringData"), "agent-api-key",
			"agents outside the cluster still use the agents' key")
	})
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
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
