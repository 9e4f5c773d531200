package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests/conformance"
)

func userProvided(m Mode) conformance.Options {
	opts := conformance.Options{UserProvided: map[string]bool{}}
	for _, ref := range m.UserProvided {
		opts.UserProvided[ref] = true
	}
	return opts
}

// TestConformance: every object of every mode is what the API server would accept unchanged,
// every pod meets "restricted", and every reference resolves within the mode.
func TestConformance(t *testing.T) {
	for _, m := range modes() {
		t.Run(m.Name, func(t *testing.T) {
			r := mustRun(t, m.Stack(t))
			for _, err := range conformance.Check(objects(r), userProvided(m)) {
				t.Error(err)
			}
		})
	}
}

// TestConformanceCatchesDefects proves the checks bite on a real render: the chart's Bundle 3
// bug (a container-only field at pod scope) and a Secret key that a pod reads but nobody writes.
func TestConformanceCatchesDefects(t *testing.T) {
	m := ModeNamed(t, "default")
	clean := objects(mustRun(t, m.Stack(t)))
	require.Empty(t, conformance.Check(clean, userProvided(m)))

	mutate := func(kind, name string, f func(obj map[string]any)) []conformance.Object {
		out := DeepCopy(t, clean)
		for _, o := range out {
			if o["kind"] == kind && Path(o, "metadata", "name") == name {
				f(o)
			}
		}
		return out
	}
	misplaced := mutate("Deployment", "certctl-server", func(o map[string]any) {
		Path(o, "spec", "template", "spec", "securityContext").(map[string]any)["readOnlyRootFilesystem"] = true
	})
	assert.NotEmpty(t, conformance.Check(misplaced, userProvided(m)), "a container-only field at pod scope must fail")

	missingKey := mutate("Secret", "certctl-server", func(o map[string]any) {
		delete(o["stringData"].(map[string]any), "bootstrap-token")
	})
	errs := conformance.Check(missingKey, userProvided(m))
	require.NotEmpty(t, errs, "a pod reading a missing Secret key must fail")
	assert.Contains(t, errs[0].Error(), "bootstrap-token")

	noUserSecret := conformance.Check(clean, conformance.Options{})
	assert.NotEmpty(t, noUserSecret, "the existing TLS Secret is only exempt when declared user-provided")
}

// TestConformanceEvaluatesCEL: the Cluster schema's x-kubernetes-validations rules run, as on the
// API server; a structural check alone accepts zero synchronous standbys.
func TestConformanceEvaluatesCEL(t *testing.T) {
	m := ModeNamed(t, "postgres-cluster")
	objs := objects(mustRun(t, m.Stack(t)))
	require.Empty(t, conformance.Check(objs, userProvided(m)))
	for _, o := range objs {
		if o["kind"] == "Cluster" {
			Path(o, "spec", "postgresql", "synchronous").(map[string]any)["number"] = 0
		}
	}
	errs := conformance.Check(objs, userProvided(m))
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), "The number of synchronous replicas should be greater than zero")
}
