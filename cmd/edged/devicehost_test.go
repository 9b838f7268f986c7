package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/poller"
)

// startDaemonKinds is startDaemon with extra device kinds (misbehaving
// drivers); run's error arrives on the returned channel.
func startDaemonKinds(t *testing.T, cfgPath string, extra map[string]deviceKind) (*daemon, context.CancelFunc, <-chan error) {
	t.Helper()
	kinds := builtinKinds()
	for k, v := range extra {
		kinds[k] = v
	}
	cfg, devs, err := loadConfig(cfgPath, kinds)
	if err != nil {
		t.Fatal(err)
	}
	noDefaultAPI(t, cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := newDaemon(cfg, devs, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, time.Now()) }()
	return d, cancel, done
}

func deviceStats(d *daemon, name string) (poller.DeviceStats, bool) {
	for _, s := range d.devs.current().Poller().Stats() {
		if s.Name == name {
			return s, true
		}
	}
	return poller.DeviceStats{}, false
}

// TestAbsentChipStartsUnhealthyThenRecovers: a bme280 that does not answer
// at start does not stop the gateway; it is unhealthy with the open error
// in status (API and `edged status`), the relay next to it takes commands,
// and once the chip answers the device opens and its readings flow.
func TestAbsentChipStartsUnhealthyThenRecovers(t *testing.T) {
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-absent}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
hardware:
  board: sim
  sim:
    chips: [{kind: bme280, bus: i2c1, address: 0x77, absent: true}]
    pins: [{name: GPIO27}]
devices:
  - {name: env, kind: bme280, bus: i2c1, address: 0x77, interval: 20ms}
  - {name: fan, kind: gpio-out, pin: GPIO27, interval: 20ms}
`, dir)))
	stop = sync.OnceValue(stop)
	defer stop()
	waitUntil(t, "the gateway ready", d.ready.Load)
	var why string
	waitUntil(t, "env unhealthy with its open error", func() bool {
		for _, ds := range d.statusDoc().Devices {
			if ds.Name == "env" && !ds.Healthy && ds.Errors > 0 {
				why = ds.LastError
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(why, "open: ") || !strings.Contains(why, "i2c1 0x77") || !strings.Contains(why, "no acknowledge") {
		t.Fatalf("env's last error %q does not say open: i2c1 0x77: no acknowledge", why)
	}
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"status", "--api=http://" + d.api.Addr()}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"last_error": "open: device env: bme280 env (i2c1 0x77)`) {
		t.Fatalf("edged status: exit %d %s\n%s", code, errb.String(), out.String())
	}
	if r := d.exec.Execute(t.Context(), "fan", []byte(`{"id":"1","action":"set","value":"on"}`)); !r.OK {
		t.Fatalf("the relay beside the absent chip: %+v", r)
	}
	if r := d.exec.Execute(t.Context(), "env", []byte(`{"id":"2","action":"set","value":1}`)); r.OK {
		t.Fatalf("a command to a sensor: %+v", r)
	}

	chip, err := d.board.Simulated().Chip("i2c1", 0x77)
	if err != nil {
		t.Fatal(err)
	}
	chip.SetAbsent(false)
	waitUntil(t, "env to open and store readings", func() bool {
		s, _ := deviceStats(d, "env")
		return s.Healthy && s.Stored >= 3
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestMissingBusStartsUnhealthyWithTheFix starts edged on the host's
// buses, which this machine does not have: edged runs, and the device says
// which bus is missing and the fix.
func TestMissingBusStartsUnhealthyWithTheFix(t *testing.T) {
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, "http: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: "+dir+`
hardware: {board: host}
devices:
  - {name: env, kind: bme280, bus: i2c1, address: 0x76, interval: 20ms}
`))
	waitUntil(t, "env's open error", func() bool {
		s, _ := deviceStats(d, "env")
		return s.ReadErrors > 0
	})
	s, _ := deviceStats(d, "env")
	if s.Healthy || !strings.Contains(s.LastError, "open: device env: i2c1 not found: enable I2C") || !strings.Contains(s.LastError, "dtparam=i2c_arm=on") {
		t.Fatalf("env: %+v", s)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// wedged is a driver that ignores its context: its read blocks until the
// test releases it.
type wedged struct {
	name    string
	release <-chan struct{}
	entered chan<- struct{}
}

func (w *wedged) Name() string { return w.name }

func (w *wedged) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.release
	return dst, nil
}

// TestShutdownPastTheDeadlineStillAppliesSafeStates: a driver that ignores
// its context holds the devices stage past the shutdown deadline; the
// relay still goes to its safe state, and the stop reports both.
func TestShutdownPastTheDeadlineStillAppliesSafeStates(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	defer close(release)
	kinds := map[string]deviceKind{"wedged": {
		options: func(DeviceConfig, string) (any, error) { return nil, nil },
		open: func(d DeviceConfig, _ any, _ *board) (poller.Device, error) {
			return &wedged{name: d.Name, release: release, entered: entered}, nil
		},
	}}
	dir := t.TempDir()
	d, cancel, done := startDaemonKinds(t, writeConfig(t, dir, fmt.Sprintf(`http: {listen: ""}
local_mqtt: {mode: off}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: stuck, kind: wedged, interval: 10ms}
  - {name: fan, kind: gpio-out, pin: GPIO27, options: {safe_state: off}}
`, dir)), kinds)
	d.stopDeadline = 200 * time.Millisecond
	<-entered
	if r := d.exec.Execute(t.Context(), "fan", []byte(`{"id":"1","action":"set","value":"on"}`)); !r.OK {
		t.Fatalf("fan on: %+v", r)
	}
	relay, _ := d.board.Simulated().Pin("GPIO27")
	if relay.Level() != gpio.High {
		t.Fatal("the relay did not switch on")
	}
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "devices did not stop within 200ms") {
		t.Fatalf("stop: %v, want the wedged devices stage reported", err)
	}
	if relay.Level() != gpio.Low {
		t.Fatal("the relay was left energised after a shutdown past its deadline")
	}
}

