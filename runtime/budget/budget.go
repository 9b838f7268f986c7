package budget

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"time"
)

// Budget is what one service process may use. A zero field means no limit.
type Budget struct {
	// Memory is the most memory the service may hold, in bytes. Under
	// cgroups it is the charged memory (anonymous memory, page cache and
	// kernel memory) and swap is not allowed on top; under rlimits it is
	// the resident set size the watchdog sees.
	Memory int64
	// CPU is the share of CPU time, in cores: 0.5 is half of one core,
	// 2 is two full cores.
	CPU float64
	// Pids is the most tasks the service may have at once. Threads count:
	// a Go service needs about 8 for its runtime alone.
	Pids int64
}

// Limits below which a service cannot run, or which the kernel cannot express.
const (
	minMemory = 4 << 20 // no process starts in less
	maxMemory = 1 << 48 // 256 TiB; keeps the rlimit backstop from overflowing
	minCPU    = 0.01    // 1 ms per 100 ms period, the cgroup v1 minimum quota
	maxCPU    = 1024
	minPids   = 8       // a Go runtime alone starts several threads
	maxPids   = 1 << 22 // the kernel's PID_MAX_LIMIT
)

// Validate reports every field that cannot be enforced, each error naming
// the field (memory, cpu, pids) and the fix.
func (b Budget) Validate() error {
	var errs []error
	switch {
	case b.Memory < 0:
		errs = append(errs, fmt.Errorf("memory: %d is negative: use a size in bytes, or 0 for no limit", b.Memory))
	case b.Memory > 0 && b.Memory < minMemory:
		errs = append(errs, fmt.Errorf("memory: %d bytes is below the 4 MiB a process needs: use a size in bytes (64 MiB is %d), or 0 for no limit", b.Memory, 64<<20))
	case b.Memory > maxMemory:
		errs = append(errs, fmt.Errorf("memory: %d bytes is more than 256 TiB: use a size in bytes, or 0 for no limit", b.Memory))
	}
	switch {
	case math.IsNaN(b.CPU) || math.IsInf(b.CPU, 0) || b.CPU < 0:
		errs = append(errs, fmt.Errorf("cpu: %v is not a number of cores: use e.g. 0.5 for half a core, or 0 for no limit", b.CPU))
	case b.CPU > 0 && b.CPU < minCPU:
		errs = append(errs, fmt.Errorf("cpu: %v cores is below the %v minimum the kernel can enforce: use at least %v, or 0 for no limit", b.CPU, minCPU, minCPU))
	case b.CPU > maxCPU:
		errs = append(errs, fmt.Errorf("cpu: %v cores is more than %d: use the number of cores, e.g. 0.5 or 2", b.CPU, maxCPU))
	}
	switch {
	case b.Pids < 0:
		errs = append(errs, fmt.Errorf("pids: %d is negative: use a count of processes and threads, or 0 for no limit", b.Pids))
	case b.Pids > 0 && b.Pids < minPids:
		errs = append(errs, fmt.Errorf("pids: %d is too low: threads count too and a Go service needs about %d for its runtime: use at least 16, or 0 for no limit", b.Pids, minPids))
	case b.Pids > maxPids:
		errs = append(errs, fmt.Errorf("pids: %d is more than the kernel's %d: use a count of processes and threads, or 0 for no limit", b.Pids, maxPids))
	}
	return errors.Join(errs...)
}

// String is the budget in the words the logs and status use.
func (b Budget) String() string {
	var parts []string
	if b.Memory > 0 {
		parts = append(parts, fmt.Sprintf("memory=%dMiB", b.Memory>>20))
	}
	if b.CPU > 0 {
		parts = append(parts, fmt.Sprintf("cpu=%g", b.CPU))
	}
	if b.Pids > 0 {
		parts = append(parts, fmt.Sprintf("pids=%d", b.Pids))
	}
	if len(parts) == 0 {
		return "unlimited"
	}
	return strings.Join(parts, " ")
}

