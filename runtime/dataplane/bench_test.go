package dataplane

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// BenchmarkFeedHop measures one hop through a feed: from a reading's
// append to the log to the emit of a service (a real process) it was
// delivered to, one reading at a time; reports the p50 and p99 in µs.
func BenchmarkFeedHop(b *testing.B) {
	emitted := make(chan struct{}, 1)
	sp := supervisor.Spec{Name: "a", Command: func() *exec.Cmd { return exec.Command(testservice) },
		Config: []byte(`{"mode":"passthrough"}`), Subscribe: []string{"#"},
		StartTimeout: 5 * time.Second, HealthEvery: time.Second, StopTimeout: 2 * time.Second}
	sup, err := supervisor.New(supervisor.Config{Sandbox: supervisor.Sandbox{Shim: self}, OnEmit: func(string, []reading.Reading) {
		emitted <- struct{}{}
	}}, []supervisor.Spec{sp})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	defer func() { cancel(); <-done }()
	log := newMemLog()
	fs := NewFeeds(sup, FeedConfig{})
	defer func() { fs.Stop(); fs.Wait() }()
	if err := fs.Set([]FeedSpec{{Service: "a", Cursor: log.cursor("service:a", false)}}); err != nil {
		b.Fatal(err)
	}
	hop := func(i int) time.Duration {
		start := time.Now()
		log.append(reading.Reading{Device: "d", Metric: "m", Value: float64(i)})
		select {
		case <-emitted:
		case <-time.After(60 * time.Second):
			b.Fatal("no emit within 60 s")
		}
		return time.Since(start)
	}
	hop(-1) // the service is up
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		lat = append(lat, hop(i))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
