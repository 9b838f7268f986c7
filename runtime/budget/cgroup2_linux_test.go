package budget

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cgroups "github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// This host is cgroup v1/hybrid: its v2 hierarchy has no controllers, so
// memory.max and friends cannot be exercised on a real kernel here. The
// file-writing logic is tested against fake directory trees; the kernel
// operations that need no controller (moving a process, cgroup.kill,
// removal) against a real cgroup2 mount.

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestConfigureV2FakeTree(t *testing.T) {
	for _, tc := range []struct {
		name       string
		files      map[string]string // what the kernel would create in a new group
		b          Budget
		want       map[string]string
		unenforced []string
		note       string
	}{
		{
			name: "everything delegated",
			files: map[string]string{"cgroup.controllers": "cpu memory pids", "memory.max": "max", "memory.swap.max": "max",
				"memory.oom.group": "0", "cpu.max": "max 100000", "pids.max": "max"},
			b:    Budget{Memory: 64 << 20, CPU: 0.2, Pids: 16},
			want: map[string]string{"memory.max": "67108864", "memory.swap.max": "0", "memory.oom.group": "1", "cpu.max": "20000 100000", "pids.max": "16"},
		},
		{
			name:  "two cores, memory only",
			files: map[string]string{"cgroup.controllers": "cpu memory pids", "memory.max": "max", "memory.swap.max": "max", "cpu.max": "max 100000", "pids.max": "max"},
			b:     Budget{CPU: 2},
			want:  map[string]string{"memory.max": "max", "cpu.max": "200000 100000", "pids.max": "max"},
		},
		{
			name:       "memory only delegated, no swap accounting",
			files:      map[string]string{"cgroup.controllers": "memory", "memory.max": "max"},
			b:          Budget{Memory: 32 << 20, CPU: 0.5, Pids: 16},
			want:       map[string]string{"memory.max": "33554432"},
			unenforced: []string{"cpu", "pids"},
			note:       "no memory.swap.max",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "system.slice/edged.service", DefaultParent, "svc")
			writeFiles(t, dir, tc.files)
			g, unenforced, notes, err := configureV2(root, dir, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			for f, want := range tc.want {
				if got := readFile(t, filepath.Join(dir, f)); got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
			if !slices.Equal(unenforced, tc.unenforced) {
				t.Errorf("unenforced = %v, want %v", unenforced, tc.unenforced)
			}
			if tc.note != "" && !strings.Contains(strings.Join(notes, "\n"), tc.note) {
				t.Errorf("notes = %q, want one containing %q", notes, tc.note)
			}
			if g.dir != dir {
				t.Errorf("group dir = %s, want %s", g.dir, dir)
			}
		})
	}
}

func TestV2StatsFakeTree(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "edged.service", DefaultParent, "svc")
	writeFiles(t, dir, map[string]string{
		"cgroup.controllers": "cpu memory pids",
		"memory.current":     "1048576",
		"memory.peak":        "67108864",
		"memory.max":         "67108864",
		"memory.events":      "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n",
		"memory.stat":        "anon 1048576\nfile 0\n",
		"cpu.stat":           "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
		"cgroup.procs":       "",
	})
	g, _, _, err := configureV2(root, dir, Budget{})
	if err != nil {
		t.Fatal(err)
	}
	s, cpuOK, err := g.stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{RSS: 1 << 20, PeakRSS: 64 << 20, CPUSeconds: 1.5, OOMKills: 1, Enforcement: ModeCgroup2}
	if s != want || !cpuOK {
		t.Errorf("stats = %+v (cpuOK %v), want %+v: oom_kill counts kills, oom only reaching the limit", s, cpuOK, want)
	}
}

func TestEnableControllersFakeTree(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "cgroup.subtree_control")
	writeFiles(t, dir, map[string]string{"cgroup.subtree_control": "cpu"})
	if err := enableControllers(dir, v2Controllers); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, f); got != "+memory +pids" {
		t.Errorf("wrote %q, want only the missing controllers %q", got, "+memory +pids")
	}
	writeFiles(t, dir, map[string]string{"cgroup.subtree_control": "cpu memory pids"})
	if err := enableControllers(dir, v2Controllers); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, f); got != "cpu memory pids" {
		t.Errorf("rewrote an already complete subtree_control: %q", got)
	}
}

