//go:build !linux

package budget

import (
	"fmt"
	"runtime"
)

// Detect reports ModeNone: budgets need Linux.
func Detect(root string) (Mode, string) {
	return ModeNone, fmt.Sprintf("%v (running on %s)", ErrUnsupported, runtime.GOOS)
}

// Manager puts service processes into budgets; on this system it cannot.
type Manager struct{}

// New fails with ErrUnsupported: budgets need Linux.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("budget: %w (running on %s)", ErrUnsupported, runtime.GOOS)
}

// Mode is ModeNone.
func (m *Manager) Mode() Mode { return ModeNone }

// Reason says budgets need Linux.
func (m *Manager) Reason() string {
	_, r := Detect("")
	return r
}

// Apply fails with ErrUnsupported.
func (m *Manager) Apply(name string, pid int, b Budget) (*Group, error) {
	return nil, fmt.Errorf("budget: apply %q: %w", name, ErrUnsupported)
}

// Prepare fails with ErrUnsupported.
func (m *Manager) Prepare(name string, b Budget) (*Group, error) {
	return nil, fmt.Errorf("budget: apply %q: %w", name, ErrUnsupported)
}

// Close does nothing.
func (m *Manager) Close() error { return nil }

// Join is what a process does to enter its group by itself.
type Join struct {
	Procs     []string
	DataLimit uint64
}

// Join is empty.
func (g *Group) Join() Join { return Join{} }

// Attach fails with ErrUnsupported.
func (g *Group) Attach(pid int) error { return ErrUnsupported }

// Group is the budget of one service process; on this system there is none.
type Group struct{}

// Name is empty.
func (g *Group) Name() string { return "" }

// Pid is 0.
func (g *Group) Pid() int { return 0 }

// Budget is the zero budget.
func (g *Group) Budget() Budget { return Budget{} }

// Unenforced is nil.
func (g *Group) Unenforced() []string { return nil }

// Stats is empty.
func (g *Group) Stats() Stats { return Stats{Enforcement: ModeNone} }

// OOMKilled is false.
func (g *Group) OOMKilled() bool { return false }

// Close does nothing.
func (g *Group) Close() error { return nil }
