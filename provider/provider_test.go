package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil/rpcerror"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	perrors "github.com/pulumi/pulumi/sdk/v3/go/pulumi/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/provider/internal/argsgen"
	"github.com/certctl-io/certctl-pulumi/tests"
)

var update = flag.Bool("update", false, "rewrite args_gen.go, testdata/schema.json and testdata/tsproject/package-lock.json")

// matchesFile fails when want differs from the committed file (or rewrites it with -update).
func matchesFile(t *testing.T, path string, want []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, want, 0o644))
		return
	}
	have, err := os.ReadFile(path)
	require.NoError(t, err)
	if !bytes.Equal(have, want) {
		t.Errorf("%s is not what the code makes now: run `cd provider && go test . -update` and review the diff", path)
	}
}

// TestArgsAreGenerated: args_gen.go is what argsgen makes of config/types.go now, so the
// component's inputs follow every change of a setting, its name or its doc comment.
func TestArgsAreGenerated(t *testing.T) {
	src, err := argsgen.Generate(filepath.Join("..", "config"))
	require.NoError(t, err)
	matchesFile(t, "args_gen.go", src)
}

// testServer is the package behind pulumi-go-provider's test server, registering into mocks.
func testServer(t *testing.T, mocks pulumi.MockResourceMonitor) integration.Server {
	t.Helper()
	prov, err := Provider()
	require.NoError(t, err)
	opts := []integration.ServerOption{integration.WithProvider(prov)}
	if mocks != nil {
		opts = append(opts, integration.WithMocks(mocks))
	}
	s, err := integration.NewServer(t.Context(), Name, semver.MustParse(Version), opts...)
	require.NoError(t, err)
	return s
}

func schemaJSON(t *testing.T) []byte {
	t.Helper()
	resp, err := testServer(t, nil).GetSchema(p.GetSchemaRequest{})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, []byte(resp.Schema), "", "  "))
	out.WriteString("\n")
	return out.Bytes()
}

// TestSchemaIsTheContract: the schema the package serves is testdata/schema.json, so a change
// of an input, an output or a type token is a reviewed diff.
func TestSchemaIsTheContract(t *testing.T) {
	matchesFile(t, filepath.Join("testdata", "schema.json"), schemaJSON(t))
}

// schemaDoc is the part of a package schema the documentation check reads.
type schemaDoc struct {
	Resources map[string]struct {
		Description     string                                  `json:"description"`
		InputProperties map[string]struct{ Description string } `json:"inputProperties"`
		Properties      map[string]struct{ Description string } `json:"properties"`
	} `json:"resources"`
	Types map[string]struct {
		Description string                                  `json:"description"`
		Properties  map[string]struct{ Description string } `json:"properties"`
	} `json:"types"`
}

// TestEveryInputIsDocumented fails for every input property, type and output without a
// description in the schema.
func TestEveryInputIsDocumented(t *testing.T) {
	var s schemaDoc
	require.NoError(t, json.Unmarshal(schemaJSON(t), &s))
	c, ok := s.Resources["certctl:index:Certctl"]
	require.True(t, ok, "the schema has no certctl:index:Certctl")
	require.NotEmpty(t, c.InputProperties)
	require.NotEmpty(t, s.Types)
	undocumented := func(what string, props map[string]struct{ Description string }) {
		for name, prop := range props {
			if strings.TrimSpace(prop.Description) == "" {
				t.Errorf("%s.%s has no description: give its config field a doc comment", what, name)
			}
		}
	}
	assert.NotEmpty(t, c.Description, "certctl:index:Certctl has no description")
	undocumented("certctl:index:Certctl inputs", c.InputProperties)
	undocumented("certctl:index:Certctl outputs", c.Properties)
	for token, typ := range s.Types {
		assert.NotEmpty(t, typ.Description, "%s has no description", token)
		undocumented(token, typ.Properties)
	}
}

// inputs are a mode's configuration document as the component's inputs, its secret keys secret.
func inputs(mode tests.Mode) resource.PropertyMap {
	m := resource.NewPropertyMapFromMap(mode.Document())
	for _, k := range mode.Secret {
		m[resource.PropertyKey(k)] = resource.MakeSecret(m[resource.PropertyKey(k)])
	}
	return m
}

func construct(t *testing.T, mocks pulumi.MockResourceMonitor, in resource.PropertyMap) (p.ConstructResponse, error) {
	t.Helper()
	return testServer(t, mocks).Construct(p.ConstructRequest{
		Urn:    resource.NewURN("test", "certctl", "", "certctl:index:Certctl", "certctl"),
		Inputs: resource.FromResourcePropertyMap(in),
	})
}