// TestSetupV2NoInternalProcesses drives setupV2 through the EBUSY the kernel
// returns when the daemon's own cgroup holds processes, with a fake tree:
// it must move the daemon into a leaf when it is alone there, and refuse,
// naming the others, when it is not.
func TestSetupV2NoInternalProcesses(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name    string
		procs   string
		wantErr string
	}{
		{name: "daemon alone moves into a leaf", procs: self + "\n"},
		{name: "other processes are refused", procs: "1\n" + self + "\n4242\n", wantErr: "also holds processes 1 4242"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "system.slice/edged.service")
			writeFiles(t, base, map[string]string{"cgroup.procs": tc.procs, "cgroup.subtree_control": ""})
			h := host{mode: ModeCgroup2, v2Dir: base, v2Ctrl: v2Controllers}
			// The fake kernel: the base is busy while it holds processes, that
			// is always when others share it, and until the daemon's pid is
			// written into the leaf when it is alone.
			leafProcs := filepath.Join(base, DefaultParent, daemonLeaf, "cgroup.procs")
			parent, err := setupV2With(h, DefaultParent, testLogger(t), func(dir string, want []string) error {
				if dir == base && (tc.wantErr != "" || !exists(leafProcs)) {
					return unix.EBUSY
				}
				return enableControllers(dir, want)
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "Delegate=yes") {
					t.Fatalf("setupV2 = %v, want an error naming %q and the fix", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(parent, daemonLeaf, "cgroup.procs")); got != self {
				t.Errorf("daemon leaf cgroup.procs = %q, want our pid %s", got, self)
			}
			for _, d := range []string{base, parent} {
				if got := readFile(t, filepath.Join(d, "cgroup.subtree_control")); got != "+memory +cpu +pids" {
					t.Errorf("%s/cgroup.subtree_control = %q, want the controllers enabled", d, got)
				}
			}
		})
	}
}

// TestCgroup2RealMount mounts a cgroup2 hierarchy and runs what works on it
// without controllers: detection (which must say why v2 is unusable here, or
// find it usable on a pure v2 host), and a group's move, kill and removal.
func TestCgroup2RealMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting cgroup2 needs root")
	}
	mnt := t.TempDir()
	if err := unix.Mount("none", mnt, "cgroup2", 0, ""); err != nil {
		t.Skipf("cannot mount cgroup2 here: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	mode, reason := Detect(mnt)
	t.Logf("Detect(%s) = %s: %s", mnt, mode, reason)
	ctrl := readFields(filepath.Join(mnt, "cgroup.controllers"))
	switch {
	case !has(ctrl, "memory") && (mode != ModeRlimit || !strings.Contains(reason, "memory controller not available in the cgroup v2 hierarchy")):
		t.Errorf("v2 hierarchy without memory (%q): Detect = %s, %q; want rlimit and why", ctrl, mode, reason)
	case has(ctrl, "memory") && mode == ModeCgroup1:
		t.Errorf("Detect = cgroup1 on a cgroup2 mount")
	}

	// A group in the real hierarchy: no limits (no controllers), but the
	// process moves, is counted, is killed with cgroup.kill and the group goes.
	_, own, err := parseOwnV2()
	if err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(mnt, own, "edged-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(parent) })
	g, _, _, err := newV2Group(mnt, parent, "svc", Budget{})
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "idle")
	if err := g.add(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join("/proc", strconv.Itoa(c.cmd.Process.Pid), "cgroup")); !strings.Contains(got, "0::"+strings.TrimPrefix(filepath.Join(parent, "svc"), mnt)) {
		t.Errorf("child's /proc/pid/cgroup = %q, want it in the new v2 group", got)
	}
	// A process joins by itself (what the supervisor's exec shim does
	// before the service runs): what it runs next starts in the group.
	files := g.procsFiles()
	joined, err := exec.Command("/bin/sh", "-c", `echo $$ > "$1" && exec cat /proc/self/cgroup`, "sh", files[0]).CombinedOutput()
	if want := "0::" + strings.TrimPrefix(filepath.Join(parent, "svc"), mnt); err != nil || len(files) != 1 || !strings.Contains(string(joined), want) {
		t.Errorf("a process joining through %v: %v, it is in %q; want %s", files, err, joined, want)
	}
	if s, _, err := g.stats(); err != nil || s.OOMKills != 0 {
		t.Errorf("stats without a memory controller = %+v, %v; want zero and no error", s, err)
	}
	grp := &Group{name: "svc", pid: c.cmd.Process.Pid, mode: ModeCgroup2, log: testLogger(t), cg: g}
	if err := grp.Close(); err != nil {
		t.Fatal(err)
	}
	if !c.wait(5*time.Second) || !c.killedBySignal() {
		t.Fatalf("child not killed by Close (exit %v)", c.err)
	}
	if exists(g.dir) {
		t.Errorf("%s still there after Close", g.dir)
	}
}

// parseOwnV2 reads this process's cgroup v2 path.
func parseOwnV2() (map[string]string, string, error) {
	return cgroups.ParseCgroupFileUnified("/proc/self/cgroup")
}