// Mode is how budgets are enforced.
type Mode string

// The enforcement modes. ModeAuto in a Config asks New to detect the best one.
const (
	ModeAuto    Mode = "auto"
	ModeCgroup2 Mode = "cgroup2" // unified hierarchy: memory.max, cpu.max, pids.max
	ModeCgroup1 Mode = "cgroup1" // legacy or hybrid host: v1 memory, cpu, pids controllers
	ModeRlimit  Mode = "rlimit"  // no usable memory cgroup: RLIMIT_DATA backstop and an RSS watchdog
	ModeNone    Mode = "none"    // not Linux: nothing can be enforced
)

// Stats is a service's resource use.
type Stats struct {
	// RSS is the memory the service holds now, in bytes: the cgroup's
	// charged memory under cgroups, VmRSS under rlimits.
	RSS int64
	// PeakRSS is the most RSS has been since Apply, in bytes.
	PeakRSS int64
	// CPUSeconds is the CPU time the service used since it started (or,
	// under cgroups, since Apply).
	CPUSeconds float64
	// OOMKills counts processes killed for exceeding the memory budget.
	OOMKills uint64
	// Enforcement is the mode that enforced the budget.
	Enforcement Mode
}

// Config configures a Manager. The zero value is usable.
type Config struct {
	// Mode forces an enforcement mode; the default, ModeAuto, detects it
	// and falls back to ModeRlimit, loudly, when cgroups cannot be used.
	Mode Mode
	// Root is where the cgroup filesystems are mounted; default /sys/fs/cgroup.
	Root string
	// Parent is the sub-group, below the daemon's own cgroup, that holds
	// one group per service; default "edged-services".
	Parent string
	// Logger receives enforcement decisions and kills; default discards.
	Logger *slog.Logger
	// WatchdogInterval is how often the rlimit watchdog reads a service's
	// RSS; default 250ms.
	WatchdogInterval time.Duration
}

// Defaults for Config.
const (
	DefaultRoot             = "/sys/fs/cgroup"
	DefaultParent           = "edged-services"
	DefaultWatchdogInterval = 250 * time.Millisecond
)

// daemonLeaf is the group, inside Parent, that the daemon moves itself into
// on cgroup v2 when its own cgroup must stay free of processes.
const daemonLeaf = "daemon"

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeAuto
	}
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	if c.Parent == "" {
		c.Parent = DefaultParent
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.WatchdogInterval == 0 {
		c.WatchdogInterval = DefaultWatchdogInterval
	}
	return c
}

// Validate reports a field that cannot work, naming the fix. Zero fields
// take their defaults and are valid.
func (c Config) Validate() error {
	switch c.Mode {
	case "", ModeAuto, ModeCgroup2, ModeCgroup1, ModeRlimit:
	default:
		return fmt.Errorf("budget: mode %q is unknown: use auto, cgroup2, cgroup1 or rlimit", c.Mode)
	}
	if c.Root != "" && !filepath.IsAbs(c.Root) {
		return fmt.Errorf("budget: root %q must be an absolute path, e.g. %s", c.Root, DefaultRoot)
	}
	if c.Parent != "" {
		if err := validName(c.Parent); err != nil {
			return fmt.Errorf("budget: parent: %w", err)
		}
	}
	if c.WatchdogInterval < 0 || (c.WatchdogInterval > 0 && c.WatchdogInterval < 10*time.Millisecond) {
		return fmt.Errorf("budget: watchdog interval %v must be at least 10ms (default %v)", c.WatchdogInterval, DefaultWatchdogInterval)
	}
	return nil
}

// validName accepts one path element that is safe as a cgroup directory.
func validName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("name %q must be 1 to 64 characters", name)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("name %q is not a directory name", name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("name %q may use only letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// validService accepts a service name for Apply.
func validService(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	if name == daemonLeaf {
		return fmt.Errorf("name %q is reserved for the daemon's own group on cgroup v2", name)
	}
	return nil
}
