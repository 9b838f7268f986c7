package supervisor

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

func vspec(name, mode, version string) Spec {
	sp := spec(name, mode)
	sp.Version = version
	return sp
}

// start runs s until the test ends or the returned stop is called; stop
// returns after Run has.
func start(t *testing.T, s *Supervisor) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			for _, st := range s.Status() {
				if st.Pid != 0 {
					t.Errorf("%s still has pid %d after Run returned", st.Name, st.Pid)
				}
			}
		})
	}
	t.Cleanup(stop)
	// Until Run has begun, Apply only records; these tests mean the live one.
	waitFor(t, "Run to begin", func() bool { s.mu.RLock(); defer s.mu.RUnlock(); return s.phase == phaseRunning })
	return stop
}

func newSup(t *testing.T, specs ...Spec) *Supervisor {
	t.Helper()
	s, err := New(Config{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, specs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// apply is Apply with a hang guard.
func apply(s *Supervisor, specs ...Spec) (Changes, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.Apply(ctx, specs)
}

func names(s *Supervisor) []string {
	var out []string
	for _, st := range s.Status() {
		out = append(out, st.Name)
	}
	return out
}

// pids waits until every named service runs and returns their pids.
func pids(t *testing.T, s *Supervisor, names ...string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range names {
		waitFor(t, n+" running", func() bool { st := status(s, n); return st.State == StateRunning && st.Pid > 0 })
		out[n] = status(s, n).Pid
	}
	return out
}

func wantChanges(t *testing.T, got, want Changes) {
	t.Helper()
	if !slices.Equal(got.Started, want.Started) || !slices.Equal(got.Restarted, want.Restarted) ||
		!slices.Equal(got.Stopped, want.Stopped) || !slices.Equal(got.Unchanged, want.Unchanged) {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
}

// gone fails the test if pid still names a process.
func gone(t *testing.T, name string, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("%s: no pid (%d): kill(%d, 0) would probe the test's own process group", name, pid, pid)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("%s: process %d still there after it was stopped (kill 0: %v)", name, pid, err)
	}
}

func TestApplyStartsRestartsAndLeavesAlone(t *testing.T) {
	s := newSup(t, vspec("a", "passthrough", "1"), vspec("b", "passthrough", "1"))
	start(t, s)
	before := pids(t, s, "a", "b")
	// A restart count that a's Apply must keep.
	syscall.Kill(before["a"], syscall.SIGKILL)
	waitFor(t, "a running again", func() bool { st := status(s, "a"); return st.State == StateRunning && st.Restarts == 1 })
	before = pids(t, s, "a", "b")

	// Status, Publish and Restart go on while Apply works.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.Status()
			s.Publish([]reading.Reading{{Device: "d", Metric: "m", Value: 1}})
			s.Restart("nope")
			time.Sleep(time.Millisecond)
		}
	})
	ch, err := apply(s, vspec("a", "passthrough", "1"), vspec("b", "double", "2"), vspec("c", "passthrough", "1"))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, ch, Changes{Started: []string{"c"}, Restarted: []string{"b"}, Unchanged: []string{"a"}})
	after := pids(t, s, "a", "b", "c")
	if a := status(s, "a"); after["a"] != before["a"] || a.Restarts != 1 {
		t.Errorf("a: pid %d (was %d), restarts %d (was 1): an unchanged service was disturbed", after["a"], before["a"], a.Restarts)
	}
	if after["b"] == before["b"] {
		t.Errorf("b kept pid %d across a new version", after["b"])
	}
	gone(t, "old b", before["b"])
	if got := names(s); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("status order %q, want the applied order a b c", got)
	}

	// The order follows the specs, and applying the same specs again is a no-op.
	ch, err = apply(s, vspec("c", "passthrough", "1"), vspec("a", "passthrough", "1"), vspec("b", "double", "2"))
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, ch, Changes{Unchanged: []string{"c", "a", "b"}})
	if got := names(s); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Errorf("status order %q, want c a b", got)
	}
	if again := pids(t, s, "a", "b", "c"); !samePids(again, after) {
		t.Errorf("pids %v after a no-op apply, want %v", again, after)
	}
}

