package anomaly_test

import (
	"fmt"
	"time"

	"github.com/edged-gateway/edged/services/anomaly"
)

func Example() {
	cfg, _ := anomaly.DecodeConfig([]byte("match: [+/temperature]\nwarmup: 10\nthreshold: 3\n"))
	s, _ := anomaly.New(cfg)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	values := []float64{20, 21, 20, 21, 20, 21, 20, 21, 20, 21, 20.5, 21, 27}
	for i, v := range values {
		t := t0.Add(time.Duration(i) * time.Minute)
		emit, _ := s.Process([]anomaly.Reading{{Device: "porch", Metric: "temperature", Value: v, Unit: "C", Time: t}}, t)
		for _, r := range emit {
			fmt.Printf("%s %s %s %.1f\n", r.Time.Format("15:04"), r.Device, r.Metric, r.Value)
		}
	}
	// Output:
	// 12:12 porch temperature_anomaly_score 14.0
}
