package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/forwarder"
	"github.com/edged-gateway/edged/sync/outbox"
)

// meter counts telemetry readings arriving at a subscriber and notes when
// the first arrived and when the target count was reached.
type meter struct {
	target int64
	start  time.Time
	n      atomic.Int64
	first  atomic.Int64 // ns since start
	last   atomic.Int64
	done   chan struct{}
	client paho.Client
}

func newMeter(b *testing.B, addr, filter string, target int64) *meter {
	b.Helper()
	m := &meter{target: target, start: time.Now(), done: make(chan struct{})}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("meter-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetOrderMatters(true)
	m.client = paho.NewClient(opts)
	if tok := m.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("meter connect: %v", tok.Error())
	}
	tok := m.client.Subscribe(filter, 1, func(_ paho.Client, msg paho.Message) {
		k := int64(bytes.Count(msg.Payload(), []byte(`"seq":`)))
		now := int64(time.Since(m.start))
		m.first.CompareAndSwap(0, now)
		if total := m.n.Add(k); total >= m.target && total-k < m.target {
			m.last.Store(now)
			close(m.done)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("meter subscribe: %v", tok.Error())
	}
	b.Cleanup(func() { m.client.Disconnect(50) })
	return m
}

// wait blocks until the target is reached (hang guard: 5 minutes).
func (m *meter) wait(b *testing.B) {
	b.Helper()
	select {
	case <-m.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("meter: %d of %d readings arrived", m.n.Load(), m.target)
	}
}

// rate is readings per second between the first arrival and the target.
func (m *meter) rate() float64 {
	return float64(m.target) / time.Duration(m.last.Load()-m.first.Load()).Seconds()
}

func simDevices(n int) string {
	var sb strings.Builder
	sb.WriteString("devices:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - {name: s%03d, kind: sim, interval: 1ms, options: {metric: temperature, unit: C, seed: %d}}\n", i, i)
	}
	return sb.String()
}

// edgedRate runs an in-process daemon with devices sim sources at 1ms and
// returns the readings/s that reach a subscriber, over target readings.
func edgedRate(b *testing.B, broker *mosquittotest.Broker, devices, batch int, target int64) float64 {
	dir := b.TempDir()
	gw := fmt.Sprintf("bench%d", batch)
	m := newMeter(b, broker.Addr(), "edged/"+gw+"/telemetry/+", target)
	cfgFile := filepath.Join(dir, "edged.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("gateway: {id: %s}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: %s\ncloud: {url: %s, batch: %d, inflight: 32}\nlog: {level: error}\n%s",
		gw, dir, broker.URL(), batch, simDevices(devices))), 0o644)
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
	go func() { done <- d.run(ctx, time.Now()) }()
	m.wait(b)
	st := d.outbox.Stats()
	b.Logf("batch %d: outbox depth %d when the subscriber had %d readings (%d appended, %d commits)", batch, st.Depth, target, st.Appended, st.Commits)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return m.rate()
}