func samePids(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestApplyGateFailureAndRollback applies a plan whose third service
// crashes on start: Apply stops there and names it; applying the previous
// specs puts everything back.
func TestApplyGateFailureAndRollback(t *testing.T) {
	prev := []Spec{vspec("a", "passthrough", "1"), vspec("b", "passthrough", "1"), vspec("c", "passthrough", "1")}
	s := newSup(t, prev...)
	start(t, s)
	before := pids(t, s, "a", "b", "c")

	ch, err := apply(s, vspec("a", "passthrough", "1"), vspec("b", "double", "2"),
		vspec("crashy", "crash_on_configure", "1"), vspec("c", "double", "2"))
	if err == nil {
		t.Fatal("applied a service that crashes on start")
	}
	t.Logf("gate error: %v", err)
	if !errors.Is(err, ErrGate) || !strings.Contains(err.Error(), `"crashy"`) || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error %q, want ErrGate naming crashy and its exit status", err)
	}
	if lines := status(s, "crashy").Stderr; len(lines) > 0 && !strings.Contains(err.Error(), lines[len(lines)-1]) {
		t.Errorf("error %q lacks the service's last log line %q", err, lines[len(lines)-1])
	}
	wantChanges(t, ch, Changes{Started: []string{"crashy"}, Restarted: []string{"b"}, Unchanged: []string{"a"}})
	mid := pids(t, s, "a", "b", "c")
	if mid["a"] != before["a"] || mid["c"] != before["c"] || mid["b"] == before["b"] {
		t.Errorf("after the failed apply pids %v (before %v): want a and c (not reached) as before, b restarted", mid, before)
	}

	ch, err = apply(s, prev...)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	wantChanges(t, ch, Changes{Restarted: []string{"b"}, Stopped: []string{"crashy"}, Unchanged: []string{"a", "c"}})
	after := pids(t, s, "a", "b", "c")
	if after["a"] != before["a"] || after["c"] != before["c"] || after["b"] == mid["b"] {
		t.Errorf("after rollback pids %v (before the plan %v, during %v)", after, before, mid)
	}
	if got := names(s); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("services %q after rollback, want a b c", got)
	}
}

func TestApplyRemovingServicesStopsThem(t *testing.T) {
	s := newSup(t, vspec("a", "passthrough", "1"), vspec("b", "passthrough", "1"), vspec("c", "passthrough", "1"))
	start(t, s)
	before := pids(t, s, "a", "b", "c")
	ch, err := apply(s, vspec("b", "passthrough", "1"))
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, ch, Changes{Stopped: []string{"c", "a"}, Unchanged: []string{"b"}})
	if got := names(s); !slices.Equal(got, []string{"b"}) {
		t.Errorf("services %q, want only b", got)
	}
	gone(t, "a", before["a"])
	gone(t, "c", before["c"])
	if err := s.Restart("a"); err == nil {
		t.Error("restart of a removed service succeeded")
	}

	ch, err = apply(s)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, ch, Changes{Stopped: []string{"b"}})
	gone(t, "b", before["b"])
	if st := s.Status(); len(st) != 0 {
		t.Errorf("status %+v after applying nothing", st)
	}
}

func TestApplyFromEmpty(t *testing.T) {
	t.Run("while running", func(t *testing.T) {
		s := newSup(t)
		start(t, s)
		if st := s.Status(); len(st) != 0 {
			t.Fatalf("an empty supervisor reports %+v", st)
		}
		ch, err := apply(s, vspec("x", "passthrough", "1"))
		if err != nil {
			t.Fatal(err)
		}
		wantChanges(t, ch, Changes{Started: []string{"x"}})
		if st := status(s, "x"); st.State != StateRunning || !st.Healthy || st.Pid <= 0 {
			t.Errorf("x after its gate: %+v, want running, healthy, with a pid", st)
		}
	})
	t.Run("before run", func(t *testing.T) {
		s := newSup(t)
		ch, err := apply(s, vspec("x", "passthrough", "1"), vspec("y", "passthrough", "1"))
		if err != nil {
			t.Fatal(err)
		}
		wantChanges(t, ch, Changes{Started: []string{"x", "y"}})
		ch, err = apply(s, vspec("y", "passthrough", "2"), vspec("x", "passthrough", "1"))
		if err != nil {
			t.Fatal(err)
		}
		wantChanges(t, ch, Changes{Restarted: []string{"y"}, Unchanged: []string{"x"}})
		if st := status(s, "y"); st.State != StateStopped || st.Pid != 0 {
			t.Errorf("y before Run: %+v, want recorded only", st)
		}
		start(t, s)
		pids(t, s, "y", "x")
		if got := names(s); !slices.Equal(got, []string{"y", "x"}) {
			t.Errorf("services %q, want y x", got)
		}
	})
}

