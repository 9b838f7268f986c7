package budget

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cfsPeriod is the CPU quota period, in microseconds, for both cgroup
// versions (the kernel default).
const cfsPeriod = 100_000

// cpuQuota is the quota per cfsPeriod for a budget of cores.
func cpuQuota(cores float64) int64 {
	return max(int64(math.Round(cores*cfsPeriod)), 1000)
}

// v1Group is one service's group in the v1 memory, cpu, cpuacct and pids
// hierarchies, driven through containerd/cgroups' cgroup1 package.
type v1Group struct {
	cg   cgroup1.Cgroup
	dirs map[string]string // controller -> the group's directory
}

// newV1Group creates the group in every controller detection found, with
// the budget written before any process joins. unenforced lists budget
// fields no controller enforces; notes says what is weaker than asked.
func newV1Group(root string, parents map[string]string, name string, b Budget) (g *v1Group, unenforced, notes []string, err error) {
	g = &v1Group{dirs: map[string]string{}}
	rel := map[string]string{}
	var subs []cgroup1.Subsystem
	for _, c := range v1Controllers {
		parent, ok := parents[c]
		if !ok {
			continue
		}
		dir := filepath.Join(parent, name)
		r, err := filepath.Rel(filepath.Join(root, c), dir)
		if err != nil {
			return nil, nil, nil, err
		}
		g.dirs[c], rel[c] = dir, "/"+r
		switch c {
		case "memory":
			subs = append(subs, cgroup1.NewMemory(root))
		case "cpu":
			subs = append(subs, cgroup1.NewCpu(root))
		case "cpuacct":
			subs = append(subs, cgroup1.NewCpuacct(root))
		case "pids":
			subs = append(subs, cgroup1.NewPids(root))
		}
	}
	res := &specs.LinuxResources{}
	if b.Memory > 0 {
		limit := b.Memory
		res.Memory = &specs.LinuxMemory{Limit: &limit}
		if exists(filepath.Join(parents["memory"], "memory.memsw.limit_in_bytes")) {
			// memory+swap at the same limit: no swap, so a hog is OOM-killed
			// instead of pushing the board into swap.
			swap := limit
			res.Memory.Swap = &swap
		} else {
			zero := uint64(0)
			res.Memory.Swappiness = &zero
			notes = append(notes, "no swap accounting (memory.memsw.*): swappiness 0 keeps the service from swapping, mostly")
		}
	}
	if b.CPU > 0 {
		if _, ok := parents["cpu"]; ok {
			quota, period := cpuQuota(b.CPU), uint64(cfsPeriod)
			res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
		} else {
			unenforced = append(unenforced, "cpu")
		}
	}
	if b.Pids > 0 {
		if _, ok := parents["pids"]; ok {
			limit := b.Pids
			res.Pids = &specs.LinuxPids{Limit: &limit}
		} else {
			unenforced = append(unenforced, "pids")
		}
	}
	for _, dir := range g.dirs {
		if exists(dir) {
			return nil, nil, nil, fmt.Errorf("group %s already exists: %w", dir, ErrExists)
		}
	}
	path := func(n cgroup1.Name) (string, error) {
		if r, ok := rel[string(n)]; ok {
			return r, nil
		}
		return "", cgroup1.ErrControllerNotActive
	}
	hierarchy := func() ([]cgroup1.Subsystem, error) { return subs, nil }
	cg, err := cgroup1.New(path, res, cgroup1.WithHierarchy(hierarchy))
	if err != nil {
		g.rmdirs()
		return nil, nil, nil, fmt.Errorf("create cgroup v1 group %s: %w", g.dirs["memory"], err)
	}
	g.cg = cg
	return g, unenforced, notes, nil
}

func (g *v1Group) add(pid int) error {
	if err := g.cg.Add(cgroup1.Process{Pid: pid}); err != nil {
		return fmt.Errorf("move pid %d into %s: %w", pid, g.dirs["memory"], err)
	}
	return nil
}

func (g *v1Group) stats() (Stats, bool, error) {
	m, err := g.cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return Stats{}, false, fmt.Errorf("read stats of %s: %w", g.dirs["memory"], err)
	}
	s := Stats{Enforcement: ModeCgroup1}
	if m.Memory != nil && m.Memory.Usage != nil {
		s.RSS, s.PeakRSS = int64(m.Memory.Usage.Usage), int64(m.Memory.Usage.Max)
	}
	_, cpuOK := g.dirs["cpuacct"]
	if cpuOK && m.CPU != nil && m.CPU.Usage != nil {
		s.CPUSeconds = float64(m.CPU.Usage.Total) / 1e9
	}
	s.OOMKills = v1OOMKills(g.dirs["memory"])
	return s, cpuOK, nil
}

// v1OOMKills reads oom_kill from memory.oom_control (kernels since 4.13).
// Older kernels have no counter: a failed charge (failcnt) then counts as
// one kill, which may also count a charge that reclaim later satisfied.
func v1OOMKills(dir string) uint64 {
	kv := readKV(filepath.Join(dir, "memory.oom_control"))
	if n, ok := kv["oom_kill"]; ok {
		return n
	}
	for _, f := range []string{"memory.memsw.failcnt", "memory.failcnt"} {
		if n := readKV(filepath.Join(dir, f)); n[""] > 0 {
			return 1
		}
	}
	return 0
}

func (g *v1Group) procsFiles() []string {
	var out []string
	for _, c := range v1Controllers {
		if dir, ok := g.dirs[c]; ok && !slices.Contains(out, filepath.Join(dir, "cgroup.procs")) {
			out = append(out, filepath.Join(dir, "cgroup.procs"))
		}
	}
	return out
}

func (g *v1Group) procs() ([]int, error) {
	return readProcsTree(g.dirs["memory"])
}

func (g *v1Group) remove() error {
	if err := g.cg.Delete(); err != nil {
		return fmt.Errorf("remove %s: %w", g.dirs["memory"], err)
	}
	return nil
}

// rmdirs removes what a failed create left behind.
func (g *v1Group) rmdirs() {
	for _, d := range g.dirs {
		os.Remove(d)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readKV reads a cgroup file of "key value" lines; a file holding one bare
// number is returned under the key "".
func readKV(path string) map[string]uint64 {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		var n uint64
		switch len(fields) {
		case 1:
			if _, err := fmt.Sscan(fields[0], &n); err == nil {
				out[""] = n
			}
		case 2:
			if _, err := fmt.Sscan(fields[1], &n); err == nil {
				out[fields[0]] = n
			}
		}
	}
	return out
}