// exploding is a device whose own loop panics when told to.
type exploding struct {
	name string
	fire <-chan struct{}
}

func (e *exploding) Name() string { return e.name }
func (e *exploding) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	return dst, nil
}
func (e *exploding) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-e.fire:
		panic("driver bug")
	}
}

// TestPanicInADeviceLoopStopsSafely: a panic in a device's loop ends the
// devices stage with an error instead of the process; the daemon stops and
// the relay goes to its safe state.
func TestPanicInADeviceLoopStopsSafely(t *testing.T) {
	fire := make(chan struct{})
	kinds := map[string]deviceKind{"exploding": {
		options: func(DeviceConfig, string) (any, error) { return nil, nil },
		open: func(d DeviceConfig, _ any, _ *board) (poller.Device, error) {
			return &exploding{name: d.Name, fire: fire}, nil
		},
	}}
	dir := t.TempDir()
	d, cancel, done := startDaemonKinds(t, writeConfig(t, dir, fmt.Sprintf(`http: {listen: ""}
local_mqtt: {mode: off}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: bomb, kind: exploding}
  - {name: fan, kind: gpio-out, pin: GPIO27, options: {safe_state: off}}
`, dir)), kinds)
	defer cancel()
	waitUntil(t, "the gateway ready", d.ready.Load)
	if r := d.exec.Execute(t.Context(), "fan", []byte(`{"id":"1","action":"set","value":"on"}`)); !r.OK {
		t.Fatalf("fan on: %+v", r)
	}
	close(fire)
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "devices stopped unexpectedly") || !strings.Contains(err.Error(), "panic: driver bug") {
		t.Fatalf("run ended with %v, want the panic reported", err)
	}
	relay, _ := d.board.Simulated().Pin("GPIO27")
	if relay.Level() != gpio.Low {
		t.Fatal("the relay was left energised after a panic")
	}
}

