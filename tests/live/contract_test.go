package live

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
)

// envName is what a variable name looks like in the binaries' source.
var envName = regexp.MustCompile(`^(CERTCTL|PG|POSTGRES)_?[A-Z0-9_]*$`)

// binaryEnvNames lists the environment variable names the source of a binary mentions as whole
// string literals: certctl's own packages linked into it (go list -deps), and lib/pq, the driver
// that reads libpq's PG* variables. A name no such literal holds is one the binary never reads.
func binaryEnvNames(t *testing.T, src, pkg string) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", pkg)
	cmd.Dir = src
	out, err := cmd.Output()
	require.NoError(t, err, "go list -deps %s", pkg)
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, dir := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dir, src) && !strings.Contains(dir, "github.com/lib/pq@") {
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		require.NoError(t, err)
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
			require.NoError(t, err)
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && envName.MatchString(s) {
						names[s] = true
					}
				}
				return true
			})
		}
	}
	return names
}

// TestEveryVariableIsReadByTheBinary: every variable the program can set on the server and
// agent containers (the components' own lists, whatever the configuration turns on) is one the
// v2.1.7 binary reads. A setting whose variable no binary reads does nothing and is refused, not
// rendered.
func TestEveryVariableIsReadByTheBinary(t *testing.T) {
	bins := certctlbin.Binaries(t)
	if _, err := os.Stat(bins.Source); err != nil {
		t.Fatalf("certctl source: %v", err)
	}
	cfg := config.Defaults()
	reserved := components.Reserved(&cfg)
	server := binaryEnvNames(t, bins.Source, "./cmd/server")
	agent := binaryEnvNames(t, bins.Source, "./cmd/agent")
	require.Contains(t, server, "CERTCTL_DATABASE_URL", "the parse finds the server's variables")
	require.Contains(t, agent, "CERTCTL_AGENT_ID", "the parse finds the agent's variables")
	for _, e := range reserved.ServerEnv {
		assert.True(t, server[e.Name], "the program sets %s (%s) on the server, which v2.1.7 never reads", e.Name, e.Key)
	}
	for _, e := range reserved.AgentEnv {
		if e.Name == "CERTCTL_AGENT_BOOTSTRAP_TOKEN" {
			continue // read by the register init container's script, not by the agent
		}
		assert.True(t, agent[e.Name], "the program sets %s (%s) on the agent, which v2.1.7 never reads", e.Name, e.Key)
	}
}
