package sim_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/edged-gateway/edged/hardware/sim"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
)

// A test builds the default board on a fixed clock, talks to the SHT3x at
// 0x44 the way a driver would, and injects faults.
func Example() {
	clock := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	board, err := sim.New(sim.Config{}, sim.WithClock(func() time.Time { return clock }))
	if err != nil {
		panic(err)
	}
	bus, err := board.I2C("i2c1")
	if err != nil {
		panic(err)
	}
	dev := &i2c.Dev{Bus: bus, Addr: 0x44}

	// Single shot, high repeatability, clock stretching.
	r := make([]byte, 6)
	if err := dev.Tx([]byte{0x2C, 0x06}, r); err != nil {
		panic(err)
	}
	raw := float64(uint16(r[0])<<8 | uint16(r[1]))
	fmt.Printf("%.1f °C, CRC ok %t\n", -45+175*raw/65535, sim.CRC8(r[:2]) == r[2])

	chip, _ := board.Chip("i2c1", 0x44)
	want, _ := chip.(*sim.SHT3x).Value("temperature", clock)
	fmt.Printf("waveform %.1f °C\n", want)

	chip.(*sim.SHT3x).CorruptCRC(1)
	_ = dev.Tx([]byte{0x2C, 0x06}, r)
	fmt.Println("CRC ok after CorruptCRC:", sim.CRC8(r[:2]) == r[2])

	chip.SetAbsent(true)
	err = dev.Tx([]byte{0x2C, 0x06}, r)
	fmt.Println("absent:", errors.Is(err, sim.ErrNACK))

	relay, _ := board.Pin("GPIO27")
	_ = relay.Out(gpio.High)
	fmt.Println("relay:", relay.Level(), len(relay.History()), "change")
	// Output:
	// 21.0 °C, CRC ok true
	// waveform 21.0 °C
	// CRC ok after CorruptCRC: false
	// absent: true
	// relay: High 1 change
}