func TestApplyInvalidChangesNothing(t *testing.T) {
	noCommand := vspec("nocmd", "passthrough", "1")
	noCommand.Command = nil
	badFilter := vspec("filter", "passthrough", "1")
	badFilter.Subscribe = []string{"a/#/b"}
	s := newSup(t, vspec("a", "passthrough", "1"))
	start(t, s)
	before := pids(t, s, "a")
	for _, tc := range []struct {
		name  string
		specs []Spec
		want  string
	}{
		{"no command", []Spec{vspec("a", "passthrough", "2"), noCommand}, `service "nocmd": no command`},
		{"no name", []Spec{vspec("a", "passthrough", "2"), vspec("", "passthrough", "1")}, "name: empty"},
		{"duplicate", []Spec{vspec("b", "passthrough", "1"), vspec("b", "passthrough", "2")}, `service "b": the name is used twice`},
		{"bad filter", []Spec{vspec("a", "passthrough", "2"), badFilter}, `service "filter": subscribe "a/#/b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := apply(s, tc.specs...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("apply: %v, want an error with %q", err, tc.want)
			}
			wantChanges(t, ch, Changes{})
			if got := names(s); !slices.Equal(got, []string{"a"}) {
				t.Errorf("services %q, want a alone", got)
			}
			if st := status(s, "a"); st.Pid != before["a"] || st.State != StateRunning {
				t.Errorf("a: %+v, want it running as before (pid %d)", st, before["a"])
			}
		})
	}
}

func TestApplyHonoursCtx(t *testing.T) {
	slow := vspec("slow", "passthrough", "1")
	slow.Command = func() *exec.Cmd { return exec.Command(testservice, "-start-delay=1s") }
	s := newSup(t)
	start(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // cancel while slow is starting, in its gate
		for status(s, "slow").State != StateStarting {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	ch, err := s.Apply(ctx, []Spec{slow})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `"slow"`) {
		t.Fatalf("apply: %v, want the ctx's error, naming slow", err)
	}
	wantChanges(t, ch, Changes{Started: []string{"slow"}})
	// The rollback: the empty set.
	ch, err = apply(s)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, ch, Changes{Stopped: []string{"slow"}})
}

func TestApplyAfterRunEnded(t *testing.T) {
	s := newSup(t, vspec("a", "passthrough", "1"))
	stop := start(t, s)
	pid := pids(t, s, "a")["a"]
	stop()
	gone(t, "a", pid)
	_, err := apply(s, vspec("a", "passthrough", "1"), vspec("b", "passthrough", "1"))
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("apply after Run: %v, want ErrStopped", err)
	}
	if got := names(s); !slices.Equal(got, []string{"a"}) {
		t.Errorf("services %q, want a alone", got)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
}

func TestConcurrentAppliesAreSerialized(t *testing.T) {
	s := newSup(t)
	start(t, s)
	sets := [][]Spec{
		{vspec("a", "passthrough", "1"), vspec("b", "passthrough", "1")},
		{vspec("a", "passthrough", "2"), vspec("c", "passthrough", "1")},
	}
	var wg sync.WaitGroup
	for _, set := range sets {
		wg.Go(func() {
			if _, err := apply(s, set...); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := names(s)
	if !slices.Equal(got, []string{"a", "b"}) && !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("services %q, want one of the applied sets whole", got)
	}
	pids(t, s, got...)
}

// TestApplyReportTellsEachServiceAsItGoes: the report hears every start,
// restart and stop in order, with the gate's outcome.
func TestApplyReportTellsEachServiceAsItGoes(t *testing.T) {
	s := newSup(t, vspec("a", "passthrough", "1"), vspec("b", "passthrough", "1"), vspec("old", "passthrough", "1"))
	start(t, s)
	pids(t, s, "a", "b", "old")
	var got []string
	report := func(service, action string) func(error) {
		got = append(got, action+" "+service)
		return func(err error) {
			if err != nil {
				got = append(got, "failed "+service)
			} else {
				got = append(got, "ok "+service)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.ApplyReport(ctx, []Spec{vspec("a", "passthrough", "1"), vspec("b", "double", "2"), vspec("new", "passthrough", "1")}, report); err != nil {
		t.Fatal(err)
	}
	want := []string{"restart b", "ok b", "start new", "ok new", "stop old", "ok old"}
	if !slices.Equal(got, want) {
		t.Errorf("reported %q, want %q", got, want)
	}
	got = nil
	if _, err := s.ApplyReport(ctx, []Spec{vspec("a", "passthrough", "1"), vspec("crashy", "crash_on_configure", "1")}, report); err == nil {
		t.Fatal("a crashing service passed its gate")
	}
	if want := []string{"start crashy", "failed crashy"}; !slices.Equal(got, want) {
		t.Errorf("reported %q, want %q", got, want)
	}
}
