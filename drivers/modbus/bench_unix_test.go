//go:build unix

package modbus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPymodbusPolling is the figure README quotes: 10 devices × 100
// holding registers, each device polled every 100 ms over its own TCP
// connection to one pymodbus server on loopback, for 5 s. It reports the
// registers read per second, requests per poll with batching on and off
// (counted at the server), and the CPU this process used as a percentage
// of one core. Run with -benchtime 1x.
func BenchmarkPymodbusPolling(b *testing.B) {
	const (
		devices   = 10
		registers = 100
		interval  = 100 * time.Millisecond
		run       = 5 * time.Second
	)
	units := ""
	for i := 1; i <= devices; i++ {
		units += fmt.Sprintf(",%d", i)
	}
	srv := startSlave(b, "tcp", "--units", units[1:])
	regs := make([]Register, registers)
	for i := range regs {
		regs[i] = Register{Metric: fmt.Sprint("r", i), Table: "holding", Address: ip(i)}
	}
	perPoll := func(batch bool) float64 {
		var total int
		for u := 1; u <= devices; u++ {
			d, err := New(fmt.Sprint("d", u), Config{URL: tcpURL(srv), Unit: ip(u), Batch: &batch, Registers: regs}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			before := srv.count(u)
			if _, err := d.Read(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
			total += srv.count(u) - before
			d.Close()
		}
		return float64(total) / devices
	}
	on, off := perPoll(true), perPoll(false)

	for range b.N {
		var devs []*Device
		for u := 1; u <= devices; u++ {
			d, err := New(fmt.Sprint("d", u), Config{URL: tcpURL(srv), Unit: ip(u), Registers: regs}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			devs = append(devs, d)
		}
		var read, failed atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), run)
		cpu0 := cpuTime()
		start := time.Now()
		var wg sync.WaitGroup
		for _, d := range devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(interval)
				defer tick.Stop()
				for {
					rs, err := d.Read(ctx, nil)
					if err != nil {
						failed.Add(1)
					}
					read.Add(int64(len(rs)))
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
				}
			}()
		}
		wg.Wait()
		cancel()
		elapsed := time.Since(start)
		cpu := cpuTime() - cpu0
		b.ReportMetric(float64(read.Load())/elapsed.Seconds(), "registers/s")
		b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "%cpu")
		b.ReportMetric(float64(failed.Load()), "failed-polls")
	}
	b.ReportMetric(on, "requests/poll-batched")
	b.ReportMetric(off, "requests/poll-unbatched")
	b.ReportMetric(off/on, "batching-x")
}

// cpuTime is the user and system CPU this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