// bareRate publishes target one-reading messages with a bare paho client
// (QoS 1, 32 in flight, the payload edged sends with batch 1) and returns
// the messages/s that reach a subscriber.
func bareRate(b *testing.B, broker *mosquittotest.Broker, target int64) float64 {
	m := newMeter(b, broker.Addr(), "bare/telemetry/+", target)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID("bare-publisher"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer c.Disconnect(50)
	window := make([]paho.Token, 0, 32)
	for i := int64(1); i <= target; i++ {
		r := reading.Reading{Device: "s001", Metric: "temperature", Value: 21.5 + float64(i%100)/10, Unit: "C", Time: time.Now(), Seq: uint64(i)}
		if len(window) == cap(window) {
			window[0].Wait()
			if err := window[0].Error(); err != nil {
				b.Fatal(err)
			}
			window = window[1:]
		}
		window = append(window, c.Publish("bare/telemetry/s001", 1, false, forwarder.AppendPayload(nil, "", []reading.Reading{r})))
	}
	m.wait(b)
	return m.rate()
}

// BenchmarkEndToEnd measures, side by side in one run against one local
// mosquitto: edged with batch 1 and batch 64 (sim sources → outbox with
// fsync → QoS 1 → subscriber) and a bare paho publisher sending the same
// one-reading payloads with the same window. Run with -benchtime 1x.
func BenchmarkEndToEnd(b *testing.B) {
	broker := mosquittotest.Start(b)
	for i := 0; i < b.N; i++ {
		bare := bareRate(b, broker, 100_000)
		one := edgedRate(b, broker, 64, 1, 100_000)
		many := edgedRate(b, broker, 160, 64, 500_000)
		b.ReportMetric(bare, "bare_paho_msgs/s")
		b.ReportMetric(one, "edged_batch1_readings/s")
		b.ReportMetric(one/bare, "batch1_vs_bare")
		b.ReportMetric(many, "edged_batch64_readings/s")
	}
}

// BenchmarkBacklogDrain buffers 1M readings in the outbox while no broker
// is configured, then starts the edged binary pointed at mosquitto and
// measures the time from exec to the first delivery and the drain rate.
func BenchmarkBacklogDrain(b *testing.B) {
	const backlog = 1_000_000
	dir := b.TempDir()
	bin := buildEdged(b, dir)
	broker := mosquittotest.Start(b)
	for i := 0; i < b.N; i++ {
		data := filepath.Join(dir, fmt.Sprintf("data%d", i))
		os.MkdirAll(data, 0o750)
		fillOutbox(b, filepath.Join(data, "outbox.db"), backlog)
		gw := fmt.Sprintf("drain%d", i)
		m := newMeter(b, broker.Addr(), "edged/"+gw+"/telemetry/+", backlog)
		cfgFile := filepath.Join(dir, gw+".yaml")
		os.WriteFile(cfgFile, []byte(fmt.Sprintf("gateway: {id: %s}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: %s\ncloud: {url: %s}\ndevices: []\nlog: {level: warn}\n", gw, data, broker.URL())), 0o644)
		cmd := exec.Command(bin, "run", "--config", cfgFile)
		cmd.Stderr = os.Stderr
		m.start = time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		m.wait(b)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		b.ReportMetric(float64(time.Duration(m.first.Load()).Microseconds())/1000, "ms_exec_to_first_delivery")
		b.ReportMetric(m.rate(), "drain_readings/s")
	}
}

func fillOutbox(b *testing.B, path string, n int) {
	ob, err := outbox.Open(outbox.Config{Path: path, MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	batch := make([]reading.Reading, 10_000)
	now := time.Now()
	for done := 0; done < n; done += len(batch) {
		for j := range batch {
			batch[j] = reading.Reading{Device: fmt.Sprintf("dev%02d", j%16), Metric: "temperature", Value: float64(j), Unit: "C", Time: now}
		}
		if err := ob.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}

// rssKB reads a field (VmRSS, VmHWM, RssAnon) of /proc/PID/status in KiB.
func rssKB(pid int, field string) float64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return v
		}
	}
	return 0
}

// BenchmarkDaemonFootprint measures the edged binary: exec to first reading
// durable (median of 5 starts), RSS idle on defaults, and peak RSS while
// forwarding 64 sources at 1ms each to mosquitto.
func BenchmarkDaemonFootprint(b *testing.B) {
	dir := b.TempDir()
	bin := buildEdged(b, dir)
	broker := mosquittotest.Start(b)
	for i := 0; i < b.N; i++ {
		var starts []time.Duration
		var idleRSS, idleAnon float64
		for j := 0; j < 5; j++ {
			data := filepath.Join(dir, fmt.Sprintf("idle%d-%d", i, j))
			cfgFile := filepath.Join(dir, fmt.Sprintf("idle%d-%d.yaml", i, j))
			os.WriteFile(cfgFile, []byte("http: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: "+data+"\n"), 0o644)
			t0 := time.Now()
			c := startChild(b, bin, cfgFile)
			c.waitLine(b, firstDurable)
			starts = append(starts, time.Since(t0))
			if j == 0 {
				time.Sleep(3 * time.Second) // settle, then sample idle RSS
				idleRSS = rssKB(c.cmd.Process.Pid, "VmRSS")
				idleAnon = rssKB(c.cmd.Process.Pid, "RssAnon") // the private part; the rest is the binary's pages
			}
			c.cmd.Process.Signal(os.Interrupt)
			c.cmd.Wait()
		}
		sort.Slice(starts, func(a, c int) bool { return starts[a] < starts[c] })

		data := filepath.Join(dir, fmt.Sprintf("load%d", i))
		cfgFile := filepath.Join(dir, fmt.Sprintf("load%d.yaml", i))
		os.WriteFile(cfgFile, []byte(fmt.Sprintf("gateway: {id: load}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: %s\ncloud: {url: %s}\nlog: {level: warn}\n%s", data, broker.URL(), simDevices(64))), 0o644)
		c := startChild(b, bin, cfgFile)
		time.Sleep(5 * time.Second) // forward at full rate for a while
		loadRSS := rssKB(c.cmd.Process.Pid, "VmHWM")
		loadAnon := rssKB(c.cmd.Process.Pid, "RssAnon")
		c.cmd.Process.Signal(os.Interrupt)
		c.cmd.Wait()

		b.ReportMetric(float64(starts[len(starts)/2].Microseconds())/1000, "ms_exec_to_first_durable")
		b.ReportMetric(idleRSS/1024, "MiB_rss_idle")
		b.ReportMetric(loadRSS/1024, "MiB_rss_peak_forwarding")
		b.ReportMetric(idleAnon/1024, "MiB_anon_idle")
		b.ReportMetric(loadAnon/1024, "MiB_anon_forwarding")
	}
}
