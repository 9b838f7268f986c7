package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/hardware/sim"
	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// TestSimBoardReadingsAndCommands runs edged on the simulated board with one
// device of each kind, against a real mosquitto: readings reach the cloud
// with the values the board's waveforms predict, and commands sent over MQTT
// switch the relay and the PWM, once per id, with results.
func TestSimBoardReadingsAndCommands(t *testing.T) {
	broker := mosquittotest.Start(t)
	dir := t.TempDir()
	cl := newCloud(t, broker.Addr(), "edged", "gw-hw")
	cfg := fmt.Sprintf(`gateway: {id: gw-hw}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
cloud: {url: %s, batch: 8}
hardware: {board: sim}
devices:
  - {name: env, kind: bme280, bus: i2c1, address: 0x76, interval: 20ms}
  - {name: env-spi, kind: bme280, bus: spi0.1, interval: 20ms}
  - {name: climate, kind: sht3x, bus: i2c1, address: 0x44, interval: 20ms}
  - {name: line, kind: ads1115, bus: i2c1, address: 0x48, interval: 20ms, options: {channels: [{input: ch0, metric: volts}]}}
  - {name: soil, kind: mcp3008, bus: spi0.0, interval: 20ms, options: {channels: [{input: ch0, metric: moisture}]}}
  - {name: door, kind: gpio-in, pin: GPIO17, interval: 20ms, options: {edge: both}}
  - {name: fan, kind: gpio-out, pin: GPIO27, interval: 20ms, options: {safe_state: off}}
  - {name: speed, kind: pwm, pin: GPIO18, interval: 20ms, options: {frequency: 25kHz}}
`, dir, broker.URL())
	d, stop := startDaemon(t, writeConfig(t, dir, cfg))
	board := d.board.Simulated()
	if board == nil {
		t.Fatal("hardware.board sim did not give a simulated board")
	}
	cl.statusIs("online")

	// Readings: each chip's value is one the board's chip measured, within
	// the chip's resolution. The chip records what it measured, so the test
	// never re-evaluates a waveform at a time it cannot pin (the driver
	// stamps the reading some scheduling delay after the conversion).
	checks := []struct {
		series string
		bus    string
		addr   uint16
		qty    string
		tol    float64
	}{
		{"climate/temperature", "i2c1", 0x44, "temperature", 0.01},
		{"climate/humidity", "i2c1", 0x44, "humidity", 0.01},
		{"env/temperature", "i2c1", 0x76, "temperature", 0.02},
		{"env/pressure", "i2c1", 0x76, "pressure", 0.05},
		{"env-spi/humidity", "spi0.1", 0, "humidity", 0.05},
		{"line/volts", "i2c1", 0x48, "ch0", 0.001},
		{"soil/moisture", "spi0.0", 0, "ch0", 0.004},
	}
	for _, c := range checks {
		cl.waitFor("readings of "+c.series, func() bool { return len(cl.values[c.series]) >= 3 })
		chip, err := board.Chip(c.bus, c.addr)
		if err != nil {
			t.Fatal(err)
		}
		mc := chip.(interface {
			Measured(string) []sim.Sample
		})
		cl.mu.Lock()
		got := cl.values[c.series][len(cl.values[c.series])-1]
		cl.mu.Unlock()
		measured := mc.Measured(c.qty)
		found := false
		for _, s := range measured {
			if math.Abs(got.value-s.Value) <= c.tol {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s = %v %s at %s is none of the last %d values the chip measured", c.series, got.value, got.unit, got.ts.Format(time.StampMicro), len(measured))
		}
		if !got.simulated {
			t.Errorf("%s: a reading from the simulated board reached the cloud without \"simulated\": true", c.series)
		}
	}
	for _, ds := range d.statusDoc().Devices {
		if !ds.Simulated && ds.Reads > 0 {
			t.Errorf("status: device %s on the simulated board is not marked simulated: %+v", ds.Name, ds)
		}
	}
	cl.waitFor("door edges", func() bool { return len(cl.values["door/level"]) > 0 && len(cl.values["door/edges"]) > 0 })

	// Commands over MQTT.
	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID("cloud-cmd"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	send := func(device, body string) {
		t.Helper()
		if tok := pub.Publish("edged/gw-hw/cmd/"+device, 1, false, body); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	result := func(id string) string {
		t.Helper()
		cl.waitFor("result of "+id, func() bool { return cl.results[id] != "" })
		cl.mu.Lock()
		defer cl.mu.Unlock()
		return cl.results[id]
	}
	relay, _ := board.Pin("GPIO27")
	if relay.Level() != gpio.Low {
		t.Fatal("the relay is not in its safe state (off) at start")
	}
	send("fan", `{"id":"c1","action":"set","value":"on"}`)
	if r := result("c1"); r != `{"id":"c1","ok":true,"state":"on"}` {
		t.Fatalf("c1: %s", r)
	}
	if relay.Level() != gpio.High {
		t.Fatal("set on did not raise GPIO27")
	}
	changes := len(relay.History())
	cl.mu.Lock()
	delete(cl.results, "c1")
	cl.mu.Unlock()
	send("fan", `{"id":"c1","action":"set","value":"off"}`) // a redelivery of c1
	if r := result("c1"); r != `{"id":"c1","ok":true,"state":"on","duplicate":true}` {
		t.Fatalf("redelivered c1: %s", r)
	}
	if relay.Level() != gpio.High || len(relay.History()) != changes {
		t.Fatal("a redelivered command id was executed again")
	}
	send("speed", `{"id":"c2","action":"set","value":1.5}`)
	if r := result("c2"); !strings.Contains(r, `"ok":false`) || !strings.Contains(r, "out of range") {
		t.Fatalf("out-of-range duty: %s", r)
	}
	send("speed", `{"id":"c3","action":"set","value":0.25}`)
	if r := result("c3"); r != `{"id":"c3","ok":true,"state":"duty 0.25 at 25kHz"}` {
		t.Fatalf("c3: %s", r)
	}
	pwmPin, _ := board.Pin("GPIO18")
	if duty, freq := pwmPin.PWMSetting(); duty != gpio.DutyMax/4 || freq.String() != "25kHz" {
		t.Fatalf("PWM %v at %v, want 25%% at 25kHz", duty, freq)
	}
	send("env", `{"id":"c4","action":"set","value":1}`)
	if r := result("c4"); !strings.Contains(r, `does not accept commands`) {
		t.Fatalf("command to a sensor: %s", r)
	}
	cl.waitFor("the relay state reading", func() bool {
		v := cl.values["fan/state"]
		return len(v) > 0 && v[len(v)-1].value == 1
	})

	// The same command from the gateway's own CLI.
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"device", "set", "--api=http://" + d.api.Addr(), "--token-file=" + filepath.Join(dir, "api.token"), "fan", "off"}, &out, &errb); code != 0 || relay.Level() != gpio.Low {
		t.Fatalf("edged device set fan off: exit %d, %s%s, relay %v", code, out.String(), errb.String(), relay.Level())
	}
	if !strings.HasPrefix(out.String(), "fan: off (id cli-") {
		t.Fatalf("edged device set fan off printed %q, want what the relay did", out.String())
	}
	// The same id again with another value: nothing happens, and the CLI
	// says so instead of echoing the request.
	for _, v := range []string{"on", "off"} {
		out.Reset()
		if code := run(t.Context(), []string{"device", "set", "--api=http://" + d.api.Addr(), "--token-file=" + filepath.Join(dir, "api.token"), "--id", "abc", "fan", v}, &out, &errb); code != 0 {
			t.Fatalf("edged device set --id abc fan %s: exit %d %s", v, code, errb.String())
		}
	}
	if want := "fan: on (id abc) (id abc ran before: nothing was done now; this is its first result)\n"; out.String() != want || relay.Level() != gpio.High {
		t.Fatalf("repeated id printed %q (relay %v), want %q", out.String(), relay.Level(), want)
	}
	if code := run(t.Context(), []string{"device", "set", "--api=http://" + d.api.Addr(), "--token-file=" + filepath.Join(dir, "api.token"), "speed", "2"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "out of range") {
		t.Fatalf("edged device set speed 2: exit %d, %s", code, errb.String())
	}
	send("fan", `{"id":"c5","action":"set","value":true}`)
	if r := result("c5"); r != `{"id":"c5","ok":true,"state":"on"}` || relay.Level() != gpio.High {
		t.Fatalf("c5: %s", r)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if relay.Level() != gpio.Low {
		t.Fatal("the relay was not put back in its safe state at stop")
	}
}
