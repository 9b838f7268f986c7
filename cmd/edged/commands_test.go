package main

import (
	"fmt"
	"testing"
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
