package gpioout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return at }

// fakePin is a gpio.PinOut that records what the driver does to it and
// fails when told to.
type fakePin struct {
	mu   sync.Mutex
	ops  []string
	fail error // returned (once) by the next Out
}

func (p *fakePin) String() string                        { return "GPIO27" }
func (p *fakePin) Halt() error                           { return nil }
func (p *fakePin) Name() string                          { return "GPIO27" }
func (p *fakePin) Number() int                           { return 27 }
func (p *fakePin) Function() string                      { return "Out" }
func (p *fakePin) Func() pin.Func                        { return gpio.OUT }
func (p *fakePin) SupportedFuncs() []pin.Func            { return []pin.Func{gpio.OUT} }
func (p *fakePin) SetFunc(pin.Func) error                { return errors.New("not supported") }
func (p *fakePin) PWM(gpio.Duty, physic.Frequency) error { return errors.New("no PWM") }

func (p *fakePin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail; err != nil {
		p.fail = nil
		p.ops = append(p.ops, fmt.Sprintf("Out(%s) failed", l))
		return err
	}
	p.ops = append(p.ops, fmt.Sprintf("Out(%s)", l))
	return nil
}

func (p *fakePin) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.ops, " ")
}

func state(t *testing.T, d *Device) float64 {
	t.Helper()
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Device != "relay" || rs[0].Metric != "state" || rs[0].Unit != "" || !rs[0].Time.Equal(at) {
		t.Fatalf("Read = %v", rs)
	}
	return rs[0].Value
}

func TestSafeStateAtNewAndOnSafe(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantStart string // the pin's log after New
		wantSafe  float64
		afterOn   string // the log after set on and Safe
	}{
		{name: "default off", cfg: Config{}, wantStart: "Out(Low)", wantSafe: 0, afterOn: "Out(Low) Out(High) Out(Low)"},
		{name: "safe on", cfg: Config{SafeState: "on"}, wantStart: "Out(High)", wantSafe: 1, afterOn: "Out(High) Out(High) Out(High)"},
		{name: "active low, safe off", cfg: Config{ActiveLow: true, SafeState: "off"}, wantStart: "Out(High)", wantSafe: 0, afterOn: "Out(High) Out(Low) Out(High)"},
		{name: "active low, safe on", cfg: Config{ActiveLow: true, SafeState: "on"}, wantStart: "Out(Low)", wantSafe: 1, afterOn: "Out(Low) Out(Low) Out(Low)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakePin{}
			d, err := New("relay", p, tt.cfg, clock)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.log(); got != tt.wantStart {
				t.Fatalf("after New the pin saw %q, want %q", got, tt.wantStart)
			}
			if got := state(t, d); got != tt.wantSafe {
				t.Fatalf("state after New = %v, want %v", got, tt.wantSafe)
			}
			if err := d.Do(context.Background(), "set", "on"); err != nil {
				t.Fatal(err)
			}
			if got := state(t, d); got != 1 {
				t.Fatalf("state after set on = %v", got)
			}
			if err := d.Safe(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := p.log(); got != tt.afterOn {
				t.Fatalf("the pin saw %q, want %q", got, tt.afterOn)
			}
			if got := state(t, d); got != tt.wantSafe {
				t.Fatalf("state after Safe = %v, want %v", got, tt.wantSafe)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	d, err := New("relay", &fakePin{}, Config{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	const allowed = `set takes true/false, 1/0 or "on"/"off"`
	tests := []struct {
		action string
		value  any
		want   string // error; empty: accepted
	}{
		{"set", true, ""},
		{"set", false, ""},
		{"set", 1.0, ""},
		{"set", 0.0, ""},
		{"set", 1, ""},
		{"set", "on", ""},
		{"set", "OFF", ""},
		{"set", " true ", ""},
		{"set", "0", ""},
		{"set", 0.5, "value 0.5 not allowed: " + allowed},
		{"set", 2, "value 2 not allowed: " + allowed},
		{"set", -1.0, "value -1 not allowed: " + allowed},
		{"set", "maybe", `value "maybe" not allowed: ` + allowed},
		{"set", nil, "value missing: " + allowed},
		{"set", []any{true}, "value [true] not allowed: " + allowed},
		{"toggle", true, `action "toggle" not supported, use set`},
		{"", true, `action "" not supported, use set`},
		{"SET", true, `action "SET" not supported, use set`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.action, tt.value), func(t *testing.T) {
			err := d.Check(tt.action, tt.value)
			if (err == nil) != (tt.want == "") || (err != nil && err.Error() != tt.want) {
				t.Fatalf("Check(%q, %#v) = %v, want %q", tt.action, tt.value, err, tt.want)
			}
		})
	}
	if got := d.Actions(); len(got) != 1 || got[0] != "set" {
		t.Fatalf("Actions() = %v", got)
	}
}

func TestDo(t *testing.T) {
	p := &fakePin{}
	d, err := New("relay", p, Config{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{true, 0.0, "on", "off", 1.0} {
		if err := d.Do(context.Background(), "set", v); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Do(context.Background(), "set", "half"); err == nil {
		t.Fatal("Do accepted an invalid value")
	}
	if got, want := p.log(), "Out(Low) Out(High) Out(Low) Out(High) Out(Low) Out(High)"; got != want {
		t.Fatalf("the pin saw %q, want %q", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Do(ctx, "set", false); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with an ended context = %v", err)
	}
	if got := state(t, d); got != 1 {
		t.Fatalf("state = %v, want 1 (the cancelled command was not applied)", got)
	}
}

func TestPinErrors(t *testing.T) {
	cause := errors.New("gpio: write /dev/gpiochip0: device busy")
	t.Run("safe state fails at New", func(t *testing.T) {
		_, err := New("relay", &fakePin{fail: cause}, Config{SafeState: "on"}, clock)
		if !errors.Is(err, cause) || err.Error() != "gpio-out relay (GPIO27): apply safe state on: gpio: write /dev/gpiochip0: device busy" {
			t.Fatalf("New error = %v", err)
		}
	})
	t.Run("a failed set makes the state unknown", func(t *testing.T) {
		p := &fakePin{}
		d, err := New("relay", p, Config{}, clock)
		if err != nil {
			t.Fatal(err)
		}
		p.fail = cause
		if err := d.Do(context.Background(), "set", true); !errors.Is(err, cause) || !strings.HasPrefix(err.Error(), "gpio-out relay (GPIO27): set on: ") {
			t.Fatalf("Do error = %v", err)
		}
		if rs, err := d.Read(context.Background(), nil); !errors.Is(err, cause) || len(rs) != 0 ||
			!strings.Contains(err.Error(), "read state: unknown since a change failed") {
			t.Fatalf("Read = %v, %v", rs, err)
		}
		if err := d.Safe(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := state(t, d); got != 0 {
			t.Fatalf("state after Safe = %v", got)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		_, err := New("relay", &fakePin{}, Config{SafeState: "closed"}, clock)
		if err == nil || err.Error() != `gpio-out relay: options.safe_state: "closed" is not a state, use on or off` {
			t.Fatalf("New error = %v", err)
		}
	})
}
