package budget

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

// setupV2 prepares <own>/<parent> to hold service groups with the memory,
// cpu and pids controllers enabled, and returns its path.
//
// cgroup v2 has the "no internal processes" rule: a cgroup that gives
// controllers to its children (cgroup.subtree_control) may hold no
// processes itself. Under systemd with Delegate=yes the daemon starts in the
// very cgroup it was delegated, so enabling controllers there fails with
// EBUSY. When the daemon is the only process in it, setupV2 moves the daemon
// into the leaf <own>/<parent>/daemon and tries again (what systemd's
// documentation asks of delegated services; systemd 254 can do it with
// DelegateSubgroup=, Bookworm ships 252). When other processes share the
// cgroup it does not move them and reports which ones.
func setupV2(h host, parent string, log *slog.Logger) (string, error) {
	return setupV2With(h, parent, log, enableControllers)
}

// setupV2With is setupV2 with the subtree_control writer as a parameter, so
// the EBUSY path can be tested without moving the test process.
func setupV2With(h host, parent string, log *slog.Logger, enable func(dir string, want []string) error) (string, error) {
	base := h.v2Dir
	dir := filepath.Join(base, parent)
	if err := enable(base, h.v2Ctrl); err != nil {
		if !errors.Is(err, unix.EBUSY) {
			return "", err
		}
		self := os.Getpid()
		pids, rerr := readProcs(base)
		if rerr != nil {
			return "", fmt.Errorf("cgroup v2: %w", rerr)
		}
		var others []string
		for _, p := range pids {
			if p != self {
				others = append(others, strconv.Itoa(p))
			}
		}
		if len(others) > 0 {
			return "", fmt.Errorf("cgroup v2: %s also holds processes %s, and a cgroup with processes cannot give controllers to children: run edged as its own systemd service with Delegate=yes", base, strings.Join(others, " "))
		}
		leaf := filepath.Join(dir, daemonLeaf)
		if err := os.MkdirAll(leaf, 0o755); err != nil {
			return "", fmt.Errorf("cgroup v2: create daemon leaf: %w", err)
		}
		if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(self)), 0o644); err != nil {
			return "", fmt.Errorf("cgroup v2: move edged (pid %d) into %s: %w", self, leaf, err)
		}
		log.Info("moved edged into a leaf cgroup: cgroup v2 lets only a cgroup without processes give controllers to children", "cgroup", leaf)
		if err := enable(base, h.v2Ctrl); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cgroup v2: create %s: %w", dir, err)
	}
	if err := enable(dir, h.v2Ctrl); err != nil {
		return "", err
	}
	return dir, nil
}

// enableControllers writes the missing ones of want to dir's
// cgroup.subtree_control. The error wraps the errno (EBUSY when dir holds
// processes).
func enableControllers(dir string, want []string) error {
	have := readFields(filepath.Join(dir, "cgroup.subtree_control"))
	var add []string
	for _, c := range want {
		if !has(have, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	f := filepath.Join(dir, "cgroup.subtree_control")
	if err := os.WriteFile(f, []byte(strings.Join(add, " ")), 0o644); err != nil {
		return fmt.Errorf("cgroup v2: enable %s in %s: %w", strings.Join(add, " "), f, err)
	}
	return nil
}

// v2Group is one service's cgroup v2 group, driven through containerd/cgroups'
// cgroup2 package. It is loaded, not created with cgroup2.NewManager: that
// writes cgroup.subtree_control in every ancestor up to the mount root,
// outside what systemd delegated to edged.
type v2Group struct {
	m   *cgroup2.Manager
	dir string
}

// newV2Group creates <parent>/<name> and writes the budget before any process
// joins: memory.max, memory.swap.max 0 (a hog is OOM-killed, not swapped out),
// memory.oom.group 1 (the service's processes die together), cpu.max and
// pids.max.
func newV2Group(root, parent, name string, b Budget) (g *v2Group, unenforced, notes []string, err error) {
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			err = fmt.Errorf("group %s already exists: %w", dir, ErrExists)
		}
		return nil, nil, nil, fmt.Errorf("create cgroup v2 group: %w", err)
	}
	g, unenforced, notes, err = configureV2(root, dir, b)
	if err != nil {
		os.Remove(dir)
		return nil, nil, nil, err
	}
	return g, unenforced, notes, nil
}