// objects are a render's Kubernetes objects as manifests, by "Kind/name".
func objects(r *tests.Render) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, res := range r.KubernetesObjects() {
		out[res.Kind()+"/"+res.ObjectName()] = res.Manifest()
	}
	return out
}

// registrations are a render's "<type token> <logical name>", providers left out: the
// program makes its own, the component uses its caller's.
func registrations(r *tests.Render) []string {
	var out []string
	for _, res := range r.Resources {
		if !strings.HasPrefix(res.Type, "pulumi:providers:") {
			out = append(out, res.Type+" "+res.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestSameObjectsAsTheProgram constructs the component through the package for every mode of
// tests/modes.go and compares what it registers with the program's render of the same
// configuration: the same Kubernetes objects field for field, the same registrations, and the
// same outputs.
func TestSameObjectsAsTheProgram(t *testing.T) {
	for _, mode := range tests.Modes() {
		t.Run(mode.Name, func(t *testing.T) {
			want := tests.RenderMode(t, mode.Name)
			engine := &tests.MockEngine{}
			resp, err := construct(t, engine, inputs(mode))
			require.NoError(t, err)
			got := engine.Render()
			require.NotEmpty(t, got.KubernetesObjects())
			assert.Equal(t, objects(want), objects(got))
			assert.Equal(t, registrations(want), registrations(got))

			state := resource.ToResourcePropertyMap(resp.State)
			for key, out := range want.Outputs {
				v, ok := state[resource.PropertyKey(key)]
				if assert.True(t, ok, "no output %s", key) {
					// Through JSON, so numbers compare whatever their Go type.
					assert.Equal(t, tests.DeepCopy[any](t, out.Value), tests.DeepCopy[any](t, unwrapped(v)), "output %s", key)
					assert.Equal(t, out.Secret, v.ContainsSecrets(), "output %s secret", key)
				}
			}
			for key, v := range state {
				if _, ok := want.Outputs[string(key)]; !ok {
					assert.True(t, v.IsNull(), "output %s is set, the program has no such stack output", key)
				}
			}
		})
	}
}

// unwrapped is a state value as the program's awaited output: secrets unwrapped.
func unwrapped(v resource.PropertyValue) any {
	return resource.PropertyMap{"v": v}.MapRepl(nil, func(v resource.PropertyValue) (any, bool) {
		if v.IsSecret() {
			return unwrapped(v.SecretValue().Element), true
		}
		return nil, false
	})["v"]
}

// propertyErrors are the input property errors err carries as "<property path>: <reason>",
// whether it crossed gRPC or not.
func propertyErrors(err error) []string {
	var details []perrors.InputPropertyErrorDetails
	var direct *perrors.InputPropertiesError
	if errors.As(err, &direct) {
		details = direct.Errors
	} else if rpc, ok := rpcerror.FromError(err); ok {
		details = rpc.InputPropertiesErrors()
	}
	out := make([]string, len(details))
	for i, d := range details {
		out[i] = d.String()
	}
	return out
}

// TestRefusalsAreInputErrors: a configuration config.Load or Validate refuses is refused by the
// component too, every problem at its key path, before anything is registered.
func TestRefusalsAreInputErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inputs map[string]any
		want   []string // "<property path>: <start of the reason>"
	}{
		{
			name:   "validation",
			inputs: map[string]any{"server": map[string]any{"replicas": 0, "tls": map[string]any{"existingSecret": "certctl-tls"}}},
			want:   []string{"server.replicas: "},
		},
		{
			name:   "decoding",
			inputs: map[string]any{"fleetSize": "huge", "server": map[string]any{"tls": map[string]any{"existingSecret": "certctl-tls"}}},
			want:   []string{"fleetSize: "},
		},
		{
			name:   "unknown key",
			inputs: map[string]any{"server": map[string]any{"replica": 2, "tls": map[string]any{"existingSecret": "certctl-tls"}}},
			want:   []string{"server.replica: unknown key"},
		},
		{
			name: "secret in plain",
			inputs: map[string]any{"server": map[string]any{
				"auth": map[string]any{"apiKey": "plain-key-0123456789"},
				"tls":  map[string]any{"existingSecret": "certctl-tls"},
			}},
			want: []string{"server.auth.apiKey: a secret was given in plain config; pass it as a secret"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			engine := &tests.MockEngine{}
			_, err := construct(t, engine, resource.NewPropertyMapFromMap(tc.inputs))
			require.Error(t, err)
			reported := propertyErrors(err)
			for _, want := range tc.want {
				assert.True(t, slices.ContainsFunc(reported, func(r string) bool { return strings.HasPrefix(r, want) }),
					"no input error %q in %q", want, reported)
			}
			assert.Empty(t, engine.Render().Resources, "a refused configuration registers nothing")
		})
	}
}
