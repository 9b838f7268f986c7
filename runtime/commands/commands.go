package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Actuator is a device that accepts commands (gpio-out, pwm, …).
type Actuator interface {
	// Check validates action and value without applying them.
	Check(action string, value any) error
	// Do validates and applies them.
	Do(ctx context.Context, action string, value any) error
}

// Command is one request to an actuator.
type Command struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Value  any    `json:"value"`
	// Expires, set by the sender (RFC 3339), is when the command stops
	// being wanted: one that arrives later (queued while the gateway was
	// offline) is answered as expired and not run.
	Expires *time.Time `json:"expires,omitempty"`
}

// Result is the answer to one command.
type Result struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// State is what the device reports after the command ("on",
	// "duty 0.25 at 25kHz"), for devices that can say (Stater).
	State string `json:"state,omitempty"`
	// Duplicate marks the answer to an id that ran before: this is that
	// run's result, and nothing was done now.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Stater is an Actuator that can report its state after a command.
type Stater interface {
	// State describes the device's output now, e.g. "on".
	State() string
}

// Memory keeps command results across restarts, so a command redelivered
// after a reboot is answered, not run again (sync/cmdstore). Both methods
// are durable when they return.
type Memory interface {
	// Load returns the result stored for key, if any.
	Load(key string) (Result, bool, error)
	// Store records r as key's result.
	Store(key string, r Result) error
}

// Interrupted is the result stored for a command while it runs: a
// redelivery after a crash in the middle of it gets this answer instead of
// a second run.
const Interrupted = "edged stopped while running this command (power loss, crash or kill): its outcome is unknown; read the device's state before sending a new command"

// MaxPayload bounds a command's JSON size.
const MaxPayload = 4096

