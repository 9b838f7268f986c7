package gpioin

import (
	"context"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/hardware/sim"
)

func TestAgainstSimSwitch(t *testing.T) {
	board, err := sim.New(sim.Config{Pins: []sim.PinConfig{{Name: "GPIO17"}}}, sim.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	p, err := board.Pin("GPIO17")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New("button", p, Config{Pull: "up", Edge: "falling", Debounce: 30 * time.Millisecond}, clock)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pull() != gpio.PullUp {
		t.Fatalf("pull = %s", p.Pull())
	}
	stop := run(t, d)
	defer stop()
	time.Sleep(10 * time.Millisecond) // let Run take the settled level
	press := func(ls ...gpio.Level) {
		for _, l := range ls {
			p.SetLevel(l)
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
	}
	press(gpio.Low, gpio.High, gpio.Low)  // pressed, bouncing: one falling change
	press(gpio.High, gpio.Low, gpio.High) // released: no falling change
	press(gpio.Low)
	settle(t, d, 2, 50*time.Millisecond)
	rs, err := d.Read(context.Background(), nil)
	if err != nil || len(rs) != 2 || rs[0].String() != "button/level=0 @2026-03-01T12:00:00Z #0" || rs[1].String() != "button/edges=2 @2026-03-01T12:00:00Z #0" {
		t.Fatalf("Read = %v, %v", rs, err)
	}
}

// TestAgainstSimSignal counts the edges of a 50 Hz square wave on the
// pin, at the real clock: the count can fall short (edges between two
// WaitForEdge calls merge) but never run ahead.
func TestAgainstSimSignal(t *testing.T) {
	board, err := sim.New(sim.Config{Pins: []sim.PinConfig{{Name: "GPIO17",
		Signal: &sim.Signal{Waveform: "square", Min: 0, Max: 1, Period: 20 * time.Millisecond}}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := board.Pin("GPIO17")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New("meter", p, Config{Edge: "rising"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for 5 edges (the event, however long a loaded machine takes),
	// then check the count never exceeds what the wave can have made.
	start := time.Now()
	stop := run(t, d)
	deadline := time.Now().Add(time.Minute) // a hang guard
	for d.Edges() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	elapsed := time.Since(start)
	most := int64(elapsed/(20*time.Millisecond)) + 1
	if n := d.Edges(); n < 5 || n > most {
		t.Fatalf("counted %d rising edges in %s of a 50 Hz square wave, want 5..%d", n, elapsed, most)
	}
}
