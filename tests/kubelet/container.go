package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const (
	// setupTimeout bounds building a container's root before its command runs.
	setupTimeout = 30 * time.Second
	// runTimeout bounds what must finish before a pod runs: each init container, each postStart
	// hook (kubelet has no such limit; a test must not hang).
	runTimeout = 2 * time.Minute
	// execTimeout bounds Pod.Exec.
	execTimeout = time.Minute
	// exitWait bounds waiting for a killed process to be reaped.
	exitWait = 10 * time.Second
)

// container is one (init) container of a pod: what kubelet resolved for it and, once started,
// its process.
type container struct {
	spec    *corev1.Container
	init    bool
	netns   string
	fs      *rootfs
	layers  []string // host directories mounted as its image layers
	id      identity
	env     []string // the process environment, exactly
	argv    []string
	logPath string

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and exitErr is set
	// exitErr is the process's exit status (nil for 0); read it only after done.
	exitErr error

	mu         sync.Mutex
	ready      bool
	probeError string // why the readiness probe last failed
}

// userCommand runs argv the way the runtime runs a container's process: chrooted into its root,
// as its user and groups with its capabilities, with exactly its environment, in its working
// directory. The container's own process and every exec share it.
func (ctr *container) userCommand(argv []string) []string {
	return slices.Concat(
		[]string{tool("chroot"), ctr.fs.root(), tool("setpriv")}, ctr.id.setprivArgs(),
		[]string{"--", tool("env"), "-i", "-C", ctr.fs.workDir}, ctr.env, argv)
}

// start launches the container's process as a chain that execs from one program into the next,
// so the process Go started ends up being the container's process, leader of its own process
// group: ip netns exec (the pod's sandbox) -> unshare (private mount and UTS namespaces) -> sh
// (the root's mounts) -> chroot -> setpriv -> env -> the command. It returns once the mounts
// are in place; an error means the sandbox could not be set up (the log says why).
func (ctr *container) start() error {
	script, err := ctr.fs.script(ctr.layers)
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(ctr.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	ready, readyWriter, err := os.Pipe()
	if err != nil {
		return err
	}
	defer ready.Close()
	args := slices.Concat(
		[]string{"netns", "exec", ctr.netns, tool("unshare"), "--mount", "--uts", "--propagation", "private", "--",
			tool("sh"), "-c", script, "sh"},
		ctr.userCommand(ctr.argv))
	cmd := exec.Command(tool("ip"), args...)
	cmd.Env = toolEnv
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{readyWriter} // fd 3 in the script
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	readyWriter.Close()
	if err != nil {
		return err
	}
	ctr.cmd, ctr.done = cmd, make(chan struct{})
	go func() {
		ctr.exitErr = cmd.Wait()
		close(ctr.done)
	}()
	mounted := make(chan bool, 1)
	go func() {
		n, _ := ready.Read(make([]byte, 1)) // EOF when the script dies or is killed
		mounted <- n == 1
	}()
	select {
	case ok := <-mounted:
		if !ok {
			ctr.waitExit(exitWait)
			return fmt.Errorf("setting up container %s failed (%v); see its log", ctr.spec.Name, ctr.exitErr)
		}
		return nil
	case <-time.After(setupTimeout):
		ctr.signal(syscall.SIGKILL)
		ctr.waitExit(exitWait)
		return fmt.Errorf("setting up container %s took longer than %s", ctr.spec.Name, setupTimeout)
	}
}

// running reports whether the process is still alive.
func (ctr *container) running() bool {
	if ctr.done == nil {
		return false
	}
	select {
	case <-ctr.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the container's whole process group, so children go too. The group
// outlives its leader while a child is alive, so it is worth signalling after the leader exited.
func (ctr *container) signal(sig syscall.Signal) {
	if ctr.cmd != nil {
		_ = syscall.Kill(-ctr.cmd.Process.Pid, sig)
	}
}

// waitExit waits up to timeout for the process to exit and reports whether it did. A process
// that has already exited counts even when no time is left.
func (ctr *container) waitExit(timeout time.Duration) bool {
	if !ctr.running() {
		return true
	}
	select {
	case <-ctr.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// runToCompletion runs an init container: it must exit 0 within runTimeout.
func (ctr *container) runToCompletion() error {
	if err := ctr.start(); err != nil {
		return err
	}
	if !ctr.waitExit(runTimeout) {
		ctr.signal(syscall.SIGKILL)
		ctr.waitExit(exitWait)
		return fmt.Errorf("init container %s did not finish within %s", ctr.spec.Name, runTimeout)
	}
	return ctr.exitError()
}

// exitError says how an exited container failed; nil for exit 0.
func (ctr *container) exitError() error {
	if ctr.exitErr != nil {
		return fmt.Errorf("%s %s failed: %v", ctr.kind(), ctr.spec.Name, ctr.exitErr)
	}
	return nil
}

// kind names the container as kubectl describe does.
func (ctr *container) kind() string {
	if ctr.init {
		return "init container"
	}
	return "container"
}

// exec runs argv inside the running container as kubelet's exec does: in its network, mount and
// UTS namespaces and its root, as its user, with its environment and working directory, its
// standard streams connected to the given ones (stdin nil: empty). The command gets a process
// group of its own, killed whole when ctx ends.
func (ctr *container) exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if !ctr.running() {
		return fmt.Errorf("container %s is not running", ctr.spec.Name)
	}
	args := slices.Concat(
		[]string{"--target", strconv.Itoa(ctr.cmd.Process.Pid), "--mount", "--uts", "--net", "--",
			tool("sh"), "-c", `umask 0022 && exec "$@"`, "sh"}, // runc's default umask
		ctr.userCommand(argv))
	cmd := exec.CommandContext(ctx, tool("nsenter"), args...)
	cmd.Env = toolEnv
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a grandchild holding the streams open must not block Wait
	err := cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
		err = errors.Join(err, ctxErr)
	}
	return err
}

// setReady records a readiness probe's verdict.
func (ctr *container) setReady(ready bool, why string) {
	ctr.mu.Lock()
	defer ctr.mu.Unlock()
	ctr.ready, ctr.probeError = ready, why
}

// isReady is kubelet's container readiness: running, and the readiness probe last passed.
func (ctr *container) isReady() bool {
	ctr.mu.Lock()
	defer ctr.mu.Unlock()
	return ctr.ready && ctr.running()
}

// state describes the container for logs.
func (ctr *container) state() string {
	switch {
	case ctr.done == nil:
		return "not started"
	case ctr.running():
		ctr.mu.Lock()
		defer ctr.mu.Unlock()
		if ctr.ready {
			return "running, ready"
		}
		if ctr.probeError != "" {
			return "running, not ready: " + ctr.probeError
		}
		return "running, not ready"
	case ctr.exitErr != nil:
		return "terminated: " + ctr.exitErr.Error()
	}
	return "terminated: exit 0"
}
