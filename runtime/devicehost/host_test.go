package devicehost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/poller"
)

// waitUntil waits for cond; the deadline is a hang guard only.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// journal records what the fake drivers were asked to do, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, fmt.Sprintf(format, args...))
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

// relay is a fake actuator: it reads its state, takes "set", has a safe
// state and a close, each recorded with its instance id (its pin).
type relay struct {
	id string
	j  *journal

	mu    sync.Mutex
	on    bool
	delay any // its live option (Reconfigure)
}

func (r *relay) Name() string { return r.id }

func (r *relay) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := 0.0
	if r.on {
		v = 1
	}
	return append(dst, reading.Reading{Device: r.id, Metric: "state", Value: v, Time: time.Now()}), nil
}

func (r *relay) Check(action string, value any) error {
	if action != "set" {
		return fmt.Errorf("unknown action %q", action)
	}
	return nil
}

func (r *relay) Do(_ context.Context, _ string, value any) error {
	r.mu.Lock()
	r.on = value == "on"
	r.mu.Unlock()
	r.j.add("do %s %v", r.id, value)
	return nil
}

func (r *relay) Safe(context.Context) error {
	r.mu.Lock()
	r.on = false
	r.mu.Unlock()
	r.j.add("safe %s", r.id)
	return nil
}

func (r *relay) Close() error {
	r.j.add("close %s", r.id)
	return nil
}

// liveRelay is a relay that takes its "delay" option live.
type liveRelay struct{ *relay }

func (r liveRelay) LiveOptions() []string { return []string{"delay"} }

func (r liveRelay) Reconfigure(options any) error {
	r.mu.Lock()
	r.delay = options
	r.mu.Unlock()
	r.j.add("reconfigure %s %v", r.id, options)
	return nil
}

// wrapped hides its driver's commands (like cmd/edged's read-only Modbus
// view) but lets the host look through it.
type wrapped struct{ poller.Device }

func (w wrapped) Unwrap() poller.Device { return w.Device }

// sink keeps what the poller stored.
type sink struct {
	mu sync.Mutex
	rs []reading.Reading
}

func (s *sink) Append(_ context.Context, rs []reading.Reading) error {
	s.mu.Lock()
	s.rs = append(s.rs, rs...)
	s.mu.Unlock()
	return nil
}

// fixture is a host with fake relays: options is the identity of a relay
// as key=value pairs (pin=27,delay=1s), of which LiveIdentity drops the
// live keys.
type fixture struct {
	t     *testing.T
	h     *Host
	j     *journal
	sink  *sink
	opens atomic.Int64
	live  bool // open liveRelays
	wrap  bool // behind a wrapped
	acts  atomic.Pointer[map[string]commands.Actuator]
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, j: &journal{}, sink: &sink{}}
	f.h = New(Config{Sink: f.sink, SafeTimeout: time.Minute, Installed: func(set *Set) {
		a := set.Actuators()
		f.acts.Store(&a)
	}})
	return f
}

// spec is the spec of a relay called name with options like "pin=27,delay=1s".
func (f *fixture) spec(name, options string, interval time.Duration) Spec {
	pairs := strings.Split(options, ",")
	identity := func(drop []string) string {
		var kept []string
		for _, p := range pairs {
			k, _, _ := strings.Cut(p, "=")
			if !slices.Contains(drop, k) {
				kept = append(kept, p)
			}
		}
		return name + "{" + strings.Join(kept, ",") + "}"
	}
	pin := ""
	for _, p := range pairs {
		if v, ok := strings.CutPrefix(p, "pin="); ok {
			pin = v
		}
	}
	return Spec{
		Name: name, Identity: identity(nil), Settings: fmt.Sprintf("%s/%s", identity(nil), interval), Interval: interval,
		Options:      options,
		LiveIdentity: func(live []string) (string, error) { return identity(live), nil },
		Open: func() (poller.Device, bool, error) {
			n := f.opens.Add(1)
			id := fmt.Sprintf("%s@%s#%d", name, pin, n)
			f.j.add("open %s", id)
			r := &relay{id: id, j: f.j}
			var dev poller.Device = r
			if f.live {
				dev = liveRelay{r}
			}
			if f.wrap {
				dev = wrapped{dev}
			}
			return dev, false, nil
		},
	}
}

// start installs specs and runs the host until the test ends.
func (f *fixture) start(specs ...Spec) {
	f.t.Helper()
	set, err := f.h.Build(specs)
	if err != nil {
		f.t.Fatal(err)
	}
	f.h.Install(set)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.h.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Error(err)
		}
	})
}

