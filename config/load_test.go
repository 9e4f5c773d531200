package config

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type mocks struct{}

func (mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return args.Name + "_id", args.Inputs, nil
}

func (mocks) Call(pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// load runs Load in a mocked Pulumi program with the given stack config ("certctl:<key>" ->
// raw value) and secret keys. RunInfo options are applied after the environment is read, so
// they feed ctx.GetConfig / ctx.IsConfigSecret directly.
func load(t *testing.T, cfg map[string]string, secretKeys ...string) (Config, error) {
	t.Helper()
	var (
		c       Config
		loadErr error
	)
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, loadErr = Load(ctx)
		return nil
	}, pulumi.WithMocks("certctl", "test", mocks{}), func(ri *pulumi.RunInfo) {
		ri.Config = cfg
		ri.ConfigSecretKeys = secretKeys
	})
	require.NoError(t, err)
	return c, loadErr
}

func loadProblems(t *testing.T, cfg map[string]string, secretKeys ...string) []Problem {
	t.Helper()
	_, err := load(t, cfg, secretKeys...)
	return problemsOf(t, err)
}

func TestLoadWithoutConfigIsDefaults(t *testing.T) {
	c, err := load(t, nil)
	require.NoError(t, err)
	assert.Equal(t, Defaults(), c)
}

func TestLoadMergesOverDefaults(t *testing.T) {
	c, err := load(t, map[string]string{
		"certctl:server":     `{"replicas":3,"resources":{"limits":{"cpu":"1"}},"tls":{"existingSecret":"mine"}}`,
		"certctl:postgresql": `{"storage":{"size":"50Gi"}}`,
	})
	require.NoError(t, err)
	d := Defaults()
	assert.Equal(t, 3, c.Server.Replicas)
	assert.Equal(t, d.Server.Port, c.Server.Port, "unset keys keep their default")
	assert.Equal(t, "1", c.Server.Resources.Limits["cpu"])
	assert.Equal(t, d.Server.Resources.Limits["memory"], c.Server.Resources.Limits["memory"], "objects merge key by key")
	assert.Equal(t, "mine", c.Server.TLS.ExistingSecret)
	assert.Equal(t, d.Server.TLS.MountPath, c.Server.TLS.MountPath)
	assert.Equal(t, "50Gi", c.PostgreSQL.Storage.Size)
	assert.Equal(t, d.PostgreSQL.Image, c.PostgreSQL.Image)
	assert.Equal(t, d.Agent, c.Agent)
	require.NoError(t, c.Validate(testReserved))
}

// `pulumi config set --path certctl:agent.resources.requests.cpu 2` stores a number.
func TestLoadTakesQuantitiesAsTheCLIWritesThem(t *testing.T) {
	c, err := load(t, map[string]string{
		"certctl:agent":  `{"resources":{"requests":{"cpu":2},"limits":{"cpu":2.5,"memory":"256Mi"}}}`,
		"certctl:server": `{"tls":{"existingSecret":"mine"}}`,
	})
	require.NoError(t, err)
	assert.Equal(t, "2", c.Agent.Resources.Requests["cpu"])
	assert.Equal(t, "2.5", c.Agent.Resources.Limits["cpu"])
	assert.Equal(t, "256Mi", c.Agent.Resources.Limits["memory"])
	assert.Equal(t, Defaults().Agent.Resources.Requests["memory"], c.Agent.Resources.Requests["memory"], "unset quantities keep their default")
	require.NoError(t, c.Validate(testReserved))

	ps := loadProblems(t, map[string]string{"certctl:agent": `{"resources":{"requests":{"cpu":true}}}`})
	assert.Contains(t, ps[0].Message, "a quantity is a string")
	ps = loadProblems(t, map[string]string{"certctl:agent": `{"resources":{"request":{"cpu":"1"}}}`})
	assert.Equal(t, []string{"certctl:agent.resources.request"}, (&ValidationError{Problems: ps}).Keys())
}

func TestLoadScalarKeys(t *testing.T) {
	c, err := load(t, map[string]string{
		"certctl:namespace":        "pki",
		"certctl:createNamespace":  "true",
		"certctl:releaseName":      "prod",
		"certctl:fullnameOverride": "edge",
		"certctl:imagePullSecrets": `[{"name":"regcred"}]`,
		"certctl:commonLabels":     `{"team":"pki"}`,
	})
	require.NoError(t, err)
	assert.Equal(t, "pki", c.Namespace)
	assert.True(t, c.CreateNamespace)
	assert.Equal(t, "prod", c.ReleaseName)
	assert.Equal(t, "edge", c.Fullname())
	require.Len(t, c.ImagePullSecrets, 1)
	assert.Equal(t, "regcred", c.ImagePullSecrets[0].Name)
	assert.Equal(t, map[string]string{"team": "pki"}, c.CommonLabels)
}

