package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// testservice is sdk/pluginapi's deliberately misbehaving service, and
// hostile the sandbox tests' service, gated the delivery tests' slow one,
// built once for these tests; self is this test binary, the exec shim of
// the tests' supervisors.
var testservice, hostile, gated, self string

func TestMain(m *testing.M) {
	RunShim()
	dir, err := os.MkdirTemp("", "supervisor-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testservice = filepath.Join(dir, "testservice")
	hostile = filepath.Join(dir, "hostile")
	gated = filepath.Join(dir, "gated")
	for out, pkg := range map[string]string{testservice: "github.com/edged-gateway/edged/sdk/pluginapi/testdata/testservice", hostile: "./testdata/hostile", gated: "./testdata/gated"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	if self, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func spec(name, mode string) Spec {
	return Spec{Name: name, Command: func() *exec.Cmd { return exec.Command(testservice) },
		Config: []byte(fmt.Sprintf(`{"mode":%q}`, mode)), Subscribe: []string{"#"},
		StartTimeout: 5 * time.Second, HealthEvery: time.Second, StopTimeout: 2 * time.Second}
}

// run starts a supervisor until the test ends.
func run(t *testing.T, cfg Config, specs ...Spec) *Supervisor {
	t.Helper()
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	}
	if cfg.Sandbox.Shim == "" {
		cfg.Sandbox.Shim = self // as edged runs them
	}
	s, err := New(cfg, specs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, st := range s.Status() {
			if st.Pid != 0 {
				t.Errorf("%s still has pid %d after Run returned", st.Name, st.Pid)
			}
		}
	})
	return s
}

func status(s *Supervisor, name string) Status {
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	return Status{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a hang guard, not a speed test
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReadingsFlowByTheSubscription(t *testing.T) {
	var mu sync.Mutex
	var got []reading.Reading
	sp := spec("double", "double")
	sp.Subscribe = []string{"boiler/+"}
	s := run(t, Config{OnEmit: func(service string, rs []reading.Reading) {
		mu.Lock()
		got = append(got, rs...)
		mu.Unlock()
	}}, sp)
	waitFor(t, "running", func() bool { return status(s, "double").State == StateRunning })
	s.Publish([]reading.Reading{{Device: "porch", Metric: "t", Value: 1}, {Device: "boiler", Metric: "t", Value: 21.5, Unit: "C"}})
	waitFor(t, "the emitted reading", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Device != "boiler" || got[0].Value != 43 || got[0].Unit != "C" || got[0].Source != "double" {
		t.Fatalf("emitted %+v, want only boiler's reading, doubled, with the service as source", got)
	}
}

func TestCrashLoopOpensTheBreakerUntilRestart(t *testing.T) {
	s := run(t, Config{Crashes: 3, Window: time.Minute}, spec("crashy", "crash_on_configure"))
	waitFor(t, "failed", func() bool { return status(s, "crashy").State == StateFailed })
	st := status(s, "crashy")
	if st.Restarts != 3 || !strings.Contains(st.LastError, "exit status 3") {
		t.Fatalf("status %+v, want 3 restarts and the exit status in last_error", st)
	}
	time.Sleep(100 * time.Millisecond) // a failed service stays down…
	if st2 := status(s, "crashy"); st2.State != StateFailed || st2.Restarts != 3 {
		t.Fatalf("a failed service was restarted on its own: %+v", st2)
	}
	if err := s.Restart("crashy"); err != nil { // …until someone restarts it
		t.Fatal(err)
	}
	waitFor(t, "another try", func() bool { return status(s, "crashy").Restarts > 3 })
	if err := s.Restart("nope"); err == nil || !strings.Contains(err.Error(), "crashy") {
		t.Errorf("restart of an unknown service: %v, want an error listing the services", err)
	}
}

func TestHangInConfigureIsKilledAfterTheDeadline(t *testing.T) {
	sp := spec("hangs", "hang_configure")
	// The deadline covers the process start too: on a loaded machine a
	// start can take longer than a short deadline, and that restart is
	// legitimate. So the deadline leaves the start room, and the test waits
	// for the restart caused by the hang in Configure, not for the first.
	sp.StartTimeout = 3 * time.Second // the start goes through the shim (a -race test binary)
	s := run(t, Config{Crashes: 100, Window: time.Minute}, sp)
	waitFor(t, "a restart after Configure hung", func() bool {
		st := status(s, "hangs")
		return st.Restarts >= 1 && strings.Contains(st.LastError, "configure")
	})
}

// TestMemoryHogIsContained runs a hog under a 64 MiB budget next to a
// well-behaved service: the hog is killed and reported oom with its budget
// and peak; the other keeps running and serving.
func TestMemoryHogIsContained(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("budgets with cgroups need root")
	}
	mgr, err := budget.New(budget.Config{Parent: "edged-supervisor-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	hog := spec("hog", "hog")
	hog.Budget = budget.Budget{Memory: 64 << 20}
	calm := spec("calm", "passthrough")
	calm.Budget = budget.Budget{Memory: 64 << 20}
	var emitted sync.WaitGroup
	emitted.Add(1)
	var once sync.Once
	s := run(t, Config{Budgets: mgr, OnEmit: func(string, []reading.Reading) { once.Do(emitted.Done) }}, hog, calm)
	waitFor(t, "the hog killed", func() bool { return status(s, "hog").OOMKills >= 1 })
	st := status(s, "hog")
	if !strings.Contains(st.LastError, "oom: killed for exceeding its memory budget of 64Mi") || st.PeakRSS < 48<<20 {
		t.Fatalf("hog status %+v, want an oom error naming the 64Mi budget and a peak near it", st)
	}
	if st.Enforcement != string(mgr.Mode()) {
		t.Errorf("enforcement %q, want %q", st.Enforcement, mgr.Mode())
	}
	c := status(s, "calm")
	if c.State != StateRunning || c.Restarts != 0 {
		t.Fatalf("the calm service was disturbed: %+v", c)
	}
	s.Publish([]reading.Reading{{Device: "d", Metric: "m", Value: 1}})
	emitted.Wait() // the calm one still serves
	t.Logf("hog: %s, peak %d MiB, enforcement %s", st.LastError, st.PeakRSS>>20, st.Enforcement)
}

func TestCommandIDsAreUniqueAcrossRestarts(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	sp := spec("cmd", "command")
	s := run(t, Config{OnCommand: func(_ context.Context, service string, c pluginapi.Command) pluginapi.Result {
		mu.Lock()
		ids = append(ids, c.ID)
		mu.Unlock()
		return pluginapi.Result{OK: true}
	}}, sp)
	waitFor(t, "running", func() bool { return status(s, "cmd").State == StateRunning })
	s.Publish([]reading.Reading{{Device: "lamp", Metric: "m"}})
	waitFor(t, "a command", func() bool { mu.Lock(); defer mu.Unlock(); return len(ids) == 1 })
	pid := status(s, "cmd").Pid
	if pid <= 0 {
		t.Fatalf("no pid (%d): kill(0) would hit the test's own process group", pid)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "running again", func() bool { st := status(s, "cmd"); return st.State == StateRunning && st.Pid != pid })
	s.Publish([]reading.Reading{{Device: "lamp", Metric: "m"}})
	waitFor(t, "a second command", func() bool { mu.Lock(); defer mu.Unlock(); return len(ids) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if ids[0] == ids[1] || !strings.HasPrefix(ids[0], "cmd@") {
		t.Fatalf("command ids %q: want them prefixed with the service and different after a restart", ids)
	}
}

func TestWrongChecksumIsNeverStarted(t *testing.T) {
	sp := spec("tampered", "passthrough")
	sp.Checksum = make([]byte, 32) // all zeros: not the binary's sha256
	s := run(t, Config{Crashes: 2, Window: time.Minute}, sp)
	waitFor(t, "failed", func() bool { return status(s, "tampered").State == StateFailed })
	st := status(s, "tampered")
	if !strings.Contains(st.LastError, "sha256") || st.Pid != 0 {
		t.Fatalf("status %+v, want a checksum error and no process", st)
	}
}
