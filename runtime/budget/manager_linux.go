package budget

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Manager puts service processes into budgets in one enforcement mode,
// chosen at New. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	mode   Mode
	reason string
	notes  []string
	log    *slog.Logger

	v1Parents map[string]string // cgroup1: controller -> <own>/<Parent>
	v2Parent  string            // cgroup2: <own>/<Parent>

	mu      sync.Mutex
	groups  map[string]*Group
	pending map[string]bool // names whose group Apply is building
	closed  bool
}

// New detects (or takes from cfg) the enforcement mode, prepares the parent
// group below the daemon's own cgroup, and removes the groups a previous run
// left behind (killing their processes: a daemon killed with SIGKILL leaves
// its services running in them). In ModeAuto a host without usable cgroups,
// or a cgroup setup that fails, falls back to ModeRlimit with a warning that
// says why; an explicitly requested cgroup mode fails instead.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return newManager(cfg, realSystem(cfg.Root))
}

func newManager(cfg Config, sys system) (*Manager, error) {
	m := &Manager{cfg: cfg, log: cfg.Logger, groups: map[string]*Group{}, pending: map[string]bool{}}
	if cfg.Mode == ModeRlimit {
		m.mode, m.reason = ModeRlimit, "rlimit mode set in the config"
	} else {
		h := detect(sys)
		if cfg.Mode != ModeAuto && h.mode != cfg.Mode {
			return nil, fmt.Errorf("budget: mode %s requested, but this host offers %s: %s", cfg.Mode, h.mode, h.reason)
		}
		m.mode, m.reason, m.notes = h.mode, h.reason, h.notes
		if err := m.setup(h); err != nil {
			if cfg.Mode != ModeAuto {
				return nil, fmt.Errorf("budget: set up %s: %w", h.mode, err)
			}
			m.mode, m.reason, m.notes = ModeRlimit, err.Error(), nil
		}
	}
	if m.mode == ModeRlimit {
		m.log.Warn("resource budgets without cgroups: memory is enforced by an RSS watchdog and an RLIMIT_DATA backstop; cpu and pids budgets are not enforced",
			"mode", m.mode, "reason", m.reason)
	} else {
		m.log.Info("resource budgets", "mode", m.mode, "reason", m.reason)
	}
	for _, n := range m.notes {
		m.log.Warn("resource budgets weaker than asked", "mode", m.mode, "reason", n)
	}
	return m, nil
}

// setup creates the parent groups and clears out stale ones.
func (m *Manager) setup(h host) error {
	var parents []string
	switch h.mode {
	case ModeCgroup1:
		m.v1Parents = map[string]string{}
		for c, own := range h.v1Dirs {
			p := filepath.Join(own, m.cfg.Parent)
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", p, err)
			}
			m.v1Parents[c] = p
			parents = append(parents, p)
		}
	case ModeCgroup2:
		p, err := setupV2(h, m.cfg.Parent, m.log)
		if err != nil {
			return err
		}
		m.v2Parent = p
		parents = append(parents, p)
	default:
		return nil
	}
	slices.Sort(parents)
	for _, p := range slices.Compact(parents) {
		if err := m.removeStale(p); err != nil {
			return err
		}
	}
	return nil
}

// removeStale removes every service group under parent, which at New can
// only be left from a previous run.
func (m *Manager) removeStale(parent string) error {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return fmt.Errorf("list %s: %w", parent, err)
	}
	for _, e := range entries {
		if !e.IsDir() || (m.mode == ModeCgroup2 && e.Name() == daemonLeaf) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		killed, err := removeTree(dir)
		if err != nil {
			return fmt.Errorf("remove stale group: %w", err)
		}
		m.log.Warn("removed a budget group left by a previous run", "cgroup", dir, "killed_processes", killed)
	}
	return nil
}

// Mode is the enforcement mode in use.
func (m *Manager) Mode() Mode { return m.mode }

// Reason says why Mode was chosen: where the cgroups are, or what is
// missing for them and how to fix it.
func (m *Manager) Reason() string { return m.reason }

