package mcp3008_test

import (
	"context"
	"fmt"
	"log"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/edged-gateway/edged/drivers/mcp3008"
	"github.com/edged-gateway/edged/drivers/scale"
)

func Example() {
	// Two conversions as the chip answers them: a 0.5–4.5 V pressure
	// transducer on ch0 (through a divider to 0–3.3 V) and a
	// differential pair on ch2/ch3.
	port := &spitest.Playback{Playback: conntest.Playback{Ops: []conntest.IO{
		{W: []byte{0x01, 0x80, 0x00}, R: []byte{0x00, 0x02, 0x00}}, // ch0: code 512
		{W: []byte{0x01, 0x20, 0x00}, R: []byte{0x00, 0x00, 0x40}}, // ch2-ch3: code 64
	}}}
	d, err := mcp3008.New("tank", port, mcp3008.Config{
		Vref: 3.3,
		Channels: []mcp3008.Channel{
			{Input: "ch0", Metric: "pressure", Scale: scale.Linear{Factor: 10 / 3.3, Unit: "bar"}},
			{Input: "ch2-ch3", Metric: "shunt"},
		},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		fmt.Printf("%s %.3f %s\n", r.Metric, r.Value, r.Unit)
	}
	// Output:
	// pressure 5.000 bar
	// shunt 0.206 V
}
