package devicehost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/poller"
)

// Spec describes one polled device. The composition builds it; the host
// never looks inside the configuration it comes from.
type Spec struct {
	// Name is the device's name: its readings', its commands' and its
	// slot's. Names are unique within a set.
	Name string
	// Identity fingerprints what the device is (everything but its
	// settings: for cmd/edged kind, bus, address, pin and options, which
	// hold an actuator's safe state). A new set keeps the slot, and so the
	// open driver and its state, of a device whose Identity is unchanged;
	// any other change hands the device over.
	Identity string
	// Settings fingerprints the device's whole configuration: a kept
	// device whose Settings changed is reported "kept open".
	Settings string
	// Interval and Scale are the poller's entry for the device.
	Interval time.Duration
	Scale    *poller.Scale
	// Actuator says the device's kind takes commands (and has a safe
	// state) before it opens; an open driver that takes commands makes
	// the device an actuator too.
	Actuator bool
	// Options is what the driver's Reconfigure gets when the device's
	// change is one it takes live.
	Options any
	// LiveIdentity is Identity without the options keys in live (the
	// open driver's LiveOptions); nil when no change is taken live.
	LiveIdentity func(live []string) (string, error)
	// Open opens the driver and says whether it sits on a simulated
	// board. It is called from the poller's read (and a command's check)
	// until it succeeds, so it must be safe to call again after a
	// failure.
	Open func() (dev poller.Device, simulated bool, err error)
}

// LiveConfigurer is a driver that takes some of its options while it
// runs: a device whose change is limited to those options (besides its
// interval and scale) keeps its open driver, which gets the new options
// with Reconfigure, instead of being closed and opened again.
type LiveConfigurer interface {
	// LiveOptions are the options keys Reconfigure takes.
	LiveOptions() []string
	// Reconfigure makes the driver use options (Spec.Options) from its
	// next read; an error leaves it as it was.
	Reconfigure(options any) error
}

// Wrapper is a driver that wraps another (cmd/edged hides a read-only
// Modbus device's commands behind one): the host looks through it for a
// LiveConfigurer.
type Wrapper interface {
	Unwrap() poller.Device
}

// runner is a driver with a loop of its own (gpio-in's edge counter).
type runner interface {
	Run(ctx context.Context) error
}

// safer is a driver with a safe state.
type safer interface {
	Safe(ctx context.Context) error
}

// ErrClosed is what a slot answers once it was closed.
var ErrClosed = errors.New("device closed")

// Slot holds one device. While its driver does not open, a read tries the
// open and fails with "open: <why>", so the poller marks it unhealthy and
// retries it with its back-off, and every other device keeps running.
// Once open, the slot is the driver: reads, commands, the safe state and
// a Run loop go to it.
type Slot struct {
	name     string
	actuator bool // the spec says the kind takes commands
	// changed is told after a command changed the device, so its new
	// state is read (and reaches the services) at once; may be nil.
	changed func(name string)
	log     *slog.Logger

	mu      sync.Mutex
	open    func() (poller.Device, bool, error) // the spec's, or the last Reconfigure's
	dev     poller.Device                       // nil until opened
	sim     bool                                // dev is on the simulated board
	openErr error                               // why the last open failed
	closed  bool
	ready   chan struct{} // closed when dev is set or the slot closes
}

// NewSlot returns the slot of spec, not yet open; log gets the slot's
// open failures (with the device named).
func NewSlot(spec Spec, log *slog.Logger) *Slot {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Slot{name: spec.Name, actuator: spec.Actuator, open: spec.Open, log: log.With("device", spec.Name), ready: make(chan struct{})}
}

// Name is the device's name.
func (s *Slot) Name() string { return s.name }

// Driver returns the opened driver, or nil.
func (s *Slot) Driver() poller.Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dev
}

// Open opens the driver unless it is open already; the error says why it
// is not, starting "open: " (ErrClosed once the slot was closed).
func (s *Slot) Open() (poller.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.dev != nil {
		return s.dev, nil
	}
	if s.open == nil {
		return nil, fmt.Errorf("open: device %s has no open function", s.name)
	}
	dev, sim, err := s.open()
	if err == nil && dev == nil {
		err = fmt.Errorf("device %s: its open returned no driver", s.name)
	}
	if err != nil {
		first := s.openErr == nil
		s.openErr = err
		if first {
			s.log.Warn("device did not open; retrying with back-off, the rest of the gateway runs", "err", err)
		}
		return nil, fmt.Errorf("open: %w", err)
	}
	if s.openErr != nil {
		s.log.Info("device opened after failing to", "previous_err", s.openErr)
	}
	s.dev, s.sim, s.openErr = dev, sim, nil
	close(s.ready)
	return dev, nil
}

// Read reads the driver, opening it first if it is not open yet.
func (s *Slot) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	dev, err := s.Open()
	if err != nil {
		return dst, err
	}
	return dev.Read(ctx, dst)
}

