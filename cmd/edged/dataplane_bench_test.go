package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/sync/outbox"
)

// countingHTTP is a historian endpoint that counts the readings POSTed to
// it and closes done once target have arrived.
type countingHTTP struct {
	n      atomic.Int64
	target int64
	done   chan struct{}
	at     atomic.Int64 // unix ns when target was reached
	addr   string
}

func newCountingHTTP(b *testing.B, target int64) *countingHTTP {
	c := &countingHTTP{target: target, done: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	c.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		k := int64(bytes.Count(body, []byte(`"seq":`)))
		if total := c.n.Add(k); total >= c.target && total-k < c.target {
			c.at.Store(time.Now().UnixNano())
			close(c.done)
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return c
}

// drainRoutes fills a fresh outbox with backlog readings, then starts an
// in-process daemon whose routes drain it: the cloud route alone, or the
// cloud, a second mosquitto and an HTTP endpoint. It returns each route's
// drain rate (readings/s from the daemon's start to the last reading's
// arrival).
func drainRoutes(b *testing.B, cloudB, scadaB *mosquittotest.Broker, three bool, backlog int) (rates map[string]float64, selfCPU, brokerCPU time.Duration) {
	dir := b.TempDir()
	fillOutbox(b, filepath.Join(dir, "outbox.db"), backlog)
	gw := fmt.Sprintf("routes%v", three)
	cloudM := newMeter(b, cloudB.Addr(), "edged/"+gw+"/telemetry/+", int64(backlog))
	routesYAML := ""
	var scadaM *meter
	var hist *countingHTTP
	if three {
		scadaM = newMeter(b, scadaB.Addr(), "site/"+gw+"/telemetry/+", int64(backlog))
		hist = newCountingHTTP(b, int64(backlog))
		routesYAML = fmt.Sprintf("routes:\n  - {name: scada, to: mqtt, topic_prefix: site, mqtt: {url: %s}}\n  - {name: historian, to: http, http: {url: \"http://%s/write\"}}\n", scadaB.URL(), hist.addr)
	}
	cfgFile := filepath.Join(dir, "edged.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("gateway: {id: %s}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\ndata_dir: %s\noutbox: {max_bytes: 1Gi}\ncloud: {url: %s}\nlog: {level: error}\ndevices: []\n%s",
		gw, dir, cloudB.URL(), routesYAML)), 0o644)
	cfg, devs, err := loadConfig(cfgFile, builtinKinds())
	if err != nil {
		b.Fatal(err)
	}
	d, err := newDaemon(cfg, devs, newLogger(cfg.Log, os.Stderr))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	cloudM.start = start // meters count from the daemon's start
	if three {
		scadaM.start = start
	}
	self0, brokers0 := cpuTime(), procCPU(cloudB.Pid())+procCPU(scadaB.Pid())
	go func() { done <- d.run(ctx, start) }()
	rates = map[string]float64{}
	cloudM.wait(b)
	rates["cloud"] = float64(backlog) / time.Duration(cloudM.last.Load()).Seconds()
	if three {
		scadaM.wait(b)
		rates["scada"] = float64(backlog) / time.Duration(scadaM.last.Load()).Seconds()
		select {
		case <-hist.done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("historian: %d of %d readings", hist.n.Load(), backlog)
		}
		rates["historian"] = float64(backlog) / time.Unix(0, hist.at.Load()).Sub(start).Seconds()
	}
	selfCPU, brokerCPU = cpuTime()-self0, procCPU(cloudB.Pid())+procCPU(scadaB.Pid())-brokers0
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return rates, selfCPU, brokerCPU
}

// procCPU is the user+system CPU time of a process so far (0 for pid 0).
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// BenchmarkRoutes drains the same backlog through one route (the cloud)
// and through three routes at once (the cloud, a second mosquitto, an HTTP
// historian), in one run on one machine. per_route_vs_one is the slowest
// of the three routes' rates over the one route's rate; cost_3_vs_1 is
// the time three routes take over the time one takes (issue #16's target:
// ≤ 1.7). Run with -benchtime 1x.
func BenchmarkRoutes(b *testing.B) {
	const backlog = 200_000
	cloudB := mosquittotest.Start(b)
	scadaB := mosquittotest.Start(b)
	for i := 0; i < b.N; i++ {
		ones, self1, brokers1 := drainRoutes(b, cloudB, scadaB, false, backlog)
		one := ones["cloud"]
		three, self3, brokers3 := drainRoutes(b, cloudB, scadaB, true, backlog)
		slowest := min(three["cloud"], three["scada"], three["historian"])
		b.ReportMetric(one, "one_route_readings/s")
		b.ReportMetric(three["cloud"], "three_cloud_readings/s")
		b.ReportMetric(three["scada"], "three_mqtt_readings/s")
		b.ReportMetric(three["historian"], "three_http_readings/s")
		b.ReportMetric(slowest/one, "per_route_vs_one")
		b.ReportMetric(one/slowest, "cost_3_vs_1")
		// CPU seconds spent: this process (edged, the subscribers and the
		// HTTP endpoint) and the mosquitto brokers; with 2 cores, what the
		// peers take is not edged's to use.
		b.ReportMetric(self3.Seconds()/self1.Seconds(), "process_cpu_3_vs_1")
		b.ReportMetric(brokers3.Seconds()/brokers1.Seconds(), "brokers_cpu_3_vs_1")
		b.ReportMetric((self1 + brokers1).Seconds(), "cpu_s_one_route")
		b.ReportMetric((self3 + brokers3).Seconds(), "cpu_s_three_routes")
	}
}

