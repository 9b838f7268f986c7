package sim

import (
	"fmt"
	"sync"
	"time"

	"github.com/edged-gateway/edged/waveform"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// Change is one entry of an output pin's history.
type Change struct {
	// Time is the board clock when the level changed.
	Time time.Time
	// Level is the level driven from then on.
	Level gpio.Level
}

// Pin is a simulated GPIO pin. It implements gpio.PinIO and pin.PinFunc.
//
// As an input its level is, in order of precedence, what SetLevel set, the
// pin's signal (values of 0.5 and above are High) at the board clock, or
// what the pull resistor gives. Edges enabled with In wake WaitForEdge:
// those SetLevel makes at once, those of a signal when the pin is next
// polled (every millisecond while WaitForEdge waits, see WithEdgePoll, and
// on every Read), so a signal faster than the polling loses edges.
//
// As an output it records its level and every change with the board time
// (Level, History), and PWM records duty and frequency (PWMSetting).
type Pin struct {
	name   string
	number int
	now    func() time.Time
	wave   *waveform.Wave // nil: no signal
	poll   time.Duration

	mu        sync.Mutex
	fn        pin.Func
	pull      gpio.Pull
	edge      gpio.Edge
	forced    bool
	forcedLvl gpio.Level
	out       gpio.Level
	seen      gpio.Level    // last input level observed, for edges
	pending   bool          // an edge WaitForEdge has not returned yet
	gen       int           // bumped by In, Out, PWM and Halt: waiters give up
	wake      chan struct{} // closed and replaced on each edge and gen bump
	history   []Change
	duty      gpio.Duty
	freq      physic.Frequency
}

func newPin(name string, number int, now func() time.Time, wave *waveform.Wave, poll time.Duration) *Pin {
	p := &Pin{name: name, number: number, now: now, wave: wave, poll: poll, fn: gpio.IN, wake: make(chan struct{})}
	p.pull = p.DefaultPull()
	p.seen = p.inputLevel(now())
	return p
}

// String returns the pin name, such as GPIO17.
func (p *Pin) String() string { return p.name }

// Name returns the pin name, such as GPIO17.
func (p *Pin) Name() string { return p.name }

// Number returns the GPIO number, 17 for GPIO17.
func (p *Pin) Number() int { return p.number }

// Function returns the pin function as a string.
//
// Deprecated: use Func, as periph does.
func (p *Pin) Function() string { return string(p.Func()) }

// Func returns gpio.IN, gpio.OUT or gpio.PWM.
func (p *Pin) Func() pin.Func {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fn
}

// SupportedFuncs returns IN, OUT and PWM: every simulated pin can do all
// three.
func (p *Pin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT, gpio.PWM} }

// SetFunc switches to gpio.IN (keeping pull, no edges) or gpio.OUT
// (keeping the level); use PWM for gpio.PWM.
func (p *Pin) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return p.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.OUT:
		return p.Out(p.Level())
	case gpio.OUT_HIGH:
		return p.Out(gpio.High)
	case gpio.OUT_LOW:
		return p.Out(gpio.Low)
	}
	return fmt.Errorf("sim %s: set func %q: use In, Out or PWM", p.name, f)
}

// Halt stops PWM and makes a pending WaitForEdge return false.
func (p *Pin) Halt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.duty, p.freq = 0, 0
	if p.fn == gpio.PWM {
		p.fn = gpio.OUT
	}
	p.bump()
	return nil
}

// In makes the pin an input with pull (PullNoChange keeps the current
// one) and edge detection edge, dropping edges seen before. A WaitForEdge
// in progress returns false.
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	if pull > gpio.PullUp || edge < gpio.NoEdge || edge > gpio.BothEdges {
		return fmt.Errorf("sim %s: in %s %s: invalid pull or edge", p.name, pull, edge)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pull != gpio.PullNoChange {
		p.pull = pull
	}
	p.fn, p.edge, p.pending = gpio.IN, edge, false
	p.duty, p.freq = 0, 0
	p.seen = p.inputLevel(p.now())
	p.bump()
	return nil
}

// Read returns the level: the input level of an input, the driven level of
// an output, and for PWM High when the duty is at least half.
func (p *Pin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level()
}

