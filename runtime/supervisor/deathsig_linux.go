package supervisor

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the service when the daemon dies,
// even by SIGKILL, so no service outlives it.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
