package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/internal/mqttload"
)

// decodeTelemetry returns the ids an edged telemetry message carries: the
// load generator publishes each id as the sensor's value.
func decodeTelemetry(_ string, payload []byte) ([]int64, error) {
	var rs []struct {
		Value float64 `json:"value"`
	}
	if err := json.Unmarshal(payload, &rs); err != nil {
		return nil, err
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = int64(r.Value)
	}
	return ids, nil
}

func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// edgedGateway is the edged binary as a gateway: its embedded broker on a
// fixed loopback port, sensors on sensors/+device/+metric, the cloud at
// cloudURL. It can be killed with SIGKILL and started again.
type edgedGateway struct {
	tb   testing.TB
	bin  string
	cfg  string
	addr string
	cur  *child
}

func newEdgedGateway(tb testing.TB, bin, dir, cloudURL string) *edgedGateway {
	g := &edgedGateway{tb: tb, bin: bin, addr: freePort(tb)}
	g.cfg = filepath.Join(dir, "gw-bench.yaml")
	body := fmt.Sprintf(`gateway: {id: gw-bench}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: %s, rate_limit: {messages_per_second: 0}}
data_dir: %s
cloud: {url: %s, batch: 64, inflight: 32}
log: {level: warn}
devices: [{name: lan, kind: mqttsensor, options: {topic: sensors/+device/+metric}}]
`, g.addr, filepath.Join(dir, "data"), cloudURL)
	if err := os.WriteFile(g.cfg, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	g.start()
	return g
}

func (g *edgedGateway) url() string { return "mqtt://" + g.addr }

func (g *edgedGateway) start() {
	g.cur = startChild(g.tb, g.bin, g.cfg)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) { // up when its broker answers
		if c, err := net.Dial("tcp", g.addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.tb.Fatalf("edged's broker did not come up on %s", g.addr)
}

func (g *edgedGateway) kill() {
	g.cur.cmd.Process.Signal(syscall.SIGKILL)
	g.cur.cmd.Wait()
}

// BenchmarkLocalMQTTvsBridge compares, in one run against one cloud
// mosquitto, edged's embedded broker (sensor messages made durable in the
// outbox, then forwarded) with what gateways run today: a mosquitto on the
// gateway bridging the same topics to the cloud, persistence on, its other
// settings left at their defaults, and the same bridge tuned (no queue cap,
// autosave every second). 10 publishing clients. Reported:
// end-to-end messages/s at QoS 0 and 1, and the acknowledged messages each
// system lost across a kill -9 right after the last PUBACK and across a
// cloud outage. Run with -benchtime 1x; set EDGED_BENCH_N to change the
// 100k messages of the loss scenarios.
func BenchmarkLocalMQTTvsBridge(b *testing.B) {
	n := envInt("EDGED_BENCH_N", 100_000)
	per := envInt("EDGED_BENCH_PER_CLIENT", 10_000)
	dir := b.TempDir()
	bin := buildEdged(b, dir)
	cloudBroker := mosquittotest.Start(b, mosquittotest.WithPersistence())
	ctx := context.Background()
	edgedC, err := mqttload.NewCollector(ctx, mqttload.CollectorOptions{URL: cloudBroker.URL(), Filter: "edged/gw-bench/telemetry/+",
		ClientID: "bench-edged", Persistent: true, Decode: decodeTelemetry})
	if err != nil {
		b.Fatal(err)
	}
	defer edgedC.Close()
	bridgeC, err := mqttload.NewCollector(ctx, mqttload.CollectorOptions{URL: cloudBroker.URL(), Filter: "sensors/#",
		ClientID: "bench-bridge", Persistent: true})
	if err != nil {
		b.Fatal(err)
	}
	defer bridgeC.Close()
	gw := newEdgedGateway(b, bin, dir, cloudBroker.URL())
	defer gw.kill()
	bridge := mqttload.StartBridge(b, cloudBroker.Addr(), []string{"sensors/#"})
	// What a careful operator would set: no queue cap, save every second.
	tuned := mqttload.StartBridge(b, cloudBroker.Addr(), []string{"sensors/#"},
		mqttload.WithMaxQueuedMessages(0), mqttload.WithAutosaveInterval(1))

	for i := 0; i < b.N; i++ {
		type system struct {
			name    string
			url     string
			c       *mqttload.Collector
			kill    func()
			restart func()
		}
		systems := []system{
			{"edged", gw.url(), edgedC, gw.kill, gw.start},
			{"bridge", bridge.URL(), bridgeC, bridge.Kill, bridge.Restart},
			{"bridge_tuned", tuned.URL(), bridgeC, tuned.Kill, tuned.Restart},
		}
		rate := map[string]float64{}
		for _, qos := range []byte{0, 1} {
			for k, s := range systems {
				if qos == 0 && s.name == "bridge_tuned" {
					continue // QoS 0 never queues
				}
				r, err := mqttload.Throughput(ctx, s.url, s.c, 10, per, qos, mqttload.WithFirstClient(1000*(k+1)+10*int(qos)))
				if err != nil {
					b.Fatalf("%s QoS %d: %v", s.name, qos, err)
				}
				b.Logf("throughput %s QoS %d: %s", s.name, qos, r)
				key := fmt.Sprintf("%s_qos%d", s.name, qos)
				rate[key] = r.DeliveryRate
				b.ReportMetric(r.DeliveryRate, key+"_msgs/s")
				b.ReportMetric(float64(r.Lost), key+"_acked_lost")
			}
			if br := rate[fmt.Sprintf("bridge_qos%d", qos)]; br > 0 {
				b.ReportMetric(rate[fmt.Sprintf("edged_qos%d", qos)]/br, fmt.Sprintf("qos%d_edged_vs_bridge", qos))
			}
			if br := rate[fmt.Sprintf("bridge_tuned_qos%d", qos)]; br > 0 {
				b.ReportMetric(rate[fmt.Sprintf("edged_qos%d", qos)]/br, fmt.Sprintf("qos%d_edged_vs_tuned_bridge", qos))
			}
		}
		for k, s := range systems {
			r, err := mqttload.KillAfterAck(ctx, s.url, n, s.kill, s.restart, s.c, mqttload.WithFirstClient(3000+100*k))
			if err != nil {
				b.Fatalf("%s kill -9: %v", s.name, err)
			}
			b.Logf("kill -9 after PUBACK, %s: %s", s.name, r)
			b.ReportMetric(float64(r.Lost), s.name+"_kill9_acked_lost")
		}
		for k, s := range systems {
			r, err := mqttload.Outage(ctx, s.url, n, cloudBroker.Stop, cloudBroker.Restart, s.c, mqttload.WithFirstClient(5000+100*k))
			if err != nil {
				b.Fatalf("%s outage: %v", s.name, err)
			}
			b.Logf("cloud outage, %s: %s", s.name, r)
			b.ReportMetric(float64(r.Lost), s.name+"_outage_acked_lost")
		}
	}
}

// envInt reads a positive integer from the environment, or gives def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
