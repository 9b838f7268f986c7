package uplink

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// waitDone waits for d to complete; a Delivery that never completes fails
// the test.
func waitDone(t testing.TB, d *Delivery) error {
	t.Helper()
	select {
	case <-d.Done():
		return d.Err()
	case <-time.After(liveness):
		t.Fatalf("delivery to %s did not complete within %s", d.topic, liveness)
		return nil
	}
}

func TestPublishAcknowledged(t *testing.T) {
	b := mosquittotest.Start(t)
	c := newClient(t, testConfig(t, b))
	run(t, c)
	waitConnected(t, c)
	watcher := newPeer(t, b.Addr()).watch(t, "edged/telemetry/#")

	for qos := range byte(3) {
		topic := "edged/telemetry/q" + string('0'+qos)
		d, err := c.Publish(topic, []byte("21.5"), qos, false)
		if err != nil {
			t.Fatalf("Publish qos %d: %v", qos, err)
		}
		if err := waitDone(t, d); err != nil {
			t.Fatalf("delivery qos %d: %v", qos, err)
		}
		if d.Err() != nil {
			t.Fatalf("Err() after Done = %v", d.Err())
		}
		watcher.expect(t, message{topic, "21.5", false})
	}
	if st := c.Stats(); st.Published != 3 || st.PublishErrors != 0 {
		t.Fatalf("stats %+v, want 3 published", st)
	}
}

func TestPublishRejectsBadArguments(t *testing.T) {
	b := mosquittotest.Start(t)
	c := newClient(t, testConfig(t, b))
	run(t, c)
	waitConnected(t, c)
	tests := []struct {
		topic string
		qos   byte
		want  string
	}{
		{"", 1, "uplink: publish: empty topic"},
		{"a/+/b", 1, `uplink: publish: "a/+/b" contains a wildcard (+ or #)`},
		{"a/#", 1, `uplink: publish: "a/#" contains a wildcard (+ or #)`},
		{"a\x00b", 1, `uplink: publish: "a\x00b" contains NUL or invalid UTF-8`},
		{"a/b", 3, "uplink: publish a/b: qos 3 not supported, use 0, 1 or 2"},
	}
	for _, tt := range tests {
		if d, err := c.Publish(tt.topic, nil, tt.qos, false); err == nil || err.Error() != tt.want || d != nil {
			t.Errorf("Publish(%q, qos %d) = %v, %v; want error %q", tt.topic, tt.qos, d, err, tt.want)
		}
	}
	// The connection survived: nothing invalid reached the broker.
	d, err := c.Publish("a/b", nil, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, d); err != nil {
		t.Fatalf("valid publish after invalid ones: %v", err)
	}
}

func TestPublishBeforeRun(t *testing.T) {
	b := mosquittotest.Start(t)
	c := newClient(t, testConfig(t, b))
	if _, err := c.Publish("a", nil, 1, false); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Publish before Run = %v, want ErrNotConnected", err)
	}
}

// publishPaused publishes n QoS 1 messages to a paused broker, so that
// every one is written but none is acknowledged.
func publishPaused(t *testing.T, c *Client, b *mosquittotest.Broker, n int) []*Delivery {
	t.Helper()
	b.Pause()
	ds := make([]*Delivery, 0, n)
	for range n {
		d, err := c.Publish("edged/telemetry", bytes.Repeat([]byte("x"), 100), 1, false)
		if err != nil {
			t.Fatalf("Publish to a paused broker: %v", err)
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		select {
		case <-d.Done():
			t.Fatalf("delivery completed (%v) although the broker is paused", d.Err())
		default:
		}
	}
	return ds
}

func TestDeliveriesFailWhenBrokerKilled(t *testing.T) {
	b := mosquittotest.Start(t)
	c := newClient(t, testConfig(t, b))
	run(t, c)
	e1 := waitConnected(t, c)

	ds := publishPaused(t, c, b, 200)
	b.Kill()
	for i, d := range ds {
		if err := waitDone(t, d); !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("delivery %d: %v, want ErrConnectionLost", i, err)
		}
	}
	if st := c.Stats(); st.PublishErrors != 200 {
		t.Fatalf("stats %+v, want 200 publish errors", st)
	}

	b.Restart()
	waitEpochAbove(t, c, e1)
	d, err := c.Publish("edged/telemetry", []byte("again"), 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, d); err != nil {
		t.Fatalf("publish after reconnect: %v", err)
	}
}

