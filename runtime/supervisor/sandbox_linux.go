package supervisor

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// ShimArg is the first argument that makes RunShim act.
const ShimArg = "__edged-service-exec"

// shimExeFD is the descriptor the shim receives the service's executable on.
const shimExeFD = 3

// shimPlan is what the supervisor tells the shim, as its second argument.
type shimPlan struct {
	Procs     []string `json:"procs,omitempty"`      // cgroup.procs files to join
	DataLimit uint64   `json:"data_limit,omitempty"` // RLIMIT_DATA
	SetUser   bool     `json:"set_user,omitempty"`
	UID       int      `json:"uid"`
	GID       int      `json:"gid"`
	Parent    int      `json:"parent"` // the daemon's pid, for the parent-death signal
	Args      []string `json:"args"`   // the service's argv
}

// RunShim must be the first thing main does in a binary used as
// Sandbox.Shim. When the process was started as the shim (os.Args[1] is
// ShimArg) it confines itself and executes the service, never returning;
// otherwise it returns at once.
func RunShim() {
	if len(os.Args) != 3 || os.Args[1] != ShimArg {
		return
	}
	err := shim(os.Args[2])
	fmt.Fprintf(os.Stderr, "edged service exec shim: %v\n", err)
	os.Exit(127)
}

// shim joins the budget group, sets the rlimit, drops to the service's user
// and executes the service from shimExeFD. Credentials, no_new_privs and
// the parent-death signal are per thread: they are set on this locked
// thread, which then calls execveat, so the service inherits them.
func shim(arg string) error {
	runtime.LockOSThread()
	var p shimPlan
	if err := json.Unmarshal([]byte(arg), &p); err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	if len(p.Args) == 0 {
		return errors.New("read plan: no argv")
	}
	self := []byte(strconv.Itoa(os.Getpid()))
	for _, f := range p.Procs {
		if err := writeExisting(f, self); err != nil {
			return fmt.Errorf("join budget group: %w", err)
		}
	}
	if p.DataLimit > 0 {
		var old unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_DATA, &old); err != nil {
			return fmt.Errorf("read RLIMIT_DATA: %w", err)
		}
		lim := unix.Rlimit{Cur: min(p.DataLimit, old.Max), Max: min(p.DataLimit, old.Max)}
		if err := unix.Setrlimit(unix.RLIMIT_DATA, &lim); err != nil {
			return fmt.Errorf("set RLIMIT_DATA to %d: %w", lim.Cur, err)
		}
	}
	if p.SetUser {
		// Raw calls on this thread only: Go's Setuid would change every
		// thread, which is not needed, as only this one survives exec.
		if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
			return fmt.Errorf("drop supplementary groups: %w", e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(p.GID), uintptr(p.GID), uintptr(p.GID)); e != 0 {
			return fmt.Errorf("set gid %d: %w", p.GID, e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(p.UID), uintptr(p.UID), uintptr(p.UID)); e != 0 {
			return fmt.Errorf("set uid %d: %w", p.UID, e)
		}
	}
	// A daemon that is not root but holds CAP_SETUID and friends as ambient
	// capabilities (systemd's AmbientCapabilities=) would pass them on: a
	// service could then become the daemon's user again. Without ambient
	// capabilities, exec leaves a non-root service none.
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("clear ambient capabilities: %w", e)
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("set no_new_privs: %w", e)
	}
	// A credential change clears the parent-death signal: set it again,
	// then make sure the daemon did not die before it was set.
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("set the parent-death signal: %w", e)
	}
	if p.Parent > 0 && os.Getppid() != p.Parent {
		return fmt.Errorf("the daemon (pid %d) is gone", p.Parent)
	}
	argv, err := syscall.SlicePtrFromStrings(p.Args)
	if err != nil {
		return err
	}
	envv, err := syscall.SlicePtrFromStrings(os.Environ())
	if err != nil {
		return err
	}
	empty, _ := syscall.BytePtrFromString("")
	_, _, e := unix.RawSyscall6(unix.SYS_EXECVEAT, shimExeFD, uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), unix.AT_EMPTY_PATH, 0)
	return fmt.Errorf("execute %s: %w", p.Args[0], e)
}

// CanSetUser reports whether this process can run services as another
// user: it is root, or holds CAP_SETUID, CAP_SETGID, CAP_CHOWN (to give the
// service its socket directory) and CAP_KILL (a process may not signal
// another user's processes without it, so a service it could start as
// another user it could not stop).
func CanSetUser() bool {
	if os.Geteuid() == 0 {
		return true
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("CapEff:")); ok {
			eff, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64)
			need := uint64(1)<<unix.CAP_SETUID | 1<<unix.CAP_SETGID | 1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL
			return err == nil && eff&need == need
		}
	}
	return false
}

// killGroup kills what is left of the service's own process group (pgid
// = its pid) once the service has gone: children it forked do not outlive
// it, budget group or not. The number cannot name another group meanwhile:
// the kernel keeps a pid in use while it is some process's group id.
func killGroup(pid int) {
	if pid > 0 {
		unix.Kill(-pid, unix.SIGKILL)
	}
}

// writeExisting writes b to an existing file (a cgroup.procs).
func writeExisting(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}

// launch is a service's process made ready for pluginapi.Launch.
type launch struct {
	cmd      *exec.Cmd
	checksum []byte // for pluginapi to check; nil when the shim's copy was checked here
	runAs    *pluginapi.Owner
	done     func() // once the process has started
}

// prepare builds the process of sp: its clean environment, its user, its
// own process group and, with a shim, its budget group and rlimit from the
// first instruction. With a shim and a checksum the executable is copied
// into a sealed memfd while it is hashed, and the copy is what runs: a file
// changed after the check is never executed.
func (sb Sandbox) prepare(sp Spec, join budget.Join) (*launch, error) {
	cmd := sp.Command()
	if cmd.Err != nil {
		return nil, fmt.Errorf("find the executable: %w", cmd.Err)
	}
	cmd.Env = sb.env(cmd.Env, sp.Env)
	user := sb.user(sp)
	if err := stateDir(&sp, cmd, user); err != nil {
		return nil, err
	}
	if sb.Shim == "" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if user != nil {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(user.UID), Gid: uint32(user.GID), Groups: []uint32{}}
		}
		return &launch{cmd: cmd, checksum: sp.Checksum, runAs: user, done: func() {}}, nil
	}
	exe, err := openExecutable(cmd.Path, sp.Name, sp.Checksum)
	if err != nil {
		return nil, err
	}
	p := shimPlan{Procs: join.Procs, DataLimit: join.DataLimit, Parent: os.Getpid(), Args: cmd.Args}
	if user != nil {
		p.SetUser, p.UID, p.GID = true, user.UID, user.GID
	}
	plan, err := json.Marshal(p)
	if err != nil {
		exe.Close()
		return nil, err
	}
	sh := exec.Command(sb.Shim, ShimArg, string(plan))
	sh.Env, sh.Dir, sh.Stdout, sh.Stderr = cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr
	sh.ExtraFiles = []*os.File{exe}
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return &launch{cmd: sh, runAs: user, done: func() { exe.Close() }}, nil
}

// stateDir makes the service's state directory, gives it to the service's
// user, and makes it the process's working directory and STATE_DIRECTORY.
func stateDir(sp *Spec, cmd *exec.Cmd, user *pluginapi.Owner) error {
	if sp.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(sp.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if user != nil {
		if err := os.Chown(sp.StateDir, user.UID, user.GID); err != nil {
			return fmt.Errorf("state directory: give %s to uid %d: %w", sp.StateDir, user.UID, err)
		}
	}
	if err := os.Chmod(sp.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	cmd.Env = append(cmd.Env, "STATE_DIRECTORY="+sp.StateDir)
	if cmd.Dir == "" {
		cmd.Dir = sp.StateDir
	}
	return nil
}

// openExecutable opens path to be executed by the shim: the file itself,
// or, with a checksum, a sealed in-memory copy whose sha256 was checked.
func openExecutable(path, name string, sum []byte) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open the executable: %w", err)
	}
	if len(sum) == 0 {
		return f, nil
	}
	defer f.Close()
	fd, err := unix.MemfdCreate("edged-service-"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("copy the executable: memfd: %w", err)
	}
	m := os.NewFile(uintptr(fd), "memfd:"+path)
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(m, h), f); err != nil {
		m.Close()
		return nil, fmt.Errorf("copy the executable %s: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum) {
		m.Close()
		return nil, fmt.Errorf("service %q: %w: %s has sha256 %x, expected %x", name, pluginapi.ErrChecksumMismatch, path, got, sum)
	}
	if _, err := unix.FcntlInt(m.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		m.Close()
		return nil, fmt.Errorf("seal the copy of %s: %w", path, err)
	}
	return m, nil
}