// swap builds specs and swaps them in.
func (f *fixture) swap(specs ...Spec) (added, changed, removed []string) {
	f.t.Helper()
	set, err := f.h.Build(specs)
	if err != nil {
		f.t.Fatal(err)
	}
	added, changed, removed, err = f.h.Swap(f.t.Context(), set)
	if err != nil {
		f.t.Fatal(err)
	}
	return added, changed, removed
}

func stats(h *Host, name string) poller.DeviceStats {
	for _, s := range h.Current().Poller().Stats() {
		if s.Name == name {
			return s
		}
	}
	return poller.DeviceStats{}
}

// TestSlotReuseKeepsTheOpenDriverWhenOnlySettingsChange: a new set whose
// device has the same identity (only its interval and settings changed)
// keeps the slot, its open driver and its state: no safe state, no
// close, no second open.
func TestSlotReuseKeepsTheOpenDriverWhenOnlySettingsChange(t *testing.T) {
	f := newFixture(t)
	f.start(f.spec("fan", "pin=27", time.Hour))
	before := f.h.Current().Slot("fan")
	drv := before.Driver()
	if drv == nil {
		t.Fatal("Install did not open the new device")
	}
	if err := before.Do(t.Context(), "set", "on"); err != nil {
		t.Fatal(err)
	}
	added, changed, removed := f.swap(f.spec("fan", "pin=27", 5*time.Millisecond))
	if len(added) != 0 || len(removed) != 0 || !slices.Equal(changed, []string{"fan (kept open)"}) {
		t.Fatalf("swap: added %v changed %v removed %v", added, changed, removed)
	}
	after := f.h.Current().Slot("fan")
	if after != before || after.Driver() != drv {
		t.Fatalf("the slot or its driver was replaced: %p/%p → %p/%p", before, drv, after, after.Driver())
	}
	if got := f.h.Current().Spec("fan").Interval; got != 5*time.Millisecond {
		t.Fatalf("the running set's interval is %v", got)
	}
	waitUntil(t, "fan read at its new interval, still on", func() bool {
		s := stats(f.h, "fan")
		return s.Reads >= 3 && s.Last.Value == 1
	})
	if got := f.j.list(); !slices.Equal(got, []string{"open fan@27#1", "do fan@27#1 on"}) {
		t.Fatalf("driver calls %v, want one open and the command only", got)
	}
	// The same set again: nothing changed, nothing reported.
	if a, c, r := f.swap(f.spec("fan", "pin=27", 5*time.Millisecond)); len(a)+len(c)+len(r) != 0 {
		t.Fatalf("an unchanged swap reported added %v changed %v removed %v", a, c, r)
	}
}

// TestHandoverIsSafeThenCloseThenOpen: a relay that moves to another pin
// is handed over: the old driver's safe state, then its close, then the
// new driver's open, in that order and once each; a removed device gets
// its safe state and close, an added one opens, and commands go to the
// new set's actuators.
func TestHandoverIsSafeThenCloseThenOpen(t *testing.T) {
	f := newFixture(t)
	f.start(f.spec("fan", "pin=27", time.Hour), f.spec("pump", "pin=5", time.Hour))
	old := f.h.Current().Slot("fan")
	if err := old.Do(t.Context(), "set", "on"); err != nil {
		t.Fatal(err)
	}
	added, changed, removed := f.swap(f.spec("fan", "pin=22", time.Hour), f.spec("valve", "pin=6", time.Hour))
	if !slices.Equal(added, []string{"valve"}) || !slices.Equal(changed, []string{"fan (handed over)"}) || !slices.Equal(removed, []string{"pump"}) {
		t.Fatalf("swap: added %v changed %v removed %v", added, changed, removed)
	}
	want := []string{"open fan@27#1", "open pump@5#2", "do fan@27#1 on",
		"safe fan@27#1", "close fan@27#1", "safe pump@5#2", "close pump@5#2", "open fan@22#3", "open valve@6#4"}
	if got := f.j.list(); !slices.Equal(got, want) {
		t.Fatalf("driver calls\n got %v\nwant %v", got, want)
	}
	acts := *f.acts.Load()
	if len(acts) != 2 || acts["fan"] != f.h.Current().Slot("fan") || acts["valve"] == nil {
		t.Fatalf("actuators after the swap: %v", acts)
	}
	if err := acts["fan"].Do(t.Context(), "set", "on"); err != nil {
		t.Fatal(err)
	}
	if got := f.j.list(); got[len(got)-1] != "do fan@22#3 on" {
		t.Fatalf("a command after the handover went to %v", got[len(got)-1])
	}
	// The old slot is closed for good: it never opens again.
	if _, err := old.Open(); !errors.Is(err, ErrClosed) {
		t.Fatalf("the handed-over slot opens again: %v", err)
	}
}