// configureV2 writes budget b into the existing group dir.
func configureV2(root, dir string, b Budget) (g *v2Group, unenforced, notes []string, err error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return nil, nil, nil, err
	}
	res, unenforced, notes := v2Resources(dir, b)
	m, err := cgroup2.Load("/"+rel, cgroup2.WithMountpoint(root))
	if err == nil {
		err = m.Update(res)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("set budget in %s: %w", dir, err)
	}
	return &v2Group{m: m, dir: dir}, unenforced, notes, nil
}

// v2Resources turns a budget into the files the new group dir has.
func v2Resources(dir string, b Budget) (res *cgroup2.Resources, unenforced, notes []string) {
	ctrl := readFields(filepath.Join(dir, "cgroup.controllers"))
	res = &cgroup2.Resources{}
	if b.Memory > 0 {
		if has(ctrl, "memory") {
			limit := b.Memory
			res.Memory = &cgroup2.Memory{Max: &limit}
			if exists(filepath.Join(dir, "memory.swap.max")) {
				zero := int64(0)
				res.Memory.Swap = &zero
			} else {
				notes = append(notes, "no memory.swap.max (swap accounting off): with swap on, the service may swap before it is OOM-killed")
			}
			if exists(filepath.Join(dir, "memory.oom.group")) {
				group := true
				res.Memory.OOMGroup = &group
			}
		} else {
			unenforced = append(unenforced, "memory")
		}
	}
	if b.CPU > 0 {
		if has(ctrl, "cpu") {
			quota, period := cpuQuota(b.CPU), uint64(cfsPeriod)
			res.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, &period)}
		} else {
			unenforced = append(unenforced, "cpu")
		}
	}
	if b.Pids > 0 {
		if has(ctrl, "pids") {
			res.Pids = &cgroup2.Pids{Max: b.Pids}
		} else {
			unenforced = append(unenforced, "pids")
		}
	}
	return res, unenforced, notes
}

func (g *v2Group) add(pid int) error {
	if err := g.m.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("move pid %d into %s: %w", pid, g.dir, err)
	}
	return nil
}

func (g *v2Group) stats() (Stats, bool, error) {
	m, err := g.m.Stat()
	if err != nil {
		return Stats{}, false, fmt.Errorf("read stats of %s: %w", g.dir, err)
	}
	s := Stats{Enforcement: ModeCgroup2}
	if m.Memory != nil {
		// memory.peak needs kernel 5.19; Group.Stats keeps its own peak too.
		s.RSS, s.PeakRSS = int64(m.Memory.Usage), int64(m.Memory.MaxUsage)
	}
	// oom_kill, not oom: oom counts reaching the limit, oom_kill counts kills
	// (containerd/containerd#6323).
	if m.MemoryEvents != nil {
		s.OOMKills = m.MemoryEvents.OomKill
	}
	cpuOK := m.CPU != nil && exists(filepath.Join(g.dir, "cpu.stat"))
	if cpuOK {
		s.CPUSeconds = float64(m.CPU.UsageUsec) / 1e6
	}
	return s, cpuOK, nil
}

func (g *v2Group) procsFiles() []string {
	return []string{filepath.Join(g.dir, "cgroup.procs")}
}

func (g *v2Group) procs() ([]int, error) {
	return readProcsTree(g.dir)
}

func (g *v2Group) remove() error {
	if !exists(g.dir) {
		return nil // removed already (by a new Manager's stale cleanup)
	}
	if err := g.m.Delete(); err != nil {
		return fmt.Errorf("remove %s: %w", g.dir, err)
	}
	return nil
}
