package live

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/cluster"
)

// certctlArchive is the source of the released certctl the program deploys (see
// ../shared/certctl/README.md): the live suite runs the binaries built from it.
var certctlArchive = filepath.Join(tests.ProjectRoot(), "..", "shared", "certctl", "certctl-v2.1.7-src.tar.gz")

// certctlBuild is the released server and agent, built from certctlArchive.
type certctlBuild struct {
	Server, Agent string
	// Migrations is the source's migrations directory: the server image's /app/migrations.
	Migrations string
	// Source is the module root of the built source.
	Source string
}

var (
	buildOnce   sync.Once
	builtResult certctlBuild
	buildErr    error
)

// certctlBinaries builds the binaries once per machine, in a cache keyed by the archive's
// checksum. Outside CI a missing archive or a failed build skips the live tests; under CI it fails.
func certctlBinaries(t testing.TB) certctlBuild {
	t.Helper()
	buildOnce.Do(func() { builtResult, buildErr = buildCertctl() })
	if buildErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("building certctl v2.1.7 from %s: %v", certctlArchive, buildErr)
		}
		t.Skipf("certctl v2.1.7 binaries unavailable (%v); CI builds them", buildErr)
	}
	return builtResult
}

func buildCertctl() (certctlBuild, error) {
	sum, err := cluster.FileSHA256(certctlArchive)
	if err != nil {
		return certctlBuild{}, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return certctlBuild{}, err
	}
	dir := filepath.Join(cache, "certctl-pulumi", "certctl-"+sum[:16])
	b := certctlBuild{
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
		return certctlBuild{}, err
	}
	work, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return certctlBuild{}, err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return certctlBuild{}, err
	}
	abs, err := filepath.Abs(certctlArchive)
	if err != nil {
		return certctlBuild{}, err
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
			return certctlBuild{}, &buildError{step: step, out: string(out), err: err}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return certctlBuild{}, err
	}
	if err := os.Rename(work, dir); err != nil {
		return certctlBuild{}, err
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
