package gpioout

import (
	"context"
	"fmt"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/hardware/sim"
)

func simPin(t *testing.T) *sim.Pin {
	t.Helper()
	board, err := sim.New(sim.Config{Pins: []sim.PinConfig{{Name: "GPIO27"}}}, sim.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	p, err := board.Pin("GPIO27")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func history(p *sim.Pin) string {
	s := ""
	for _, c := range p.History() {
		s += fmt.Sprintf("%s@%s ", c.Level, c.Time.Format("15:04"))
	}
	return s
}

func TestAgainstSim(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		commands []any
		want     string // the pin's history after New, the commands and Safe
		level    gpio.Level
	}{
		{name: "relay, safe off", cfg: Config{}, commands: []any{"on", false, 1.0},
			want: "Low@12:00 High@12:00 Low@12:00 High@12:00 Low@12:00 ", level: gpio.Low},
		{name: "active-low relay board, safe off", cfg: Config{ActiveLow: true}, commands: []any{true, "off"},
			want: "High@12:00 Low@12:00 High@12:00 ", level: gpio.High},
		{name: "safe on", cfg: Config{SafeState: "on"}, commands: []any{"off"},
			want: "High@12:00 Low@12:00 High@12:00 ", level: gpio.High},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := simPin(t)
			d, err := New("relay", p, tt.cfg, clock)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.commands {
				if err := d.Do(context.Background(), "set", c); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Safe(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := history(p); got != tt.want {
				t.Fatalf("pin history %q, want %q", got, tt.want)
			}
			if p.Level() != tt.level {
				t.Fatalf("pin level %s, want %s", p.Level(), tt.level)
			}
		})
	}
}

// TestStateSaysWhatThePinDoes: State follows the output, for command
// results.
func TestStateSaysWhatThePinDoes(t *testing.T) {
	d, err := New("fan", simPin(t), Config{SafeState: "off"}, clock)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.State(); got != "off" {
		t.Fatalf("after New: %q", got)
	}
	if err := d.Do(context.Background(), ActionSet, "on"); err != nil || d.State() != "on" {
		t.Fatalf("after set on: %v %q", err, d.State())
	}
}