// TestLiveOptionsReconfigureWithoutReopening: a device whose only change
// is an option its driver takes live (LiveOptions) keeps its slot and its
// driver, which gets the new options with Reconfigure: no safe state, no
// close, no open; looking through a Wrapper too. A change beyond the live
// options hands it over.
func TestLiveOptionsReconfigureWithoutReopening(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrapped=%v", wrap), func(t *testing.T) {
			f := newFixture(t)
			f.live, f.wrap = true, wrap
			f.start(f.spec("meter", "pin=4,delay=1s", time.Hour))
			before := f.h.Current().Slot("meter")
			drv := before.Driver()
			_, changed, _ := f.swap(f.spec("meter", "pin=4,delay=20ms", time.Hour))
			if !slices.Equal(changed, []string{"meter (options changed live)"}) {
				t.Fatalf("changed %v", changed)
			}
			if s := f.h.Current().Slot("meter"); s != before || s.Driver() != drv {
				t.Fatal("the device was reopened for a live option")
			}
			if got := f.j.list(); !slices.Equal(got, []string{"open meter@4#1", "reconfigure meter@4#1 pin=4,delay=20ms"}) {
				t.Fatalf("driver calls %v", got)
			}
			_, changed, _ = f.swap(f.spec("meter", "pin=5,delay=20ms", time.Hour))
			if !slices.Equal(changed, []string{"meter (handed over)"}) || f.opens.Load() != 2 {
				t.Fatalf("a pin change: changed %v, opens %d", changed, f.opens.Load())
			}
		})
	}
	// A driver that takes nothing live reopens for the same change.
	f := newFixture(t)
	f.start(f.spec("meter", "pin=4,delay=1s", time.Hour))
	if _, changed, _ := f.swap(f.spec("meter", "pin=4,delay=20ms", time.Hour)); !slices.Equal(changed, []string{"meter (handed over)"}) || f.opens.Load() != 2 {
		t.Fatalf("changed %v, opens %d", changed, f.opens.Load())
	}
}

// TestFailingOpenIsAnUnhealthyDeviceThenRecovers: a device whose open
// fails does not fail the set: it is unhealthy with "open: <why>", on
// the poller's back-off, refuses commands saying why, while the device
// beside it reads; once its open succeeds its readings flow.
func TestFailingOpenIsAnUnhealthyDeviceThenRecovers(t *testing.T) {
	f := newFixture(t)
	var present atomic.Bool
	var tries atomic.Int64
	chip := Spec{Name: "env", Identity: "env", Interval: time.Millisecond,
		Open: func() (poller.Device, bool, error) {
			tries.Add(1)
			if !present.Load() {
				return nil, false, errors.New("i2c1 0x77: no acknowledge")
			}
			return &relay{id: "env", j: f.j}, true, nil
		}}
	f.start(chip, f.spec("fan", "pin=27", time.Millisecond))
	waitUntil(t, "env unhealthy with its open error, fan reading", func() bool {
		return stats(f.h, "env").ReadErrors >= 2 && stats(f.h, "fan").Stored >= 2
	})
	if s := stats(f.h, "env"); s.Healthy || s.LastError != "open: i2c1 0x77: no acknowledge" {
		t.Fatalf("env: %+v", s)
	}
	env := f.h.Current().Slot("env")
	if err := env.Check("set", "on"); err == nil || !strings.Contains(err.Error(), "device env: open: i2c1 0x77: no acknowledge") {
		t.Fatalf("a command to the absent device: %v", err)
	}
	if env.Simulated() || env.Driver() != nil {
		t.Fatal("an unopened slot has a driver")
	}
	present.Store(true)
	waitUntil(t, "env open and storing", func() bool {
		s := stats(f.h, "env")
		return s.Healthy && s.Stored >= 2
	})
	if !env.Simulated() {
		t.Fatal("a driver opened on the simulated board is not Simulated")
	}
	n := tries.Load()
	waitUntil(t, "more readings", func() bool { return stats(f.h, "env").Stored >= 4 })
	if tries.Load() != n {
		t.Fatal("an open slot opened again")
	}
}

// stuck is a driver whose Safe and Close ignore their context and block
// until released.
type stuck struct {
	release chan struct{}
}

