package pwm_test

import (
	"context"
	"fmt"
	"log"

	"periph.io/x/conn/v3/physic"

	"github.com/edged-gateway/edged/drivers/pwm"
	"github.com/edged-gateway/edged/hardware/sim"
)

func Example() {
	board, err := sim.New(sim.Config{Pins: []sim.PinConfig{{Name: "GPIO18"}}})
	if err != nil {
		log.Fatal(err)
	}
	pin, _ := board.Pin("GPIO18")

	// A 4-wire fan: 25 kHz, never below 20 % while running, full speed
	// when edged stops.
	full := 1.0
	d, err := pwm.New("fan", pin, pwm.Config{
		Frequency: pwm.Frequency(25 * physic.KiloHertz),
		MinDuty:   0.2,
		SafeDuty:  &full,
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	duty, freq := pin.PWMSetting()
	fmt.Println("after New:", duty, freq)

	fmt.Println(d.Check("set", 1.5))
	fmt.Println(d.Check("frequency", 30000.0))
	if err := d.Do(context.Background(), "set", 0.5); err != nil {
		log.Fatal(err)
	}
	rs, _ := d.Read(context.Background(), nil)
	duty, freq = pin.PWMSetting()
	fmt.Println("after set 0.5:", duty, freq, rs[0].Metric, rs[0].Value)
	// Output:
	// after New: 100% 25kHz
	// value 1.5 out of range: duty is 0.2..1
	// action "frequency" not supported: the frequency is fixed at 25kHz (options.min_frequency and max_frequency allow a range), use set
	// after set 0.5: 50% 25kHz duty 0.5
}
