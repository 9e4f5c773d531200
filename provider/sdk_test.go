package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"github.com/stretchr/testify/require"
)

// tsProject is the checked-in TypeScript project the README's snippet is type-checked in: its
// package.json pins @pulumi/pulumi, @types/node and typescript, its package-lock.json every
// package npm installs (`go test . -update` rewrites it with `npm install`).
var tsProject = filepath.Join("testdata", "tsproject")

// TestTypeScriptSDKBuildsTheReadmeProgram: the README's TypeScript snippet type-checks
// (`tsc --noEmit --strict`) against the Node.js SDK that pulumi-language-nodejs would generate
// from testdata/schema.json. The SDK is generated here with the same generator (pkg/v3's
// codegen/nodejs, the version go.mod requires), since this machine's CLI has no Node.js host;
// npm installs it, @pulumi/pulumi and typescript from testdata/tsproject's lockfile.
func TestTypeScriptSDKBuildsTheReadmeProgram(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, tool+" is not on PATH (Debian packages nodejs and npm)")
		}
	}
	pkgJSON, err := os.ReadFile(filepath.Join(tsProject, "package.json"))
	require.NoError(t, err)
	requirePulumiPinMatchesGoSDK(t, pkgJSON)

	dir := t.TempDir()
	writeNodeSDK(t, filepath.Join(dir, "sdks", "certctl"))
	lock := filepath.Join(tsProject, "package-lock.json")
	files := map[string][]byte{"package.json": pkgJSON, "index.ts": []byte(readmeTypeScript(t))}
	for _, name := range []string{"tsconfig.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(tsProject, name))
		if errors.Is(err, os.ErrNotExist) && name == "package-lock.json" && *update {
			continue
		}
		require.NoError(t, err)
		files[name] = b
	}
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o644))
	}
	if !*update {
		requireLockedSDK(t, files["package-lock.json"], filepath.Join(dir, "sdks", "certctl", "package.json"))
	}

	cache, err := os.UserCacheDir()
	require.NoError(t, err)
	install := "ci"
	if *update {
		install = "install"
	}
	out, err := run(t, dir, 10*time.Minute, "npm", install, "--cache", filepath.Join(cache, "certctl-pulumi", "npm"),
		"--prefer-offline", "--no-audit", "--no-fund", "--update-notifier=false")
	if err != nil && unreachable(out) {
		unavailable(t, "the npm registry is not reachable: "+err.Error()+"\n"+out)
	}
	require.NoError(t, err, "npm %s:\n%s", install, out)
	if *update {
		b, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(lock, b, 0o644))
	}

	out, err = run(t, dir, 5*time.Minute, filepath.Join(dir, "node_modules", ".bin", "tsc"), "--noEmit", "--strict", "-p", ".")
	require.NoError(t, err, "the README's TypeScript snippet does not type-check against the generated SDK:\n%s", out)
}

// unavailable skips the test for a missing prerequisite, or fails it under CI=true, where every
// prerequisite is expected.
func unavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why + " (skipped outside CI; under CI=true this fails)")
}

// unreachable reports whether npm's output says it could not reach the registry.
func unreachable(npmOutput string) bool {
	for _, code := range []string{"ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH"} {
		if strings.Contains(npmOutput, code) {
			return true
		}
	}
	return false
}

// requirePulumiPinMatchesGoSDK fails unless package.json pins @pulumi/pulumi to the release of
// the Pulumi Go SDK this module builds against, so the two SDKs are the same release.
func requirePulumiPinMatchesGoSDK(t *testing.T, pkgJSON []byte) {
	t.Helper()
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	require.NoError(t, json.Unmarshal(pkgJSON, &pkg))
	info, ok := debug.ReadBuildInfo()
	require.True(t, ok, "the test binary has build info")
	for _, dep := range info.Deps {
		if dep.Path == "github.com/pulumi/pulumi/sdk/v3" {
			require.Equal(t, strings.TrimPrefix(dep.Version, "v"), pkg.Dependencies["@pulumi/pulumi"],
				"%s pins @pulumi/pulumi to the Go SDK's release", filepath.Join(tsProject, "package.json"))
			return
		}
	}
	t.Fatal("the test binary does not depend on github.com/pulumi/pulumi/sdk/v3")
}

