package budget

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rlimitManager forces the fallback mode, which needs neither root nor cgroups.
func rlimitManager(t *testing.T) *Manager {
	t.Helper()
	m, err := New(testConfig(t, ModeRlimit))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close manager: %v", err)
		}
	})
	if m.Mode() != ModeRlimit {
		t.Fatalf("Mode() = %s, want rlimit", m.Mode())
	}
	return m
}

func TestRlimitHogIsKilledByWatchdog(t *testing.T) {
	m := rlimitManager(t)
	c := startChild(t, "hog")
	pid := c.cmd.Process.Pid
	g, err := m.Apply("hog", pid, Budget{Memory: testBudget})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := procLimit(t, pid, "Max data size"), strconv.FormatUint(dataBackstop(testBudget), 10); got != want {
		t.Errorf("RLIMIT_DATA of the child = %s, want the backstop %s", got, want)
	}
	c.begin(t)
	if !c.wait(20 * time.Second) {
		t.Fatalf("hog still running after 20s; stats %+v", g.Stats())
	}
	if !c.killedBySignal() {
		t.Fatalf("hog exited with %v, want SIGKILL from the watchdog; output:\n%s", c.err, c.out)
	}
	if !g.OOMKilled() {
		t.Fatalf("OOMKilled() = false after the watchdog killed the hog; stats %+v", g.Stats())
	}
	s := g.Stats()
	t.Logf("hog stats: %+v", s)
	if s.Enforcement != ModeRlimit || s.OOMKills != 1 {
		t.Errorf("stats = %+v, want Enforcement rlimit and OOMKills 1", s)
	}
	// The watchdog samples every 250 ms while the hog adds 8 MiB per 50 ms.
	if s.PeakRSS < testBudget || s.PeakRSS > testBudget+160<<20 {
		t.Errorf("PeakRSS = %d MiB, want just over the %d MiB budget", s.PeakRSS>>20, testBudget>>20)
	}
	if s.CPUSeconds <= 0 {
		t.Errorf("CPUSeconds = %v, want the hog's CPU time", s.CPUSeconds)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if !g.OOMKilled() {
		t.Error("OOMKilled() = false after Close, want the record kept")
	}
}

func TestRlimitWellBehavedKeepsRunning(t *testing.T) {
	m := rlimitManager(t)
	c := startChild(t, "idle")
	g, err := m.Apply("idle", c.cmd.Process.Pid, Budget{Memory: testBudget, CPU: 0.5, Pids: 32})
	if err != nil {
		t.Fatal(err)
	}
	if u := g.Unenforced(); !slices.Equal(u, []string{"cpu", "pids"}) {
		t.Errorf("Unenforced() = %v, want [cpu pids]: rlimits cannot express them", u)
	}
	c.begin(t)
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(c.out.String(), "ready") })
	time.Sleep(time.Second)
	if !c.running() {
		t.Fatalf("well-behaved child exited under the rlimit backstop: %v; output:\n%s", c.err, c.out)
	}
	s := g.Stats()
	t.Logf("idle stats: %+v", s)
	if g.OOMKilled() || s.RSS < 16<<20 || s.RSS > testBudget || s.PeakRSS < s.RSS {
		t.Errorf("stats = %+v, OOMKilled %v; want RSS between 16 MiB and the budget, no OOM", s, g.OOMKilled())
	}
	// Closing a live service kills it.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if !c.wait(5 * time.Second) {
		t.Fatal("Close left the child running")
	}
	if g.OOMKilled() {
		t.Error("Close's kill was recorded as an OOM kill")
	}
}

func TestWatchdogDoesNotOutliveItsProcess(t *testing.T) {
	c := startChild(t, "idle")
	w, err := startWatchdog(c.cmd.Process.Pid, 0, 10*time.Millisecond, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	c.stdin.Close() // the idle child exits on EOF (after "g" it would wait; here it never began)
	if !c.wait(5 * time.Second) {
		t.Fatal("child did not exit")
	}
	select {
	case <-w.done:
	case <-time.After(2 * time.Second):
		t.Fatal("watchdog goroutine still running after its process exited")
	}
	w.close()
	if w.killed.Load() {
		t.Error("watchdog with no limit killed its process")
	}
}

func TestProcReaders(t *testing.T) {
	rss, hwm, ok := procStatus(os.Getpid())
	if !ok || rss <= 0 || hwm < rss {
		t.Errorf("procStatus(self) = %d, %d, %v; want RSS > 0 and HWM ≥ RSS", rss, hwm, ok)
	}
	if cpu, ok := procCPU(os.Getpid()); !ok || cpu < 0 {
		t.Errorf("procCPU(self) = %v, %v", cpu, ok)
	}
	if _, _, ok := procStatus(1 << 30); ok {
		t.Error("procStatus of a pid that cannot exist reported ok")
	}
}
