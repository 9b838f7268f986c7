package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edged/runtime/commands"
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