func TestDeliveriesFailWhenBrokerHangs(t *testing.T) {
	b := mosquittotest.Start(t)
	cfg := testConfig(t, b)
	cfg.KeepAlive = time.Second // the missing PINGRESP is what ends the connection
	c := newClient(t, cfg)
	run(t, c)
	waitConnected(t, c)

	ds := publishPaused(t, c, b, 50)
	for i, d := range ds {
		err := waitDone(t, d)
		if !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("delivery %d: %v, want ErrConnectionLost", i, err)
		}
		if i == 0 {
			t.Logf("delivery error: %v", err)
		}
	}
}

// TestDeliveriesCompleteUnderLoadWhenBrokerKilled kills the broker while a
// publisher keeps a window of deliveries in flight, several times: whatever
// the timing, every Delivery completes, acknowledged or with a connection
// error.
func TestDeliveriesCompleteUnderLoadWhenBrokerKilled(t *testing.T) {
	b := mosquittotest.Start(t)
	c := newClient(t, testConfig(t, b))
	run(t, c)
	epoch := waitConnected(t, c)
	payload := bytes.Repeat([]byte("x"), 200)

	for round := range 5 {
		var all []*Delivery
		var window []*Delivery
		acked := 0
		for {
			if len(window) == 64 {
				if waitDone(t, window[0]) == nil {
					acked++
				}
				window = window[1:]
			}
			if acked == 500 {
				b.Kill()
				acked++ // kill once
			}
			d, err := c.Publish("edged/telemetry", payload, 1, false)
			if errors.Is(err, ErrNotConnected) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: Publish: %v", round, err)
			}
			all = append(all, d)
			window = append(window, d)
		}
		failed := 0
		for i, d := range all {
			switch err := waitDone(t, d); {
			case err == nil:
			case errors.Is(err, ErrConnectionLost):
				failed++
			default:
				t.Fatalf("round %d: delivery %d: unexpected error %v", round, i, err)
			}
		}
		t.Logf("round %d: %d deliveries, %d failed with the connection", round, len(all), failed)
		b.Restart()
		epoch = waitEpochAbove(t, c, epoch)
	}
}

// The benchmarks compare this package with bare paho configured the same
// way: QoS 1, a window of 32 outstanding publishes, 256-byte payloads, one
// topic, a local mosquitto with no subscriber.
const (
	benchWindow  = 32
	benchPayload = 256
	benchTopic   = "edged/bench/telemetry"
)

func BenchmarkPublishQoS1(b *testing.B) {
	broker := mosquittotest.Start(b)
	c := newClient(b, Config{URL: broker.URL(), ClientID: "bench-uplink"})
	run(b, c)
	waitConnected(b, c)
	payload := bytes.Repeat([]byte("x"), benchPayload)
	window := make([]*Delivery, 0, benchWindow)

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(window) == benchWindow {
			<-window[0].Done()
			if err := window[0].Err(); err != nil {
				b.Fatal(err)
			}
			window = window[1:]
		}
		d, err := c.Publish(benchTopic, payload, 1, false)
		if err != nil {
			b.Fatal(err)
		}
		window = append(window, d)
	}
	for _, d := range window {
		if err := d.Wait(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBarePahoQoS1(b *testing.B) {
	broker := mosquittotest.Start(b)
	addr := broker.Addr()
	o := paho.NewClientOptions().
		AddBroker(broker.URL()).
		SetClientID("bench-paho").
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetOrderMatters(true).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			return net.Dial("tcp", addr) // plain socket, as paho's own dialer (minus proxy lookup)
		})
	cli := paho.NewClient(o)
	if tok := cli.Connect(); !tok.WaitTimeout(liveness) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	defer cli.Disconnect(100)
	payload := bytes.Repeat([]byte("x"), benchPayload)
	window := make([]paho.Token, 0, benchWindow)

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(window) == benchWindow {
			<-window[0].Done()
			if err := window[0].Error(); err != nil {
				b.Fatal(err)
			}
			window = window[1:]
		}
		window = append(window, cli.Publish(benchTopic, 1, false, payload))
	}
	for _, tok := range window {
		tok.Wait()
		if err := tok.Error(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
