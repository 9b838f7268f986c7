package gpioout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/reading"
)

// Config is the options block of a gpio-out device. The zero value is a
// load that is off in its safe state, on when the pin is high.
type Config struct {
	// SafeState is on or off (default): the state at start, on Safe and
	// on shutdown. Choose the state in which the load is harmless.
	SafeState string `yaml:"safe_state"`
	// ActiveLow drives the pin low for on.
	ActiveLow bool `yaml:"active_low"`
}

// Validate reports the first problem with c, naming the option.
func (c Config) Validate() error {
	switch c.SafeState {
	case "", "on", "off":
		return nil
	}
	return fmt.Errorf("options.safe_state: %q is not a state, use on or off", c.SafeState)
}

// ActionSet is the one action a gpio-out device accepts.
const ActionSet = "set"

// Device is one output pin. Its methods are safe for concurrent use.
type Device struct {
	name      string
	safe      bool
	activeLow bool
	now       func() time.Time

	mu    sync.Mutex
	pin   gpio.PinOut
	on    bool
	known bool  // false after a failed change
	err   error // the failed change
}

// New returns the output on pin, already in its safe state: it fails, with
// an error naming the device and pin, if the safe state cannot be applied.
// now may be nil (time.Now).
func New(name string, pin gpio.PinOut, cfg Config, now func() time.Time) (*Device, error) {
	if name == "" {
		return nil, errors.New("gpio-out: device needs a name")
	}
	if pin == nil {
		return nil, fmt.Errorf("gpio-out %s: no pin", name)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gpio-out %s: %w", name, err)
	}
	if now == nil {
		now = time.Now
	}
	d := &Device{name: name, safe: cfg.SafeState == "on", activeLow: cfg.ActiveLow, now: now, pin: pin}
	if err := d.Safe(context.Background()); err != nil {
		return nil, err
	}
	return d, nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Actions lists the actions the device accepts, for help and validation.
func (d *Device) Actions() []string { return []string{ActionSet} }

// Check validates a command without applying it. The error says what is
// allowed.
func (d *Device) Check(action string, value any) error {
	_, err := parse(action, value)
	return err
}

// Do validates a command and applies it.
func (d *Device) Do(ctx context.Context, action string, value any) error {
	on, err := parse(action, value)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return d.wrap("set "+onOff(on), err)
	}
	return d.apply("set "+onOff(on), on)
}

// Safe puts the output in its declared safe state.
func (d *Device) Safe(ctx context.Context) error {
	op := "apply safe state " + onOff(d.safe)
	if err := ctx.Err(); err != nil {
		return d.wrap(op, err)
	}
	return d.apply(op, d.safe)
}

// State describes the output now, for a command's result: "on", "off",
// or "unknown (…)" after a failed change.
func (d *Device) State() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.known {
		return fmt.Sprintf("unknown (%v)", d.err)
	}
	return onOff(d.on)
}

// Read appends the output's state as metric "state" (1 on, 0 off) to dst.
// It fails while the state is unknown after a failed change.
func (d *Device) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	d.mu.Lock()
	on, known, err := d.on, d.known, d.err
	d.mu.Unlock()
	if !known {
		return dst, d.wrap("read state", fmt.Errorf("unknown since a change failed: %w", err))
	}
	v := 0.0
	if on {
		v = 1
	}
	return append(dst, reading.Reading{Device: d.name, Metric: "state", Value: v, Time: d.now()}), nil
}

func (d *Device) apply(op string, on bool) error {
	l := gpio.Level(on != d.activeLow)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.pin.Out(l); err != nil {
		d.known, d.err = false, err
		return d.wrap(op, err)
	}
	d.on, d.known, d.err = on, true, nil
	return nil
}

func (d *Device) wrap(op string, err error) error {
	return fmt.Errorf("gpio-out %s (%s): %s: %w", d.name, d.pin, op, err)
}

// parse checks a command and returns the state it asks for.
func parse(action string, value any) (bool, error) {
	if action != ActionSet {
		return false, fmt.Errorf("action %q not supported, use %s", action, ActionSet)
	}
	switch v := value.(type) {
	case bool:
		return v, nil
	case float64:
		if v == 0 || v == 1 {
			return v == 1, nil
		}
	case int:
		if v == 0 || v == 1 {
			return v == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "on", "true", "1":
			return true, nil
		case "off", "false", "0":
			return false, nil
		}
		return false, fmt.Errorf("value %q not allowed: set takes true/false, 1/0 or \"on\"/\"off\"", v)
	case nil:
		return false, errors.New("value missing: set takes true/false, 1/0 or \"on\"/\"off\"")
	}
	return false, fmt.Errorf("value %v not allowed: set takes true/false, 1/0 or \"on\"/\"off\"", value)
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