// Decode parses a command strictly: unknown fields, a missing id or action,
// trailing data and payloads over MaxPayload are errors that say which.
func Decode(payload []byte) (Command, error) {
	var c Command
	if len(payload) > MaxPayload {
		return c, fmt.Errorf("command is %d bytes, the limit is %d", len(payload), MaxPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf(`command is not {"id":"…","action":"…","value":…}: %v`, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return c, errors.New("command has data after the JSON object")
	}
	switch {
	case strings.TrimSpace(c.ID) == "":
		return c, errors.New(`command has no "id": give each command a unique id`)
	case len(c.ID) > 128:
		return c, errors.New(`command "id" is longer than 128 characters`)
	case c.Action == "":
		return c, errors.New(`command has no "action", e.g. "set"`)
	}
	return c, nil
}

// Config sizes the executor. The zero value is usable.
type Config struct {
	// Remember is how many recent command ids are kept in memory to
	// recognise redeliveries; default 4096. Memory, when set, remembers
	// beyond a restart (with its own bounds).
	Remember int
	// Timeout bounds one command's execution; default 10s. A command
	// still running then is answered as timed out (its goroutine is left
	// to finish: a driver that ignores its context cannot hold the queue).
	Timeout time.Duration
	// Memory makes the once-per-id promise durable; nil keeps it in
	// memory only.
	Memory Memory
	// Now is the clock expiries are judged by; nil is time.Now.
	Now func() time.Time
}

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 10 * time.Second

// Stats counts commands since start.
type Stats struct {
	Executed   int64 `json:"executed"`
	Failed     int64 `json:"failed"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"`
	// TimedOut counts commands answered as timed out (also in Failed).
	TimedOut int64 `json:"timed_out"`
	// Expired counts commands that arrived after their expiry (also in
	// Rejected).
	Expired int64 `json:"expired"`
	// MemoryErrors counts failed reads and writes of the durable memory.
	MemoryErrors int64 `json:"memory_errors"`
}

// Executor runs commands against a set of actuators (SetActuators
// replaces it when a plan changes the devices).
type Executor struct {
	actMu     sync.RWMutex
	actuators map[string]Actuator
	remember  int
	timeout   time.Duration
	memory    Memory
	now       func() time.Time

	mu    sync.Mutex
	order []string          // ids, oldest first, for eviction
	done  map[string]Result // id → result
	busy  map[string]chan struct{}

	executed, failed, duplicates, rejected, timedOut, memErrors, expired atomic.Int64
}

// New returns an executor for the named actuators.
func New(actuators map[string]Actuator, cfg Config) *Executor {
	if cfg.Remember <= 0 {
		cfg.Remember = 4096
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Executor{actuators: actuators, remember: cfg.Remember, timeout: cfg.Timeout, memory: cfg.Memory, now: cfg.Now,
		done: map[string]Result{}, busy: map[string]chan struct{}{}}
}

// SetActuators replaces the actuators commands go to; commands already
// running finish on the old ones, and the ids seen stay remembered.
func (e *Executor) SetActuators(actuators map[string]Actuator) {
	e.actMu.Lock()
	e.actuators = actuators
	e.actMu.Unlock()
}

func (e *Executor) actuator(device string) (Actuator, bool) {
	e.actMu.RLock()
	defer e.actMu.RUnlock()
	a, ok := e.actuators[device]
	return a, ok
}

// Devices lists the devices that accept commands, sorted.
func (e *Executor) Devices() []string {
	e.actMu.RLock()
	defer e.actMu.RUnlock()
	names := make([]string, 0, len(e.actuators))
	for n := range e.actuators {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Stats returns the counters.
func (e *Executor) Stats() Stats {
	return Stats{Executed: e.executed.Load(), Failed: e.failed.Load(), Duplicates: e.duplicates.Load(), Rejected: e.rejected.Load(),
		TimedOut: e.timedOut.Load(), MemoryErrors: e.memErrors.Load(), Expired: e.expired.Load()}
}

// Execute decodes payload and runs it on device once per command id. A
// payload that does not decode gets a result with the id it carried, if any.
func (e *Executor) Execute(ctx context.Context, device string, payload []byte) Result {
	c, err := Decode(payload)
	if err != nil {
		e.rejected.Add(1)
		return Result{ID: c.ID, Error: err.Error()}
	}
	return e.Run(ctx, device, c)
}

// Run runs a decoded command on device once per id: the same id again
// returns the first result, and waits for it if that run is in progress.
func (e *Executor) Run(ctx context.Context, device string, c Command) Result {
	a, ok := e.actuator(device)
	if !ok {
		e.rejected.Add(1)
		return Result{ID: c.ID, Error: fmt.Sprintf("device %q does not accept commands (devices that do: %s)", device, strings.Join(e.Devices(), ", "))}
	}
	key := device + "\x00" + c.ID
	for {
		e.mu.Lock()
		if r, ok := e.done[key]; ok {
			e.mu.Unlock()
			e.duplicates.Add(1)
			r.Duplicate = true
			return r
		}
		wait, running := e.busy[key]
		if !running {
			e.busy[key] = make(chan struct{})
			e.mu.Unlock()
			break
		}
		e.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Result{ID: c.ID, Error: "command " + c.ID + " is still running: " + ctx.Err().Error()}
		}
	}
	r, dup := e.execute(ctx, a, key, c)
	if dup {
		e.duplicates.Add(1)
	}
	e.mu.Lock()
	e.done[key] = r
	e.order = append(e.order, key)
	if len(e.order) > e.remember {
		delete(e.done, e.order[0])
		e.order = e.order[1:]
	}
	close(e.busy[key])
	delete(e.busy, key)
	e.mu.Unlock()
	if dup {
		r.Duplicate = true
	}
	return r
}

// execute runs c once: unless the durable memory knows key already, it
// records the command as running there, checks and runs it within the
// timeout, and stores its result. dup reports a result from memory.
func (e *Executor) execute(ctx context.Context, a Actuator, key string, c Command) (r Result, dup bool) {
	if e.memory != nil {
		stored, ok, err := e.memory.Load(key)
		if err != nil {
			e.memErrors.Add(1)
			e.rejected.Add(1)
			return Result{ID: c.ID, Error: fmt.Sprintf("not run: the command memory cannot say whether id %s ran before: %v", c.ID, err)}, false
		}
		if ok {
			return stored, true
		}
	}
	if c.Expires != nil && e.now().After(*c.Expires) {
		e.rejected.Add(1)
		e.expired.Add(1)
		return e.keep(key, Result{ID: c.ID, Error: "expired at " + c.Expires.UTC().Format(time.RFC3339) + ": not run"}), false
	}
	if err := a.Check(c.Action, c.Value); err != nil {
		e.rejected.Add(1)
		return e.keep(key, Result{ID: c.ID, Error: err.Error()}), false
	}
	if e.memory != nil {
		if err := e.memory.Store(key, Result{ID: c.ID, Error: Interrupted}); err != nil {
			e.memErrors.Add(1)
			e.rejected.Add(1)
			return Result{ID: c.ID, Error: fmt.Sprintf("not run: the command memory cannot record it: %v", err)}, false
		}
	}
	err := e.do(ctx, a, c)
	r = Result{ID: c.ID, OK: err == nil}
	if err != nil {
		r.Error = err.Error()
		e.failed.Add(1)
	} else {
		e.executed.Add(1)
	}
	if s, ok := a.(Stater); ok {
		r.State = s.State()
	}
	return e.keep(key, r), false
}

// keep stores r in the durable memory, if any, and returns it.
func (e *Executor) keep(key string, r Result) Result {
	if e.memory != nil {
		if err := e.memory.Store(key, r); err != nil {
			e.memErrors.Add(1) // the result still goes back; a redelivery may see Interrupted
		}
	}
	return r
}

// do runs the command within the timeout. A driver that ignores its
// context is left running; the command is answered as timed out.
func (e *Executor) do(ctx context.Context, a Actuator, c Command) error {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic in the driver: %v", p)
			}
		}()
		done <- a.Do(ctx, c.Action, c.Value)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e.timedOut.Add(1)
			return fmt.Errorf("timed out after %s: the device's state is unknown", e.timeout)
		}
		return fmt.Errorf("not finished: %w", ctx.Err())
	}
}
