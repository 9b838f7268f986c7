package poller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// scripted is a device whose reads fail while fail() says so and block
// while gate is non-nil and open.
type scripted struct {
	name  string
	mu    sync.Mutex
	n     int
	fails int // the first fails reads return an error
	gate  chan struct{}
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	if n <= s.fails {
		return dst, errors.New("i2c: no ACK")
	}
	return append(dst, reading.Reading{Device: s.name, Metric: "m", Value: float64(n)}), nil
}

// memSink records what it is given; while full is set it refuses.
type memSink struct {
	mu    sync.Mutex
	got   map[string][]float64
	full  bool
	wake  chan struct{}
	count int
}

func newSink() *memSink {
	return &memSink{got: map[string][]float64{}, wake: make(chan struct{}, 1000)}
}

func (m *memSink) Append(_ context.Context, rs []reading.Reading) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.full {
		return errors.New("outbox: append 1 readings: no space left on device")
	}
	for _, r := range rs {
		m.got[r.Device] = append(m.got[r.Device], r.Value)
		m.count++
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return nil
}

func (m *memSink) waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second) // a failure guard, not a speed assertion
	for {
		m.mu.Lock()
		ok := cond()
		m.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-m.wake:
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatal("condition not reached")
		}
	}
}

func start(t *testing.T, p *Poller) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestBlockedDeviceDoesNotStallOthers(t *testing.T) {
	stuck := &scripted{name: "stuck", gate: make(chan struct{})}
	fast := &scripted{name: "fast"}
	sink := newSink()
	p, err := New([]Entry{{Device: stuck, Interval: time.Millisecond}, {Device: fast, Interval: time.Millisecond}}, sink, Config{})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	sink.waitFor(t, func() bool { return len(sink.got["fast"]) >= 20 })
	stop() // returns although "stuck" never answered
	if len(sink.got["stuck"]) != 0 {
		t.Fatalf("stuck device produced %v", sink.got["stuck"])
	}
	// Values are in read order: the device's own counter.
	for i, v := range sink.got["fast"] {
		if v != float64(i+1) {
			t.Fatalf("reading %d = %v, want %d", i, v, i+1)
		}
	}
}

func TestFailingDeviceIsUnhealthyThenRecovers(t *testing.T) {
	flaky := &scripted{name: "flaky", fails: 3}
	sink := newSink()
	p, _ := New([]Entry{{Device: flaky, Interval: time.Millisecond}}, sink, Config{MaxBackoff: 4 * time.Millisecond})
	stop := start(t, p)
	sink.waitFor(t, func() bool { return len(sink.got["flaky"]) >= 2 })
	stop()
	st := p.Stats()[0]
	if st.ReadErrors != 3 || !st.Healthy || st.LastError != "i2c: no ACK" || st.Last.Device != "flaky" {
		t.Fatalf("stats = %+v", st)
	}
	if got := sink.got["flaky"][0]; got != 4 {
		t.Fatalf("first stored value = %v, want 4 (reads 1-3 failed and must not become readings)", got)
	}
}

func TestRefusedAppendIsCountedAndPollingGoesOn(t *testing.T) {
	d := &scripted{name: "d"}
	sink := newSink()
	sink.full = true
	p, _ := New([]Entry{{Device: d, Interval: time.Millisecond}}, sink, Config{})
	stop := start(t, p)
	for p.Stats()[0].AppendErrors < 5 {
		time.Sleep(time.Millisecond)
	}
	sink.mu.Lock()
	sink.full = false
	sink.mu.Unlock()
	sink.waitFor(t, func() bool { return len(sink.got["d"]) >= 3 })
	stop()
	st := p.Stats()[0]
	if st.AppendErrors < 5 || st.Stored < 3 || !strings.Contains(st.LastError, "no space left") {
		t.Fatalf("stats = %+v", st)
	}
}

