package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// testservice is sdk/pluginapi's test service, gated the supervisor's slow
// one (holds its batches until a file exists), built once; self is this
// test binary, the services' exec shim as in edged.
var testservice, gated, self string

func TestMain(m *testing.M) {
	supervisor.RunShim()
	dir, err := os.MkdirTemp("", "dataplane-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testservice, gated = filepath.Join(dir, "testservice"), filepath.Join(dir, "gated")
	for out, pkg := range map[string]string{testservice: "github.com/edged-gateway/edged/sdk/pluginapi/testdata/testservice",
		gated: "github.com/edged-gateway/edged/runtime/supervisor/testdata/gated"} {
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

func svc(name, mode string, subscribe ...string) supervisor.Spec {
	if len(subscribe) == 0 {
		subscribe = []string{"#"}
	}
	return supervisor.Spec{Name: name, Command: func() *exec.Cmd { return exec.Command(testservice) },
		Config: []byte(fmt.Sprintf(`{"mode":%q}`, mode)), Subscribe: subscribe,
		StartTimeout: 5 * time.Second, HealthEvery: time.Second, StopTimeout: 2 * time.Second}
}

// gatedSvc holds its first batch until gate exists, then emits each back.
func gatedSvc(name, gate string) supervisor.Spec {
	sp := svc(name, "")
	sp.Command = func() *exec.Cmd { return exec.Command(gated) }
	sp.Config = []byte(fmt.Sprintf(`{"gate":%q}`, gate))
	return sp
}

// emits collects the services' emitted readings by service.
type emits struct {
	mu sync.Mutex
	by map[string][]reading.Reading
}

func (e *emits) on(service string, rs []reading.Reading) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.by == nil {
		e.by = map[string][]reading.Reading{}
	}
	e.by[service] = append(e.by[service], rs...)
}

func (e *emits) of(service string) []reading.Reading {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]reading.Reading(nil), e.by[service]...)
}

// distinct counts the distinct values of rs.
func distinct(rs []reading.Reading) int {
	seen := map[float64]bool{}
	for _, r := range rs {
		seen[r.Value] = true
	}
	return len(seen)
}

// runSup runs a supervisor of specs until the test ends, waiting until
// every service runs.
func runSup(t *testing.T, cfg supervisor.Config, specs ...supervisor.Spec) *supervisor.Supervisor {
	t.Helper()
	cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	cfg.Sandbox.Shim = self
	s, err := supervisor.New(cfg, specs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "services running", func() bool {
		for _, st := range s.Status() {
			if st.State != supervisor.StateRunning {
				return false
			}
		}
		return true
	})
	return s
}

// runFeeds starts feeds until the test ends.
func runFeeds(t *testing.T, to Deliverer, cfg FeedConfig, specs ...FeedSpec) *Feeds {
	t.Helper()
	fs := NewFeeds(to, cfg)
	if err := fs.Set(specs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Stop(); fs.Wait() })
	return fs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a hang guard, not a speed test
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func feedStats(fs *Feeds, service string) FeedStats {
	for _, st := range fs.Stats() {
		if st.Service == service {
			return st
		}
	}
	return FeedStats{}
}

func readings(from, n int) []reading.Reading {
	rs := make([]reading.Reading, n)
	for i := range rs {
		rs[i] = reading.Reading{Device: "boiler", Metric: "t", Value: float64(from + i), Time: time.Unix(int64(from+i), 0)}
	}
	return rs
}

