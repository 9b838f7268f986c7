package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// relay is a two-state actuator that counts what it was told to do.
type relay struct {
	mu    sync.Mutex
	on    bool
	calls int
	fail  error
}

func (r *relay) Check(action string, value any) error {
	if action != "set" {
		return fmt.Errorf("action %q not supported, use set", action)
	}
	if _, ok := value.(bool); !ok {
		return fmt.Errorf("value %v is not true or false", value)
	}
	return nil
}

func (r *relay) Do(_ context.Context, action string, value any) error {
	if err := r.Check(action, value); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		return r.fail
	}
	r.on = value.(bool)
	return nil
}

func TestExecuteRunsOncePerID(t *testing.T) {
	fan := &relay{}
	e := New(map[string]Actuator{"fan": fan}, Config{})
	ctx := context.Background()
	tests := []struct {
		name, device, payload string
		want                  Result
		calls                 int
		on                    bool
	}{
		{"set on", "fan", `{"id":"c1","action":"set","value":true}`, Result{ID: "c1", OK: true}, 1, true},
		{"redelivered id is not repeated", "fan", `{"id":"c1","action":"set","value":true}`, Result{ID: "c1", OK: true, Duplicate: true}, 1, true},
		{"same id, other body: first result stands", "fan", `{"id":"c1","action":"set","value":false}`, Result{ID: "c1", OK: true, Duplicate: true}, 1, true},
		{"set off", "fan", `{"id":"c2","action":"set","value":false}`, Result{ID: "c2", OK: true}, 2, false},
		{"bad value", "fan", `{"id":"c3","action":"set","value":7}`, Result{ID: "c3", Error: "value 7 is not true or false"}, 2, false},
		{"bad action", "fan", `{"id":"c4","action":"toggle"}`, Result{ID: "c4", Error: `action "toggle" not supported, use set`}, 2, false},
		{"unknown device", "pump", `{"id":"c5","action":"set","value":true}`, Result{ID: "c5", Error: `device "pump" does not accept commands (devices that do: fan)`}, 2, false},
		{"not JSON", "fan", `set fan on`, Result{Error: `command is not {"id":"…","action":"…","value":…}: invalid character 's' looking for beginning of value`}, 2, false},
		{"no id", "fan", `{"action":"set","value":true}`, Result{Error: `command has no "id": give each command a unique id`}, 2, false},
		{"unknown field", "fan", `{"id":"c6","action":"set","value":true,"force":1}`, Result{ID: "c6", Error: `command is not {"id":"…","action":"…","value":…}: json: unknown field "force"`}, 2, false},
		{"trailing data", "fan", `{"id":"c7","action":"set","value":true} {}`, Result{ID: "c7", Error: "command has data after the JSON object"}, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.Execute(ctx, tc.device, []byte(tc.payload))
			if got != tc.want {
				t.Fatalf("result %+v, want %+v", got, tc.want)
			}
			if fan.calls != tc.calls || fan.on != tc.on {
				t.Fatalf("relay called %d times, on=%v; want %d, %v", fan.calls, fan.on, tc.calls, tc.on)
			}
		})
	}
	if st := e.Stats(); st.Executed != 2 || st.Duplicates != 2 || st.Rejected != 7 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFailureIsReportedAndRemembered(t *testing.T) {
	fan := &relay{fail: errors.New("gpio27: write: input/output error")}
	e := New(map[string]Actuator{"fan": fan}, Config{})
	for i := 0; i < 2; i++ {
		r := e.Execute(context.Background(), "fan", []byte(`{"id":"x","action":"set","value":true}`))
		if r.OK || r.Error != "gpio27: write: input/output error" {
			t.Fatalf("result %+v", r)
		}
	}
	if fan.calls != 1 || e.Stats().Failed != 1 {
		t.Fatalf("a failed command was retried on redelivery: %d calls", fan.calls)
	}
}

func TestConcurrentRedeliveryRunsOnce(t *testing.T) {
	fan := &relay{}
	e := New(map[string]Actuator{"fan": fan}, Config{})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Go(func() {
			if r := e.Execute(context.Background(), "fan", []byte(`{"id":"same","action":"set","value":true}`)); !r.OK {
				t.Errorf("result %+v", r)
			}
		})
	}
	wg.Wait()
	if fan.calls != 1 {
		t.Fatalf("50 deliveries of one id ran %d times", fan.calls)
	}
}

func TestOldIDsAreForgottenBeyondRemember(t *testing.T) {
	fan := &relay{}
	e := New(map[string]Actuator{"fan": fan}, Config{Remember: 2})
	for _, id := range []string{"a", "b", "c", "a"} {
		e.Execute(context.Background(), "fan", []byte(`{"id":"`+id+`","action":"set","value":true}`))
	}
	if fan.calls != 4 {
		t.Fatalf("calls %d: with Remember 2, id a should have been forgotten after b and c", fan.calls)
	}
}

// mapMemory is a Memory in a map, standing for a store that outlives the
// executor (sync/cmdstore behind cmd/edged's adapter).
type mapMemory struct {
	mu sync.Mutex
	m  map[string]Result
}

func (m *mapMemory) Load(key string) (Result, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.m[key]
	return r, ok, nil
}

func (m *mapMemory) Store(key string, r Result) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[key] = r
	return nil
}

// stopper is a relay whose Do "loses power" half-way: it records the call
// and never returns, like a gateway killed while switching.
type stopper struct {
	relay
	entered chan struct{}
}

func (s *stopper) Do(ctx context.Context, action string, value any) error {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	close(s.entered)
	<-ctx.Done()
	return ctx.Err()
}

