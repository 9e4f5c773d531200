package tests

import (
	"context"
	"encoding/base64"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	pulumiconfig "github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/certctl-io/certctl-pulumi/config"
)

// TestStacksRunClean: every stack file in the repo deploys under mocks as-is.
func TestStacksRunClean(t *testing.T) {
	for _, stack := range []string{"local", "dev", "staging", "prod", "prod-cnpg"} {
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

	m := ModeNamed(t, "default")
	plain := mustRun(t, m.Stack(t))
	defaulted := mustRun(t, withProjectDefaults(t, m.Stack(t)))
	assert.Equal(t, string(manifestsYAML(t, plain)), string(manifestsYAML(t, defaulted)))
}

// TestLocalStackSaltMatchesMakefile: `make up` creates the local stack with the Makefile's public
// passphrase; the committed salt must be one that passphrase unlocks, or Pulumi refuses it (and
// without a committed salt it would write a new one into the tracked stack file).
func TestLocalStackSaltMatchesMakefile(t *testing.T) {
	makefile, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(makefile), "PULUMI_CONFIG_PASSPHRASE ?= ")
	require.True(t, ok, "the Makefile sets the local stack's passphrase")
	passphrase, _, _ := strings.Cut(rest, "\n")

	raw, err := os.ReadFile("../stacks/Pulumi.local.yaml")
	require.NoError(t, err)
	var stack struct {
		EncryptionSalt string `json:"encryptionsalt"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &stack))
	// The passphrase provider's state: v1:<base64 salt>:<"pulumi" encrypted with the derived key>.
	version, state, ok := strings.Cut(stack.EncryptionSalt, ":")
	require.True(t, ok && version == "v1", "encryptionsalt %q", stack.EncryptionSalt)
	encodedSalt, check, ok := strings.Cut(state, ":")
	require.True(t, ok)
	salt, err := base64.StdEncoding.DecodeString(encodedSalt)
	require.NoError(t, err)
	plain, err := pulumiconfig.NewSymmetricCrypterFromPassphrase(strings.TrimSpace(passphrase), salt).DecryptValue(context.Background(), check)
	require.NoError(t, err, "the Makefile's passphrase must unlock the committed salt")
	assert.Equal(t, "pulumi", plain)
}
