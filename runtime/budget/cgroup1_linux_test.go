package budget

import (
	"path/filepath"
	"testing"
)

func TestV1GroupFiles(t *testing.T) {
	m := cgroupManager(t)
	if m.Mode() != ModeCgroup1 {
		t.Skipf("host is %s, not cgroup v1", m.Mode())
	}
	c := startChild(t, "idle")
	g, err := m.Apply("files", c.cmd.Process.Pid, Budget{Memory: testBudget, CPU: 0.25, Pids: 16})
	if err != nil {
		t.Fatal(err)
	}
	dirs := g.cg.(*v1Group).dirs
	want := map[string]string{
		"memory/memory.limit_in_bytes": "67108864",
		"cpu/cpu.cfs_period_us":        "100000",
		"cpu/cpu.cfs_quota_us":         "25000",
		"pids/pids.max":                "16",
	}
	if exists(filepath.Join(dirs["memory"], "memory.memsw.limit_in_bytes")) {
		want["memory/memory.memsw.limit_in_bytes"] = "67108864" // no swap on top
	} else {
		want["memory/memory.swappiness"] = "0"
	}
	for f, w := range want {
		ctrl, name := filepath.Split(f)
		if got := readFile(t, filepath.Join(dirs[filepath.Clean(ctrl)], name)); got != w {
			t.Errorf("%s = %q, want %q", f, got, w)
		}
	}
}

func TestV1OOMKillsFakeTree(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  uint64
	}{
		{name: "kernel 4.13+ counts kills", files: map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "memory.failcnt": "40"}, want: 2},
		{name: "limit hit, nothing killed", files: map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", "memory.failcnt": "40"}, want: 0},
		{name: "old kernel: failcnt stands in", files: map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n", "memory.failcnt": "3"}, want: 1},
		{name: "old kernel, never hit", files: map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n", "memory.failcnt": "0"}, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			if got := v1OOMKills(dir); got != tc.want {
				t.Errorf("v1OOMKills = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCPUQuota(t *testing.T) {
	for cores, want := range map[float64]int64{0.01: 1000, 0.2: 20000, 0.333: 33300, 1: 100000, 2.5: 250000} {
		if got := cpuQuota(cores); got != want {
			t.Errorf("cpuQuota(%v) = %d, want %d", cores, got, want)
		}
	}
}