func (s *stuck) Name() string { return "stuck" }
func (s *stuck) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	return dst, nil
}
func (s *stuck) Safe(context.Context) error { <-s.release; return nil }
func (s *stuck) Close() error               { <-s.release; return nil }

// returns runs f and fails the test if it waits for the hung driver (the
// guard is far beyond the limits f is given).
func returns(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("%s waited for a driver that hangs", what)
		return nil
	}
}

// TestSafeAllAndCloseAllAreBoundedPerDevice: a driver whose safe state
// and close hang cannot hold the others: SafeAll and CloseAll return,
// name it, count the failed safe state, and the relay beside it gets its
// safe state and close.
func TestSafeAllAndCloseAllAreBoundedPerDevice(t *testing.T) {
	f := newFixture(t)
	st := &stuck{release: make(chan struct{})}
	defer close(st.release)
	hung := Spec{Name: "stuck", Identity: "stuck", Interval: time.Hour, Open: func() (poller.Device, bool, error) { return st, false, nil }}
	set, err := f.h.Build([]Spec{hung, f.spec("fan", "pin=27", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.h.Install(set)
	if err := f.h.Current().Slot("fan").Do(t.Context(), "set", "on"); err != nil {
		t.Fatal(err)
	}
	err = returns(t, "SafeAll", func() error { return f.h.SafeAll(20*time.Millisecond, "shutdown") })
	if err == nil || !strings.Contains(err.Error(), "safe state of stuck: did not finish within 20ms") {
		t.Fatalf("SafeAll: %v", err)
	}
	if f.h.SafeFailures() != 1 {
		t.Fatalf("safe failures %d, want 1", f.h.SafeFailures())
	}
	err = returns(t, "CloseAll", func() error { return f.h.CloseAll(20 * time.Millisecond) })
	if err == nil || !strings.Contains(err.Error(), "close stuck: did not finish within 20ms") {
		t.Fatalf("CloseAll: %v", err)
	}
	if got := f.j.list(); !slices.Equal(got, []string{"open fan@27#1", "do fan@27#1 on", "safe fan@27#1", "close fan@27#1"}) {
		t.Fatalf("driver calls %v", got)
	}
	if _, err := f.h.Current().Slot("fan").Open(); !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed slot opens again: %v", err)
	}
}

// exploding's own loop panics when fired.
type exploding struct{ fire chan struct{} }

func (e *exploding) Name() string { return "bomb" }
func (e *exploding) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	return dst, nil
}
func (e *exploding) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-e.fire:
		panic("driver bug")
	}
}

// TestRunEndsWithAPanicInADeviceLoop: a device's own loop runs once it
// opens; a panic there ends Run with the panic as its error instead of
// the process.
func TestRunEndsWithAPanicInADeviceLoop(t *testing.T) {
	f := newFixture(t)
	e := &exploding{fire: make(chan struct{})}
	set, err := f.h.Build([]Spec{{Name: "bomb", Identity: "bomb", Interval: time.Hour, Open: func() (poller.Device, bool, error) { return e, false, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	f.h.Install(set)
	done := make(chan error, 1)
	go func() { done <- f.h.Run(t.Context()) }()
	close(e.fire)
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "devices: device bomb: panic: driver bug") {
		t.Fatalf("Run: %v", err)
	}
}

// TestSwapWhoseContextEndsOpensNothing: a swap that Run never takes (its
// context ends first) opens nothing of the new set and leaves the running
// one as it was.
func TestSwapWhoseContextEndsOpensNothing(t *testing.T) {
	f := newFixture(t)
	set, err := f.h.Build([]Spec{f.spec("fan", "pin=27", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, _, err := f.h.Swap(ctx, set); !errors.Is(err, context.Canceled) {
		t.Fatalf("Swap: %v", err)
	}
	if f.opens.Load() != 0 || len(f.h.Current().Devices()) != 0 {
		t.Fatalf("opens %d, running devices %d", f.opens.Load(), len(f.h.Current().Devices()))
	}
}

// TestCommandIsReadAtOnce: a relay polled every hour has its state read
// right after a command, so the new state is stored at once.
func TestCommandIsReadAtOnce(t *testing.T) {
	f := newFixture(t)
	f.start(f.spec("fan", "pin=27", time.Hour))
	waitUntil(t, "the first reading", func() bool { return stats(f.h, "fan").Stored == 1 })
	if err := (*f.acts.Load())["fan"].Do(t.Context(), "set", "on"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the new state stored", func() bool {
		s := stats(f.h, "fan")
		return s.Stored == 2 && s.Last.Value == 1
	})
}
