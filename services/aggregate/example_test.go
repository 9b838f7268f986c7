package aggregate_test

import (
	"fmt"
	"time"

	"github.com/edged-gateway/edged/services/aggregate"
)

func Example() {
	cfg, _ := aggregate.DecodeConfig([]byte("window: 1m\nmatch: [+/temperature]\nstats: [mean, count]\n"))
	s, _ := aggregate.New(cfg)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s.Process([]aggregate.Reading{
		{Device: "porch", Metric: "temperature", Value: 20, Unit: "C", Time: t0.Add(10 * time.Second)},
		{Device: "porch", Metric: "temperature", Value: 22, Unit: "C", Time: t0.Add(40 * time.Second)},
		{Device: "porch", Metric: "humidity", Value: 60, Unit: "%", Time: t0.Add(40 * time.Second)},
	}, t0.Add(41*time.Second))
	emit, _ := s.Tick(t0.Add(62 * time.Second)) // the window's end plus the 2s grace
	for _, r := range emit {
		fmt.Printf("%s %s %g%s %s\n", r.Device, r.Metric, r.Value, r.Unit, r.Time.Format("15:04:05"))
	}
	// Output:
	// porch temperature_mean 21C 12:01:00
	// porch temperature_count 2 12:01:00
}
