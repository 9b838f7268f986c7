package gpioin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/pin"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return at }

// fakePin is a gpio.PinIn whose edges the test sends on a channel, as
// periph's gpiotest.Pin does: WaitForEdge takes the next level sent.
type fakePin struct {
	edges chan gpio.Level
	// quick makes WaitForEdge return false at once, as gpioioctl does
	// with -1 or on a line without edge detection.
	quick bool
	waits atomic.Int64 // WaitForEdge calls

	mu    sync.Mutex
	level gpio.Level
	in    string // the last In call
	fail  error  // returned by In
}

func newPin() *fakePin { return &fakePin{edges: make(chan gpio.Level)} }

func (p *fakePin) String() string             { return "GPIO17" }
func (p *fakePin) Halt() error                { return nil }
func (p *fakePin) Name() string               { return "GPIO17" }
func (p *fakePin) Number() int                { return 17 }
func (p *fakePin) Function() string           { return "In" }
func (p *fakePin) Func() pin.Func             { return gpio.IN }
func (p *fakePin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN} }
func (p *fakePin) SetFunc(pin.Func) error     { return errors.New("not supported") }
func (p *fakePin) Pull() gpio.Pull            { return gpio.PullNoChange }
func (p *fakePin) DefaultPull() gpio.Pull     { return gpio.PullDown }

func (p *fakePin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in = fmt.Sprintf("In(%s, %s)", pull, edge)
	return p.fail
}

func (p *fakePin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

func (p *fakePin) WaitForEdge(timeout time.Duration) bool {
	p.waits.Add(1)
	if timeout <= 0 {
		panic(fmt.Sprintf("WaitForEdge(%s): Run must only wait with a positive timeout", timeout))
	}
	if p.quick {
		return false
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l := <-p.edges:
		p.mu.Lock()
		p.level = l
		p.mu.Unlock()
		return true
	case <-t.C:
		return false
	}
}

// run starts d.Run and returns a function that stops it and checks that it
// returned nil promptly.
func run(t *testing.T, d *Device) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(20 * time.Second): // a hang guard, not a speed check
			t.Fatal("Run did not return after its context ended")
		}
	}
}

// settle waits until d has counted want edges, then a little longer to
// see that it counts no more.
func settle(t *testing.T, d *Device, want int64, quiet time.Duration) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // a hang guard; the count is what is asserted
	for d.Edges() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(quiet)
	if got := d.Edges(); got != want {
		t.Fatalf("counted %d edges, want %d", got, want)
	}
}

func TestNewSetsUpThePin(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "In(Float, NoEdge)"},
		{Config{Pull: "up"}, "In(PullUp, NoEdge)"},
		{Config{Pull: "down", Edge: "rising"}, "In(PullDown, RisingEdge)"},
		{Config{Pull: "none", Edge: "falling"}, "In(Float, FallingEdge)"},
		{Config{Edge: "both"}, "In(Float, BothEdges)"},
		{Config{Edge: "rising", Debounce: 20 * time.Millisecond}, "In(Float, BothEdges)"}, // debounced in software
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			p := newPin()
			if _, err := New("door", p, tt.cfg, clock); err != nil {
				t.Fatal(err)
			}
			if p.in != tt.want {
				t.Fatalf("New called %s, want %s", p.in, tt.want)
			}
		})
	}
}

