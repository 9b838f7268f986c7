package pwm

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
	fail error // returned (once) by the next PWM
}

func (p *fakePin) String() string             { return "GPIO18" }
func (p *fakePin) Halt() error                { return nil }
func (p *fakePin) Name() string               { return "GPIO18" }
func (p *fakePin) Number() int                { return 18 }
func (p *fakePin) Function() string           { return "PWM" }
func (p *fakePin) Func() pin.Func             { return gpio.PWM }
func (p *fakePin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.PWM} }
func (p *fakePin) SetFunc(pin.Func) error     { return errors.New("not supported") }
func (p *fakePin) Out(gpio.Level) error       { return errors.New("the driver must not use Out") }

func (p *fakePin) PWM(d gpio.Duty, f physic.Frequency) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	op := fmt.Sprintf("PWM(%d, %s)", d, f)
	if err := p.fail; err != nil {
		p.fail = nil
		p.ops = append(p.ops, op+" failed")
		return err
	}
	p.ops = append(p.ops, op)
	return nil
}

func (p *fakePin) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.ops, " ")
}

func ptr(f float64) *float64 { return &f }

func duty(t *testing.T, d *Device) float64 {
	t.Helper()
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Device != "fan" || rs[0].Metric != "duty" || rs[0].Unit != "" || !rs[0].Time.Equal(at) {
		t.Fatalf("Read = %v", rs)
	}
	return rs[0].Value
}

func TestSafeDutyAtNewAndOnSafe(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantSafe float64
		wantLog  string // after New, set 0.5 and Safe
	}{
		{name: "default safe is min_duty 0", cfg: Config{Frequency: Frequency(25 * physic.KiloHertz)}, wantSafe: 0,
			wantLog: "PWM(0, 25kHz) PWM(8388608, 25kHz) PWM(0, 25kHz)"},
		{name: "default safe is min_duty", cfg: Config{Frequency: Frequency(25 * physic.KiloHertz), MinDuty: 0.25}, wantSafe: 0.25,
			wantLog: "PWM(4194304, 25kHz) PWM(8388608, 25kHz) PWM(4194304, 25kHz)"},
		{name: "full speed is safe", cfg: Config{Frequency: Frequency(25 * physic.KiloHertz), MinDuty: 0.2, SafeDuty: ptr(1)}, wantSafe: 1,
			wantLog: "PWM(16777216, 25kHz) PWM(8388608, 25kHz) PWM(16777216, 25kHz)"},
		{name: "off is safe below min_duty", cfg: Config{Frequency: Frequency(50 * physic.Hertz), MinDuty: 0.05, MaxDuty: 0.6, SafeDuty: ptr(0)}, wantSafe: 0,
			wantLog: "PWM(0, 50Hz) PWM(8388608, 50Hz) PWM(0, 50Hz)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakePin{}
			d, err := New("fan", p, tt.cfg, clock)
			if err != nil {
				t.Fatal(err)
			}
			if got := duty(t, d); got != tt.wantSafe {
				t.Fatalf("duty after New = %v, want %v", got, tt.wantSafe)
			}
			if err := d.Do(context.Background(), "set", 0.5); err != nil {
				t.Fatal(err)
			}
			if got := duty(t, d); got != 0.5 {
				t.Fatalf("duty after set = %v", got)
			}
			if err := d.Safe(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := duty(t, d); got != tt.wantSafe {
				t.Fatalf("duty after Safe = %v, want %v", got, tt.wantSafe)
			}
			if got := p.log(); got != tt.wantLog {
				t.Fatalf("the pin saw %q, want %q", got, tt.wantLog)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	fixed, err := New("fan", &fakePin{}, Config{Frequency: Frequency(25 * physic.KiloHertz)}, clock)
	if err != nil {
		t.Fatal(err)
	}
	ranged, err := New("fan", &fakePin{}, Config{
		Frequency: Frequency(25 * physic.KiloHertz), MinFrequency: Frequency(20 * physic.KiloHertz), MaxFrequency: Frequency(30 * physic.KiloHertz),
		MinDuty: 0.2, MaxDuty: 0.9,
	}, clock)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		d      *Device
		action string
		value  any
		want   string // error; empty: accepted
	}{
		{"zero", fixed, "set", 0.0, ""},
		{"one", fixed, "set", 1.0, ""},
		{"half", fixed, "set", 0.5, ""},
		{"int", fixed, "set", 1, ""},
		{"above 1", fixed, "set", 1.5, "value 1.5 out of range: duty is 0..1"},
		{"negative", fixed, "set", -0.1, "value -0.1 out of range: duty is 0..1"},
		{"percent string", fixed, "set", "50%", `value "50%" not allowed: set takes a duty, a number from 0 to 1`},
		{"bool", fixed, "set", true, "value true not allowed: set takes a duty, a number from 0 to 1"},
		{"missing", fixed, "set", nil, "value missing not allowed: set takes a duty, a number from 0 to 1"},
		{"below min_duty", ranged, "set", 0.1, "value 0.1 out of range: duty is 0.2..0.9"},
		{"above max_duty", ranged, "set", 0.95, "value 0.95 out of range: duty is 0.2..0.9"},
		{"at min_duty", ranged, "set", 0.2, ""},
		{"unknown action", fixed, "toggle", 1.0, `action "toggle" not supported, use set`},
		{"unknown action, ranged", ranged, "off", nil, `action "off" not supported, use set or frequency`},
		{"fixed frequency", fixed, "frequency", 20000.0, `action "frequency" not supported: the frequency is fixed at 25kHz (options.min_frequency and max_frequency allow a range), use set`},
		{"frequency in hertz", ranged, "frequency", 20000.0, ""},
		{"frequency as text", ranged, "frequency", "30kHz", ""},
		{"frequency too high", ranged, "frequency", "31kHz", `value "31kHz" out of range: frequency is 20kHz..30kHz`},
		{"frequency too low", ranged, "frequency", 100.0, "value 100 out of range: frequency is 20kHz..30kHz"},
		{"frequency not a frequency", ranged, "frequency", "fast", `value "fast" not allowed: frequency takes hertz, a number or a string such as "20kHz", from 20kHz to 30kHz`},
		{"frequency negative", ranged, "frequency", -1.0, "value -1 not allowed: frequency takes hertz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Check(tt.action, tt.value)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.HasPrefix(err.Error(), tt.want)) {
				t.Fatalf("Check(%q, %#v) = %v, want %q", tt.action, tt.value, err, tt.want)
			}
		})
	}
	if got := fmt.Sprint(fixed.Actions(), ranged.Actions()); got != "[set] [set frequency]" {
		t.Fatalf("Actions() = %s", got)
	}
}

