// Package kubelet runs the pods a program renders as real processes on this machine, the way a
// cluster's kubelet, container runtime and kube-proxy would, so a test exercises the rendered
// paths, env, args, users, volumes, probes and Service names themselves instead of a rewritten
// copy.
//
// A pod sandbox is a network namespace with its own loopback and pod IP. A container is a
// process in that namespace, in a private mount namespace, chrooted into a root assembled from
// the host's system directories (overlays standing in for image layers), the image's files and
// the pod's volumes, running as the securityContext's user with exactly the environment kubelet
// builds. Service names resolve through each pod's hosts file to a Service address, where an
// in-process kube-proxy forwards connections to a ready endpoint pod.
//
// Not emulated, so a test cannot rely on them: restarts (an exited container stays exited and
// its pod unready), liveness and startup probes, initialDelaySeconds, preStop hooks, PID and IPC
// namespaces (containers see the host's processes), cgroups and resource limits, the service
// account token, DNS (names live in /etc/hosts; resolv.conf is the host's), pod-to-pod traffic
// by pod IP (only through Services), UDP Services, NetworkPolicy, and refreshing Secret and
// ConfigMap volumes or env of running containers.
//
// It needs root, iproute2 and util-linux. Without them New skips the test, except under CI
// (the CI variable set), where it fails it.
package kubelet

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Image is what a container image would provide, made of host files.
type Image struct {
	Entrypoint []string          // ENTRYPOINT, e.g. {"/app/server"}
	Cmd        []string          // CMD
	WorkingDir string            // WORKDIR, e.g. "/app"
	Env        map[string]string // ENV, e.g. PATH
	User       string            // USER, numeric "uid" or "uid:gid"; empty is root
	// Files maps container paths to host files or directories, bind-mounted read-only into the
	// container's root, e.g. "/app/server" -> a built binary.
	Files map[string]string
}

// Options configure a Cluster.
type Options struct {
	Namespace string           // the objects' and pods' namespace; default "default"
	Objects   []map[string]any // Secrets, ConfigMaps and Services (other kinds are ignored)
	Images    map[string]Image // by a container's exact `image`
	LogDir    string           // where container logs go; default a test temp dir
}

// Cluster is one node's kubelet and kube-proxy, with the API objects its pods read.
type Cluster struct {
	t           testing.TB
	images      map[string]Image
	dir         string // pods' files and claims; removed with the test
	logDir      string
	allocatable corev1.ResourceList

	mu         sync.Mutex
	objects    *store
	aliases    map[string]string // host name -> Service name
	pods       []*Pod            // every pod started, stopped ones included
	claims     map[string]string // claim name -> host directory
	roundRobin map[string]int    // "service/port" -> next endpoint
}

// netnsCount numbers the sandboxes of this process; with the pid it makes their names unique on
// the machine, so test packages can run in parallel.
var netnsCount atomic.Int64

// New starts an empty node that knows opts.Objects. Everything it starts is torn down when the
// test ends.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if err := preflight(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the kubelet emulation cannot run, and CI must run it: %v", err)
		}
		t.Skipf("the kubelet emulation cannot run here (it needs root, iproute2 and util-linux; CI runs it): %v", err)
	}
	namespace := opts.Namespace
	if namespace == "" {
		namespace = "default"
	}
	logDir := opts.LogDir
	if logDir == "" {
		logDir = t.TempDir()
	}
	c := &Cluster{
		t: t, images: opts.Images, dir: t.TempDir(), logDir: logDir, allocatable: nodeAllocatable(),
		objects: newStore(namespace), aliases: map[string]string{}, claims: map[string]string{}, roundRobin: map[string]int{},
	}
	t.Cleanup(c.cleanup) // runs before the temp dirs' removal, registered earlier
	for _, obj := range opts.Objects {
		c.AddObject(obj)
	}
	return c
}

// AddObject adds a Secret, ConfigMap or Service, as if applied to the API server. Pods started
// later see it. A new Service also gets its name and listeners in the running pods; env vars and
// volume contents of running pods stay as they were when the container started.
func (c *Cluster) AddObject(obj map[string]any) {
	c.t.Helper()
	c.mu.Lock()
	svc, err := c.objects.add(obj)
	running := slices.DeleteFunc(slices.Clone(c.pods), func(p *Pod) bool { return p.netns == "" || p.terminating.Load() })
	c.mu.Unlock()
	if err != nil {
		c.t.Fatalf("adding object: %v", err)
	}
	if svc == nil {
		return
	}
	for _, p := range running {
		err := c.proxyService(p, svc)
		if err == nil {
			err = p.writeHosts()
		}
		if err != nil {
			c.t.Fatalf("adding Service %s to pod %s: %v", svc.Name, p.pod.Name, err)
		}
	}
}

// AddAlias makes host resolve like the Service named serviceName, in every pod and for DialContext;
// e.g. the host name of an external database the Service stands in for.
func (c *Cluster) AddAlias(host, serviceName string) {
	c.t.Helper()
	c.mu.Lock()
	known := slices.ContainsFunc(c.objects.services, func(s *service) bool { return s.Name == serviceName })
	if known {
		c.aliases[host] = serviceName
	}
	running := slices.DeleteFunc(slices.Clone(c.pods), func(p *Pod) bool { return p.netns == "" || p.terminating.Load() })
	c.mu.Unlock()
	if !known {
		c.t.Fatalf("alias %s: no Service %q", host, serviceName)
	}
	for _, p := range running {
		if err := p.writeHosts(); err != nil {
			c.t.Fatalf("alias %s in pod %s: %v", host, p.pod.Name, err)
		}
	}
}

