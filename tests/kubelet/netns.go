package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

var (
	// podCIDR holds the pods' IPs. Every sandbox routes the whole range to its own loopback, so a
	// connection forwarded into a pod can come from the client pod's IP, as it would in a cluster.
	podCIDR = netip.MustParsePrefix("10.244.0.0/16")
	// serviceCIDR holds the Services' addresses, also routed to every sandbox's loopback, where the
	// emulated kube-proxy listens on them.
	serviceCIDR = netip.MustParsePrefix("10.96.0.0/16")
	// testClientIP is the source address of DialContext's connections: the test process dials
	// like a pod of the cluster with that IP would.
	testClientIP = netip.MustParseAddr("10.244.255.254")
)

// toolEnv is the only environment the sandbox tools (ip, unshare, sh, nsenter) get: what the
// container finally sees is set by `env -i`, so nothing of the test process leaks into it.
var toolEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

// netnsPath is where `ip netns add` keeps a named network namespace.
func netnsPath(name string) string { return "/var/run/netns/" + name }

// addNetns creates a pod sandbox: a named network namespace with loopback up and the pod's IP.
func addNetns(name string, podIP netip.Addr) error {
	if _, err := runTool(nil, "ip", "netns", "add", name); err != nil {
		return err
	}
	setup := strings.Join([]string{
		"link set lo up",
		"addr add " + podIP.String() + "/32 dev lo",
		"route add local " + podCIDR.String() + " dev lo",
		"route add local " + serviceCIDR.String() + " dev lo",
	}, "\n")
	if _, err := runTool(strings.NewReader(setup), "ip", "-n", name, "-batch", "-"); err != nil {
		return fmt.Errorf("%w (and deleting it: %v)", err, delNetns(name))
	}
	return nil
}

// delNetns kills whatever still runs in the sandbox (a process that left its process group,
// an exec) and deletes it.
func delNetns(name string) error {
	out, err := runTool(nil, "ip", "netns", "pids", name)
	if err != nil {
		return err
	}
	for _, field := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(field); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_, err = runTool(nil, "ip", "netns", "del", name)
	return err
}

// runTool runs a host tool to completion and returns its standard output.
func runTool(stdin *strings.Reader, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = toolEnv
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// inNetns runs fn on an OS thread switched into the sandbox's network namespace, so the sockets
// fn creates live there (a socket keeps the namespace it was created in). If the thread cannot
// switch back it stays locked, and the runtime discards it when the goroutine ends.
func inNetns(name string, fn func() error) error {
	result := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		original, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			result <- err
			return
		}
		defer original.Close()
		target, err := os.Open(netnsPath(name))
		if err != nil {
			runtime.UnlockOSThread()
			result <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			result <- fmt.Errorf("entering netns %s: %w", name, err)
			return
		}
		err = fn()
		if back := unix.Setns(int(original.Fd()), unix.CLONE_NEWNET); back != nil {
			result <- fmt.Errorf("leaving netns %s: %w", name, back)
			return
		}
		runtime.UnlockOSThread()
		result <- err
	}()
	return <-result
}

// listenIn opens a TCP listener inside the sandbox.
func listenIn(netns string, addr netip.AddrPort) (net.Listener, error) {
	var l net.Listener
	err := inNetns(netns, func() (err error) {
		l, err = net.Listen("tcp", addr.String())
		return err
	})
	return l, err
}

// dialIn connects to target inside the sandbox, from source unless that is the zero Addr (then
// the kernel picks). Addresses are IP literals, so the socket is created on the calling
// (switched) thread, with no resolver goroutine involved.
func dialIn(ctx context.Context, netns string, source netip.Addr, target netip.AddrPort) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(netns, func() (err error) {
		var d net.Dialer
		if source.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
		}
		conn, err = d.DialContext(ctx, "tcp", target.String())
		return err
	})
	return conn, err
}
