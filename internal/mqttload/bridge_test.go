package mqttload_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/internal/mqttload"
)

// full runs the fault scenarios with 100k messages: EDGED_BRIDGE_FULL=1.
var full = os.Getenv("EDGED_BRIDGE_FULL") != ""

// bridged starts a cloud mosquitto with persistence, a gateway mosquitto
// bridged to it and a persistent collector on the cloud.
func bridged(t *testing.T, ctx context.Context, opts ...mqttload.BridgeOption) (cloud, gw *mosquittotest.Broker, c *mqttload.Collector) {
	t.Helper()
	cloud = mosquittotest.Start(t, mosquittotest.WithPersistence())
	gw = mqttload.StartBridge(t, cloud.Addr(), []string{"sensors/#"}, opts...)
	c, err := mqttload.NewCollector(ctx, mqttload.CollectorOptions{URL: cloud.URL(), Filter: "sensors/#", Persistent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return cloud, gw, c
}

// TestBridgeThroughput runs 10 clients × 2000 messages through a gateway
// mosquitto bridged to the cloud. With mosquitto's default limits the
// bridge may drop QoS 1 messages it acknowledged (max_queued_messages
// 1000): logged, not asserted. Without a queue limit nothing acknowledged
// may be lost, which shows the harness counts no phantom losses.
func TestBridgeThroughput(t *testing.T) {
	tests := []struct {
		name     string
		opts     []mqttload.BridgeOption
		qos      byte
		lossless bool
	}{
		{"defaults/qos0", nil, 0, false},
		{"defaults/qos1", nil, 1, false},
		{"unlimited_queue/qos1", []mqttload.BridgeOption{mqttload.WithMaxQueuedMessages(0)}, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			_, gw, c := bridged(t, ctx, tc.opts...)
			r, err := mqttload.Throughput(ctx, gw.URL(), c, 10, 2000, tc.qos, mqttload.WithIdle(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("mosquitto bridge %s, 10 clients × 2000: %v", tc.name, r)
			if r.Publish.Sent != 20000 || r.Publish.Acked != 20000 || r.Publish.Errors != 0 {
				t.Errorf("sent %d acked %d errors %d (%v), want 20000 20000 0", r.Publish.Sent, r.Publish.Acked, r.Publish.Errors, r.Publish.FirstError)
			}
			if r.Received+r.Lost != int(r.Publish.Acked) || r.DecodeErrors != 0 {
				t.Errorf("received %d + lost %d != acked %d, or decode errors %d", r.Received, r.Lost, r.Publish.Acked, r.DecodeErrors)
			}
			if tc.lossless && r.Lost != 0 {
				t.Errorf("qos 1 without faults or queue limit: %d acknowledged messages lost, e.g. %v", r.Lost, first(c.Lost(r.Publish.AckedIDs), 5))
			}
		})
	}
}

// gateway is a named gateway mosquitto configuration.
type gateway struct {
	name string
	opts []mqttload.BridgeOption
}

// gateways are the configurations the fault tests run: mosquitto's
// defaults, as users run it, and with EDGED_BRIDGE_FULL also one tuned
// against loss (no queue limit, a save every second) for comparison.
func gateways() []gateway {
	gs := []gateway{{"defaults", nil}}
	if full {
		gs = append(gs, gateway{"tuned", []mqttload.BridgeOption{mqttload.WithMaxQueuedMessages(0), mqttload.WithAutosaveInterval(1)}})
	}
	return gs
}

func TestBridgeKillAfterAck(t *testing.T) {
	n, limit := 5000, 60*time.Second
	// After a restart the bridge connects at once: 2s is plenty for
	// whatever mosquitto had saved.
	wait := mqttload.WithFirstWait(2 * time.Second)
	if full {
		n, limit = 100_000, 5*time.Minute
		wait = mqttload.WithFirstWait(mqttload.DefaultFirstWait)
	}
	for _, cfg := range gateways() {
		t.Run(cfg.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), limit)
			defer cancel()
			_, gw, c := bridged(t, ctx, cfg.opts...)
			r, err := mqttload.KillAfterAck(ctx, gw.URL(), n, gw.Kill, gw.Restart, c, wait)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("mosquitto bridge %s, kill -9 after the last PUBACK of %d: %v", cfg.name, n, r)
			checkFault(t, r, n)
		})
	}
}

func TestBridgeOutage(t *testing.T) {
	n, limit := 3000, 60*time.Second
	if full {
		n, limit = 100_000, 5*time.Minute
	}
	for _, cfg := range gateways() {
		t.Run(cfg.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), limit)
			defer cancel()
			cloud, gw, c := bridged(t, ctx, cfg.opts...)
			r, err := mqttload.Outage(ctx, gw.URL(), n, cloud.Stop, cloud.Restart, c, mqttload.WithIdle(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("mosquitto bridge %s, cloud down while %d are published: %v", cfg.name, n, r)
			checkFault(t, r, n)
		})
	}
}

func checkFault(t *testing.T, r mqttload.Report, n int) {
	t.Helper()
	if r.Publish.Acked != int64(n) {
		t.Errorf("acked %d of %d (%v)", r.Publish.Acked, n, r.Publish.FirstError)
	}
	if r.Lost < 0 || r.Lost > int(r.Publish.Acked) || r.Received+r.Lost != int(r.Publish.Acked) {
		t.Errorf("lost %d, received %d, acked %d: inconsistent", r.Lost, r.Received, r.Publish.Acked)
	}
}

// TestPublishBrokerDies kills the broker under load: Publish must return
// by itself, with what was acknowledged and without an error.
func TestPublishBrokerDies(t *testing.T) {
	b := mosquittotest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	var r mqttload.Result
	var err error
	go func() {
		defer close(done)
		r, err = mqttload.Publish(ctx, mqttload.Options{URL: b.URL(), Clients: 4, PerClient: 10_000_000, QoS: 1, WriteTimeout: time.Second})
	}()
	time.Sleep(300 * time.Millisecond)
	b.Kill()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish did not return 5s after the broker died")
	}
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	t.Logf("sent %d acked %d errors %d first error %v", r.Sent, r.Acked, r.Errors, r.FirstError)
	if r.Acked == 0 || r.Acked >= r.Sent || int64(r.AckedIDs.Len()) != r.Acked || r.FirstError == nil {
		t.Errorf("sent %d acked %d (set %d) first error %v: want 0 < acked < sent and an error", r.Sent, r.Acked, r.AckedIDs.Len(), r.FirstError)
	}
}

// TestPublishCancel cancels Publish mid-run.
func TestPublishCancel(t *testing.T) {
	b := mosquittotest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	r, err := mqttload.Publish(ctx, mqttload.Options{URL: b.URL(), Clients: 2, PerClient: 10_000_000, QoS: 1})
	if err != context.Canceled {
		t.Errorf("Publish after cancel: err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Publish returned %s after start, want soon after the cancel", d)
	}
	if r.Acked == 0 || r.Acked > r.Sent {
		t.Errorf("sent %d acked %d", r.Sent, r.Acked)
	}
}

func first(ids []int64, n int) []int64 { return ids[:min(n, len(ids))] }