func TestNewRejectsBadEntries(t *testing.T) {
	a := &scripted{name: "a"}
	tests := []struct {
		entries []Entry
		want    string
	}{
		{[]Entry{{Device: a, Interval: time.Second}, {Device: &scripted{name: "a"}, Interval: time.Second}}, `device "a" listed twice`},
		{[]Entry{{Device: a, Interval: time.Microsecond}}, `device "a": interval 1µs is below the minimum 1ms`},
		{[]Entry{{Device: nil, Interval: time.Second}}, "entry 0 has no device"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if _, err := New(tc.entries, newSink(), Config{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRunWithNoDevicesWaitsForCancel(t *testing.T) {
	p, _ := New(nil, newSink(), Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before its context ended", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestScaleMapsValuesAndUnit(t *testing.T) {
	d := &scripted{name: "adc"} // values 1, 2, 3, …
	sink := newSink()
	p, _ := New([]Entry{{Device: d, Interval: time.Millisecond, Scale: &Scale{Factor: 2.5, Offset: -1, Unit: "bar"}}}, sink, Config{})
	stop := start(t, p)
	sink.waitFor(t, func() bool { return len(sink.got["adc"]) >= 3 })
	stop()
	for i, v := range sink.got["adc"][:3] {
		if want := float64(i+1)*2.5 - 1; v != want {
			t.Fatalf("reading %d = %v, want %v", i, v, want)
		}
	}
	if u := p.Stats()[0].Last.Unit; u != "bar" {
		t.Fatalf("unit %q, want bar", u)
	}
}

// countingSink counts Append calls.
type countingSink struct {
	memSink
	calls int
}

func (c *countingSink) Append(ctx context.Context, rs []reading.Reading) error {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.memSink.Append(ctx, rs)
}

func TestAppendsArePacedAndNothingIsLost(t *testing.T) {
	var entries []Entry
	for i := 0; i < 20; i++ {
		entries = append(entries, Entry{Device: &scripted{name: fmt.Sprintf("d%02d", i)}, Interval: time.Millisecond})
	}
	sink := &countingSink{memSink: *newSink()}
	p, _ := New(entries, sink, Config{AppendEvery: 50 * time.Millisecond})
	stop := start(t, p)
	sink.waitFor(t, func() bool { return sink.count >= 2000 })
	stop()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	// 20 devices at 1ms for the time 2000+ readings take: ≥100ms, in which
	// unpaced appends would number in the hundreds; paced at 50ms they are
	// a handful (the count bounds the rate, not the time).
	if perAppend := float64(sink.count) / float64(sink.calls); perAppend < 20 {
		t.Fatalf("%d readings in %d appends: appends were not paced", sink.count, sink.calls)
	}
	var stored int64
	for _, s := range p.Stats() {
		stored += s.Stored
	}
	if stored != int64(sink.count) {
		t.Fatalf("the poller counts %d stored, the sink got %d", stored, sink.count)
	}
	for name, vs := range sink.got {
		for i, v := range vs {
			if v != float64(i+1) {
				t.Fatalf("%s: reading %d = %v: lost or reordered", name, i, v)
			}
		}
	}
}

// wedged is a device whose reads never return until released, whatever
// their context says: a driver stuck on a hung bus.
type wedged struct {
	release chan struct{}
	sawDone chan struct{}
}

func (w *wedged) Name() string { return "wedged" }

func (w *wedged) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	<-ctx.Done()
	select {
	case w.sawDone <- struct{}{}:
	default:
	}
	<-w.release
	return dst, ctx.Err()
}

func TestAReadPastItsTimeoutMakesTheDeviceUnhealthy(t *testing.T) {
	w := &wedged{release: make(chan struct{}), sawDone: make(chan struct{}, 1)}
	p, _ := New([]Entry{{Device: w, Interval: time.Millisecond}}, newSink(), Config{ReadTimeout: 20 * time.Millisecond})
	stop := start(t, p)
	<-w.sawDone // the read's context ended at the timeout
	deadline := time.Now().Add(20 * time.Second)
	for p.Stats()[0].Healthy || !strings.Contains(p.Stats()[0].LastError, "read timed out") {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", p.Stats()[0])
		}
		time.Sleep(time.Millisecond)
	}
	close(w.release) // the driver gives up: the error is counted as a timeout
	for p.Stats()[0].ReadErrors == 0 {
		time.Sleep(time.Millisecond)
	}
	stop()
	if st := p.Stats()[0]; !strings.Contains(st.LastError, "read timed out after 20ms") {
		t.Fatalf("stats after the read returned: %+v", st)
	}
}

// simulated is a scripted device that says its readings are simulated.
type simulated struct{ scripted }

func (s *simulated) Simulated() bool { return true }

// flagSink records each device's readings' Simulated flags.
type flagSink struct {
	mu  sync.Mutex
	sim map[string][]bool
}

func (f *flagSink) Append(_ context.Context, rs []reading.Reading) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range rs {
		f.sim[r.Device] = append(f.sim[r.Device], r.Simulated)
	}
	return nil
}

func (f *flagSink) count(dev string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sim[dev])
}

// TestSimulatedDevicesReadingsAreMarked: every reading of a Simulator
// device is marked Simulated, and so are its stats; a real device's are
// not.
func TestSimulatedDevicesReadingsAreMarked(t *testing.T) {
	fake, real := &simulated{scripted{name: "fake"}}, &scripted{name: "real"}
	sink := &flagSink{sim: map[string][]bool{}}
	p, err := New([]Entry{{Device: fake, Interval: time.Millisecond}, {Device: real, Interval: time.Millisecond}}, sink, Config{})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, p)
	deadline := time.Now().Add(20 * time.Second) // a hang guard
	for sink.count("fake") < 5 || sink.count("real") < 5 {
		if time.Now().After(deadline) {
			t.Fatal("no readings")
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	for dev, want := range map[string]bool{"fake": true, "real": false} {
		for i, got := range sink.sim[dev] {
			if got != want {
				t.Fatalf("%s reading %d simulated=%v", dev, i, got)
			}
		}
	}
	st := p.Stats()
	if !st[0].Simulated || st[1].Simulated || !st[0].Last.Simulated {
		t.Fatalf("stats: %+v", st)
	}
}

// panicky panics on its first reads, then reads normally.
type panicky struct{ scripted }

func (p *panicky) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	p.mu.Lock()
	n := p.n
	p.mu.Unlock()
	if n < 2 {
		p.mu.Lock()
		p.n++
		p.mu.Unlock()
		panic("driver bug")
	}
	return p.scripted.Read(ctx, dst)
}

// TestAPanickingReadIsAFailedRead: a driver that panics in Read makes its
// device unhealthy with the panic as its error; the poller goes on.
func TestAPanickingReadIsAFailedRead(t *testing.T) {
	d := &panicky{scripted{name: "d"}}
	sink := newSink()
	p, _ := New([]Entry{{Device: d, Interval: time.Millisecond}}, sink, Config{MaxBackoff: 2 * time.Millisecond})
	stop := start(t, p)
	sink.waitFor(t, func() bool { return len(sink.got["d"]) >= 1 })
	stop()
	if st := p.Stats()[0]; st.ReadErrors != 2 || st.LastError != "read panicked: driver bug" {
		t.Fatalf("stats = %+v", st)
	}
}

// TestPokeReadsAtOnce: a device read every hour is read again as soon as
// it is poked (an actuator a command just changed); a name the poller does
// not have is refused.
func TestPokeReadsAtOnce(t *testing.T) {
	d := &scripted{name: "relay"}
	sink := newSink()
	p, _ := New([]Entry{{Device: d, Interval: time.Hour}}, sink, Config{})
	stop := start(t, p)
	defer stop()
	sink.waitFor(t, func() bool { return len(sink.got["relay"]) == 1 }) // the first read, at start
	if !p.Poke("relay") || p.Poke("pump") {
		t.Fatal("Poke answered wrong")
	}
	sink.waitFor(t, func() bool { return len(sink.got["relay"]) == 2 })
}