// Apply puts pid, a service process that has already started, under budget
// b in a new group named for the service. The limits are written before the
// process joins the group. Budget fields the mode cannot enforce are logged
// as a warning and listed by Group.Unenforced; an error enforcing the rest
// fails Apply and leaves no group behind. Memory the process touched before
// Apply stays charged elsewhere: Prepare and Attach put a process under its
// budget from its first instruction.
func (m *Manager) Apply(name string, pid int, b Budget) (*Group, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("budget: apply %q: pid %d is not a process", name, pid)
	}
	g, err := m.Prepare(name, b)
	if err != nil {
		return nil, err
	}
	if err := g.Attach(pid); err != nil {
		return nil, errors.Join(err, g.Close())
	}
	return g, nil
}

// Prepare creates the group of service name with budget b written and no
// process in it yet. The service's process joins it itself before it runs
// any code of its own (it writes its own pid to Join().Procs and sets
// Join().DataLimit, as the supervisor's exec shim does), and the caller then
// hands its pid to Attach. Close removes the group, attached or not.
func (m *Manager) Prepare(name string, b Budget) (*Group, error) {
	if err := validService(name); err != nil {
		return nil, fmt.Errorf("budget: apply %q: %w", name, err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("budget: apply %q: %w", name, err)
	}
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, fmt.Errorf("budget: apply %q: %w", name, ErrClosed)
	case m.groups[name] != nil || m.pending[name]:
		m.mu.Unlock()
		return nil, fmt.Errorf("budget: apply %q: %w", name, ErrExists)
	}
	m.pending[name] = true
	m.mu.Unlock()

	g := &Group{name: name, budget: b, mode: m.mode, log: m.log, forget: m.forget, interval: m.cfg.WatchdogInterval}
	err := m.build(g)
	m.mu.Lock()
	delete(m.pending, name)
	closed := m.closed
	if err == nil && !closed {
		m.groups[name] = g
	}
	m.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("budget: apply %q (%s, %s): %w", name, b, m.mode, err)
	}
	if closed {
		return nil, errors.Join(fmt.Errorf("budget: apply %q: %w", name, ErrClosed), g.Close())
	}
	if len(g.unenforced) > 0 {
		m.log.Warn("budget not fully enforced", "service", name, "mode", m.mode, "unenforced", g.unenforced, "reason", m.reason)
	}
	return g, nil
}

// build creates the group's cgroup (with the budget written) or, under
// rlimits, works out what cannot be enforced; no process joins yet.
func (m *Manager) build(g *Group) error {
	var (
		be    cgroupBackend
		notes []string
		err   error
	)
	switch m.mode {
	case ModeCgroup1:
		var v1 *v1Group
		v1, g.unenforced, notes, err = newV1Group(m.cfg.Root, m.v1Parents, g.name, g.budget)
		be = v1
	case ModeCgroup2:
		var v2 *v2Group
		v2, g.unenforced, notes, err = newV2Group(m.cfg.Root, m.v2Parent, g.name, g.budget)
		be = v2
	default:
		return m.buildRlimit(g)
	}
	if err != nil {
		return err
	}
	for _, n := range notes {
		m.log.Warn("budget weaker than asked", "service", g.name, "reason", n)
	}
	g.cg = be
	return nil
}

func (m *Manager) buildRlimit(g *Group) error {
	if g.budget.CPU > 0 {
		g.unenforced = append(g.unenforced, "cpu")
	}
	if g.budget.Pids > 0 {
		// RLIMIT_NPROC counts every process of the user, not of the
		// service, and does not bind root: it cannot express this.
		g.unenforced = append(g.unenforced, "pids")
	}
	return nil
}

func (m *Manager) forget(g *Group) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groups[g.name] == g {
		delete(m.groups, g.name)
	}
}

// Close closes every open group (killing what is left in them) and removes
// the parent groups it can. Apply fails after Close. It is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	groups := make([]*Group, 0, len(m.groups))
	for _, g := range m.groups {
		groups = append(groups, g)
	}
	m.mu.Unlock()
	var errs []error
	for _, g := range groups {
		if err := g.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	// The parents go when empty; on cgroup v2 the daemon's own leaf keeps
	// its parent, which is right: the daemon is still running in it.
	for _, p := range m.v1Parents {
		os.Remove(p)
	}
	return errors.Join(errs...)
}
