package bme280_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/edged-gateway/edged/drivers/bme280"
)

func Example() {
	// A BME280 at 0x76 in normal mode (IIR filter 16, 500 ms standby),
	// as it answers: chip id, calibration, configuration, one data burst.
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x76, W: []byte{0xD0}, R: []byte{0x60}},
		{Addr: 0x76, W: []byte{0x88}, R: []byte{
			0x70, 0x6b, 0x43, 0x67, 0x18, 0xfc, 0x7d, 0x8e, 0x43, 0xd6, 0xd0, 0x0b, 0x27,
			0x0b, 0x8c, 0x00, 0xf9, 0xff, 0x8c, 0x3c, 0xf8, 0xc6, 0x70, 0x17, 0x00, 0x4b}},
		{Addr: 0x76, W: []byte{0xE1}, R: []byte{0x6a, 0x01, 0x00, 0x13, 0x29, 0x03, 0x1e}},
		{Addr: 0x76, W: []byte{0xF4, 0x6c, 0xF2, 0x03, 0xF5, 0x90, 0xF4, 0x6f}},
		{Addr: 0x76, W: []byte{0xF7}, R: []byte{0x65, 0x5a, 0xc0, 0x7e, 0xed, 0x00, 0x6a, 0x00}},
	}}
	d, err := bme280.NewI2C("attic", bus, 0x76, bme280.Config{Filter: "16", Standby: 500 * time.Millisecond}, nil)
	if err != nil {
		log.Fatal(err)
	}
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		fmt.Printf("%s %.2f %s\n", r.Metric, r.Value, r.Unit)
	}
	// Output:
	// temperature 25.08 C
	// pressure 1006.53 hPa
	// humidity 39.03 %RH
}
