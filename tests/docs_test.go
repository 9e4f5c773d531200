package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the README and docs/ count and list is checked here against the code, so the documents
// cannot drift from it unnoticed. The configuration reference has its own tests (readme_test.go).

// docFiles are the Markdown files of the repository: the README and everything under docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	root := ProjectRoot()
	require.NoError(t, filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return err
	}))
	require.Greater(t, len(files), 3, "README.md, docs/architecture.md, docs/testing.md, docs/runbooks/...")
	return files
}

// between is the text of doc after the first occurrence of from and before the next until.
func between(t *testing.T, doc, from, until string) string {
	t.Helper()
	_, after, ok := strings.Cut(doc, from)
	require.True(t, ok, "the document has %q", from)
	before, _, ok := strings.Cut(after, until)
	require.True(t, ok, "the document has %q after %q", until, from)
	return before
}

// codeNames are the code spans of text that look like names: `default`, `server.go`.
func codeNames(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([A-Za-z0-9_./-]+)`").FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// sourceFiles are the names of the non-test Go files in a directory of the repository.
func sourceFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(ProjectRoot(), dir, "*.go"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		if name := filepath.Base(f); !strings.HasSuffix(name, "_test.go") {
			out = append(out, name)
		}
	}
	require.NotEmpty(t, out, "Go files in %s", dir)
	return out
}

// TestDocsCountsAndListsMatchTheCode: the default render's size (README), the modes under
// "Reviewing a change" and the benchmark table's objects and registrations (docs/testing.md),
// and the file lists (docs/architecture.md, docs/testing.md) are what the code has.
func TestDocsCountsAndListsMatchTheCode(t *testing.T) {
	readme, testing_, architecture := ProjectFile(t, "README.md"), ProjectFile(t, "docs/testing.md"), ProjectFile(t, "docs/architecture.md")
	count := func(r *Render) (objects, registrations int) { return len(r.KubernetesObjects()), len(r.Resources) }

	m := regexp.MustCompile(`The default render is (\d+) objects`).FindStringSubmatch(readme)
	require.NotNil(t, m, "the README states the default render's size")
	objects, _ := count(RenderMode(t, "default"))
	assert.Equal(t, fmt.Sprint(objects), m[1], "the default render's object count")

	var names []string
	for _, mode := range modes() {
		names = append(names, mode.Name)
	}
	listed := codeNames(between(t, testing_, "## Reviewing a change\n", "has two files in"))
	assert.ElementsMatch(t, names, listed[1:], "Reviewing a change lists every mode of modes() after `tests/modes.go`")

	rows := regexp.MustCompile(`(?m)^\| ([a-z0-9-]+) \| (\d+) Kubernetes objects, (\d+) registrations \|`).FindAllStringSubmatch(testing_, -1)
	require.NotEmpty(t, rows, "docs/testing.md's benchmark table")
	for _, row := range rows {
		objects, registrations := count(RenderMode(t, row[1]))
		assert.Equal(t, fmt.Sprintf("%d/%d", objects, registrations), row[2]+"/"+row[3], "the benchmark table's counts for %s", row[1])
	}

	for dir, list := range map[string]string{
		"components": between(t, architecture, "Files in `components/`:", "\n\n"),
		"config":     between(t, architecture, "Files in `config/`:", "\n\n"),
		"program":    between(t, architecture, "`program/` is", "; `main.go`"),
		"provider":   between(t, architecture, "Files in `provider/`", "Type tokens:"),
	} {
		assert.ElementsMatch(t, sourceFiles(t, dir), filesNamed(codeNames(list)), "docs/architecture.md lists every file of %s/", dir)
	}
	var shared []string
	for _, name := range sourceFiles(t, "tests") {
		shared = append(shared, "tests/"+name)
	}
	assert.ElementsMatch(t, shared, filesNamed(codeNames(between(t, testing_, "What the tiers share is importable", "\n\n"))),
		"docs/testing.md lists every shared file of the package tests")
}

// filesNamed keeps the names that are Go files.
func filesNamed(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, ".go") {
			out = append(out, n)
		}
	}
	return out
}

// TestMakefileTiersCoverEveryTestPackage: the Makefile's tiers (test-mocks, test-live,
// test-engine, test-provider, and the opt-in bench-server) together run every package with
// tests, so a new package cannot fall outside all of them, and docs/testing.md names each tier's packages as the Makefile runs them.
func TestMakefileTiersCoverEveryTestPackage(t *testing.T) {
	root := ProjectRoot()
	makefile, testing_ := ProjectFile(t, "Makefile"), ProjectFile(t, "docs/testing.md")
	var all []string
	var provider []string
	for variable, target := range map[string]string{"MOCK_TESTS": "test-mocks", "LIVE_TESTS": "test-live", "ENGINE_TESTS": "test-engine", "BENCH_SERVER_TESTS": "bench-server", "PROVIDER_TESTS": "test-provider"} {
		m := regexp.MustCompile(`(?m)^` + variable + ` := (.+)$`).FindStringSubmatch(makefile)
		require.NotNil(t, m, "the Makefile sets %s", variable)
		packages := strings.Fields(m[1])
		if variable == "PROVIDER_TESTS" {
			provider = packages
		} else {
			all = append(all, packages...)
		}
		bullet := between(t, testing_, "- `make "+target+"` (", ")")
		var documented []string
		for _, name := range codeNames(bullet) {
			documented = append(documented, "./"+strings.TrimPrefix(name, "./"))
		}
		assert.ElementsMatch(t, packages, documented, "docs/testing.md names the packages of make %s", target)
	}
	packages := testPackages(t, root)
	require.NotEmpty(t, packages)
	assert.ElementsMatch(t, packages, all)
	// The package's module is outside ./...: make test runs its tests in its directory.
	assert.ElementsMatch(t, testPackages(t, filepath.Join(root, "provider")), provider)
	assert.Contains(t, makefile, "\tcd provider && $(GO) vet ./... && $(GO) test ./...\n", "make test runs the package's tests")
}

// testPackages are the packages with tests of the module in dir, as paths from the root.
func testPackages(t *testing.T, dir string) []string {
	t.Helper()
	list := exec.Command("go", "list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}", "./...")
	list.Dir = dir
	out, err := list.Output()
	require.NoError(t, err, "go list in %s", dir)
	var packages []string
	for _, d := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(ProjectRoot(), d)
		require.NoError(t, err)
		packages = append(packages, "./"+rel)
	}
	return packages
}

// TestDocsLinksResolve: every relative link of the README and docs/ points at a file of the
// repository and, with a #fragment, at a heading of that file (GitHub's anchors).
func TestDocsLinksResolve(t *testing.T) {
	root := ProjectRoot()
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(file string) map[string]bool {
		if a, ok := anchors[file]; ok {
			return a
		}
		anchors[file] = headingAnchors(ProjectFile(t, file))
		return anchors[file]
	}
	checked := 0
	for _, file := range docFiles(t) {
		for _, m := range link.FindAllStringSubmatch(outsideCodeBlocks(ProjectFile(t, file)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, fragment, _ := strings.Cut(target, "#")
			resolved := file
			if path != "" {
				resolved = filepath.Join(filepath.Dir(file), path)
				if _, err := os.Stat(filepath.Join(root, resolved)); err != nil {
					t.Errorf("%s links to %s, which does not exist", file, target)
					continue
				}
			}
			if fragment != "" && strings.HasSuffix(resolved, ".md") && !anchorsOf(resolved)[fragment] {
				t.Errorf("%s links to %s: %s has no heading with the anchor #%s", file, target, resolved, fragment)
			}
		}
	}
	assert.Greater(t, checked, 50, "the documents' relative links were found")
}

// outsideCodeBlocks is a Markdown text without its fenced code blocks.
func outsideCodeBlocks(text string) string {
	var out strings.Builder
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// headingAnchors are the anchors GitHub gives a document's headings: lower case, punctuation
// dropped, spaces as hyphens, "-1", "-2" for repeats.
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(outsideCodeBlocks(text), "\n") {
		heading, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		var slug strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				slug.WriteRune(r)
			case r == ' ':
				slug.WriteRune('-')
			}
		}
		anchor := slug.String()
		for i := 1; out[anchor]; i++ {
			anchor = fmt.Sprintf("%s-%d", slug.String(), i)
		}
		out[anchor] = true
	}
	return out
}

// TestDocsNameTestsThatExist: every TestXxx and BenchmarkXxx the README and docs/ name is a
// function of the repository's tests, so a renamed or removed test cannot stay documented.
func TestDocsNameTestsThatExist(t *testing.T) {
	defined := map[string]bool{}
	root := ProjectRoot()
	require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		for _, m := range regexp.MustCompile(`(?m)^func ((?:Test|Benchmark)[A-Z]\w*)\(`).FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
		return err
	}))
	named := 0
	for _, file := range docFiles(t) {
		for _, m := range regexp.MustCompile("`((?:Test|Benchmark)[A-Z][A-Za-z0-9_]*)").FindAllStringSubmatch(ProjectFile(t, file), -1) {
			named++
			assert.True(t, defined[m[1]], "%s names %s, which is no test of the repository", file, m[1])
		}
	}
	assert.Greater(t, named, 5, "the documents name tests")
}