// Simulated reports whether the device's readings are simulated: it sits
// on the simulated board, or its driver says so (poller.Simulator).
func (s *Slot) Simulated() bool {
	s.mu.Lock()
	dev, sim := s.dev, s.sim
	s.mu.Unlock()
	if v, ok := dev.(poller.Simulator); ok && v.Simulated() {
		return true
	}
	return sim
}

// Run runs the driver's own loop once the driver is open; a driver without
// one, or a slot that never opens, waits for ctx.
func (s *Slot) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.ready:
	}
	if r, ok := s.Driver().(runner); ok {
		return r.Run(ctx)
	}
	<-ctx.Done()
	return nil
}

// Check checks a command against the driver; a device that is not open
// refuses every command, saying why.
func (s *Slot) Check(action string, value any) error {
	a, err := s.actuatorDriver()
	if err != nil {
		return err
	}
	return a.Check(action, value)
}

// Do runs a command on the driver, then has its state read at once.
func (s *Slot) Do(ctx context.Context, action string, value any) error {
	a, err := s.actuatorDriver()
	if err != nil {
		return err
	}
	err = a.Do(ctx, action, value)
	if s.changed != nil {
		s.changed(s.name) // after a failure too: the state may be unknown now
	}
	return err
}

// actuatorDriver is the open driver as an actuator; a command to a device
// that is not open tries to open it once.
func (s *Slot) actuatorDriver() (commands.Actuator, error) {
	dev, err := s.Open()
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", s.name, err)
	}
	a, ok := dev.(commands.Actuator)
	if !ok {
		return nil, fmt.Errorf("device %s does not accept commands", s.name)
	}
	return a, nil
}

// State is the open driver's state after a command, when it can say.
func (s *Slot) State() string {
	if st, ok := s.Driver().(commands.Stater); ok {
		return st.State()
	}
	return ""
}

// isActuator reports whether the device takes commands: its spec says so,
// or its open driver does.
func (s *Slot) isActuator() bool {
	if s.actuator {
		return true
	}
	_, ok := s.Driver().(commands.Actuator)
	return ok
}

// Safe puts an open actuator in its safe state. A device that never
// opened drove nothing, so it has nothing to undo.
func (s *Slot) Safe(ctx context.Context) error {
	if sf, ok := s.Driver().(safer); ok {
		return sf.Safe(ctx)
	}
	return nil
}

// hasSafe reports whether the open driver has a safe state.
func (s *Slot) hasSafe() bool {
	_, ok := s.Driver().(safer)
	return ok
}

// Close closes the driver, if it opened; a closed slot never opens again.
func (s *Slot) Close() error {
	s.mu.Lock()
	dev, was := s.dev, s.closed
	s.closed = true
	if !was && dev == nil {
		close(s.ready)
	}
	s.mu.Unlock()
	if was {
		return nil
	}
	if c, ok := dev.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// liveOf is dev as a LiveConfigurer, looking through a Wrapper.
func liveOf(dev poller.Device) (LiveConfigurer, bool) {
	if w, ok := dev.(Wrapper); ok {
		dev = w.Unwrap()
	}
	lc, ok := dev.(LiveConfigurer)
	return lc, ok
}

// TakesLive reports whether the slot's open driver can take the change
// from old to spec live: the two differ only in interval, scale and the
// driver's LiveOptions. A driver that is not open (or not a
// LiveConfigurer), or a spec without LiveIdentity, reopens instead.
func (s *Slot) TakesLive(old, spec Spec) bool {
	lc, ok := liveOf(s.Driver())
	if !ok || old.Name == "" || old.LiveIdentity == nil || spec.LiveIdentity == nil {
		return false
	}
	live := lc.LiveOptions()
	a, errA := old.LiveIdentity(live)
	b, errB := spec.LiveIdentity(live)
	return errA == nil && errB == nil && a == b
}

// Reconfigure gives the open driver spec's options (TakesLive said it
// takes them); should the slot ever open again, it opens spec.
func (s *Slot) Reconfigure(spec Spec) error {
	lc, ok := liveOf(s.Driver())
	if !ok {
		return fmt.Errorf("device %s: its driver does not take options live", s.name)
	}
	if err := lc.Reconfigure(spec.Options); err != nil {
		return err
	}
	s.mu.Lock()
	s.open = spec.Open
	s.mu.Unlock()
	return nil
}

// bounded runs f and waits for it at most limit: a driver that ignores its
// context (or blocks in a syscall) cannot hold a shutdown or a swap. The
// goroutine of an f that overruns is left to finish on its own.
func bounded(limit time.Duration, what string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("%s: panic: %v", what, p)
			}
		}()
		done <- f(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-time.After(limit):
		return fmt.Errorf("%s: did not finish within %s", what, limit)
	}
}