// requireLockedSDK fails unless the lockfile records the generated SDK's version and
// dependencies: npm ci does not compare a linked package's package.json with its lockfile entry,
// so a new generator's SDK would otherwise install the dependencies of the old one.
func requireLockedSDK(t *testing.T, lockJSON []byte, sdkPackageJSON string) {
	t.Helper()
	type entry struct {
		Version      string            `json:"version"`
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		Packages map[string]entry `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(lockJSON, &lock))
	b, err := os.ReadFile(sdkPackageJSON)
	require.NoError(t, err)
	var sdk entry
	require.NoError(t, json.Unmarshal(b, &sdk))
	require.Equal(t, sdk, lock.Packages["sdks/certctl"],
		"%s records the generated SDK's package.json: `cd provider && go test -run TestTypeScriptSDK . -update` rewrites it",
		filepath.Join(tsProject, "package-lock.json"))
}

// writeNodeSDK writes into dir the Node.js SDK (@pulumi/certctl) that codegen/nodejs generates
// from testdata/schema.json, as a local SDK (the form `pulumi package add` links into a project).
func writeNodeSDK(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "schema.json"))
	require.NoError(t, err)
	var spec schema.PackageSpec
	require.NoError(t, json.Unmarshal(b, &spec))
	pkg, diags, err := schema.BindSpec(spec, noPackages{}, schema.ValidationOptions{})
	require.NoError(t, err)
	require.False(t, diags.HasErrors(), "schema.json binds: %s", diags.Error())
	files, err := nodejs.GeneratePackage("certctl-provider-test", pkg, nil, nil, true, noPackages{})
	require.NoError(t, err)
	require.Contains(t, files, "package.json")
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, content, 0o644))
	}
}

// noPackages is the schema loader for a schema that references no other package: it loads none.
type noPackages struct{}

// errNoPackages is what noPackages answers for every package.
var errNoPackages = errors.New("schema.json references no other package")

// LoadPackage loads no package.
func (noPackages) LoadPackage(string, *semver.Version) (*schema.Package, error) {
	return nil, errNoPackages
}

// LoadPackageV2 loads no package.
func (noPackages) LoadPackageV2(context.Context, *schema.PackageDescriptor) (*schema.Package, error) {
	return nil, errNoPackages
}

// LoadPackageReference loads no package reference.
func (noPackages) LoadPackageReference(string, *semver.Version) (schema.PackageReference, error) {
	return nil, errNoPackages
}

// LoadPackageReferenceV2 loads no package reference.
func (noPackages) LoadPackageReferenceV2(context.Context, *schema.PackageDescriptor) (schema.PackageReference, error) {
	return nil, errNoPackages
}

// readmeTypeScript is the TypeScript snippet (the ```ts block after "TypeScript") of the
// README's "Using it as a package".
func readmeTypeScript(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## Using it as a package\n")
	require.True(t, ok, "README has a section Using it as a package")
	section, _, _ = strings.Cut(section, "\n## ")
	_, section, ok = strings.Cut(section, "\nTypeScript")
	require.True(t, ok, "the section introduces a TypeScript snippet")
	_, snippet, ok := strings.Cut(section, "\n```ts\n")
	require.True(t, ok, "the section has a ```ts block after TypeScript")
	snippet, _, ok = strings.Cut(snippet, "\n```\n")
	require.True(t, ok, "the ```ts block ends")
	return snippet + "\n"
}

// run runs name in dir, killed after timeout (and at the test's deadline), and returns its
// combined output.
func run(t *testing.T, dir string, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return out.String(), err
}
