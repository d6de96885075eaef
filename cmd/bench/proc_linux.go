package main

import (
	"os/exec"
	"syscall"
)

// dieWithBench has the kernel stop a server if the bench itself is killed,
// so that an interrupted run leaves no server behind.
func dieWithBench(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
