package tests

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests/stackfile"
)

var update = flag.Bool("update", false, "rewrite tests/testdata/golden from the current program")

const goldenDir = "testdata/golden"

// TestGolden compares what every mode deploys with the committed manifests, so a change's
// effect on users is reviewed as a YAML diff. `make golden` rewrites them.
func TestGolden(t *testing.T) {
	for _, m := range modes() {
		t.Run(m.Name, func(t *testing.T) {
			r := mustRun(t, m.Stack(t))
			compareGolden(t, filepath.Join(goldenDir, m.Name+".yaml"), manifestsYAML(t, r))
			compareGolden(t, filepath.Join(goldenDir, m.Name+".resources.txt"), resourceList(r))
		})
	}
}

// resourceList names every registration (components, providers, random included), sorted.
func resourceList(r *Render) []byte {
	var lines []string
	for _, res := range r.Resources {
		lines = append(lines, fmt.Sprintf("%s %s", res.Type, res.Name))
	}
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n") + "\n")
}

func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
		require.NoError(t, os.WriteFile(file, got, 0o644))
		return
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "missing golden file: run `make golden` and review the diff")
	if string(want) != string(got) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(want)), B: difflib.SplitLines(string(got)),
			FromFile: file + " (committed)", ToFile: "rendered now", Context: 3,
		})
		t.Errorf("%s differs from what the program renders; run `make golden` and review the diff:\n%s", file, diff)
	}
}

// TestGoldenStacks renders each stack as the engine tier deploys it (its file and the tier's
// overlay): the engine tier compares the objects the API server holds after pulumi up with it.
func TestGoldenStacks(t *testing.T) {
	for _, name := range engineStacks(t) {
		t.Run(name, func(t *testing.T) {
			r := mustRun(t, loadEngineStack(t, name))
			compareGolden(t, filepath.Join(goldenDir, stackGolden(name)), manifestsYAML(t, r))
		})
	}
}

// stackGolden is the golden file of a stack the engine tier deploys (tests/engine reads it).
func stackGolden(name string) string { return "stack-" + name + ".yaml" }

func engineStacks(t *testing.T) []string {
	t.Helper()
	names, err := stackfile.Names("..")
	require.NoError(t, err)
	return names
}

// Every golden file belongs to a mode or an engine stack: a removed one must not leave a stale
// file behind.
func TestGoldenFilesHaveModes(t *testing.T) {
	entries, err := os.ReadDir(goldenDir)
	require.NoError(t, err)
	known := map[string]bool{}
	for _, m := range modes() {
		known[m.Name+".yaml"], known[m.Name+".resources.txt"] = true, true
	}
	for _, name := range engineStacks(t) {
		known[stackGolden(name)] = true
	}
	for _, e := range entries {
		assert.True(t, known[e.Name()], "%s has no mode in modes()", e.Name())
	}
}
