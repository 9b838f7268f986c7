package ads1115_test

import (
	"context"
	"fmt"
	"log"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/edged-gateway/edged/drivers/ads1115"
	"github.com/edged-gateway/edged/drivers/scale"
)

func Example() {
	// One single-shot conversion of ch0 at gain 1 and 860 SPS, as the
	// chip answers it: probe, start, poll OS, read the result.
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x48, W: []byte{0x01}, R: []byte{0x85, 0x83}}, // New: config register at its reset value
		{Addr: 0x48, W: []byte{0x01, 0xC3, 0xE3}},            // start: OS, MUX ch0, PGA ±4.096 V, single, 860 SPS
		{Addr: 0x48, W: []byte{0x01}, R: []byte{0xC3, 0xE3}}, // OS reads 1: done
		{Addr: 0x48, W: []byte{0x00}, R: []byte{0x4E, 0x20}}, // 20000 → 2.5 V
	}}
	d, err := ads1115.New("boiler", bus, 0x48, ads1115.Config{
		Gain:     "1",
		DataRate: 860,
		Channels: []ads1115.Channel{
			// a 0.5–4.5 V transducer reading 0–10 bar
			{Input: "ch0", Metric: "pressure", Scale: scale.Linear{Factor: 2.5, Offset: -1.25, Unit: "bar"}},
		},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s %.2f %s\n", rs[0].Device, rs[0].Metric, rs[0].Value, rs[0].Unit)
	// Output: boiler pressure 5.00 bar
}
