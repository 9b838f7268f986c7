package main

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// TestCommandIDsAreRememberedAcrossARestart: a command id that ran is
// answered from data_dir/commands.db by the next daemon, not run again.
func TestCommandIDsAreRememberedAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`http: {listen: ""}
local_mqtt: {mode: off}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: fan, kind: gpio-out, pin: GPIO27}
`, dir))
	d, stop := startDaemon(t, cfg)
	if r := d.exec.Execute(t.Context(), "fan", []byte(`{"id":"x","action":"set","value":"on"}`)); !r.OK || r.State != "on" {
		t.Fatalf("first run: %+v", r)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	d, stop = startDaemon(t, cfg)
	defer stop()
	r := d.exec.Execute(t.Context(), "fan", []byte(`{"id":"x","action":"set","value":"on"}`))
	if !r.OK || !r.Duplicate || r.State != "on" || d.exec.Stats().Executed != 0 {
		t.Fatalf("redelivery after a restart: %+v, stats %+v", r, d.exec.Stats())
	}
	pin, _ := d.board.Simulated().Pin("GPIO27")
	if len(pin.History()) != 1 { // the safe state at open, nothing since
		t.Fatalf("the relay was switched again: %v", pin.History())
	}
}

// TestCommandsSentWhileOfflineArrive: the cloud link keeps a persistent
// session, so a command published while the gateway is stopped runs when
// it comes back, and one whose expiry passed meanwhile is answered as
// expired.
func TestCommandsSentWhileOfflineArrive(t *testing.T) {
	broker := mosquittotest.Start(t)
	dir := t.TempDir()
	cl := newCloud(t, broker.Addr(), "edged", "gw-q")
	cfg := writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-q}
http: {listen: ""}
local_mqtt: {mode: off}
data_dir: %s
cloud: {url: %s}
hardware: {board: sim}
devices:
  - {name: fan, kind: gpio-out, pin: GPIO27}
`, dir, broker.URL()))
	_, stop := startDaemon(t, cfg)
	cl.statusIs("online")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	cl.statusIs("offline")

	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID("cloud-cmd-q"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	for _, body := range []string{
		`{"id":"q1","action":"set","value":"on"}`,
		`{"id":"q2","action":"set","value":"off","expires":"2020-01-01T00:00:00Z"}`,
	} {
		if tok := pub.Publish("edged/gw-q/cmd/fan", 1, false, body); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}

	d, stop := startDaemon(t, cfg)
	defer stop()
	cl.waitFor("results of the queued commands", func() bool { return cl.results["q1"] != "" && cl.results["q2"] != "" })
	cl.mu.Lock()
	q1, q2 := cl.results["q1"], cl.results["q2"]
	cl.mu.Unlock()
	if q1 != `{"id":"q1","ok":true,"state":"on"}` || q2 != `{"id":"q2","ok":false,"error":"expired at 2020-01-01T00:00:00Z: not run"}` {
		t.Fatalf("q1 %s, q2 %s", q1, q2)
	}
	if pin, _ := d.board.Simulated().Pin("GPIO27"); pin.Level() != gpio.High {
		t.Fatal("the queued command did not switch the relay on")
	}
}
