package hardware

import (
	"strings"
	"testing"

	"edged/hardware/sim"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero", Config{}, ""},
		{"auto", Config{Board: BoardAuto}, ""},
		{"host", Config{Board: BoardHost}, ""},
		{"sim with chips", Config{Board: BoardSim, Sim: sim.Config{Chips: []sim.ChipConfig{{Kind: "sht3x"}}}}, ""},
		{"unknown board", Config{Board: "pi"}, `board: "pi" is not a board, use auto, host or sim`},
		{"sim problems get a path", Config{Board: BoardSim, Sim: sim.Config{
			Chips: []sim.ChipConfig{{Kind: "bme280"}, {Kind: "ads1115", Address: 0x99}},
			Pins:  []sim.PinConfig{{Name: "x"}},
		}}, "sim.chips[1].address: 0x99 is not a valid address for ads1115, use 0x48–0x4B\n" +
			`sim.pins[0].name: "x" is not a pin name, use GPIO<n> such as GPIO17`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.cfg.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("Validate() = %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	none := &Report{Board: Board{Name: "generic Linux"}}
	pi := &Report{Board: Board{Name: "Raspberry Pi 4 Model B Rev 1.4", RaspberryPi: true},
		Loaded: []string{"sysfs-i2c"}, I2C: []Bus{{Name: "/dev/i2c-1", Number: 1, ConfigName: "i2c1"}}}
	tests := []struct {
		name   string
		board  string
		rep    *Report
		sim    bool
		reason string // a part of it
	}{
		{"auto without buses", "", none, true, "no I²C bus, SPI port or GPIO pin found on generic Linux, so readings come from the SIMULATED board"},
		{"auto with buses", BoardAuto, pi, false, "the host has buses: Raspberry Pi 4 Model B Rev 1.4"},
		{"auto without a report", "", nil, true, "found on this host"},
		{"host without buses", BoardHost, none, false, "hardware.board is host"},
		{"sim on a pi", BoardSim, pi, true, "hardware.board is sim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Config{Board: tt.board}.Select(tt.rep)
			if got.Sim != tt.sim || !strings.Contains(got.Reason, tt.reason) {
				t.Fatalf("Select = %+v, want sim %t and a reason with %q", got, tt.sim, tt.reason)
			}
		})
	}
}
