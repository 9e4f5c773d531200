package tests

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// TestModeObjectSets pins the exact Kubernetes objects of every mode: an object that appears or
// disappears is a change users would deploy.
func TestModeObjectSets(t *testing.T) {
	for _, m := range modes() {
		t.Run(m.Name, func(t *testing.T) {
			r := mustRun(t, m.Stack(t))
			want := slices.Clone(m.Objects)
			slices.Sort(want)
			assert.Equal(t, want, r.ObjectSet())
		})
	}
}

func TestComponentsParentAndProvider(t *testing.T) {
	r := RenderMode(t, "default")
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
		assert.Contains(t, res.Provider, "pulumi:providers:kubernetes::kubernetes",
			"%s/%s is not on the explicit kubernetes provider: %q", res.Kind(), res.ObjectName(), res.Provider)
		wantNamespace := any("certctl")
		if isClusterScoped(res.Kind()) {
			wantNamespace = nil
		}
		assert.Equal(t, wantNamespace, Path(res.Manifest(), "metadata", "namespace"), "%s/%s namespace", res.Kind(), res.ObjectName())
	}
	provider := r.Registered(t, "pulumi:providers:kubernetes")
	for _, input := range []resource.PropertyKey{"enableConfigMapMutable", "enableSecretMutable"} {
		assert.Equal(t, true, plain(provider.Inputs[input]),
			"%s: a changed ConfigMap or Secret is updated in place: replacing one with a fixed name deletes it first, under running pods", input)
	}
}

func isClusterScoped(kind string) bool {
	return kind == "ClusterRole" || kind == "ClusterRoleBinding" || kind == "Namespace"
}

// An owned namespace would take the volume claims with it on destroy, so it is retained while
// the data is to be kept.
func TestOwnedNamespaceRetainedWithData(t *testing.T) {
	for _, tc := range []struct {
		deleteOnDestroy bool
		backup          map[string]any
		retained        bool
	}{
		{false, nil, true},
		{true, nil, false},
		{true, map[string]any{"enabled": true}, true},
		{true, map[string]any{"enabled": true, "pvc": map[string]any{"deleteOnDestroy": true}}, false},
	} {
		r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{
			"createNamespace": true, "namespace": "certctl-dev",
			"postgresql": map[string]any{"storage": map[string]any{"deleteOnDestroy": tc.deleteOnDestroy}},
			"backup":     tc.backup,
		})))
		ns := r.Object(t, "Namespace", "certctl-dev")
		assert.Equal(t, "restricted", Path(ns.Manifest(), "metadata", "labels", "pod-security.kubernetes.io/enforce"))
		assert.Equal(t, tc.retained, ns.RetainOnDelete, "postgres deleteOnDestroy=%v, backup %v", tc.deleteOnDestroy, tc.backup)
		assert.Equal(t, "certctl-dev", r.Deployment(t, "certctl-server").Namespace)
	}
}

// A component that follows a sibling waits for the sibling's objects, not the sibling
// component: the Go SDK expands a component into the children registered so far, and they
// register asynchronously, so the engine could update the agents' Secret while the server rolled.
func TestComponentsWaitForTheirSiblingsObjects(t *testing.T) {
	r := RenderMode(t, "all-on")
	waitsFor := func(dependent, kind, name, why string) {
		t.Helper()
		assert.Contains(t, r.Registered(t, dependent).Dependencies, urnOf(t, r, r.Object(t, kind, name)), why)
	}
	waitsFor("certctl:index:Agent", "Deployment", "certctl-server", "agents take new credentials only once every server replica accepts them")
	waitsFor("certctl:index:Agent", "Service", "certctl-server", "agents reach the server through its Service")
	waitsFor("certctl:index:Monitoring", "Deployment", "certctl-server", "Prometheus presents a new scrape key only once every replica accepts it")
	waitsFor("certctl:index:Backup", "StatefulSet", "certctl-postgres", "the backup needs the database")
	waitsFor("certctl:index:Backup", "Job", "certctl-pgpass-<digest>", "the backup signs in with the password the role has")
}

