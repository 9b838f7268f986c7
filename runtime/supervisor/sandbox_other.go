//go:build !linux

package supervisor

import (
	"os/exec"

	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// ShimArg is the first argument that makes RunShim act (Linux only).
const ShimArg = "__edged-service-exec"

// CanSetUser is false: services run as the daemon's user on this system.
func CanSetUser() bool { return false }

func killGroup(int) {}

// RunShim does nothing on this system.
func RunShim() {}

type launch struct {
	cmd      *exec.Cmd
	checksum []byte
	runAs    *pluginapi.Owner
	done     func()
}

// prepare gives the service its clean environment; nothing else is
// confined on this system.
func (sb Sandbox) prepare(sp Spec, _ budget.Join) (*launch, error) {
	cmd := sp.Command()
	cmd.Env = sb.env(cmd.Env, sp.Env)
	return &launch{cmd: cmd, checksum: sp.Checksum, done: func() {}}, nil
}
