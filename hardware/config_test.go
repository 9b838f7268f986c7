package hardware

import (
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/hardware/sim"
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
		{"negative safe timeout", Config{SafeTimeout: -time.Second}, "safe_timeout: -1s is negative, use a duration such as 2s (or leave it out)"},
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
		name     string
		board    string
		fallback bool
		platform string
		rep      *Report
		sim      bool
		reason   string // a part of it
	}{
		{"auto without buses on a dev host", "", false, "linux/amd64", none, true,
			"no I²C bus, SPI port or GPIO pin found on generic Linux and linux/amd64 is a development host, not a gateway (Linux on ARM), so readings come from the SIMULATED board"},
		{"auto without buses on macOS", BoardAuto, false, "darwin/arm64", none, true, "darwin/arm64 is a development host"},
		{"auto without buses on a gateway", BoardAuto, false, "linux/arm64", none, false,
			"staying on the host's buses, so each device reports what it cannot open and the fix; set hardware.allow_sim_fallback: true"},
		{"auto without buses on a 32-bit gateway", "", false, "linux/arm", none, false, "staying on the host's buses"},
		{"auto without buses on a gateway, fallback allowed", BoardAuto, true, "linux/arm64", none, true, "hardware.allow_sim_fallback is set, so readings come from the SIMULATED board"},
		{"auto with buses", BoardAuto, true, "linux/arm64", pi, false, "the host has buses: Raspberry Pi 4 Model B Rev 1.4"},
		{"auto without a report", "", false, "linux/amd64", nil, true, "found on this host"},
		{"host without buses", BoardHost, true, "linux/amd64", none, false, "hardware.board is host"},
		{"sim on a pi", BoardSim, false, "linux/arm64", pi, true, "hardware.board is sim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			goos, goarch, _ := strings.Cut(tt.platform, "/")
			got := Config{Board: tt.board, AllowSimFallback: tt.fallback}.SelectOn(tt.rep, goos, goarch)
			if got.Sim != tt.sim || !strings.Contains(got.Reason, tt.reason) {
				t.Fatalf("Select = %+v, want sim %t and a reason with %q", got, tt.sim, tt.reason)
			}
		})
	}
}
