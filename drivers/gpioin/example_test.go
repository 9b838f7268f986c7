package gpioin_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/drivers/gpioin"
	"github.com/edged-gateway/edged/hardware/sim"
)

func Example() {
	board, err := sim.New(sim.Config{Pins: []sim.PinConfig{{Name: "GPIO17"}}})
	if err != nil {
		log.Fatal(err)
	}
	pin, _ := board.Pin("GPIO17")

	// A door contact to ground with the internal pull-up: opening the
	// door takes the pin high.
	d, err := gpioin.New("door", pin, gpioin.Config{Metric: "open", Pull: "up", Edge: "rising"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	pin.SetLevel(gpio.Low) // closed

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }() // counts edges until ctx ends

	for range 3 { // open and close the door three times
		n := d.Edges() // before the edge, or Run may count it first
		pin.SetLevel(gpio.High)
		for d.Edges() == n {
			time.Sleep(time.Millisecond)
		}
		pin.SetLevel(gpio.Low)
	}
	pin.SetLevel(gpio.High) // and leave it open
	for d.Edges() < 4 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		log.Fatal(err)
	}

	rs, _ := d.Read(context.Background(), nil)
	for _, r := range rs {
		fmt.Println(r.Metric, r.Value)
	}
	// Output:
	// open 1
	// edges 4
}
