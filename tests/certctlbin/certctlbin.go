// Package certctlbin provides the released certctl v2.1.7 binaries and the PostgreSQL server
// binaries to the test suites that run them (tests/live, tests/loadserver): the server and agent
// are built from the source archive in ../shared/certctl once per machine, and PostgreSQL is the
// Debian package's.
package certctlbin

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/cluster"
)

// Archive is the source of the released certctl the program deploys (see
// ../shared/certctl/README.md): the suites run the binaries built from it.
var Archive = filepath.Join(tests.ProjectRoot(), "..", "shared", "certctl", "certctl-v2.1.7-src.tar.gz")

// Build is the released server and agent, built from Archive.
type Build struct {
	Server, Agent string
	// Migrations is the source's migrations directory: the server image's /app/migrations.
	Migrations string
	// Source is the module root of the built source.
	Source string
}

var (
	buildOnce   sync.Once
	builtResult Build
	buildErr    error
)

// Binaries builds the binaries once per machine, in a cache keyed by the archive's checksum.
// Outside CI a missing archive or a failed build skips the test; under CI it fails.
func Binaries(t testing.TB) Build {
	t.Helper()
	buildOnce.Do(func() { builtResult, buildErr = build() })
	if buildErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("building certctl v2.1.7 from %s: %v", Archive, buildErr)
		}
		t.Skipf("certctl v2.1.7 binaries unavailable (%v); CI builds them", buildErr)
	}
	return builtResult
}

// PostgresBinDir is where the Debian package installed the PostgreSQL server binaries; outside
// CI the test skips without them.
func PostgresBinDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("PostgreSQL is not installed: .ci/run installs it")
	}
	t.Skip("PostgreSQL server binaries not installed (apt-get install postgresql); CI runs this test")
	return ""
}

// FreePort is a loopback TCP port free at the time of asking, for a server the test starts.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func build() (Build, error) {
	sum, err := cluster.FileSHA256(Archive)
	if err != nil {
		return Build{}, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return Build{}, err
	}
	dir := filepath.Join(cache, "certctl-pulumi", "certctl-"+sum[:16])
	b := Build{
		Server:     filepath.Join(dir, "bin", "server"),
		Agent:      filepath.Join(dir, "bin", "agent"),
		Migrations: filepath.Join(dir, "src", "certctl-v2.1.7", "migrations"),
		Source:     filepath.Join(dir, "src", "certctl-v2.1.7"),
	}
	if exists(b.Server) && exists(b.Agent) && exists(b.Migrations) {
		return b, nil
	}
	// Build beside the cache entry and move it in whole, so an interrupted build never
	// leaves a half-built entry that looks complete.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return Build{}, err
	}
	work, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return Build{}, err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return Build{}, err
	}
	abs, err := filepath.Abs(Archive)
	if err != nil {
		return Build{}, err
	}
	steps := [][]string{
		{"tar", "-xzf", abs, "-C", src},
		{"go", "build", "-o", filepath.Join(work, "bin", "server"), "./cmd/server"},
		{"go", "build", "-o", filepath.Join(work, "bin", "agent"), "./cmd/agent"},
	}
	for _, step := range steps {
		cmd := exec.Command(step[0], step[1:]...)
		cmd.Dir = filepath.Join(src, "certctl-v2.1.7")
		if step[0] == "tar" {
			cmd.Dir = src
		}
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return Build{}, &buildError{step: step, out: string(out), err: err}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return Build{}, err
	}
	if err := os.Rename(work, dir); err != nil {
		return Build{}, err
	}
	return b, nil
}

type buildError struct {
	step []string
	out  string
	err  error
}

func (e *buildError) Error() string {
	return e.step[0] + " " + e.step[1] + ": " + e.err.Error() + "\n" + e.out
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
