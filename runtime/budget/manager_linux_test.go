package budget

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cgroups "github.com/containerd/cgroups/v3"
)

func TestNewRemovesStaleGroups(t *testing.T) {
	first := cgroupManager(t)
	c := startChild(t, "idle")
	g, err := first.Apply("stale", c.cmd.Process.Pid, Budget{Memory: testBudget, Pids: 64})
	if err != nil {
		t.Fatal(err)
	}
	dirs := groupDirs(g)
	// An empty group too, as a crash between mkdir and the move leaves.
	empty := filepath.Join(filepath.Dir(dirs[0]), "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	// The first daemon "dies" without closing anything; the next one starts.
	cfg := first.cfg
	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if !c.wait(5 * time.Second) {
		t.Fatal("the service left by the previous run is still running")
	}
	if !c.killedBySignal() {
		t.Errorf("stale service exited with %v, want SIGKILL", c.err)
	}
	for _, d := range append(dirs, empty) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("stale group %s still there (stat: %v)", d, err)
		}
	}
	if !strings.Contains(logs.String(), "removed a budget group left by a previous run") {
		t.Errorf("no warning about the stale groups in the log:\n%s", logs.String())
	}
}

func TestApplyFailureLeavesNoGroup(t *testing.T) {
	m := cgroupManager(t)
	c := startChild(t, "idle")
	c.cmd.Process.Kill()
	c.wait(5 * time.Second) // reaped: the pid names no process now
	_, err := m.Apply("gone", c.cmd.Process.Pid, Budget{Memory: testBudget})
	if err == nil {
		t.Fatal("Apply to an exited process succeeded")
	}
	t.Logf("Apply to an exited process: %v", err)
	var parents []string
	for _, p := range m.v1Parents {
		parents = append(parents, p)
	}
	if m.v2Parent != "" {
		parents = append(parents, m.v2Parent)
	}
	for _, p := range parents {
		if _, err := os.Stat(filepath.Join(p, "gone")); !os.IsNotExist(err) {
			t.Errorf("failed Apply left %s/gone behind (stat: %v)", p, err)
		}
	}
	// The name is not taken by the failure.
	c2 := startChild(t, "idle")
	if _, err := m.Apply("gone", c2.cmd.Process.Pid, Budget{Memory: testBudget}); err != nil {
		t.Fatalf("Apply after a failed Apply: %v", err)
	}
}

func TestApplyRejects(t *testing.T) {
	m := rlimitManager(t)
	c := startChild(t, "idle")
	pid := c.cmd.Process.Pid
	if _, err := m.Apply("svc", pid, Budget{Memory: testBudget}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		service string
		pid     int
		b       Budget
		want    string
		is      error
	}{
		{name: "bad name", service: "a/b", pid: pid, want: `apply "a/b": name "a/b" may use only`},
		{name: "reserved name", service: "daemon", pid: pid, want: "reserved for the daemon"},
		{name: "bad budget", service: "x", pid: pid, b: Budget{Memory: -1}, want: `apply "x": memory: -1 is negative`},
		{name: "no pid", service: "x", pid: 0, want: "pid 0 is not a process"},
		{name: "duplicate", service: "svc", pid: pid, is: ErrExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Apply(tc.service, tc.pid, tc.b)
			switch {
			case err == nil:
				t.Fatal("Apply succeeded")
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("Apply = %v, want %v", err, tc.is)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Apply = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if _, err := m.Apply("late", pid, Budget{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close = %v, want ErrClosed", err)
	}
}

func TestAutoFallsBackLoudly(t *testing.T) {
	sys := system{
		root:   "/nonexistent",
		mode:   func() cgroups.CGMode { return cgroups.Unavailable },
		fsType: statfsType, writable: writable,
	}
	var logs bytes.Buffer
	cfg := Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}.withDefaults()
	m, err := newManager(cfg, sys)
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode() != ModeRlimit || !strings.Contains(m.Reason(), "no cgroup filesystem mounted at /nonexistent") {
		t.Errorf("Mode() = %s, Reason() = %q; want rlimit and why", m.Mode(), m.Reason())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "cpu and pids budgets are not enforced") {
		t.Errorf("fallback not logged as a warning:\n%s", logs.String())
	}

	cfg.Mode = ModeCgroup2
	if _, err := newManager(cfg, sys); err == nil || !strings.Contains(err.Error(), "mode cgroup2 requested, but this host offers rlimit: no cgroup filesystem") {
		t.Errorf("explicit cgroup2 on a host without cgroups: err = %v, want it refused with the reason", err)
	}
}

// TestPrepareJoinAttach: a group made before its process, which joins by
// itself through Join's procs files, then is attached, read and closed.
func TestPrepareJoinAttach(t *testing.T) {
	m := cgroupManager(t)
	g, err := m.Prepare("joiner", Budget{Memory: testBudget, Pids: 64})
	if err != nil {
		t.Fatal(err)
	}
	j := g.Join()
	if len(j.Procs) == 0 || j.DataLimit != 0 {
		t.Fatalf("join %+v: want procs files and no rlimit under cgroups", j)
	}
	// The shell joins every hierarchy, then execs what reads its cgroups.
	script := `for f in "$@"; do echo $$ > "$f" || exit 1; done; exec cat /proc/self/cgroup`
	out, err := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, j.Procs...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/joiner") {
		t.Fatalf("joining: %v, cgroups %q: want it in the joiner group", err, out)
	}
	c := startChild(t, "idle")
	if err := g.Attach(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := g.Attach(c.cmd.Process.Pid); err == nil {
		t.Error("a second Attach succeeded; a group takes one process")
	}
	if g.Pid() != c.cmd.Process.Pid {
		t.Errorf("pid %d, want %d", g.Pid(), c.cmd.Process.Pid)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if !c.wait(5 * time.Second) {
		t.Fatal("the attached child survived Close")
	}
}

// TestPrepareUnderRlimits: the process sets the RLIMIT_DATA backstop itself;
// Attach starts the watchdog.
func TestPrepareUnderRlimits(t *testing.T) {
	m, err := New(Config{Mode: ModeRlimit, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g, err := m.Prepare("rl", Budget{Memory: testBudget, CPU: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if j := g.Join(); len(j.Procs) != 0 || j.DataLimit != dataBackstop(testBudget) {
		t.Errorf("join %+v, want RLIMIT_DATA %d and no procs files", j, dataBackstop(testBudget))
	}
	if u := g.Unenforced(); len(u) != 1 || u[0] != "cpu" {
		t.Errorf("unenforced %v, want [cpu]", u)
	}
	if s := g.Stats(); s.RSS != 0 {
		t.Errorf("stats before Attach %+v", s)
	}
	c := startChild(t, "idle")
	if err := g.Attach(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return g.Stats().RSS > 0 })
}