// Level is Read, under the name relay tests read best.
func (p *Pin) Level() gpio.Level { return p.Read() }

func (p *Pin) level() gpio.Level {
	switch p.fn {
	case gpio.OUT:
		return p.out
	case gpio.PWM:
		return p.duty >= gpio.DutyHalf
	}
	p.observe()
	return p.seen
}

// WaitForEdge waits up to timeout (real time; negative waits for ever, 0
// only checks) for an edge of the kind In enabled, and reports whether one
// came, including one that came since the last call. It returns false at
// once when edges are not enabled, and when In, Out, PWM or Halt is called
// while it waits.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	var deadline, tick <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	if p.wave != nil {
		t := time.NewTicker(p.poll)
		defer t.Stop()
		tick = t.C
	}
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	for {
		p.mu.Lock()
		if p.gen != gen || p.fn != gpio.IN || p.edge == gpio.NoEdge {
			p.mu.Unlock()
			return false
		}
		p.observe()
		if p.pending {
			p.pending = false
			p.mu.Unlock()
			return true
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-wake:
		case <-tick:
		case <-deadline:
			return false
		}
	}
}

// Pull returns the pull resistor setting.
func (p *Pin) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

// DefaultPull returns the pull a Raspberry Pi applies at reset: up for
// GPIO0–8, down for the others.
func (p *Pin) DefaultPull() gpio.Pull {
	if p.number <= 8 {
		return gpio.PullUp
	}
	return gpio.PullDown
}

// Out makes the pin an output driving l, stopping PWM, and records the
// change in History when the pin was not already driving l.
func (p *Pin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fn != gpio.OUT || p.out != l {
		p.history = append(p.history, Change{Time: p.now(), Level: l})
	}
	p.fn, p.out, p.duty, p.freq = gpio.OUT, l, 0, 0
	p.bump()
	return nil
}

// PWM makes the pin a PWM output and records duty and f (0 meaning the
// pin's preferred frequency, recorded as 0).
func (p *Pin) PWM(duty gpio.Duty, f physic.Frequency) error {
	if !duty.Valid() || f < 0 {
		return fmt.Errorf("sim %s: pwm %s at %s: duty must be 0–%d and frequency not negative", p.name, duty, f, gpio.DutyMax)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn, p.duty, p.freq = gpio.PWM, duty, f
	p.bump()
	return nil
}

// PWMSetting returns the duty and frequency last given to PWM, zero when
// the pin is not doing PWM.
func (p *Pin) PWMSetting() (gpio.Duty, physic.Frequency) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.duty, p.freq
}

// History returns the output level changes so far, oldest first.
func (p *Pin) History() []Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Change(nil), p.history...)
}

// SetLevel sets the input level, overriding the signal and the pull, as a
// test wiring the pin to a switch would. A change is an edge.
func (p *Pin) SetLevel(l gpio.Level) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forced, p.forcedLvl = true, l
	p.observe()
}

// ClearLevel undoes SetLevel: the input follows the signal or the pull
// again. A change is an edge.
func (p *Pin) ClearLevel() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forced = false
	p.observe()
}

// inputLevel is the level at the pin's input at t.
func (p *Pin) inputLevel(t time.Time) gpio.Level {
	switch {
	case p.forced:
		return p.forcedLvl
	case p.wave != nil:
		return p.wave.At(t) >= 0.5
	}
	return p.pull == gpio.PullUp
}

// observe samples the input and records an edge of the enabled kind.
// Call with p.mu held.
func (p *Pin) observe() {
	l := p.inputLevel(p.now())
	if l == p.seen {
		return
	}
	p.seen = l
	if p.fn != gpio.IN {
		return
	}
	if p.edge == gpio.BothEdges || (p.edge == gpio.RisingEdge && l) || (p.edge == gpio.FallingEdge && !l) {
		p.pending = true
		close(p.wake)
		p.wake = make(chan struct{})
	}
}

// bump makes waiters give up. Call with p.mu held.
func (p *Pin) bump() {
	p.gen++
	close(p.wake)
	p.wake = make(chan struct{})
}

var (
	_ gpio.PinIO  = (*Pin)(nil)
	_ pin.PinFunc = (*Pin)(nil)
)
