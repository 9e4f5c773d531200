package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests/cluster"
)

// yamlHostVersion is the YAML language host (github.com/pulumi/pulumi-yaml) the tier runs YAML
// programs with when none is on PATH; the CLI of ../shared/toolchain ships none.
const yamlHostVersion = "v1.38.1"

// examplePackage is the examples' packages: entry for the component package: its source.
const examplePackage = "certctl: ../../provider\n"

// TestYAMLExampleThroughThePackage: examples/yaml, a YAML program that declares
// certctl:index:Certctl with the dev stack's configuration, deploys through the package as the
// README says, in the dev stack's prepared namespace: the preview and pulumi up create the
// component and its objects, the API server holds what the Go program's golden render of the
// dev stack predicts (one source of truth), the component's outputs are the stack's, nothing
// changes on a second run, and pulumi destroy leaves only the database's claim.
func TestYAMLExampleThroughThePackage(t *testing.T) {
	t.Parallel()
	d := deployProject(t, copyExample(t, "yaml"), "dev", "certctl-dev", cluster.Options{Nodes: 2}, prepareDev(t), yamlLanguageHost(t))

	preview := newStepLog()
	_, err := d.stack.Preview(d.ctx, optpreview.EventStreams(preview.events), optpreview.ProgressStreams(d.out))
	require.NoError(t, err, "pulumi preview")
	assert.Subset(t, preview.wait().changed(), []string{"create certctl", "create Deployment certctl-server",
		"create StatefulSet certctl-postgres", "create DaemonSet certctl-agent"}, "the preview creates the component and its objects")
	created := up(t, d.ctx, d.stack, d.out)
	assert.ElementsMatch(t, preview.changed(), created.changed(), "pulumi up does what the preview said")
	assert.Equal(t, "1", d.get("deployment/certctl-server", "{.status.readyReplicas}"))
	assert.Equal(t, "1", d.get("statefulset/certctl-postgres", "{.status.readyReplicas}"))
	assert.Equal(t, "2", d.get("daemonset/certctl-agent", "{.status.numberReady}"), "an agent on every node")

	d.checkObjectsMatchGolden()
	d.checkOutputs()
	d.checkSteady()
	d.checkDestroy([]string{"pvc/data-certctl-postgres-0"})
}

// copyExample copies examples/<name> into a temporary directory, its packages: entry naming
// the directory of the package's plugin built from provider/ (pluginBuild) in place of the
// source. With the source, the CLI would first install the plugins provider/'s Go module
// depends on into PULUMI_HOME, aws among them, which cannot be downloaded here; the plugin it
// would build from the source is the same program.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "examples", name)
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join(moduleRoot(t), "examples", name))))
	projectFile := filepath.Join(dir, "Pulumi.yaml")
	project, err := os.ReadFile(projectFile)
	require.NoError(t, err)
	plugin := pluginBuild.build(t, "provider", "pulumi-resource-certctl")
	withPlugin := strings.Replace(string(project), examplePackage, "certctl: "+filepath.Dir(plugin)+"\n", 1)
	require.NotEqual(t, string(project), withPlugin, "examples/%s/Pulumi.yaml has the packages: entry %q", name, examplePackage)
	require.NoError(t, os.WriteFile(projectFile, []byte(withPlugin), 0o644))
	return dir
}

// TestGoSDKBuildsTheReadmeProgram: in a new Go project, `pulumi package add` of the package's
// schema (provider/testdata/schema.json, the one the plugin serves) generates the Go SDK with the
// real CLI and Go language host, and the README's Go program type-checks against it (go vet).
func TestGoSDKBuildsTheReadmeProgram(t *testing.T) {
	t.Parallel()
	pulumiBin := cluster.PulumiBinaries(t)
	root := moduleRoot(t)
	dir := t.TempDir()
	sdkVersion := strings.TrimSpace(command(t, root, nil, "go", "list", "-m", "-f", "{{.Version}}", "github.com/pulumi/pulumi/sdk/v3"))
	files := map[string]string{
		"Pulumi.yaml": "name: certctl-go-consumer\nruntime: go\n",
		"go.mod":      "module certctl-go-consumer\n\ngo 1.26\n\nrequire github.com/pulumi/pulumi/sdk/v3 " + sdkVersion + "\n",
		"main.go":     readmeGoProgram(t),
	}
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	env := []string{"PATH=" + pulumiBin + string(os.PathListSeparator) + os.Getenv("PATH"), "PULUMI_HOME=" + t.TempDir(), "PULUMI_SKIP_UPDATE_CHECK=true"}
	command(t, dir, env, filepath.Join(pulumiBin, "pulumi"), "package", "add", filepath.Join(root, "provider", "testdata", "schema.json"))
	command(t, dir, env, "go", "mod", "tidy")
	command(t, dir, env, "go", "vet", ".")
}

// readmeGoProgram is the Go program of the README's "Using it as a package".
func readmeGoProgram(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## Using it as a package\n")
	require.True(t, ok, "README has a section Using it as a package")
	_, program, ok := strings.Cut(section, "\n```go\n")
	require.True(t, ok, "the section has a Go program")
	program, _, ok = strings.Cut(program, "\n```\n")
	require.True(t, ok)
	return program + "\n"
}

// command runs name in dir with env added to the test's, which must succeed, and returns its
// standard output.
func command(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %s:\n%s%s", name, strings.Join(args, " "), out, stderr.String())
	return string(out)
}

// yamlLanguageHost is the directory of pulumi-language-yaml: the one on PATH, else
// yamlHostVersion built from the Go module proxy into <user cache dir>/certctl-pulumi/, once
// per machine.
func yamlLanguageHost(t *testing.T) string {
	t.Helper()
	if host, err := exec.LookPath("pulumi-language-yaml"); err == nil {
		return filepath.Dir(host)
	}
	cache, err := os.UserCacheDir()
	require.NoError(t, err)
	dir := filepath.Join(cache, "certctl-pulumi", "pulumi-language-yaml-"+yamlHostVersion)
	if _, err := os.Stat(filepath.Join(dir, "pulumi-language-yaml")); err == nil {
		return dir
	}
	// From a directory outside this module: go install pkg@version builds it on its own.
	command(t, t.TempDir(), []string{"GOBIN=" + dir}, "go", "install", "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@"+yamlHostVersion)
	return dir
}
