package budget

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testBudget = 64 << 20

// Tests in this file run in the host's cgroup mode (v1 here, v2 on a
// delegated unified host) with real processes.

func TestCgroupHogIsOOMKilled(t *testing.T) {
	m := cgroupManager(t)
	c := startChild(t, "hog")
	g, err := m.Apply("hog", c.cmd.Process.Pid, Budget{Memory: testBudget})
	if err != nil {
		t.Fatal(err)
	}
	c.begin(t)
	if !c.wait(20 * time.Second) {
		t.Fatalf("hog still running after 20s under a %d MiB budget; stats %+v", testBudget>>20, g.Stats())
	}
	if !c.killedBySignal() {
		t.Fatalf("hog exited with %v, want SIGKILL from the OOM killer; output:\n%s", c.err, c.out)
	}
	if !g.OOMKilled() {
		t.Fatalf("OOMKilled() = false after the hog was killed; stats %+v", g.Stats())
	}
	s := g.Stats()
	t.Logf("hog stats: %+v", s)
	if s.OOMKills < 1 || s.Enforcement != m.Mode() {
		t.Errorf("stats = %+v, want OOMKills ≥ 1 and Enforcement %s", s, m.Mode())
	}
	if s.PeakRSS < testBudget*8/10 || s.PeakRSS > testBudget+1<<20 {
		t.Errorf("PeakRSS = %d MiB, want near the %d MiB budget", s.PeakRSS>>20, testBudget>>20)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if !g.OOMKilled() || g.Stats().PeakRSS != s.PeakRSS {
		t.Errorf("after Close: OOMKilled %v, stats %+v; want the final reading kept", g.OOMKilled(), g.Stats())
	}
}

func TestCgroupWellBehavedKeepsRunning(t *testing.T) {
	m := cgroupManager(t)
	c := startChild(t, "idle")
	g, err := m.Apply("idle", c.cmd.Process.Pid, Budget{Memory: testBudget, CPU: 0.5, Pids: 32})
	if err != nil {
		t.Fatal(err)
	}
	c.begin(t)
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(c.out.String(), "ready") })
	time.Sleep(time.Second)
	if !c.running() {
		t.Fatalf("well-behaved child exited: %v; output:\n%s", c.err, c.out)
	}
	s := g.Stats()
	t.Logf("idle stats: %+v", s)
	if g.OOMKilled() || s.OOMKills != 0 {
		t.Errorf("OOMKilled = %v, stats %+v; want no OOM", g.OOMKilled(), s)
	}
	if s.RSS < 16<<20 || s.RSS > testBudget {
		t.Errorf("RSS = %d MiB, want between the 16 MiB it touched and the budget", s.RSS>>20)
	}
	if u := g.Unenforced(); len(u) != 0 {
		t.Errorf("Unenforced() = %v, want every field enforced under cgroups", u)
	}
}

func TestCgroupCPUQuota(t *testing.T) {
	m := cgroupManager(t)
	c := startChild(t, "spin")
	g, err := m.Apply("spin", c.cmd.Process.Pid, Budget{CPU: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	c.begin(t)
	time.Sleep(200 * time.Millisecond)
	before, start := g.Stats().CPUSeconds, time.Now()
	time.Sleep(time.Second)
	used, wall := g.Stats().CPUSeconds-before, time.Since(start).Seconds()
	t.Logf("spinning child used %.3f CPU s in %.3f s wall under a 0.2 core quota", used, wall)
	// Unthrottled it would use a whole core (≈1.0); the quota allows ≈0.2.
	if used >= 0.5*wall {
		t.Errorf("child used %.3f CPU s in %.3f s: the 0.2 core quota is not applied", used, wall)
	}
	if used <= 0.01 {
		t.Errorf("child used %.3f CPU s: it did not run, or CPU time is not counted", used)
	}
}

func TestCgroupPidsLimit(t *testing.T) {
	m := cgroupManager(t)
	c := startChild(t, "fork")
	const limit = 16
	if _, err := m.Apply("fork", c.cmd.Process.Pid, Budget{Pids: limit}); err != nil {
		t.Fatal(err)
	}
	c.begin(t)
	if !c.wait(10 * time.Second) {
		t.Fatal("forking child did not finish")
	}
	out := c.out.String()
	t.Logf("forking child: %s", strings.TrimSpace(out))
	match := regexp.MustCompile(`started=(\d+) err=(.*)`).FindStringSubmatch(out)
	if match == nil {
		// The Go runtime may itself fail to start a thread at the limit.
		if strings.Contains(out, "failed to create new OS thread") {
			return
		}
		t.Fatalf("unexpected output from the forking child (%v):\n%s", c.err, out)
	}
	n, _ := strconv.Atoi(match[1])
	if n >= 64 || !strings.Contains(match[2], "resource temporarily unavailable") {
		t.Errorf("child started %d of 64 processes (err %s), want fork to fail with EAGAIN under pids.max %d", n, match[2], limit)
	}
}

func TestGroupCloseRemovesCgroup(t *testing.T) {
	m := cgroupManager(t)
	c := startChild(t, "idle")
	g, err := m.Apply("closeme", c.cmd.Process.Pid, Budget{Memory: testBudget, CPU: 1, Pids: 64})
	if err != nil {
		t.Fatal(err)
	}
	dirs := groupDirs(g)
	if len(dirs) == 0 {
		t.Fatal("group has no directories")
	}
	for _, d := range dirs {
		if pids := pidsIn(t, d); len(pids) != 1 || pids[0] != c.cmd.Process.Pid {
			t.Errorf("%s holds %v, want only the child %d", d, pids, c.cmd.Process.Pid)
		}
	}
	// Close while the child still runs: it kills what is left first.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if !c.wait(5 * time.Second) {
		t.Fatal("Close left the child running")
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there after Close (stat: %v)", d, err)
		}
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close = %v, want nil (idempotent)", err)
	}
	// The name is free again, as for a restart.
	c2 := startChild(t, "idle")
	g2, err := m.Apply("closeme", c2.cmd.Process.Pid, Budget{Memory: testBudget})
	if err != nil {
		t.Fatalf("Apply after Close: %v", err)
	}
	if err := g2.Close(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
