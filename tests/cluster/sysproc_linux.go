package cluster

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Children get SIGKILL when the thread that forked them dies. Forking from one goroutine locked to
// its thread for the life of the process makes that "when the test process dies", so a test binary
// killed by its -timeout leaves nothing running.
var forkRequests = make(chan forkRequest)

type forkRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func init() {
	go func() {
		runtime.LockOSThread()
		for r := range forkRequests {
			r.done <- r.cmd.Start()
		}
	}()
}

func startCmd(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := forkRequest{cmd: cmd, done: make(chan error, 1)}
	forkRequests <- r
	return <-r.done
}
