package pluginapi_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// BenchmarkPassThrough measures readings/s through a pass-through service
// process, in batches of 256.
func BenchmarkPassThrough(b *testing.B) {
	const size = 256
	var got, want atomic.Int64
	done := make(chan struct{}, 1)
	conn := start(b, pluginapi.LaunchConfig{OnEmit: func(rs []pluginapi.Reading) {
		if got.Add(int64(len(rs))) == want.Load() {
			done <- struct{}{}
		}
	}})
	configure(b, conn, "passthrough", 0)
	batch := testReadings(size, 1)
	ctx := context.Background()
	want.Store(int64(b.N) * size)
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		if err := conn.Send(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(b.N*size)/time.Since(t0).Seconds(), "readings/s")
}

// BenchmarkRoundTrip measures one reading sent and emitted back, reporting
// the 50th and 99th percentile in µs.
func BenchmarkRoundTrip(b *testing.B) {
	back := make(chan struct{}, 1)
	conn := start(b, pluginapi.LaunchConfig{OnEmit: func([]pluginapi.Reading) { back <- struct{}{} }})
	configure(b, conn, "passthrough", 0)
	one := testReadings(1, 1)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := conn.Send(ctx, one); err != nil {
			b.Fatal(err)
		}
		<-back
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}
