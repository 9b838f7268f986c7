package gpioout_test

import (
	"context"
	"fmt"
	"log"

	"github.com/edged-gateway/edged/drivers/gpioout"
	"github.com/edged-gateway/edged/hardware/sim"
)

func Example() {
	board, err := sim.New(sim.Config{Pins: []sim.PinConfig{{Name: "GPIO27"}}})
	if err != nil {
		log.Fatal(err)
	}
	pin, _ := board.Pin("GPIO27")

	// A relay board that switches on when its input is pulled low.
	d, err := gpioout.New("pump", pin, gpioout.Config{SafeState: "off", ActiveLow: true}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after New:", pin.Level())

	fmt.Println(d.Check("toggle", nil))
	fmt.Println(d.Check("set", 0.5))
	if err := d.Do(context.Background(), "set", "on"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after set on:", pin.Level())

	if err := d.Safe(context.Background()); err != nil {
		log.Fatal(err)
	}
	rs, _ := d.Read(context.Background(), nil)
	fmt.Println("after Safe:", pin.Level(), rs[0].Metric, rs[0].Value)
	// Output:
	// after New: High
	// action "toggle" not supported, use set
	// value 0.5 not allowed: set takes true/false, 1/0 or "on"/"off"
	// after set on: Low
	// after Safe: High state 0
}