func TestDoFrequency(t *testing.T) {
	p := &fakePin{}
	d, err := New("fan", p, Config{Frequency: Frequency(25 * physic.KiloHertz), MinFrequency: Frequency(physic.KiloHertz), MaxFrequency: Frequency(30 * physic.KiloHertz)}, clock)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		action string
		value  any
	}{{"set", 0.75}, {"frequency", 1500.0}, {"set", 0.25}, {"frequency", "30kHz"}} {
		if err := d.Do(context.Background(), c.action, c.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Safe(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "PWM(0, 25kHz) PWM(12582912, 25kHz) PWM(12582912, 1.500kHz) PWM(4194304, 1.500kHz) PWM(4194304, 30kHz) PWM(0, 30kHz)"
	if got := p.log(); got != want {
		t.Fatalf("the pin saw %q, want %q", got, want)
	}
	if err := d.Do(context.Background(), "set", 2.0); err == nil || p.log() != want {
		t.Fatalf("an invalid command reached the pin: %v, %q", err, p.log())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Do(ctx, "set", 0.5); !errors.Is(err, context.Canceled) || p.log() != want {
		t.Fatalf("Do with an ended context = %v, the pin saw %q", err, p.log())
	}
}

func TestPinErrors(t *testing.T) {
	cause := errors.New("pwm is not supported via sysfs")
	t.Run("no PWM on the pin", func(t *testing.T) {
		_, err := New("fan", &fakePin{fail: cause}, Config{Frequency: Frequency(25 * physic.KiloHertz)}, clock)
		if !errors.Is(err, cause) || !strings.HasPrefix(err.Error(), "pwm fan (GPIO18): apply safe duty 0: pwm is not supported via sysfs (does this pin and host support hardware PWM?") {
			t.Fatalf("New error = %v", err)
		}
	})
	t.Run("a failed set makes the duty unknown", func(t *testing.T) {
		p := &fakePin{}
		d, err := New("fan", p, Config{Frequency: Frequency(25 * physic.KiloHertz)}, clock)
		if err != nil {
			t.Fatal(err)
		}
		p.fail = cause
		if err := d.Do(context.Background(), "set", 0.5); !errors.Is(err, cause) || !strings.HasPrefix(err.Error(), "pwm fan (GPIO18): set duty 0.5: ") {
			t.Fatalf("Do error = %v", err)
		}
		if rs, err := d.Read(context.Background(), nil); !errors.Is(err, cause) || len(rs) != 0 {
			t.Fatalf("Read = %v, %v", rs, err)
		}
		if err := d.Safe(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := duty(t, d); got != 0 {
			t.Fatalf("duty after Safe = %v", got)
		}
	})
}