// TestDurableMemoryAnswersRedeliveryAfterARestart: a new executor (a
// restarted daemon) with the same memory answers an id that ran with its
// first result, and an id whose run was cut off with Interrupted, running
// neither again.
func TestDurableMemoryAnswersRedeliveryAfterARestart(t *testing.T) {
	mem := &mapMemory{m: map[string]Result{}}
	fan := &relay{}
	e1 := New(map[string]Actuator{"fan": fan}, Config{Memory: mem})
	if r := e1.Execute(context.Background(), "fan", []byte(`{"id":"a","action":"set","value":true}`)); !r.OK {
		t.Fatal(r)
	}
	cut := &stopper{entered: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	e1.SetActuators(map[string]Actuator{"fan": fan, "cut": cut})
	go e1.Execute(ctx, "cut", []byte(`{"id":"b","action":"set","value":true}`))
	<-cut.entered // the command is running: the process "dies" here
	defer cancel()

	e2 := New(map[string]Actuator{"fan": fan, "cut": cut}, Config{Memory: mem})
	if r := e2.Execute(context.Background(), "fan", []byte(`{"id":"a","action":"set","value":false}`)); !r.OK || !r.Duplicate || !fan.on || fan.calls != 1 {
		t.Fatalf("redelivery after restart: %+v, relay on=%v calls=%d", r, fan.on, fan.calls)
	}
	if r := e2.Execute(context.Background(), "cut", []byte(`{"id":"b","action":"set","value":true}`)); r.OK || r.Error != Interrupted || !r.Duplicate || cut.calls != 1 {
		t.Fatalf("redelivery of an interrupted command: %+v, calls %d", r, cut.calls)
	}
}

// slow ignores its context and finishes only when released.
type slow struct {
	relay
	release chan struct{}
}

func (s *slow) Do(context.Context, string, any) error { <-s.release; return nil }

// TestCommandTimeout: a driver that does not finish in time is answered
// as timed out, and the executor takes the next command.
func TestCommandTimeout(t *testing.T) {
	s := &slow{release: make(chan struct{})}
	defer close(s.release)
	fan := &relay{}
	e := New(map[string]Actuator{"slow": s, "fan": fan}, Config{Timeout: 20 * time.Millisecond})
	r := e.Execute(context.Background(), "slow", []byte(`{"id":"1","action":"set","value":true}`))
	if r.OK || r.Error != "timed out after 20ms: the device's state is unknown" {
		t.Fatalf("result %+v", r)
	}
	if r := e.Execute(context.Background(), "fan", []byte(`{"id":"2","action":"set","value":true}`)); !r.OK {
		t.Fatalf("next command: %+v", r)
	}
	if st := e.Stats(); st.TimedOut != 1 || st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// stateful reports its state after a command.
type stateful struct{ relay }

func (s *stateful) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on {
		return "on"
	}
	return "off"
}

// TestResultCarriesTheDevicesState: the result says what the device did,
// and a duplicate says it is one (with the first run's state).
func TestResultCarriesTheDevicesState(t *testing.T) {
	fan := &stateful{}
	e := New(map[string]Actuator{"fan": fan}, Config{})
	if r := e.Execute(context.Background(), "fan", []byte(`{"id":"x","action":"set","value":true}`)); r != (Result{ID: "x", OK: true, State: "on"}) {
		t.Fatalf("result %+v", r)
	}
	if r := e.Execute(context.Background(), "fan", []byte(`{"id":"x","action":"set","value":false}`)); r != (Result{ID: "x", OK: true, State: "on", Duplicate: true}) {
		t.Fatalf("duplicate %+v", r)
	}
}

// TestExpiredCommandsAreNotRun: a command that arrives after its expiry
// (queued while the gateway was offline) is answered as expired.
func TestExpiredCommandsAreNotRun(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	fan := &relay{}
	e := New(map[string]Actuator{"fan": fan}, Config{Now: func() time.Time { return now }})
	r := e.Execute(context.Background(), "fan", []byte(`{"id":"old","action":"set","value":true,"expires":"2026-12-06T09:59:59Z"}`))
	if r.OK || r.Error != "expired at 2026-12-06T09:59:59Z: not run" || fan.calls != 0 {
		t.Fatalf("expired: %+v, calls %d", r, fan.calls)
	}
	if r := e.Execute(context.Background(), "fan", []byte(`{"id":"new","action":"set","value":true,"expires":"2026-12-06T10:00:30Z"}`)); !r.OK || fan.calls != 1 {
		t.Fatalf("not expired: %+v", r)
	}
	if r := e.Execute(context.Background(), "fan", []byte(`{"id":"bad","action":"set","value":true,"expires":"tomorrow"}`)); r.OK || !strings.Contains(r.Error, `parsing time "tomorrow"`) {
		t.Fatalf("bad expiry: %+v", r)
	}
	if st := e.Stats(); st.Expired != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestResultJSON(t *testing.T) {
	b, _ := json.Marshal(Result{ID: "c1", OK: true})
	if string(b) != `{"id":"c1","ok":true}` {
		t.Fatal(string(b))
	}
	b, _ = json.Marshal(Result{ID: "c2", Error: "no"})
	if string(b) != `{"id":"c2","ok":false,"error":"no"}` {
		t.Fatal(string(b))
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"c1","action":"set","value":true}`))
	f.Add([]byte(`{"id":"c1","action":"set","value":{"duty":0.5}}`))
	f.Add([]byte(`{"id":"","action":""}`))
	f.Add([]byte(strings.Repeat("[", 5000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err == nil && (strings.TrimSpace(c.ID) == "" || c.Action == "") {
			t.Fatalf("accepted a command without id or action: %q", data)
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}
