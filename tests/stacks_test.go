package tests

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certctl-io/certctl-pulumi/config"
)

// TestStacksRunClean: every stack file in the repo deploys under mocks as-is.
func TestStacksRunClean(t *testing.T) {
	for _, stack := range []string{"local", "dev", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			r := mustRun(t, loadStack(t, stack))
			assert.NotEmpty(t, r.KubernetesObjects())
			assert.Contains(t, r.ObjectSet(), "Deployment/"+r.Outputs["serverServiceName"].Value.(string))
		})
	}
}

// TestProjectFileDeclaresEveryKey: Pulumi.yaml declares every top-level key with a type and a
// description, and its defaults (which the CLI injects) change nothing: they must not become a
// second source of truth.
func TestProjectFileDeclaresEveryKey(t *testing.T) {
	declared := loadProjectConfig(t)
	want := []string{"renderYamlToDirectory"}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		want = append(want, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	assert.ElementsMatch(t, want, slices.Collect(maps.Keys(declared)))
	for k, decl := range declared {
		assert.NotEmpty(t, decl.Type, k)
		assert.NotEmpty(t, decl.Description, k)
	}

	m := modeNamed(t, "default")
	plain := mustRun(t, m.stack(t))
	defaulted := mustRun(t, withProjectDefaults(t, m.stack(t)))
	assert.Equal(t, string(manifestsYAML(t, plain)), string(manifestsYAML(t, defaulted)))
}
