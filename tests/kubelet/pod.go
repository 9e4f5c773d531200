package kubelet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PodOptions are what the scheduler, or the Job controller, would decide for a pod.
type PodOptions struct {
	NodeName string // spec.nodeName; default "node-1"
	// Deadline bounds a RunPod pod's run, from its start, as a Job's activeDeadlineSeconds does:
	// containers still running then are killed and reported. Default: the pod spec's
	// activeDeadlineSeconds, else runTimeout. StartPod ignores it.
	Deadline time.Duration
}

// defaultGracePeriod is the API's default terminationGracePeriodSeconds.
const defaultGracePeriod = 30 * time.Second

// Pod is a pod started by StartPod or RunPod: a network namespace, its volumes and its
// containers' processes.
type Pod struct {
	cluster *Cluster
	t       testing.TB
	pod     *corev1.Pod // metadata, spec and status.podIP as the API server would hold them
	ip      netip.Addr
	dir     string // sandbox files, volumes and container roots; removed when the pod stops
	logDir  string // container logs; kept after the pod stops
	netns   string // set once the sandbox exists

	volumes        map[string]volume
	initContainers []*container
	containers     []*container

	ctx    context.Context // ends when the pod stops: probes, hooks
	cancel context.CancelFunc
	probes sync.WaitGroup

	mu        sync.Mutex
	listeners []net.Listener // the emulated kube-proxy's, in this pod's sandbox

	started     atomic.Bool // every container started: containers no longer changes
	terminating atomic.Bool
	stopOnce    sync.Once
	stopErr     error
}

// StartPod runs a pod from a workload's pod template (metadata and spec) as kubelet would: it
// creates the sandbox and volumes, runs the init containers one at a time to completion, then
// starts the containers in order, each followed by its postStart hook, and starts probing
// readiness. Any failure fails the test with the pod's logs.
func (c *Cluster) StartPod(name string, template map[string]any, opts PodOptions) *Pod {
	c.t.Helper()
	p, err := c.newPod(name, template, opts)
	if err != nil {
		c.t.Fatalf("pod %s: %v", name, err)
	}
	if err = p.prepare(); err == nil {
		err = p.startContainers()
	}
	if err != nil {
		c.t.Fatalf("pod %s: %v\n%s", name, err, p.Logs())
	}
	return p
}

// RunPod runs a pod from a Job's pod template (restartPolicy Never) to completion: it starts
// the pod as StartPod does, waits until every container has exited, then deletes the sandbox at
// once (kills what the containers left behind, like a container's PID namespace ending) and
// returns. The error names the containers that failed or were still running at the deadline
// (see PodOptions.Deadline), or why the pod could not start; the test is not failed, so it can
// assert on a failing Job. The Pod is returned in every case (after a template that does not
// decode, the test fails instead): its Logs stay readable.
//
// The deadline is not enforced on init containers, which runTimeout bounds each, but counts
// their time.
func (c *Cluster) RunPod(name string, template map[string]any, opts PodOptions) (*Pod, error) {
	c.t.Helper()
	p, err := c.newPod(name, template, opts)
	if err != nil {
		c.t.Fatalf("pod %s: %v", name, err)
	}
	deadline := jobDeadline(p.pod, opts)
	start := time.Now()
	if err = p.prepare(); err == nil {
		err = p.startContainers()
	}
	if err == nil {
		err = p.awaitCompletion(start.Add(deadline), deadline)
	}
	_ = p.stop(0) // an error is reported at cleanup, as for every pod
	if err != nil {
		return p, fmt.Errorf("pod %s: %w", name, err)
	}
	return p, nil
}

// jobDeadline is how long a RunPod pod may run: PodOptions.Deadline, else the pod's
// activeDeadlineSeconds, else runTimeout.
func jobDeadline(pod *corev1.Pod, opts PodOptions) time.Duration {
	switch {
	case opts.Deadline > 0:
		return opts.Deadline
	case pod.Spec.ActiveDeadlineSeconds != nil:
		return time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second
	}
	return runTimeout
}

