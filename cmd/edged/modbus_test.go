package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/drivers/modbus"
	"github.com/edged-gateway/edged/runtime/commands"
)

// TestModbusConfigErrorsCarryTheDevicePath checks that the register map's
// problems reach `edged config check` under the device's own path.
func TestModbusConfigErrorsCarryTheDevicePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edged.yaml")
	os.WriteFile(path, []byte(`
devices:
  - name: meter
    kind: modbus
    options:
      url: tcp://127.0.0.1:5020
      registers:
        - {metric: v, table: input, address: 0, type: float32}
        - {metric: w, table: input, address: 1}
        - {metric: s, table: holding, address: 0, type: string}
        - {metric: x, table: holding, address: 9, type: float32, byte_order: ABDC}
`), 0o600)
	_, _, err := loadConfig(path, builtinKinds())
	if err == nil {
		t.Fatal("loadConfig accepted a bad register map")
	}
	for _, want := range []string{
		`devices[0].options.registers[3].byte_order: "ABDC" is not a byte order`, "(did you mean ABCD?)",
		"devices[0].options.registers[1].address: input 1 overlaps registers[0]",
		"devices[0].options.registers[2].length: a string needs its length",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error:\n%v\ndoes not contain %q", err, want)
		}
	}
}

func TestModbusExampleChecks(t *testing.T) {
	if _, _, err := loadConfig("../../examples/modbus.yaml", builtinKinds()); err != nil {
		t.Fatal(err)
	}
}

