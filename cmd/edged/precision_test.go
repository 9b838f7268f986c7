package main

import (
	"strings"
	"testing"
)

// TestDeviceLogLinesShowTheSensorsResolution: a device's value in the log
// is rounded to its precision, or by default to its unit's resolution
// (19.950983468089202 C → 19.95), not printed with binary noise; units
// without a known resolution keep 6 significant digits.
func TestDeviceLogLinesShowTheSensorsResolution(t *testing.T) {
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, "gateway: {id: gw-prec}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: "+dir+`
devices:
  - {name: room, kind: sim, interval: 5ms, options: {metric: temperature, unit: C, waveform: constant, min: 19.950983468089202}}
  - {name: rail, kind: sim, interval: 5ms, precision: 0, options: {metric: voltage, unit: V, waveform: constant, min: 11.6500000000001}}
  - {name: odd, kind: sim, interval: 5ms, options: {metric: count, unit: widgets, waveform: constant, min: 1234.56789012}}
`))
	defer stop()
	want := map[string]float64{"room": 19.95, "rail": 12, "odd": 1234.57}
	var got map[string]float64
	waitUntil(t, "a reading of each device", func() bool {
		got = map[string]float64{}
		for _, attrs := range d.deviceLogLines() {
			if attrs[9] != "" { // a stored reading, with its unit
				got[attrs[1].(string)] = attrs[7].(float64)
			}
		}
		return len(got) == len(want)
	})
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s logged %v, want %v", name, got[name], v)
		}
	}
}

func TestPrecisionIsChecked(t *testing.T) {
	dir := t.TempDir()
	_, _, err := loadConfig(writeConfig(t, dir, "devices:\n  - {name: room, kind: sim, precision: 12}\n"), builtinKinds())
	if err == nil || !strings.Contains(err.Error(), "devices[0].precision") || !strings.Contains(err.Error(), "0 to 9") {
		t.Fatalf("precision 12: %v", err)
	}
}
