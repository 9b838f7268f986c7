package pwm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/edged-gateway/edged/reading"
)

// The actions a pwm device may accept.
const (
	// ActionSet sets the duty cycle, a fraction from 0 to 1.
	ActionSet = "set"
	// ActionFrequency sets the frequency, in hertz or as "20kHz"; only
	// offered when the options allow a range.
	ActionFrequency = "frequency"
)

// Device is one PWM output. Its methods are safe for concurrent use.
type Device struct {
	name       string
	minD, maxD float64
	safe       float64
	minF, maxF physic.Frequency
	now        func() time.Time

	mu    sync.Mutex
	pin   gpio.PinOut
	duty  float64
	freq  physic.Frequency
	known bool  // false after a failed change
	err   error // the failed change
}

// New returns the output on pin, already at its safe duty: it fails, with
// an error naming the device and pin, if the pin cannot do PWM. now may be
// nil (time.Now).
func New(name string, pin gpio.PinOut, cfg Config, now func() time.Time) (*Device, error) {
	if name == "" {
		return nil, errors.New("pwm: device needs a name")
	}
	if pin == nil {
		return nil, fmt.Errorf("pwm %s: no pin", name)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pwm %s: %w", name, err)
	}
	if now == nil {
		now = time.Now
	}
	minF, maxF := cfg.frequencies()
	minD, maxD := cfg.duties()
	d := &Device{
		name: name, minD: minD, maxD: maxD, safe: cfg.safeDuty(),
		minF: physic.Frequency(minF), maxF: physic.Frequency(maxF), now: now,
		pin: pin, freq: physic.Frequency(cfg.Frequency),
	}
	if err := d.Safe(context.Background()); err != nil {
		return nil, fmt.Errorf("%w (does this pin and host support hardware PWM? periph's sysfs and gpioioctl drivers do not; on a Raspberry Pi use GPIO12, 13, 18 or 19)", err)
	}
	return d, nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Actions lists the actions the device accepts, for help and validation:
// set, and frequency when the options allow a range.
func (d *Device) Actions() []string {
	if d.minF < d.maxF {
		return []string{ActionSet, ActionFrequency}
	}
	return []string{ActionSet}
}

// Check validates a command without applying it. The error says what is
// allowed.
func (d *Device) Check(action string, value any) error {
	_, _, err := d.parse(action, value)
	return err
}

// Do validates a command and applies it.
func (d *Device) Do(ctx context.Context, action string, value any) error {
	duty, freq, err := d.parse(action, value)
	if err != nil {
		return err
	}
	op := fmt.Sprintf("set duty %g", duty)
	if action == ActionFrequency {
		op = "set frequency " + freq.String()
	}
	if err := ctx.Err(); err != nil {
		return d.wrap(op, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if action == ActionSet {
		freq = d.freq
	} else {
		duty = d.duty
		if !d.known { // the duty is unknown: keep the frequency change safe
			duty = d.safe
		}
	}
	return d.apply(op, duty, freq)
}

// Safe puts the output at its safe duty, at the current frequency.
func (d *Device) Safe(ctx context.Context) error {
	op := fmt.Sprintf("apply safe duty %g", d.safe)
	if err := ctx.Err(); err != nil {
		return d.wrap(op, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.apply(op, d.safe, d.freq)
}

// State describes the output now, for a command's result: "duty 0.25 at
// 25kHz", or "unknown (…)" after a failed change.
func (d *Device) State() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.known {
		return fmt.Sprintf("unknown (%v)", d.err)
	}
	return fmt.Sprintf("duty %s at %s", strconv.FormatFloat(d.duty, 'g', 6, 64), d.freq)
}

// Read appends the duty as metric "duty" (0 to 1) to dst. It fails while
// the duty is unknown after a failed change.
func (d *Device) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	d.mu.Lock()
	duty, known, err := d.duty, d.known, d.err
	d.mu.Unlock()
	if !known {
		return dst, d.wrap("read duty", fmt.Errorf("unknown since a change failed: %w", err))
	}
	return append(dst, reading.Reading{Device: d.name, Metric: "duty", Value: duty, Time: d.now()}), nil
}

// apply drives the pin. Call with d.mu held.
func (d *Device) apply(op string, duty float64, freq physic.Frequency) error {
	if err := d.pin.PWM(toDuty(duty), freq); err != nil {
		d.known, d.err = false, err
		return d.wrap(op, err)
	}
	d.duty, d.freq, d.known, d.err = duty, freq, true, nil
	return nil
}

func (d *Device) wrap(op string, err error) error {
	return fmt.Errorf("pwm %s (%s): %s: %w", d.name, d.pin, op, err)
}

// toDuty converts a fraction to periph's duty, rounding to the nearest
// step of 1/2^24.
func toDuty(f float64) gpio.Duty {
	return gpio.Duty(math.Round(f * float64(gpio.DutyMax)))
}

// parse checks a command and returns the duty or frequency it asks for.
func (d *Device) parse(action string, value any) (float64, physic.Frequency, error) {
	switch action {
	case ActionSet:
		v, ok := number(value)
		if !ok {
			return 0, 0, fmt.Errorf("value %s not allowed: set takes a duty, a number from %g to %g", show(value), d.minD, d.maxD)
		}
		if !(v >= d.minD && v <= d.maxD) {
			return 0, 0, fmt.Errorf("value %g out of range: duty is %g..%g", v, d.minD, d.maxD)
		}
		return v, 0, nil
	case ActionFrequency:
		if d.minF == d.maxF {
			return 0, 0, fmt.Errorf("action %q not supported: the frequency is fixed at %s (options.min_frequency and max_frequency allow a range), use set", action, d.maxF)
		}
		f, ok := frequency(value)
		if !ok {
			return 0, 0, fmt.Errorf("value %s not allowed: frequency takes hertz, a number or a string such as \"20kHz\", from %s to %s", show(value), d.minF, d.maxF)
		}
		if f < d.minF || f > d.maxF {
			return 0, 0, fmt.Errorf("value %s out of range: frequency is %s..%s", show(value), d.minF, d.maxF)
		}
		return 0, f, nil
	}
	return 0, 0, fmt.Errorf("action %q not supported, use %s", action, strings.Join(d.Actions(), " or "))
}

// number returns a JSON-decoded (float64) or Go (int) number.
func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case int:
		return float64(v), true
	}
	return 0, false
}

// frequency returns a number of hertz or a string such as "20kHz".
func frequency(v any) (physic.Frequency, bool) {
	if s, ok := v.(string); ok {
		var f Frequency
		if err := f.UnmarshalText([]byte(s)); err != nil {
			return 0, false
		}
		return physic.Frequency(f), true
	}
	n, ok := number(v)
	if !ok || n < 0 || n > float64(math.MaxInt64/int64(physic.Hertz)) {
		return 0, false
	}
	return physic.Frequency(math.Round(n * float64(physic.Hertz))), true
}

// show formats a command value for an error: strings quoted.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "missing"
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%v", v)
}