// TestModbusKindsOpenReadAndCommand opens a modbus-sim and a modbus device
// from config, as the daemon does, reads the meter and commands the drive.
func TestModbusKindsOpenReadAndCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the simulator takes the port
	path := filepath.Join(t.TempDir(), "edged.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`
devices:
  - {name: sim, kind: modbus-sim, options: {listen: %q}}
  - name: meter
    kind: modbus
    options:
      url: tcp://%s
      registers: [{metric: voltage, table: input, address: 0, type: float32, unit: V}]
  - name: vfd
    kind: modbus
    options:
      url: tcp://%s
      unit: 2
      registers: [{metric: setpoint, table: holding, address: 0, scale: 0.01, writable: true, max: 60, safe: 0}]
`, addr, addr, addr)), 0o600)
	_, devs, err := loadConfig(path, builtinKinds())
	if err != nil {
		t.Fatal(err)
	}
	var opened []interface{ Close() error }
	defer func() {
		for i := len(opened) - 1; i >= 0; i-- {
			opened[i].Close()
		}
	}()
	acts := map[string]commands.Actuator{}
	for _, d := range devs {
		dev, err := d.open(nil)
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, dev.(interface{ Close() error }))
		if a, ok := dev.(commands.Actuator); ok {
			acts[d.Name()] = a
		}
		if d.Name() == "meter" {
			rs, err := dev.Read(context.Background(), nil)
			if err != nil || len(rs) != 1 || rs[0].Value < 226 || rs[0].Value > 234 || rs[0].Unit != "V" {
				t.Fatalf("meter read %v, %v", rs, err)
			}
		}
	}
	if _, ok := acts["meter"]; ok {
		t.Error("a modbus device with no writable register is an actuator")
	}
	exec := commands.New(acts, commands.Config{})
	if r := exec.Run(context.Background(), "vfd", commands.Command{ID: "1", Action: "set", Value: map[string]any{"setpoint": 61.0}}); r.OK || !strings.Contains(r.Error, "above max 60") {
		t.Fatalf("out of range: %+v", r)
	}
	if r := exec.Run(context.Background(), "vfd", commands.Command{ID: "2", Action: "set", Value: map[string]any{"setpoint": 42.5}}); !r.OK {
		t.Fatalf("set: %+v", r)
	}
}

// TestPlansAddChangeAndRemoveModbusDevices applies three signed plans to a
// running edged: v1 adds a simulated slave and a meter, v2 changes the
// meter's register map and adds a drive, v3 removes the drive, whose safe
// value (run off) must then be written.
func TestPlansAddChangeAndRemoveModbusDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	f := newPlanFixture(t)
	cfg := writeConfig(t, f.dir, fmt.Sprintf(`gateway: {id: gw-modbus}
data_dir: %s/data
http: {listen: %s}
local_mqtt: {mode: off}
plans: {trusted_keys: [%s/ops.pub]}
`, f.dir, f.api, f.dir))
	gw := startChild(t, f.bin, cfg)
	gw.waitLine(t, regexp.MustCompile(`local API listening`))
	api := "http://" + f.api
	tok := filepath.Join(f.dir, "data", "api.token")
	sim := freePort(t)
	apply := func(version int, devices string) {
		t.Helper()
		p := fmt.Sprintf("version: %d\ngateway: {id: gw-modbus}\ndevices:\n  - {name: slaves, kind: modbus-sim, interval: 1s, options: {listen: %q}}\n%s", version, sim, devices)
		if code, out := f.edged("plan", "apply", "--api", api, "--token-file", tok, f.sign(fmt.Sprint("v", version), p)); code != 0 {
			t.Fatalf("apply v%d: %d\n%s", version, code, out)
		}
	}
	devices := func() map[string]deviceDoc {
		var doc struct{ Devices []deviceDoc }
		callAPI(context.Background(), "GET", api+"/api/v1/devices", "", nil, &doc, apiTimeout)
		out := map[string]deviceDoc{}
		for _, d := range doc.Devices {
			out[d.Name] = d
		}
		return out
	}
	has := func(d deviceDoc, metric string) bool {
		return slices.ContainsFunc(d.Last, func(r apiReading) bool { return r.Metric == metric })
	}
	meter := fmt.Sprintf("  - {name: meter, kind: modbus, interval: 100ms, options: {url: \"tcp://%s\", registers: [{metric: voltage, table: input, address: 0, type: float32}%%s]}}\n", sim)
	apply(1, fmt.Sprintf(meter, ""))
	waitUntil(t, "the meter's voltage", func() bool { d := devices()["meter"]; return d.Healthy && has(d, "voltage") })

	vfd := fmt.Sprintf("  - {name: vfd, kind: modbus, interval: 100ms, options: {url: \"tcp://%s\", unit: 2, registers: [{metric: run, table: coil, address: 0, writable: true, safe: 0}]}}\n", sim)
	apply(2, fmt.Sprintf(meter, ", {metric: current, table: input, address: 6, type: float32}")+vfd)
	waitUntil(t, "the changed meter's current and the drive's run state", func() bool {
		ds := devices()
		return has(ds["meter"], "current") && ds["vfd"].Healthy && has(ds["vfd"], "run")
	})
	if run := devices()["vfd"].Last[0].Value; run != 1 {
		t.Fatalf("the simulated drive starts running, got run=%v", run)
	}

	apply(3, fmt.Sprintf(meter, ""))
	// (The API's device list keeps a removed device's recent readings, as
	// "mqttsensor"; the status lists the polled devices.)
	waitUntil(t, "the drive gone", func() bool { return !slices.Contains(f.deviceNames(), "vfd") })
	probe, err := modbus.New("probe", modbus.Config{URL: "tcp://" + sim, Unit: ptr(2),
		Registers: []modbus.Register{{Metric: "run", Table: "coil", Address: ptr(0)}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	rs, err := probe.Read(context.Background(), nil)
	if err != nil || len(rs) != 1 || rs[0].Value != 0 {
		t.Fatalf("run coil after the drive was removed: %v, %v (its safe value is 0)", rs, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestModbusErrorsOnMetrics runs a daemon whose meter maps a register the
// simulated meter lacks: the exception is counted by kind on /metrics, and
// the device's last error names it.
func TestModbusErrorsOnMetrics(t *testing.T) {
	dir := t.TempDir()
	sim := freePort(t)
	d, stop := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-mb}
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
data_dir: %s
devices:
  - {name: slaves, kind: modbus-sim, options: {listen: %q}}
  - name: meter
    kind: modbus
    interval: 50ms
    options:
      url: tcp://%s
      registers:
        - {metric: voltage, table: input, address: 0, type: float32}
        - {metric: ghost, table: input, address: 500}
`, dir, sim, sim)))
	defer stop()
	waitUntil(t, "two failed polls of the meter", func() bool {
		for _, ds := range d.devs.current().Poller().Stats() {
			if ds.Name == "meter" && ds.ReadErrors >= 2 {
				return true
			}
		}
		return false
	})
	m := scrape(t, d.api.Addr())
	if m[`edged_modbus_errors_total{device="meter",kind="exception"}`] < 2 || m[`edged_modbus_requests_total{device="meter"}`] < 4 {
		t.Fatalf("modbus metrics: %v", filterMetrics(m, "edged_modbus"))
	}
	if _, ok := m[`edged_modbus_errors_total{device="meter",kind="timeout"}`]; !ok {
		t.Fatal("timeouts not exported")
	}
	for _, ds := range d.devs.current().Poller().Stats() {
		if ds.Name == "meter" && !strings.Contains(ds.LastError, "exception 0x02 illegal data address at input 30501 (address 500, 1 register)") {
			t.Fatalf("last error %q", ds.LastError)
		}
	}
}

func filterMetrics(m map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}
