//go:build unix

package pluginapi_test

import "syscall"

// processAlive reports whether pid exists (a zombie counts: not reaped).
func processAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func killProcess(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }
