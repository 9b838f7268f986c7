package budget

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// closeWait bounds how long Close waits for killed processes to leave.
const closeWait = 2 * time.Second

// cgroupBackend is one service's group in a cgroup hierarchy.
type cgroupBackend interface {
	add(pid int) error
	// stats reads the group; cpuOK is false when it cannot count CPU time.
	stats() (s Stats, cpuOK bool, err error)
	procs() ([]int, error)
	// procsFiles are the cgroup.procs files a process writes its pid to.
	procsFiles() []string
	remove() error
}

// Group is the budget of one service process: its cgroup, or its rlimits
// and watchdog. It is safe for concurrent use.
type Group struct {
	name       string
	pid        int
	budget     Budget
	mode       Mode
	unenforced []string
	log        *slog.Logger
	forget     func(*Group)
	interval   time.Duration // the rlimit watchdog's

	cg cgroupBackend // cgroup modes
	wd *watchdog     // rlimit mode

	mu       sync.Mutex
	attached bool
	last     Stats // last good reading; the final one once closed
	closed   bool
	closeErr error
}

// Name is the service the group belongs to.
func (g *Group) Name() string { return g.name }

// Pid is the process Apply or Attach put under the budget (0 before).
func (g *Group) Pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pid
}

// Join is what a process does to enter its group by itself, before it runs
// any code of its own.
type Join struct {
	// Procs are the cgroup.procs files it writes its own pid to: one per v1
	// hierarchy, one under cgroup v2, none under rlimits.
	Procs []string
	// DataLimit is the RLIMIT_DATA (soft and hard) it sets; 0 leaves it.
	DataLimit uint64
}

// Join says how a process enters this group by itself.
func (g *Group) Join() Join {
	if g.cg != nil {
		return Join{Procs: g.cg.procsFiles()}
	}
	if g.budget.Memory > 0 {
		return Join{DataLimit: dataBackstop(g.budget.Memory)}
	}
	return Join{}
}

// Attach ties the group to pid, the service's process: under cgroups it
// moves pid into the group (nothing changes when the process joined by
// itself), under rlimits it sets the RLIMIT_DATA backstop and starts the RSS
// watchdog. A group takes one process, once.
func (g *Group) Attach(pid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	wrap := func(err error) error {
		return fmt.Errorf("budget: apply %q (pid %d, %s, %s): %w", g.name, pid, g.budget, g.mode, err)
	}
	switch {
	case pid <= 0:
		return wrap(fmt.Errorf("pid %d is not a process", pid))
	case g.closed:
		return wrap(ErrClosed)
	case g.attached:
		return wrap(fmt.Errorf("the group already holds pid %d", g.pid))
	}
	if g.cg != nil {
		if err := g.cg.add(pid); err != nil {
			return wrap(err)
		}
	} else {
		if g.budget.Memory > 0 {
			if _, err := setDataLimit(pid, g.budget.Memory); err != nil {
				return wrap(err)
			}
		}
		wd, err := startWatchdog(pid, g.budget.Memory, g.interval, g.log.With("service", g.name))
		if err != nil {
			return wrap(err)
		}
		g.wd = wd
	}
	g.pid, g.attached = pid, true
	g.log.Info("budget applied", "service", g.name, "pid", pid, "mode", g.mode, "budget", g.budget.String())
	return nil
}

// Budget is the budget Apply was given.
func (g *Group) Budget() Budget { return g.budget }

// Unenforced lists the budget fields ("memory", "cpu", "pids") that were
// asked for but that nothing enforces in this mode (cpu and pids under
// rlimits; a controller missing from the cgroup). Apply logs them as a
// warning; status should show them.
func (g *Group) Unenforced() []string { return slices.Clone(g.unenforced) }

// Stats reads the group's resource use. After Close it returns the last
// reading taken before the group was removed.
func (g *Group) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.readLocked()
	}
	return g.last
}

// OOMKilled reports whether a process of the group was killed for
// exceeding the memory budget: the kernel's oom_kill count (cgroup v2
// memory.events, cgroup v1 memory.oom_control) or the watchdog's own kill.
// It stays true after the process is gone and after Close, so a supervisor
// can report the exit as "oom" with Budget().Memory and Stats().PeakRSS.
func (g *Group) OOMKilled() bool {
	return g.Stats().OOMKills > 0
}

func (g *Group) readLocked() {
	if g.wd != nil {
		g.last = g.wd.stats()
		return
	}
	if g.cg == nil {
		return // rlimits, not attached yet
	}
	s, cpuOK, err := g.cg.stats()
	if err != nil {
		g.log.Debug("read budget stats", "service", g.name, "err", err)
		return
	}
	if !cpuOK {
		s.CPUSeconds = g.last.CPUSeconds
		if cpu, ok := procCPU(g.pid); g.pid > 0 && ok {
			s.CPUSeconds = cpu
		}
	}
	s.PeakRSS = max(s.PeakRSS, s.RSS, g.last.PeakRSS)
	g.last = s
}

// Close kills whatever is left of the service, takes a last reading, and
// removes the cgroup (or stops the watchdog). The supervisor calls it once
// the process has exited. It is idempotent.
func (g *Group) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return g.closeErr
	}
	g.closed = true
	var errs []error
	if g.wd != nil {
		if err := g.wd.kill(closeWait); err != nil {
			errs = append(errs, err)
		}
		g.wd.close()
		g.last = g.wd.stats()
	} else if g.cg != nil {
		if err := g.emptyLocked(); err != nil {
			errs = append(errs, err)
		}
		g.readLocked()
		if err := g.cg.remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if g.forget != nil {
		g.forget(g)
	}
	if len(errs) > 0 {
		g.closeErr = fmt.Errorf("budget: close group of %q: %w", g.name, errors.Join(errs...))
	}
	return g.closeErr
}

// emptyLocked SIGKILLs every process in the group until none is left.
func (g *Group) emptyLocked() error {
	deadline := time.Now().Add(closeWait)
	for {
		pids, err := g.cg.procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pids %v still in the group %v after SIGKILL", pids, closeWait)
		}
		// cgroup.kill (v2, 5.14+) kills the whole subtree at once, forks
		// included; elsewhere each process is signalled, until none is left.
		if v2, ok := g.cg.(*v2Group); !ok || !writeKill(v2.dir) {
			for _, p := range pids {
				unix.Kill(p, unix.SIGKILL)
			}
		}
		g.log.Debug("killed what was left of the service", "service", g.name, "pids", pids)
		time.Sleep(10 * time.Millisecond)
	}
}

// writeKill writes cgroup.kill; false where the kernel has none.
func writeKill(dir string) bool {
	return os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644) == nil
}

// readProcs reads the pids in one cgroup's cgroup.procs.
func readProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// readProcsTree reads the pids in dir and every group below it.
func readProcsTree(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed under us
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		ps, err := readProcs(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		pids = append(pids, ps...)
		return nil
	})
	return pids, err
}

// removeTree kills every process in the group tree at dir, waits for them
// to leave, and removes the groups bottom-up. It returns how many processes
// it killed.
func removeTree(dir string) (int, error) {
	killed := 0
	deadline := time.Now().Add(closeWait)
	for {
		pids, err := readProcsTree(dir)
		if err != nil {
			return killed, err
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return killed, fmt.Errorf("pids %v still in %s %v after SIGKILL", pids, dir, closeWait)
		}
		if !writeKill(dir) {
			for _, p := range pids {
				unix.Kill(p, unix.SIGKILL)
			}
		}
		killed = max(killed, len(pids))
		time.Sleep(10 * time.Millisecond)
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return killed, err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := rmdir(dirs[i]); err != nil {
			return killed, err
		}
	}
	return killed, nil
}

// rmdir removes an empty cgroup, retrying briefly: the kernel may still be
// tearing down a process that just left (EBUSY).
func rmdir(dir string) error {
	var err error
	for i := range 10 {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
	return fmt.Errorf("remove %s: %w", dir, err)
}