// ClaimDir is the host directory of the PersistentVolumeClaim named name, where pods that mount
// the claim read and write: a test can fill a claim before a pod uses it, or look at what a pod
// left there. A claim no pod has used yet is created, empty like a fresh volume. Files the test
// writes there are the test's (root's): a pod with an fsGroup gets them group-owned when it
// mounts the claim, as kubelet does, but not chowned to its user.
func (c *Cluster) ClaimDir(name string) string {
	c.t.Helper()
	c.mu.Lock()
	dir, err := c.claimDir(name)
	c.mu.Unlock()
	if err != nil {
		c.t.Fatalf("claim %s: %v", name, err)
	}
	return dir
}

// claimDir is the host directory of a PersistentVolumeClaim, created on first use and kept for
// the cluster's lifetime, so a pod started again on the same claim finds its data. c.mu is held.
func (c *Cluster) claimDir(name string) (string, error) {
	if dir, ok := c.claims[name]; ok {
		return dir, nil
	}
	dir := filepath.Join(c.dir, "claims", name)
	if err := newClaimDir(dir); err != nil {
		return "", err
	}
	c.claims[name] = dir
	return dir, nil
}

// cleanup kills every pod at once (the test is over: no grace period) and makes sure nothing was
// left mounted under the cluster's directories before the test's temp dirs are removed.
func (c *Cluster) cleanup() {
	c.mu.Lock()
	pods := slices.Clone(c.pods)
	c.mu.Unlock()
	var errs []error
	for _, p := range pods {
		if err := p.stop(0); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", p.pod.Name, err))
		}
	}
	errs = append(errs, removeTree(c.dir))
	if err := errors.Join(errs...); err != nil {
		c.t.Errorf("tearing down the kubelet emulation: %v", err)
	}
}

// removeTree deletes dir, after making sure no mount is left under it: removing files through a
// leaked bind mount would delete the host's own. Mounts live in the containers' private mount
// namespaces, so finding one here is a bug; it is detached and reported.
func removeTree(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		for _, m := range slices.Backward(mounts) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
		return fmt.Errorf("mounts leaked into the host (detached, files kept): %v", mounts)
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists this mount namespace's mount points at or below dir, parents first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMountinfo(fields[4])
		if point == dir || strings.HasPrefix(point, dir+"/") {
			mounts = append(mounts, point)
		}
	}
	return mounts, scanner.Err()
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// tools are the host programs the emulation drives; chroot, setpriv and env also run inside the
// containers' roots, where /usr is the host's.
var tools = []string{"ip", "unshare", "nsenter", "sh", "mount", "chroot", "setpriv", "env", "hostname", "mkdir", "touch", "ln"}

// toolPaths finds the tools in toolEnv's PATH, once.
var toolPaths = sync.OnceValues(func() (map[string]string, error) {
	dirs := filepath.SplitList(strings.TrimPrefix(toolEnv[0], "PATH="))
	paths := map[string]string{}
	for _, name := range tools {
		for _, dir := range dirs {
			p := filepath.Join(dir, name)
			if info, err := os.Stat(p); err == nil && info.Mode()&0o111 != 0 {
				paths[name] = p
				break
			}
		}
		if paths[name] == "" {
			return nil, fmt.Errorf("%s not found in %s", name, toolEnv[0])
		}
	}
	return paths, nil
})

// tool is the absolute path of a tool; preflight made sure it exists.
func tool(name string) string {
	paths, _ := toolPaths()
	return paths[name]
}

// preflight checks what the emulation needs: root, the tools, and that a network namespace can
// really be created (a container or a restricted kernel may refuse).
var preflight = sync.OnceValue(func() error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root")
	}
	if _, err := toolPaths(); err != nil {
		return err
	}
	name := fmt.Sprintf("kl-%d-preflight", os.Getpid())
	if err := addNetns(name, testClientIP); err != nil {
		return fmt.Errorf("ip netns unavailable: %w", err)
	}
	if err := delNetns(name); err != nil {
		return err
	}
	sweepStale()
	return nil
})

// sweepStale deletes the sandboxes that a killed test process left on this machine (their names
// carry its pid), with whatever still runs in them: the next run must not inherit them.
func sweepStale() {
	out, err := runTool(nil, "ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		var pid int
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if _, err := fmt.Sscanf(fields[0], "kl-%d-", &pid); err == nil && unix.Kill(pid, 0) == unix.ESRCH {
			_ = delNetns(fields[0])
		}
	}
}

// nodeAllocatable is the node's capacity, which the downward API reports for unset limits.
func nodeAllocatable() corev1.ResourceList {
	list := corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI)}
	var info unix.Sysinfo_t
	if unix.Sysinfo(&info) == nil {
		list[corev1.ResourceMemory] = *resource.NewQuantity(int64(info.Totalram)*int64(info.Unit), resource.BinarySI)
	}
	return list
}