// newPod is the Pod object as the API server would store it, registered with the cluster at once
// so that cleanup covers a pod that fails halfway through starting.
func (c *Cluster) newPod(name string, template map[string]any, opts PodOptions) (*Pod, error) {
	tmpl, err := decode[corev1.PodTemplateSpec](template)
	if err != nil {
		return nil, fmt.Errorf("decoding the pod template: %w", err)
	}
	pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	pod.Name, pod.Namespace, pod.UID = name, c.objects.namespace, newUID()
	pod.Spec.NodeName = opts.NodeName
	if pod.Spec.NodeName == "" {
		pod.Spec.NodeName = "node-1"
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default" // set by the ServiceAccount admission plugin
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ip, err := nthAddr(podCIDR, len(c.pods)+1)
	if err != nil {
		return nil, err
	}
	pod.Status.PodIP, pod.Status.PodIPs = ip.String(), []corev1.PodIP{{IP: ip.String()}}
	unique := name + "-" + string(pod.UID)[:8] // a restarted pod may reuse its name
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pod{
		cluster: c, t: c.t, pod: pod, ip: ip, ctx: ctx, cancel: cancel,
		dir:    filepath.Join(c.dir, "pods", unique),
		logDir: filepath.Join(c.logDir, unique),
	}
	c.pods = append(c.pods, p)
	return p, nil
}

// prepare creates the sandbox and the volumes and runs the init containers, one at a time, to
// completion.
func (p *Pod) prepare() error {
	netns := fmt.Sprintf("kl-%d-%d", os.Getpid(), netnsCount.Add(1))
	if err := addNetns(netns, p.ip); err != nil {
		return err
	}
	p.netns = netns
	for _, dir := range []string{p.dir, p.logDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := p.writeHosts(); err != nil {
		return err
	}
	if err := os.WriteFile(p.hostnamePath(), []byte(p.hostname()+"\n"), 0o644); err != nil {
		return err
	}
	if err := p.cluster.startProxy(p); err != nil {
		return err
	}
	if err := p.makeVolumes(); err != nil {
		return err
	}
	for i := range p.pod.Spec.InitContainers {
		ctr, err := p.newContainer(&p.pod.Spec.InitContainers[i], true)
		if err != nil {
			return fmt.Errorf("init container %s: %w", p.pod.Spec.InitContainers[i].Name, err)
		}
		p.initContainers = append(p.initContainers, ctr)
		if err := ctr.runToCompletion(); err != nil {
			return err
		}
	}
	return nil
}

// startContainers starts the containers in order, each followed by its postStart hook, and
// probes their readiness.
func (p *Pod) startContainers() error {
	for i := range p.pod.Spec.Containers {
		ctr, err := p.newContainer(&p.pod.Spec.Containers[i], false)
		if err != nil {
			return fmt.Errorf("container %s: %w", p.pod.Spec.Containers[i].Name, err)
		}
		p.containers = append(p.containers, ctr)
		if err := ctr.start(); err != nil {
			return err
		}
		if err := p.runPostStart(p.ctx, ctr); err != nil {
			return err
		}
		p.probes.Add(1)
		go func() {
			defer p.probes.Done()
			p.watchReadiness(p.ctx, ctr)
		}()
	}
	p.started.Store(true)
	return nil
}

// awaitCompletion waits until every container has exited or the deadline (limit after the pod's
// start) has passed, and reports, in the containers' order, each one that exited non-zero or is
// still running.
func (p *Pod) awaitCompletion(deadline time.Time, limit time.Duration) error {
	var errs []error
	for _, ctr := range p.containers {
		if !ctr.waitExit(time.Until(deadline)) {
			errs = append(errs, fmt.Errorf("container %s did not finish within the pod's deadline of %s", ctr.spec.Name, limit))
		} else if err := ctr.exitError(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Pod) makeVolumes() error {
	c := p.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	volumes, err := makeVolumes(&p.pod.Spec, filepath.Join(p.dir, "volumes"), c.objects, c.claimDir)
	p.volumes = volumes
	return err
}

// newContainer resolves what kubelet and the runtime resolve before starting a container: image,
// user, environment, command and mounts, and prepares its root.
func (p *Pod) newContainer(spec *corev1.Container, init bool) (*container, error) {
	c := p.cluster
	img, ok := c.images[spec.Image]
	if !ok {
		return nil, fmt.Errorf("image %q is not in Options.Images (kubelet: ErrImagePull)", spec.Image)
	}
	id, err := containerIdentity(&p.pod.Spec, spec, img, "/etc")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	env, err := kubeletEnv(envInputs{
		pod: p.pod, container: spec, services: c.objects.serviceObjects(), objects: c.objects, allocatable: c.allocatable,
	})
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	argv, err := containerArgv(spec, img, env)
	if err != nil {
		return nil, err
	}
	mounts, err := volumeMounts(spec, p.volumes)
	if err != nil {
		return nil, err
	}
	workDir := spec.WorkingDir
	if workDir == "" {
		workDir = img.WorkingDir
	}
	if workDir == "" {
		workDir = "/"
	}
	fs := &rootfs{
		dir: filepath.Join(p.dir, "containers", spec.Name), hostname: p.hostname(),
		hostsFile: p.hostsPath(), hostnameFile: p.hostnamePath(),
		imageFiles: img.Files, volumes: mounts, workDir: workDir,
		readOnly: spec.SecurityContext != nil && isTrue(spec.SecurityContext.ReadOnlyRootFilesystem),
	}
	layers, err := fs.prepare()
	if err != nil {
		return nil, err
	}
	return &container{
		spec: spec, init: init, netns: p.netns, fs: fs, layers: layers, id: id,
		env:     processEnv(p.hostname(), img.Env, env, id.home),
		argv:    argv,
		logPath: filepath.Join(p.logDir, spec.Name+".log"),
	}, nil
}

// hostname is the pod's host name: spec.hostname, else the pod's name.
func (p *Pod) hostname() string {
	if p.pod.Spec.Hostname != "" {
		return p.pod.Spec.Hostname
	}
	return p.pod.Name
}

func (p *Pod) hostsPath() string    { return filepath.Join(p.dir, "hosts") }
func (p *Pod) hostnamePath() string { return filepath.Join(p.dir, "hostname") }

// writeHosts (re)writes the pod's hosts file in place: containers have that very file mounted.
func (p *Pod) writeHosts() error {
	return os.WriteFile(p.hostsPath(), []byte(p.cluster.hostsFile(p.hostname(), p.ip)), 0o644)
}

// Name is the pod's name.
func (p *Pod) Name() string { return p.pod.Name }

// Ready is the pod's Ready condition: every container running and passing its readiness probe,
// and the pod not terminating. Only ready pods are Service endpoints.
func (p *Pod) Ready() bool {
	if !p.started.Load() || p.terminating.Load() {
		return false
	}
	for _, ctr := range p.containers {
		if !ctr.isReady() {
			return false
		}
	}
	return true
}

// WaitReady waits until the pod is Ready, failing the test with the pod's logs if a container
// exits first or timeout passes.
func (p *Pod) WaitReady(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !p.Ready() {
		for _, ctr := range p.containers {
			if !ctr.running() {
				p.t.Fatalf("pod %s: container %s is not running\n%s", p.pod.Name, ctr.spec.Name, p.Logs())
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("pod %s: not ready after %s\n%s", p.pod.Name, timeout, p.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Exec runs a command in a running container, as `kubectl exec` does, and returns its combined
// output.
func (p *Pod) Exec(container string, cmd ...string) (string, error) {
	return p.ExecInput(container, nil, cmd...)
}

// ExecInput is Exec with stdin fed to the command, as `kubectl exec -i` does.
func (p *Pod) ExecInput(container string, stdin io.Reader, cmd ...string) (string, error) {
	var out strings.Builder // one writer for both streams: exec.Cmd gives them a single pipe
	err := p.ExecStreams(container, stdin, &out, &out, cmd...)
	return out.String(), err
}

// ExecStreams runs a command in a running container, as `kubectl exec -i` does, with its
// standard streams connected to stdin (nil: empty), stdout and stderr. execTimeout bounds it.
func (p *Pod) ExecStreams(container string, stdin io.Reader, stdout, stderr io.Writer, cmd ...string) error {
	for _, ctr := range p.containers {
		if ctr.spec.Name == container {
			ctx, cancel := context.WithTimeout(context.Background(), execTimeout)
			defer cancel()
			return ctr.exec(ctx, cmd, stdin, stdout, stderr)
		}
	}
	return fmt.Errorf("pod %s has no container %q", p.pod.Name, container)
}

// Logs is every container's output, init containers first, each under a header with its state.
func (p *Pod) Logs() string {
	var b strings.Builder
	for _, ctr := range slices.Concat(p.initContainers, p.containers) {
		fmt.Fprintf(&b, "=== pod %s, %s %s (%s) ===\n", p.pod.Name, ctr.kind(), ctr.spec.Name, ctr.state())
		out, err := os.ReadFile(ctr.logPath)
		if err != nil && !os.IsNotExist(err) {
			fmt.Fprintf(&b, "(reading the log: %v)\n", err)
		}
		b.Write(out)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Stop deletes the pod as kubelet would: it leaves the Services' endpoints at once, every
// container gets SIGTERM and, after terminationGracePeriodSeconds (default 30), SIGKILL; then
// the sandbox and the pod's files go. preStop hooks are not run.
func (p *Pod) Stop() {
	p.t.Helper()
	grace := defaultGracePeriod
	if s := p.pod.Spec.TerminationGracePeriodSeconds; s != nil {
		grace = time.Duration(*s) * time.Second
	}
	if err := p.stop(grace); err != nil {
		p.t.Errorf("stopping pod %s: %v", p.pod.Name, err)
	}
}

// stop terminates the pod once; later calls report the first one's result.
func (p *Pod) stop(grace time.Duration) error {
	p.stopOnce.Do(func() { p.stopErr = p.terminate(grace) })
	return p.stopErr
}

func (p *Pod) terminate(grace time.Duration) error {
	p.terminating.Store(true)
	p.cancel()
	all := slices.Concat(p.initContainers, p.containers)
	for _, ctr := range all {
		if ctr.running() {
			ctr.signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(grace)
	for _, ctr := range all {
		ctr.waitExit(time.Until(deadline))
	}
	var errs []error
	for _, ctr := range all {
		ctr.signal(syscall.SIGKILL) // past the grace period, or children left by an exited process
		if !ctr.waitExit(exitWait) {
			errs = append(errs, fmt.Errorf("container %s survived SIGKILL", ctr.spec.Name))
		}
	}
	p.probes.Wait()
	p.mu.Lock()
	for _, l := range p.listeners {
		_ = l.Close()
	}
	p.mu.Unlock()
	if p.netns != "" {
		errs = append(errs, delNetns(p.netns))
	}
	errs = append(errs, removeTree(p.dir))
	return errors.Join(errs...)
}

// newUID is a random RFC 4122 version 4 UUID, as the API server assigns.
func newUID() types.UID {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]))
}

// declaresPort reports whether one of the pod's containers declares the port number.
func (p *Pod) declaresPort(port int32) bool {
	for _, c := range p.pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.ContainerPort == port {
				return true
			}
		}
	}
	return false
}

// targetPort resolves a Service port's targetPort in this pod, as the endpoints controller does:
// a number (default: the Service port) or the name of a container port. A pod without that
// named port is not an endpoint for it.
func (p *Pod) targetPort(port corev1.ServicePort) (int, bool) {
	switch {
	case port.TargetPort.Type == intstr.String && port.TargetPort.StrVal != "":
		for _, c := range p.pod.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == port.TargetPort.StrVal {
					return int(cp.ContainerPort), true
				}
			}
		}
		return 0, false
	case port.TargetPort.IntValue() != 0:
		return port.TargetPort.IntValue(), true
	}
	return int(port.Port), true
}