func TestDatabaseWiring(t *testing.T) {
	t.Run("external database URL is used verbatim and stays secret", func(t *testing.T) {
		r := RenderMode(t, "external-db")
		assert.Equal(t, externalURL, r.Secret(t, "certctl-server").StringData["database-url"])
		assert.True(t, r.Object(t, "Secret", "certctl-server").secretAt("stringData", "database-url"))
		_, src := envSources(t, r.Deployment(t, "certctl-server").Spec.Template.Spec.Containers[0])
		assert.NotContains(t, src, "POSTGRES_PASSWORD")
		assert.Equal(t, "secret:certctl-server/database-url", src["CERTCTL_DATABASE_URL"])
		require.NotEmpty(t, namesContaining(RenderMode(t, "default"), "postgres"), "the bundled database's registrations are named postgres")
		assert.Empty(t, namesContaining(r, "postgres"), "external mode registers no postgres resource at all")
	})
	t.Run("verify-full with a CA Secret", func(t *testing.T) {
		r := RenderMode(t, "db-tls")
		assert.True(t, strings.HasSuffix(r.Secret(t, "certctl-server").StringData["database-url"], "?sslmode=verify-full"))
		pod := r.Deployment(t, "certctl-server").Spec.Template.Spec
		c := pod.Containers[0]
		_, src := envSources(t, c)
		assert.Equal(t, "configMap:certctl-server/pgsslrootcert", src["PGSSLROOTCERT"])
		assert.Equal(t, "/etc/postgresql-ca/ca.crt", r.ConfigMap(t, "certctl-server").Data["pgsslrootcert"])
		assert.Contains(t, pod.Volumes, secretVolume("postgresql-ca", "certctl-postgres-ca", "ca.crt"), "only the CA certificate is mounted")
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "postgresql-ca", MountPath: "/etc/postgresql-ca", ReadOnly: true})

		pgPod := r.StatefulSet(t, "certctl-postgres").Spec.Template.Spec
		assert.Equal(t, []string{"postgres", "-p", "5432", "-c", "ssl=on", "-c", "ssl_cert_file=/etc/postgresql-tls/tls.crt", "-c", "ssl_key_file=/etc/postgresql-tls/tls.key"},
			pgPod.Containers[0].Args, "the bundled server must serve TLS for sslmode verify-full to connect")
		assert.Contains(t, pgPod.Volumes, secretVolume("tls", "certctl-postgres-tls"))
	})
	t.Run("postgres password given vs generated", func(t *testing.T) {
		generated := passwordNames(t, RenderMode(t, "default"))
		require.Contains(t, generated, "certctl-postgres-password")
		given := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{"postgresql": map[string]any{"auth": map[string]any{"password": "given-pg-password"}}}), "postgresql"))
		assert.ElementsMatch(t, without(generated, "certctl-postgres-password"), passwordNames(t, given), "a given password must not be generated")
		assert.Equal(t, "given-pg-password", given.Secret(t, "certctl-postgres").StringData["password"])
		assert.True(t, given.Object(t, "Secret", "certctl-postgres").secretAt("stringData", "password"))
	})
}

// namesContaining are the registrations whose logical name contains part, as "<type> <name>".
func namesContaining(r *Render, part string) []string {
	var out []string
	for _, res := range r.Resources {
		if strings.Contains(res.Name, part) {
			out = append(out, res.Type+" "+res.Name)
		}
	}
	return out
}

// Every workload section shares one placement shape, and each reaches its pods.
func TestWorkloadPlacement(t *testing.T) {
	placement := map[string]any{
		"nodeSelector": map[string]any{"pool": "pki"},
		"tolerations":  []any{map[string]any{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}},
		"topologySpreadConstraints": []any{map[string]any{
			"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
		}},
		"podAnnotations": map[string]any{"team": "pki"},
	}
	r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{
		"server": placement, "agent": placement, "postgresql": placement,
	})))
	for _, tmpl := range []corev1.PodTemplateSpec{
		r.Deployment(t, "certctl-server").Spec.Template,
		r.DaemonSet(t, "certctl-agent").Spec.Template,
		r.StatefulSet(t, "certctl-postgres").Spec.Template,
	} {
		spec := tmpl.Spec
		assert.Equal(t, map[string]string{"pool": "pki"}, spec.NodeSelector)
		assert.Equal(t, []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, spec.Tolerations)
		require.Len(t, spec.TopologySpreadConstraints, 1)
		assert.Equal(t, "topology.kubernetes.io/zone", spec.TopologySpreadConstraints[0].TopologyKey)
		assert.Equal(t, "pki", tmpl.Annotations["team"])
	}
}