func TestLoadRefusesUnknownKeysWithTheirPath(t *testing.T) {
	ps := loadProblems(t, map[string]string{
		"certctl:server": `{"replica":3,"Replicas":2,"tls":{"existingSecrt":"x"},"volumes":[{"name":"v","emptyDir":{},"bogus":1}]}`,
	})
	assert.Equal(t, []string{"certctl:server.replica", "certctl:server.tls.existingSecrt", "certctl:server.volumes[0].bogus"},
		(&ValidationError{Problems: ps}).Keys(), "case-insensitive matches and inlined Kubernetes fields are not unknown")
	for _, p := range ps {
		assertActionable(t, p)
		assert.Contains(t, p.Message, "check the key names against the README's config reference")
	}
}

func TestLoadRefusesWrongTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  map[string]string
		key  string
	}{
		{"string for an int", map[string]string{"certctl:server": `{"replicas":"three"}`}, "certctl:server.replicas"},
		{"nested wrong type", map[string]string{"certctl:agent": `{"env":{"A":1}}`}, "certctl:agent.env.A"},
		{"shared workload key", map[string]string{"certctl:agent": `{"tolerations":{"key":"a"}}`}, "certctl:agent.tolerations"},
		{"inside a list", map[string]string{"certctl:server": `{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"In","values":"x"}]}]}}}}`},
			"certctl:server.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"},
		{"quantity inside a list", map[string]string{"certctl:server": `{"volumes":[{"name":"v","emptyDir":{"sizeLimit":"lots"}}]}`}, "certctl:server.volumes[0].emptyDir.sizeLimit"},
		{"quantity in resources", map[string]string{"certctl:agent": `{"resources":{"requests":{"cpu":true}}}`}, "certctl:agent.resources.requests.cpu"},
		{"not JSON", map[string]string{"certctl:server": `replicas=3`}, "certctl:server"},
		{"trailing data", map[string]string{"certctl:server": `{"replicas":3} {}`}, "certctl:server"},
		{"object for a list", map[string]string{"certctl:imagePullSecrets": `{"name":"regcred"}`}, "certctl:imagePullSecrets"},
		{"not a boolean", map[string]string{"certctl:createNamespace": "yes"}, "certctl:createNamespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := loadProblems(t, tc.cfg)
			require.Equal(t, []string{tc.key}, (&ValidationError{Problems: ps}).Keys(), "the one problem is on the key the user wrote")
			assertActionable(t, ps[0])
			assert.NotContains(t, ps[0].Message, "Go struct", "the message is in the user's terms")
		})
	}
}

func TestLoadReportsEveryMistypedKeyOfASection(t *testing.T) {
	ps := loadProblems(t, map[string]string{
		"certctl:server": `{"replicas":"two","port":"x","bogus":1,"service":{"port":true},"tls":{"existingSecret":"mine"}}`,
	})
	assert.Equal(t, []string{"certctl:server.bogus", "certctl:server.port", "certctl:server.replicas", "certctl:server.service.port"},
		(&ValidationError{Problems: ps}).Keys())
	p, _ := find(ps, "certctl:server.replicas")
	assert.Equal(t, `is "two", where a whole number is expected; use a whole number (see the README's config reference)`, p.Message)
}

func TestLoadRefusesSecretsInPlainConfig(t *testing.T) {
	const value = "plain-LEAK-4242"
	ps := loadProblems(t, map[string]string{
		"certctl:server":           `{"auth":{"apiKey":"` + value + `"}}`,
		"certctl:externalDatabase": `{"url":"postgres://u:` + value + `@db/certctl"}`,
		"certctl:postgresql":       `{"auth":{"password":"` + value + `"}}`,
	}, "certctl:postgresql")
	require.Len(t, ps, 2, "postgresql is secret config: only the other two are refused")
	p, ok := find(ps, "certctl:server.auth.apiKey")
	require.True(t, ok)
	assert.Contains(t, p.Message, "pulumi config set --secret --path server.auth.apiKey <value>")
	assertActionable(t, p)
	_, ok = find(ps, "certctl:externalDatabase.url")
	assert.True(t, ok)
	for _, p := range ps {
		assert.NotContains(t, p.String(), value)
	}
}