// TestFeedSlowServiceLagsWhileAnotherGetsEverything: issue #16 items 2 and
// 5. A service that holds its input only makes its own cursor lag: the
// other service receives every reading meanwhile; once the slow one goes
// on, it catches up and gets every reading appended, none dropped.
func TestFeedSlowServiceLagsWhileAnotherGetsEverything(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "open")
	var em emits
	sup := runSup(t, supervisor.Config{OnEmit: em.on}, gatedSvc("slow", gate), svc("fast", "passthrough"))
	log := newMemLog()
	slowCur, fastCur := log.cursor("service:slow", false), log.cursor("service:fast", false)
	fs := runFeeds(t, sup, FeedConfig{Batch: 16},
		FeedSpec{Service: "slow", Cursor: slowCur}, FeedSpec{Service: "fast", Cursor: fastCur})
	const n = 2000 // far more than the slow service's window holds (16 batches of 16)
	for i := 0; i < n; i += 100 {
		log.append(readings(i, 100)...)
	}
	waitFor(t, "fast's emits of every reading", func() bool { return len(em.of("fast")) == n })
	waitFor(t, "fast's feed acked everything", func() bool { return fastCur.Lag() == 0 && feedStats(fs, "fast").Acked == n })
	if st := feedStats(fs, "fast"); st.Delivered != n || st.Acked != n || st.SkippedForLag != 0 {
		t.Fatalf("fast feed %+v, want %d delivered and acked, none skipped", st, n)
	}
	slow := feedStats(fs, "slow")
	if slow.Lag == 0 || slow.Delivered >= n || len(em.of("slow")) != 0 {
		t.Fatalf("slow feed %+v with %d emits while its service held its first batch: want it lagging", slow, len(em.of("slow")))
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "slow's feed acked everything", func() bool { return slowCur.Lag() == 0 && feedStats(fs, "slow").Acked == n })
	waitFor(t, "slow's emits of every reading", func() bool { return len(em.of("slow")) == n })
	if d := distinct(em.of("slow")); d != n {
		t.Fatalf("slow emitted %d distinct readings of %d", d, n)
	}
	if st := feedStats(fs, "slow"); st.Delivered != n || st.SkippedForLag != 0 || st.LastError != "" {
		t.Fatalf("slow feed %+v, want all %d delivered, none skipped, no error", st, n)
	}
	for _, st := range sup.Status() {
		if st.Dropped != 0 {
			t.Errorf("%s dropped %d batches on the feeder path", st.Name, st.Dropped)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// overLagCounter wraps a Deliverer, counting the Delivers the feed ended
// because its lag passed MaxLag while it waited.
type overLagCounter struct {
	Deliverer
	n atomic.Int64
}

func (o *overLagCounter) Deliver(ctx context.Context, service string, rs []reading.Reading) (int, error) {
	n, err := o.Deliverer.Deliver(ctx, service, rs)
	if err != nil && context.Cause(ctx) == errOverLag {
		o.n.Add(1)
	}
	return n, err
}

// TestFeedSkipsPastMaxLagCountedAndNamed: issue #16 item 5. A service that
// stays behind more than its MaxLag loses the oldest readings, and only
// those: counted per service, logged with the service and the fix; it gets
// the rest once it goes on. Both ways a feed falls behind are taken: a
// backlog past MaxLag when it looks, and a lag that grows past it (here: a
// MaxLag lowered by Set) while it waits on a service that holds its input.
func TestFeedSkipsPastMaxLagCountedAndNamed(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "open")
	var em emits
	sup := runSup(t, supervisor.Config{OnEmit: em.on}, gatedSvc("slow", gate))
	to := &overLagCounter{Deliverer: sup}
	var logs syncBuffer
	log := newMemLog()
	cur := log.cursor("service:slow", false)
	// The service takes at most its window (16 batches of 16) and holds.
	const n, firstMax, maxLag = 2000, 1000, 100
	fs := runFeeds(t, to, FeedConfig{Batch: 16, CheckEvery: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		FeedSpec{Service: "slow", Cursor: cur, MaxLag: firstMax})
	log.append(readings(0, n)...)
	waitFor(t, "the backlog past max_lag skipped", func() bool { return feedStats(fs, "slow").SkippedForLag >= n-firstMax })
	waitFor(t, "the service's window filled", func() bool { return feedStats(fs, "slow").Delivered >= 200 })
	if err := fs.Set([]FeedSpec{{Service: "slow", Cursor: cur, MaxLag: maxLag}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "lag down to the new max_lag", func() bool { return cur.Lag() <= maxLag })
	st := feedStats(fs, "slow")
	if st.MaxLag != maxLag || st.SkippedForLag <= n-firstMax || st.SkippedForLag >= n {
		t.Fatalf("feed %+v", st)
	}
	t.Logf("Delivers ended for lag while waiting: %d", to.n.Load())
	out := logs.String()
	if !strings.Contains(out, "service=slow") || !strings.Contains(out, "max_lag") || !strings.Contains(out, "more CPU") {
		t.Fatalf("the skip's warning does not name the service and the fix:\n%s", out)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "caught up", func() bool { return cur.Lag() == 0 && feedStats(fs, "slow").Acked == n })
	st = feedStats(fs, "slow")
	if st.Delivered+st.SkippedForLag != n || st.Acked != n || st.LastError != "" {
		t.Fatalf("feed %+v: delivered + skipped_for_lag must be the %d appended, all acked, no error", st, n)
	}
	waitFor(t, "the emits of every delivered reading", func() bool { return uint64(len(em.of("slow"))) == st.Delivered })
	if d := distinct(em.of("slow")); uint64(d) != st.Delivered {
		t.Fatalf("slow emitted %d distinct readings, delivered %d", d, st.Delivered)
	}
	// Skips take the oldest: the newest max_lag readings all reached it,
	// and so did those it held when it fell behind.
	got := map[float64]bool{}
	for _, r := range em.of("slow") {
		got[r.Value] = true
	}
	for v := n - maxLag; v < n; v++ {
		if !got[float64(v)] {
			t.Fatalf("reading %d, among the newest %d, was skipped", v, maxLag)
		}
	}
	for v := n - firstMax; v < n-firstMax+200; v++ {
		if !got[float64(v)] {
			t.Fatalf("reading %d, taken into the service's window, was not delivered", v)
		}
	}
}

// TestFeedChainOwnEmitsAndHops: issue #16 item 2. A service's emits,
// appended to the log, reach the next service with their hop count and
// never the service itself.
func TestFeedChainOwnEmitsAndHops(t *testing.T) {
	log := newMemLog()
	var em emits
	sup := runSup(t, supervisor.Config{OnEmit: func(service string, rs []reading.Reading) {
		em.on(service, rs)
		if service == "a" { // the chain a → b; b's emits end here
			log.append(rs...)
		}
	}}, svc("a", "double"), svc("b", "passthrough"))
	curA, curB := log.cursor("service:a", false), log.cursor("service:b", false)
	fs := runFeeds(t, sup, FeedConfig{}, FeedSpec{Service: "a", Cursor: curA}, FeedSpec{Service: "b", Cursor: curB})
	log.append(reading.Reading{Device: "boiler", Metric: "t", Value: 21})
	waitFor(t, "b's emit of a's reading", func() bool {
		for _, r := range em.of("b") {
			if r.Value == 42 {
				return true
			}
		}
		return false
	})
	waitFor(t, "a's cursor past its own emit", func() bool { return curA.Lag() == 0 && feedStats(fs, "a").Acked == 2 })
	if st := feedStats(fs, "a"); st.Delivered != 1 {
		t.Fatalf("a's feed %+v: a was handed its own emit", st)
	}
	if got := em.of("a"); len(got) != 1 || got[0].Value != 42 || got[0].Hops != 1 || got[0].Source != "a" {
		t.Fatalf("a emitted %+v, want only 42 from a at hop 1", got)
	}
	for _, r := range em.of("b") {
		if r.Value == 42 && (r.Hops != 2 || r.Source != "b") {
			t.Fatalf("b's emit of a's reading %+v, want hop 2 from b", r)
		}
	}
}

// TestFeedsSetAddsAndRemoves: feeds follow the services a plan changes.
func TestFeedsSetAddsAndRemoves(t *testing.T) {
	var em emits
	sup := runSup(t, supervisor.Config{OnEmit: em.on}, svc("x", "passthrough"), svc("y", "passthrough"))
	log := newMemLog()
	curX, curY := log.cursor("service:x", false), log.cursor("service:y", false)
	fs := runFeeds(t, sup, FeedConfig{}, FeedSpec{Service: "x", Cursor: curX})
	log.append(readings(0, 3)...)
	waitFor(t, "x's emits", func() bool { return len(em.of("x")) == 3 })
	if err := fs.Set([]FeedSpec{{Service: "x", Cursor: curX}, {Service: "y", Cursor: curY}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "y's emits of what its cursor held", func() bool { return len(em.of("y")) == 3 })
	if err := fs.Set([]FeedSpec{{Service: "y", Cursor: curY, MaxLag: 7}}); err != nil {
		t.Fatal(err)
	}
	log.append(readings(3, 2)...)
	waitFor(t, "y's emits", func() bool { return len(em.of("y")) == 5 && feedStats(fs, "y").Acked == 5 })
	if st := fs.Stats(); len(st) != 1 || st[0].Service != "y" || st[0].MaxLag != 7 || st[0].Delivered != 5 {
		t.Fatalf("stats %+v, want only y's feed, with its new max_lag", st)
	}
	if curX.Lag() != 2 || len(em.of("x")) != 3 {
		t.Fatalf("x's feed was removed but its cursor lags %d (want 2) and x emitted %d (want 3)", curX.Lag(), len(em.of("x")))
	}
	// A feed given another cursor restarts on it: y gets what that cursor
	// holds (here it starts at the oldest reading: all five again).
	curY2 := log.cursor("service:y2", true)
	if err := fs.Set([]FeedSpec{{Service: "y", Cursor: curY2}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "y's emits from its new cursor", func() bool { return len(em.of("y")) == 10 && feedStats(fs, "y").Acked == 5 })
	if st := feedStats(fs, "y"); st.Delivered != 5 || st.MaxLag != DefaultMaxLag {
		t.Fatalf("y's feed on its new cursor %+v, want counters from 0 and the default max_lag", st)
	}
	for _, bad := range [][]FeedSpec{{{Service: "y", Cursor: curY}, {Service: "y", Cursor: curX}}, {{Service: "", Cursor: curY}}, {{Service: "z"}}} {
		if err := fs.Set(bad); err == nil {
			t.Errorf("Set(%+v) took an invalid set", bad)
		}
	}
	// A feed whose service the supervisor no longer has says so and waits.
	if _, err := sup.Apply(context.Background(), []supervisor.Spec{svc("x", "passthrough")}); err != nil {
		t.Fatal(err)
	}
	log.append(readings(5, 1)...)
	waitFor(t, "y's feed naming its missing service", func() bool {
		return strings.Contains(feedStats(fs, "y").LastError, "no such service")
	})
	if curY2.Lag() == 0 {
		t.Fatal("the reading for a missing service was acked")
	}
	fs.Stop()
	fs.Wait()
	if err := fs.Set(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Stop: %v", err)
	}
}
