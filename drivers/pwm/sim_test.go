package pwm

import (
	"context"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/edged-gateway/edged/hardware/sim"
)

func TestAgainstSim(t *testing.T) {
	board, err := sim.New(sim.Config{Pins: []sim.PinConfig{{Name: "GPIO18"}}}, sim.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	p, err := board.Pin("GPIO18")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New("fan", p, Config{
		Frequency: Frequency(25 * physic.KiloHertz), MinFrequency: Frequency(20 * physic.KiloHertz), MaxFrequency: Frequency(30 * physic.KiloHertz),
		MinDuty: 0.2, SafeDuty: ptr(1),
	}, clock)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		action string
		value  any
		duty   gpio.Duty
		freq   physic.Frequency
	}{
		{"", nil, gpio.DutyMax, 25 * physic.KiloHertz}, // after New: the safe duty
		{"set", 0.5, gpio.DutyHalf, 25 * physic.KiloHertz},
		{"frequency", "20kHz", gpio.DutyHalf, 20 * physic.KiloHertz},
		{"set", 0.25, gpio.DutyMax / 4, 20 * physic.KiloHertz},
		{"safe", nil, gpio.DutyMax, 20 * physic.KiloHertz},
	}
	for _, s := range steps {
		switch s.action {
		case "":
		case "safe":
			err = d.Safe(context.Background())
		default:
			err = d.Do(context.Background(), s.action, s.value)
		}
		if err != nil {
			t.Fatal(err)
		}
		if duty, freq := p.PWMSetting(); duty != s.duty || freq != s.freq {
			t.Fatalf("after %s %v the pin does %s at %s, want %s at %s", s.action, s.value, duty, freq, s.duty, s.freq)
		}
	}
	rs, err := d.Read(context.Background(), nil)
	if err != nil || len(rs) != 1 || rs[0].String() != "fan/duty=1 @2026-03-01T12:00:00Z #0" {
		t.Fatalf("Read = %v, %v", rs, err)
	}
}

// TestStateSaysTheDutyAndFrequency: State follows the output, for command
// results.
func TestStateSaysTheDutyAndFrequency(t *testing.T) {
	board, err := sim.New(sim.Config{Pins: []sim.PinConfig{{Name: "GPIO18"}}}, sim.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := board.Pin("GPIO18")
	d, err := New("fan", p, Config{Frequency: Frequency(25 * physic.KiloHertz)}, clock)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Do(context.Background(), ActionSet, 0.25); err != nil {
		t.Fatal(err)
	}
	if got := d.State(); got != "duty 0.25 at 25kHz" {
		t.Fatalf("State() = %q", got)
	}
}
