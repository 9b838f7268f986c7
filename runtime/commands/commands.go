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
}

// Result is the answer to one command.
type Result struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

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
	// Remember is how many recent command ids are kept to recognise
	// redeliveries; default 4096.
	Remember int
}

// Stats counts commands since start.
type Stats struct {
	Executed, Failed, Duplicates, Rejected int64
}

// Executor runs commands against a set of actuators (SetActuators
// replaces it when a plan changes the devices).
type Executor struct {
	actMu     sync.RWMutex
	actuators map[string]Actuator
	remember  int

	mu    sync.Mutex
	order []string          // ids, oldest first, for eviction
	done  map[string]Result // id → result
	busy  map[string]chan struct{}

	executed, failed, duplicates, rejected atomic.Int64
}

// New returns an executor for the named actuators.
func New(actuators map[string]Actuator, cfg Config) *Executor {
	if cfg.Remember <= 0 {
		cfg.Remember = 4096
	}
	return &Executor{actuators: actuators, remember: cfg.Remember, done: map[string]Result{}, busy: map[string]chan struct{}{}}
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
	return Stats{Executed: e.executed.Load(), Failed: e.failed.Load(), Duplicates: e.duplicates.Load(), Rejected: e.rejected.Load()}
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
	r := Result{ID: c.ID, OK: true}
	err := a.Check(c.Action, c.Value)
	if err != nil {
		e.rejected.Add(1)
	} else if err = a.Do(ctx, c.Action, c.Value); err != nil {
		e.failed.Add(1)
	} else {
		e.executed.Add(1)
	}
	if err != nil {
		r = Result{ID: c.ID, Error: err.Error()}
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
	return r
}
