package supervisor

import (
	"os"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// Sandbox says how service processes are confined. The zero value gives
// them a clean environment and nothing else.
type Sandbox struct {
	// Shim is the executable that runs the exec shim: a binary whose main
	// calls RunShim before anything else (edged itself). The supervisor
	// starts it with ShimArg; it joins the service's budget group, sets
	// its rlimits, drops to User, sets no_new_privs and the parent-death
	// signal, and only then executes the service, so the budget holds from
	// the service's first instruction. Empty: no shim (Linux only); the
	// service runs as User through SysProcAttr and joins its budget right
	// after it has started.
	Shim string
	// User is who services run as when the daemon can change users (root,
	// or CAP_SETUID, CAP_SETGID, CAP_CHOWN and CAP_KILL: CanSetUser); nil runs them
	// as the daemon's own user. A Spec's User overrides it. Supplementary
	// groups are dropped. A daemon that cannot change users ignores both.
	User *pluginapi.Owner
	// Env is the environment every service starts with; nil is BaseEnv().
	// The service's own Spec.Env is added to it; nothing else of the
	// daemon's environment is passed on.
	Env []string
}

// BaseEnv is the environment a service starts with: a fixed PATH, and LANG,
// LC_ALL and TZ when the daemon has them. go-plugin adds its own PLUGIN_*
// variables and the handshake cookie.
func BaseEnv() []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, k := range []string{"LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// env is the whole environment of one service's process: the sandbox's
// base, what its Command set explicitly, and its Spec.Env.
func (sb Sandbox) env(cmdEnv, specEnv []string) []string {
	base := sb.Env
	if base == nil {
		base = BaseEnv()
	}
	out := make([]string, 0, len(base)+len(cmdEnv)+len(specEnv))
	out = append(out, base...)
	out = append(out, cmdEnv...)
	return append(out, specEnv...)
}

// user is who the service of spec runs as; nil: the daemon's user, always
// when the daemon cannot change users (CanSetUser).
func (sb Sandbox) user(sp Spec) *pluginapi.Owner {
	if !CanSetUser() {
		return nil
	}
	if sp.User != nil {
		return sp.User
	}
	return sb.User
}