func TestLoadAcceptsSecretConfig(t *testing.T) {
	c, err := load(t, map[string]string{
		"certctl:server":           `{"auth":{"apiKey":"k1,k2","agentBootstrapToken":"boot"},"notifiers":{"slack":{"enabled":true,"webhookUrl":"https://hooks.example.com/x"}}}`,
		"certctl:externalDatabase": `{"url":"postgres://u:p@db/certctl"}`,
	}, "certctl:server", "certctl:externalDatabase")
	require.NoError(t, err)
	assert.True(t, c.Server.Auth.APIKey.IsSet())
	assert.Equal(t, "k1,k2", c.Server.Auth.APIKey.reveal())
	assert.Equal(t, "boot", c.Server.Auth.AgentBootstrapToken.reveal())
	assert.True(t, c.Server.Notifiers.Slack.WebhookURL.IsSet())
	assert.Equal(t, "postgres://u:p@db/certctl", c.ExternalDatabase.URL.reveal())
	assert.False(t, c.Server.Auth.NamedKeys.IsSet())
}

func TestLoadPDB(t *testing.T) {
	c, err := load(t, map[string]string{"certctl:podDisruptionBudget": `{"enabled":true,"maxUnavailable":1}`})
	require.NoError(t, err)
	assert.Nil(t, c.PodDisruptionBudget.MinAvailable, "the default minAvailable must yield to the user's maxUnavailable")
	require.NotNil(t, c.PodDisruptionBudget.MaxUnavailable)
	assert.Equal(t, intstr.FromInt32(1), *c.PodDisruptionBudget.MaxUnavailable)

	c, err = load(t, map[string]string{"certctl:podDisruptionBudget": `{"enabled":true}`})
	require.NoError(t, err)
	require.NotNil(t, c.PodDisruptionBudget.MinAvailable)
	assert.Equal(t, intstr.FromInt32(1), *c.PodDisruptionBudget.MinAvailable)

	c, err = load(t, map[string]string{"certctl:podDisruptionBudget": `{"minAvailable":"50%","maxUnavailable":1}`})
	require.NoError(t, err, "Load keeps both; Validate refuses the pair")
	assert.Equal(t, intstr.FromString("50%"), *c.PodDisruptionBudget.MinAvailable)
	assert.NotNil(t, c.PodDisruptionBudget.MaxUnavailable)
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	ps := loadProblems(t, map[string]string{
		"certctl:createNamespace": "maybe",
		"certctl:server":          `{"replica":1,"auth":{"apiKey":"k"}}`,
		"certctl:backup":          `{"retentionDays":"many"}`,
	})
	assert.Equal(t, []string{
		"certctl:createNamespace", "certctl:server.replica", "certctl:backup.retentionDays", "certctl:server.auth.apiKey",
	}, (&ValidationError{Problems: ps}).Keys())
}

func TestLoadDoesNotValidate(t *testing.T) {
	c, err := load(t, map[string]string{"certctl:server": `{"replicas":0}`})
	require.NoError(t, err)
	assert.Equal(t, 0, c.Server.Replicas)
	assert.Error(t, c.Validate(testReserved))
}

func TestSecretPaths(t *testing.T) {
	assert.Equal(t, []string{
		"server.auth.apiKey",
		"server.auth.agentApiKey",
		"server.auth.namedKeys",
		"server.auth.agentBootstrapToken",
		"server.smtp.password",
		"server.issuer.acme.eabHmac",
		"server.notifiers.slack.webhookUrl",
		"server.notifiers.teams.webhookUrl",
		"server.notifiers.pagerduty.routingKey",
		"server.notifiers.opsgenie.apiKey",
		"server.configEncryptionKey",
		"postgresql.auth.password",
		"externalDatabase.url",
		"monitoring.serviceMonitor.scrapeKey",
	}, SecretPaths())
}

// TestDecodeIsLoadForADocument: a Document decodes as the same stack config loads, and Decode
// refuses a top-level key that names no setting and a secret given in plain, with the
// document's own advice.
func TestDecodeIsLoadForADocument(t *testing.T) {
	values := map[string]string{"fleetSize": "medium", "server": `{"replicas": 5, "auth": {"apiKey": "k-0123456789"}}`}
	loaded, err := load(t, map[string]string{"certctl:fleetSize": values["fleetSize"], "certctl:server": values["server"]}, "certctl:server")
	require.NoError(t, err)
	secret := func(path string) bool { return path == "server.auth.apiKey" }
	decoded, err := Decode(Document{Values: values, Secret: secret, SecretFix: func(string) string { return "mark it secret" }})
	require.NoError(t, err)
	assert.Equal(t, loaded, decoded)
	assert.Equal(t, 5, decoded.Server.Replicas)

	values["sever"] = `{}`
	_, err = Decode(Document{Values: values, Secret: func(string) bool { return false }, SecretFix: func(string) string { return "mark it secret" }})
	var refused *ValidationError
	require.ErrorAs(t, err, &refused)
	assert.Equal(t, []string{"certctl:sever", "certctl:server.auth.apiKey"}, refused.Keys())
	assert.Contains(t, refused.Problems[1].Message, "; mark it secret")
}
