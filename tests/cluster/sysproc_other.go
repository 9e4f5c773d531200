//go:build !linux

package cluster

import "os/exec"

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