func TestReadReportsLevelAndEdges(t *testing.T) {
	p := newPin()
	d, err := New("door", p, Config{Metric: "open", Edge: "both"}, clock)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	p.edges <- gpio.High
	p.edges <- gpio.Low
	p.edges <- gpio.High
	settle(t, d, 3, 0)
	stop()
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"door/open=1 @2026-03-01T12:00:00Z #0", "door/edges=3 @2026-03-01T12:00:00Z #0"}
	if len(rs) != 2 || rs[0].String() != want[0] || rs[1].String() != want[1] {
		t.Fatalf("Read = %v, want %v", rs, want)
	}

	plain, err := New("door", newPin(), Config{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	rs, err = plain.Read(context.Background(), nil)
	if err != nil || len(rs) != 1 || rs[0].String() != "door/level=0 @2026-03-01T12:00:00Z #0" {
		t.Fatalf("Read without edges = %v, %v", rs, err)
	}
}

func TestDebounce(t *testing.T) {
	const debounce = 50 * time.Millisecond // wide enough that a loaded machine does not split a bounce
	bounce := func(p *fakePin, ls ...gpio.Level) {
		for _, l := range ls {
			p.edges <- l
		}
	}
	tests := []struct {
		edge string
		want int64
	}{
		{"rising", 2},
		{"falling", 1},
		{"both", 3},
	}
	for _, tt := range tests {
		t.Run(tt.edge, func(t *testing.T) {
			p := newPin()
			d, err := New("button", p, Config{Edge: tt.edge, Debounce: debounce}, clock)
			if err != nil {
				t.Fatal(err)
			}
			stop := run(t, d)
			defer stop()
			// press: bounces, settles high
			bounce(p, gpio.High, gpio.Low, gpio.High, gpio.Low, gpio.High)
			time.Sleep(3 * debounce)
			// release: bounces, settles low
			bounce(p, gpio.Low, gpio.High, gpio.Low)
			time.Sleep(3 * debounce)
			// a glitch that comes back to low: no change
			bounce(p, gpio.High, gpio.Low)
			time.Sleep(3 * debounce)
			// press again
			bounce(p, gpio.High)
			settle(t, d, tt.want, 3*debounce)
		})
	}
}

func TestRunDoesNotSpinOnAPinThatNeverWaits(t *testing.T) {
	p := newPin()
	p.quick = true
	d, err := New("meter", p, Config{Edge: "rising"}, clock)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	time.Sleep(350 * time.Millisecond)
	stop()
	if n := p.waits.Load(); n > 6 {
		t.Fatalf("WaitForEdge called %d times in 350ms: Run spins", n)
	}
	if d.Edges() != 0 {
		t.Fatalf("counted %d edges", d.Edges())
	}
}

func TestRunTwiceAndWithoutEdges(t *testing.T) {
	d, err := New("door", newPin(), Config{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	time.Sleep(10 * time.Millisecond)
	if err := d.Run(context.Background()); err == nil || err.Error() != "gpio-in door (GPIO17): run: already running" {
		t.Fatalf("second Run = %v", err)
	}
	stop()
}

func TestErrors(t *testing.T) {
	cause := errors.New("gpioioctl: line busy")
	p := newPin()
	p.fail = cause
	_, err := New("door", p, Config{Pull: "up", Edge: "falling"}, clock)
	if !errors.Is(err, cause) || err.Error() != "gpio-in door (GPIO17): set up as input (pull PullUp, edge FallingEdge): gpioioctl: line busy" {
		t.Fatalf("New error = %v", err)
	}
	if _, err := New("door", newPin(), Config{Edge: "up"}, clock); err == nil || !strings.HasPrefix(err.Error(), "gpio-in door: options.edge: ") {
		t.Fatalf("New error = %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "zero value", cfg: Config{}},
		{name: "button", cfg: Config{Pull: "up", Edge: "falling", Debounce: 20 * time.Millisecond}},
		{name: "meter", cfg: Config{Metric: "pulses_level", Pull: "down", Edge: "rising"}},
		{name: "bad pull", cfg: Config{Pull: "high"}, want: `options.pull: "high" is not a pull, use up, down or none`},
		{name: "bad edge", cfg: Config{Edge: "any"}, want: `options.edge: "any" is not an edge, use none, rising, falling or both`},
		{name: "debounce without edge", cfg: Config{Debounce: time.Millisecond}, want: "options.debounce: only used when counting edges: set options.edge (rising, falling or both) or remove debounce"},
		{name: "negative debounce", cfg: Config{Edge: "both", Debounce: -time.Millisecond}, want: "options.debounce: -1ms is not a debounce time, use 0 to 10s, e.g. 20ms"},
		{name: "huge debounce", cfg: Config{Edge: "both", Debounce: time.Minute}, want: "options.debounce: 1m0s is not a debounce time, use 0 to 10s, e.g. 20ms"},
		{name: "metric clash", cfg: Config{Metric: "edges"}, want: `options.metric: "edges" is the edge counter's metric, choose another name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && err.Error() != tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
