package sht3x_test

import (
	"context"
	"fmt"
	"log"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/edged-gateway/edged/drivers/sht3x"
)

func Example() {
	// The transactions of a soft reset and one high-repeatability
	// measurement, as a real sensor answers them.
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x44, W: []byte{0x30, 0xA2}},                         // soft reset
		{Addr: 0x44, W: []byte{0x24, 0x00}},                         // single shot, high repeatability
		{Addr: 0x44, R: []byte{0x66, 0x66, 0x93, 0x99, 0x99, 0xBE}}, // T, CRC, RH, CRC
	}}
	d, err := sht3x.New("greenhouse", bus, 0x44, sht3x.Config{Repeatability: "high"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		fmt.Printf("%s %s %.2f %s\n", r.Device, r.Metric, r.Value, r.Unit)
	}
	// Output:
	// greenhouse temperature 25.00 C
	// greenhouse humidity 60.00 %RH
}
