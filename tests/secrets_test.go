package tests

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unmarkedSecrets reports every place where one of the values appears outside a Pulumi secret.
func unmarkedSecrets(v resource.PropertyValue, where string, values []string) []string {
	switch {
	case v.IsSecret():
		return nil
	case v.IsString():
		var found []string
		for _, s := range values {
			if strings.Contains(v.StringValue(), s) {
				found = append(found, where)
			}
		}
		return found
	case v.IsObject():
		var found []string
		for k, e := range v.ObjectValue() {
			found = append(found, unmarkedSecrets(e, where+"."+string(k), values)...)
		}
		return found
	case v.IsArray():
		var found []string
		for i, e := range v.ArrayValue() {
			found = append(found, unmarkedSecrets(e, where+"["+strconv.Itoa(i)+"]", values)...)
		}
		return found
	case v.IsOutput():
		if v.OutputValue().Secret {
			return nil
		}
		return unmarkedSecrets(v.OutputValue().Element, where, values)
	}
	return nil
}

// TestSecretsStaySecret: generated and user-given secrets are secret in every resource input and
// every stack output that carries them.
func TestSecretsStaySecret(t *testing.T) {
	given := []string{"user-api-key-1,user-api-key-0", "user-pg-password", "smtp-pass-4567", "https://hooks.slack.com/services/T0/B0/SECRET"}
	r := mustRun(t, withConfig(t, DeepMerge(base(), map[string]any{
		"server": map[string]any{
			"auth":      map[string]any{"apiKey": given[0]},
			"smtp":      map[string]any{"enabled": true, "host": "smtp.example.com", "fromAddress": "certctl@example.com", "password": given[2]},
			"notifiers": map[string]any{"slack": map[string]any{"enabled": true, "webhookUrl": given[3]}},
		},
		"postgresql": map[string]any{"auth": map[string]any{"password": given[1]}},
	}), "server", "postgresql"))
	defaults := RenderMode(t, "default")
	generated := []string{"GENERATED-"}

	for _, tc := range []struct {
		name   string
		render *Render
		values []string
	}{{"given", r, append(given, "user-api-key-1")}, {"generated", defaults, generated}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.values {
				assert.True(t, slices.ContainsFunc(tc.render.Resources, func(res Resource) bool {
					return strings.Contains(fmt.Sprint(plainMap(res.Inputs)), v)
				}), "%q reaches no resource, so where it goes proves nothing", v)
			}
			for _, res := range tc.render.Resources {
				assert.Empty(t, unmarkedSecrets(resource.NewObjectProperty(res.Inputs), res.Type+"/"+res.Name, tc.values))
			}
			for name, out := range tc.render.Outputs {
				if s, ok := out.Value.(string); ok && !out.Secret {
					assert.Empty(t, unmarkedSecrets(resource.NewStringProperty(s), "output "+name, tc.values))
				}
			}
			for _, name := range []string{"apiKey", "agentApiKey", "agentBootstrapToken"} {
				require.Contains(t, tc.render.Outputs, name)
				assert.True(t, tc.render.Outputs[name].Secret, "output %s must be secret", name)
			}
			var secrets []string
			for _, s := range tc.render.KubernetesObjects() {
				if s.Kind() != "Secret" {
					continue
				}
				secrets = append(secrets, s.ObjectName())
				for key := range Path(s.Manifest(), "stringData").(map[string]any) {
					assert.True(t, s.secretAt("stringData", key), "Secret %s key %s is not marked secret", s.ObjectName(), key)
				}
			}
			assert.Contains(t, secrets, "certctl-server", "the Secrets checked include the server's")
		})
	}
	assert.Equal(t, "user-api-key-1", r.Outputs["apiKey"].Value, "the output is the newest admin key of a rotation list")
	named := Path(r.Object(t, "Secret", "certctl-server").Manifest(), "stringData", "api-keys-named")
	assert.Contains(t, named, "admin:user-api-key-1:admin,admin:user-api-key-0:admin,", "both keys of a rotation stay admin keys")
}

// passwordNames are the logical names of the render's generated passwords. Every render generates
// some, so none means the query is wrong, and the test fails rather than check nothing.
func passwordNames(t *testing.T, r *Render) []string {
	t.Helper()
	var names []string
	for _, pw := range r.ByType("random:index/randomPassword:RandomPassword") {
		names = append(names, pw.Name)
	}
	require.NotEmpty(t, names, "no RandomPassword registered")
	return names
}

// Generated secrets never change by themselves: a change of this program's generation
// parameters is ignored, so a Postgres password bound at initdb is never regenerated.
func TestGeneratedSecretsAreStable(t *testing.T) {
	r := RenderMode(t, "default")
	pws := r.ByType("random:index/randomPassword:RandomPassword")
	require.Len(t, pws, 6)
	for _, pw := range pws {
		assert.ElementsMatch(t, []string{"length", "special"}, pw.IgnoreChanges, pw.Name)
		assert.False(t, pw.Inputs["special"].BoolValue(), "%s: alphanumeric is safe in URLs and key lists", pw.Name)
		assert.GreaterOrEqual(t, pw.Inputs["length"].NumberValue(), 32.0, pw.Name)
	}
}

// Before the credentials moved to Certctl, CertctlServer generated the admin key and the
// bootstrap token: an upgraded stack must keep them, not generate new ones.
func TestMovedCredentialsKeepTheirValues(t *testing.T) {
	r := RenderMode(t, "default")
	for name, old := range map[string]string{
		"certctl-api-key":         "certctl-server-api-key",
		"certctl-bootstrap-token": "certctl-server-bootstrap-token",
	} {
		var found bool
		for _, pw := range r.ByType("random:index/randomPassword:RandomPassword") {
			if pw.Name != name {
				continue
			}
			found = true
			// The engine resolves the spec to <parent's type chain>$<own type>::<name>: the former URN.
			want := old + " under urn:pulumi:test::certctl::certctl:index:Certctl$certctl:index:CertctlServer::certctl-server"
			assert.Contains(t, pw.Aliases, want, "%s must alias its former name and parent", name)
		}
		assert.True(t, found, name)
	}
}
