package cluster

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ArchiveEnv overrides where the cluster toolchain archive is looked for (default:
// <module root>/../shared/toolchain/cluster.tar.xz).
const ArchiveEnv = "CERTCTL_CLUSTER_ARCHIVE"

// ToolchainEnv names a directory whose bin/ holds the cluster's binaries, built from the Go
// module proxy by `make engine-toolchain` (tools/cluster pins their versions); it takes the
// place of the archive.
const ToolchainEnv = "CERTCTL_CLUSTER_TOOLCHAIN"

// The toolchain archives and the programs each must hold.
var (
	clusterArchive = toolchainArchive{"cluster", []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"}}
	pulumiArchive  = toolchainArchive{"pulumi", []string{"pulumi", "pulumi-language-go", "pulumi-resource-kubernetes", "pulumi-resource-random", "pulumi-resource-tls"}}
)

// toolchainArchive is <name>.tar.xz of ../shared/toolchain: its bin/ holds binaries.
type toolchainArchive struct {
	name     string
	binaries []string
}

var (
	binMu    sync.Mutex
	binCache = map[string]string{} // archive path -> bin dir, once per test process
)

// Binaries returns the directory holding etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kubectl and kwok, unpacked from the toolchain archive once per machine into
// <user cache dir>/certctl-pulumi/cluster-<sha256 of the archive> and checked against the
// archive's MANIFEST.sha256. A file lock serialises test processes unpacking at the same time.
// Without the archive the test is skipped, or fails when CI=true.
//
// With CERTCTL_CLUSTER_TOOLCHAIN set, that directory's bin/ instead.
func Binaries(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(ToolchainEnv); dir != "" {
		if err := checkPresent(dir, clusterArchive.binaries); err != nil {
			t.Fatalf("%s=%s: %v (make engine-toolchain builds them)", ToolchainEnv, dir, err)
		}
		return filepath.Join(dir, "bin")
	}
	return unpacked(t, clusterArchive)
}

// PulumiBinaries returns the directory holding the Pulumi CLI, the Go language host and the
// kubernetes, random and tls plugins, unpacked from ../shared/toolchain/pulumi.tar.xz as
// Binaries unpacks the cluster's. Without the archive, the directory of the pulumi on PATH (the
// language host ships beside it; the plugins install themselves), outside CI or in.
func PulumiBinaries(t testing.TB) string {
	t.Helper()
	archive, err := toolchainPath(pulumiArchive.name + ".tar.xz")
	if err == nil {
		_, err = os.Stat(archive)
	}
	if err != nil {
		if cli, lookErr := exec.LookPath("pulumi"); lookErr == nil {
			return filepath.Dir(cli)
		}
	}
	return unpacked(t, pulumiArchive)
}

func unpacked(t testing.TB, a toolchainArchive) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the toolchain holds linux/amd64 binaries; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	archive := ToolchainFile(t, a.name+".tar.xz")
	binMu.Lock()
	defer binMu.Unlock()
	if dir, ok := binCache[archive]; ok {
		return dir
	}
	dir, err := unpackCached(archive, a)
	if err != nil {
		t.Fatalf("%s toolchain: %v", a.name, err)
	}
	binCache[archive] = dir
	return dir
}

// ToolchainFile is the path of a file of ../shared/toolchain (beside the module root), or of the
// directory named by CERTCTL_CLUSTER_ARCHIVE. A missing file skips the test, or fails it when
// CI=true.
func ToolchainFile(t testing.TB, name string) string {
	t.Helper()
	p, err := toolchainPath(name)
	if err == nil {
		_, err = os.Stat(p)
	}
	if err != nil {
		missing(t, fmt.Sprintf("%s (%v); it ships beside the module as ../shared/toolchain/%s, or set %s to the archive, or %s to what make engine-toolchain builds", p, err, name, ArchiveEnv, ToolchainEnv))
	}
	return p
}

// toolchainPath is where ToolchainFile looks for name.
func toolchainPath(name string) (string, error) {
	var dir string
	if a := os.Getenv(ArchiveEnv); a != "" {
		dir = filepath.Dir(a)
		if name == "cluster.tar.xz" {
			name = filepath.Base(a)
		}
	} else {
		root, err := moduleRoot()
		if err != nil {
			return name, fmt.Errorf("the module root (%v), needed to find ../shared/toolchain/%s", err, name)
		}
		dir = filepath.Join(filepath.Dir(root), "shared", "toolchain")
	}
	return filepath.Abs(filepath.Join(dir, name))
}

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("simulated cluster unavailable under CI=true: missing %s", what)
	}
	t.Skipf("simulated cluster unavailable, skipping (CI unset): missing %s", what)
}