// TestPlanKeepsARelayWhoseSettingsChangeAndHandsOverOneThatMoves: a plan
// that changes only a relay's interval leaves its pin alone (no change in
// the pin's history, still on); one that moves it to another pin puts the
// old pin in its safe state, then opens the new one, once.
func TestPlanKeepsARelayWhoseSettingsChangeAndHandsOverOneThatMoves(t *testing.T) {
	d, priv, _ := startPlanDaemon(t, "gw-swap", `http: {listen: ""}
local_mqtt: {mode: off}
hardware: {board: sim, sim: {pins: [{name: GPIO27}, {name: GPIO22}]}}
devices: []
`)
	waitUntil(t, "the daemon running", d.ready.Load)
	apply := func(version int, fan string) orchestrator.Status {
		t.Helper()
		st := applyPlan(t, d, priv, fmt.Sprintf("version: %d\ngateway: {id: gw-swap}\ndevices:\n  - %s\n", version, fan))
		if st.State != orchestrator.StateApplied {
			t.Fatalf("plan %d: %s %s %v", version, st.State, st.Error, st.Problems)
		}
		return st
	}
	apply(1, "{name: fan, kind: gpio-out, pin: GPIO27, interval: 1s, options: {safe_state: off}}")
	if r := d.exec.Execute(t.Context(), "fan", []byte(`{"id":"1","action":"set","value":"on"}`)); !r.OK {
		t.Fatalf("fan on: %+v", r)
	}
	old, _ := d.board.Simulated().Pin("GPIO27")
	before := old.History()
	if old.Level() != gpio.High {
		t.Fatal("the relay did not switch on")
	}

	stepDetail := func(st orchestrator.Status) string {
		for _, s := range st.Steps {
			if s.Name == "devices" {
				return s.Detail
			}
		}
		return ""
	}
	if got := stepDetail(apply(2, "{name: fan, kind: gpio-out, pin: GPIO27, interval: 20ms, options: {safe_state: off}}")); got != "changed [fan (kept open)]" {
		t.Errorf("plan 2's devices step: %q", got)
	}
	waitUntil(t, "fan read at its new interval", func() bool {
		s, _ := deviceStats(d, "fan")
		return s.Reads >= 3
	})
	if after := old.History(); len(after) != len(before) || old.Level() != gpio.High {
		t.Fatalf("an interval change glitched the relay: history %v → %v, level %v", before, after, old.Level())
	}
	if s, _ := deviceStats(d, "fan"); s.Last.Device != "" && s.Last.Value != 1 {
		t.Fatalf("fan reads state %v after the interval change, want 1", s.Last.Value)
	}

	if got := stepDetail(apply(3, "{name: fan, kind: gpio-out, pin: GPIO22, interval: 20ms, options: {safe_state: off}}")); got != "changed [fan (handed over)]" {
		t.Errorf("plan 3's devices step: %q", got)
	}
	moved, _ := d.board.Simulated().Pin("GPIO22")
	oh, nh := old.History()[len(before):], moved.History()
	if len(oh) != 1 || oh[0].Level != gpio.Low {
		t.Fatalf("old pin history after the move: %v, want one change to its safe state (low)", oh)
	}
	if len(nh) != 1 || nh[0].Level != gpio.Low || nh[0].Time.Before(oh[0].Time) {
		t.Fatalf("new pin history %v, want one change to low after the old pin's at %v", nh, oh[0].Time)
	}
	if r := d.exec.Execute(t.Context(), "fan", []byte(`{"id":"2","action":"set","value":"on"}`)); !r.OK || moved.Level() != gpio.High || old.Level() != gpio.Low {
		t.Fatalf("fan on after the move: %+v, new pin %v, old pin %v", r, moved.Level(), old.Level())
	}
}

// TestCommandedStateIsReadAtOnce: a relay polled every hour reports the
// state a command gave it at once, so services (which see readings) are
// told of every change.
func TestCommandedStateIsReadAtOnce(t *testing.T) {
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`http: {listen: ""}
local_mqtt: {mode: off}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: fan, kind: gpio-out, pin: GPIO27, interval: 1h}
`, dir)))
	defer stop()
	waitUntil(t, "the first state reading", func() bool { s, _ := deviceStats(d, "fan"); return s.Stored == 1 })
	if r := d.exec.Execute(t.Context(), "fan", []byte(`{"id":"1","action":"set","value":"on"}`)); !r.OK {
		t.Fatalf("fan on: %+v", r)
	}
	waitUntil(t, "the new state stored", func() bool {
		s, _ := deviceStats(d, "fan")
		return s.Stored == 2 && s.Last.Value == 1
	})
}
