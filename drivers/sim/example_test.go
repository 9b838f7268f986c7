package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/edged-gateway/edged/drivers/sim"
)

func Example() {
	clock := func() time.Time { return time.Unix(600, 0) } // a whole number of 1m periods
	d, _ := sim.New("boiler", sim.Config{Metric: "temperature", Unit: "C", Waveform: "square", Min: 60, Max: 80, Period: time.Minute}, clock)
	rs, _ := d.Read(context.Background(), nil)
	fmt.Printf("%s %s %.1f%s\n", rs[0].Device, rs[0].Metric, rs[0].Value, rs[0].Unit)
	// Output: boiler temperature 80.0C
}