// moduleRoot is the directory holding go.mod: two levels above this package's source, or
// failing that (a -trimpath build) the first parent of the working directory with this module's go.mod.
func moduleRoot() (string, error) {
	isRoot := func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		return err == nil && strings.Contains(string(b), "module github.com/certctl-io/certctl-pulumi\n")
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if dir := filepath.Dir(filepath.Dir(filepath.Dir(file))); isRoot(dir) {
			return dir, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isRoot(dir) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("no go.mod of github.com/certctl-io/certctl-pulumi above " + wd)
		}
	}
}

func unpackCached(archive string, a toolchainArchive) (string, error) {
	sum, err := FileSHA256(archive)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	root := filepath.Join(cache, "certctl-pulumi")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	dir := filepath.Join(root, a.name+"-"+sum[:16])
	unlock, err := lockFile(dir+".lock", 5*time.Minute)
	if err != nil {
		return "", err
	}
	defer unlock()

	marker := filepath.Join(dir, ".verified")
	if m, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(m)) == sum {
		if err := checkPresent(dir, a.binaries); err == nil {
			return filepath.Join(dir, "bin"), nil
		}
	}
	// Under the lock, whatever an interrupted unpack of this archive left is garbage.
	stale, _ := filepath.Glob(filepath.Join(root, "."+a.name+"-"+sum[:16]+"-unpack-*"))
	for _, d := range append(stale, dir) {
		if err := os.RemoveAll(d); err != nil {
			return "", err
		}
	}
	tmp, err := os.MkdirTemp(root, "."+a.name+"-"+sum[:16]+"-unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("tar", "-xJf", archive, "-C", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpacking %s: %v: %s", archive, err, out)
	}
	if err := verifyManifest(tmp, a.binaries); err != nil {
		return "", fmt.Errorf("%s: %w", archive, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".verified"), []byte(sum+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, "bin"), nil
}

// verifyManifest checks every file MANIFEST.sha256 lists, and that it lists the binaries needed.
func verifyManifest(dir string, required []string) error {
	f, err := os.Open(filepath.Join(dir, "MANIFEST.sha256"))
	if err != nil {
		return err
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		want, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*")
		if !ok || len(want) != 64 || !filepath.IsLocal(name) {
			return fmt.Errorf("MANIFEST.sha256: bad line %q", line)
		}
		got, err := FileSHA256(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("MANIFEST.sha256: %s has sha256 %s, want %s", name, got, want)
		}
		listed[filepath.ToSlash(filepath.Clean(name))] = true
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, b := range required {
		if !listed["bin/"+b] {
			return fmt.Errorf("MANIFEST.sha256 does not list bin/%s", b)
		}
	}
	return nil
}

func checkPresent(dir string, required []string) error {
	for _, b := range required {
		fi, err := os.Stat(filepath.Join(dir, "bin", b))
		if err != nil {
			return err
		}
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", b)
		}
	}
	return nil
}

// FileSHA256 is the hex SHA-256 of a file's content, for caching what an archive unpacks to.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// lockFile takes an exclusive flock on path, polling up to timeout.
func lockFile(path string, timeout time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Closing the file releases the lock too; the unlock only makes it explicit.
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("locking %s: still held by another process after %s", path, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