var benchChainWait = 60 * time.Second

// BenchmarkServiceChainLatency runs a chip (a sim device every 10ms) and
// two built-in services chained through the log: anomaly "first" scores
// porch/temperature and emits porch/temperature_anomaly_score, anomaly
// "second" scores that and emits …_anomaly_score_anomaly_score (both with
// emit_all_scores, each emit keeping its input's time). It measures with a
// cursor of its own, from each reading's time (taken when the chip was
// read) to when it is durable and visible in the log: the chip's reading
// itself (0 hops) and the second service's emit (2 hops).
// two_hops_add_ms_p50 is the difference of the medians (issue #16's
// target: ≤ 2 ms). Run with -benchtime 1x.
func BenchmarkServiceChainLatency(b *testing.B) {
	for i := 0; i < b.N; i++ {
		for _, fsync := range []bool{true, false} {
			chip, add, p99 := chainLatency(b, fsync)
			suffix := ""
			if !fsync {
				suffix = "_nofsync" // the data plane's own part, without the disk's
			}
			b.ReportMetric(chip, "chip_durable_ms_p50"+suffix)
			b.ReportMetric(add, "two_hops_add_ms_p50"+suffix)
			b.ReportMetric(p99, "two_hops_ms_p99"+suffix)
		}
	}
}

// chainLatency runs the chain once (outbox.fsync as given) and returns the
// median chip → durable time, what two hops add to it, and the two hops'
// p99, in ms.
func chainLatency(b *testing.B, fsync bool) (chipP50, addP50, hop2P99 float64) {
	{
		dir := b.TempDir()
		cfgFile := filepath.Join(dir, "edged.yaml")
		os.WriteFile(cfgFile, []byte(fmt.Sprintf(`gateway: {id: chain}
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
data_dir: %s
outbox: {fsync: %t}
log: {level: error}
devices:
  - {name: porch, kind: sim, interval: 10ms, options: {metric: temperature, unit: C, waveform: random_walk, period: 10ms}}
services:
  - {name: first, kind: anomaly, subscribe: ["porch/temperature"], config: {warmup: 2, emit_all_scores: true}}
  - {name: second, kind: anomaly, subscribe: ["porch/temperature_anomaly_score"], config: {warmup: 2, emit_all_scores: true}}
`, dir, fsync)), 0o644)
		cfg, devs, err := loadConfig(cfgFile, builtinKinds())
		if err != nil {
			b.Fatal(err)
		}
		d, err := newDaemon(cfg, devs, newLogger(cfg.Log, os.Stderr))
		if err != nil {
			b.Fatal(err)
		}
		if err := d.setCursors(context.Background(), []outbox.CursorSpec{{Name: "bench", Start: outbox.FromNewest}}, true); err != nil {
			b.Fatal(err)
		}
		cur, err := d.outbox.Cursor("bench")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.run(ctx, time.Now()) }()
		var hop0, hop2 []time.Duration
		seen := map[string]int{}
		var after uint64
		var buf []reading.Reading
		deadline := time.After(benchChainWait)
		for len(hop2) < 500 || len(hop0) < 500 {
			changed := cur.Changed()
			buf, err = cur.Peek(after, 256, buf[:0])
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			for _, r := range buf {
				seen[fmt.Sprintf("%s/%d", r.Source, r.Hops)]++
				switch {
				case r.Source == "" && r.Device == "porch":
					hop0 = append(hop0, now.Sub(r.Time))
				case r.Source == "second" && r.Metric == "temperature_anomaly_score_anomaly_score":
					hop2 = append(hop2, now.Sub(r.Time))
				}
			}
			if len(buf) > 0 {
				after = buf[len(buf)-1].Seq
				seqs := make([]uint64, len(buf))
				for j := range buf {
					seqs[j] = buf[j].Seq
				}
				cur.Ack(context.Background(), seqs)
				continue
			}
			select {
			case <-changed:
			case <-deadline:
				b.Fatalf("chain: %d readings at 0 hops, %d at 2 hops after 5 minutes; by source/hops: %v; services: %+v", len(hop0), len(hop2), seen, d.sup.Status())
			}
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		p50 := func(ds []time.Duration) float64 {
			slices.Sort(ds)
			return float64(ds[len(ds)/2].Microseconds()) / 1000
		}
		p99 := func(ds []time.Duration) float64 {
			slices.Sort(ds)
			return float64(ds[len(ds)*99/100].Microseconds()) / 1000
		}
		return p50(hop0), p50(hop2) - p50(hop0), p99(hop2)
	}
}
