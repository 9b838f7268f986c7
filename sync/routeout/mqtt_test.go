package routeout

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/internal/testpki"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/forwarder"
	"github.com/edged-gateway/edged/sync/uplink"
)

// subscribe records the telemetry arriving on filter at url (a second
// uplink client, subscribed before it counts as connected).
func subscribe(t *testing.T, cfg uplink.Config, filter string, got *arrivals) {
	t.Helper()
	cfg.ClientID = "sub-" + strings.ReplaceAll(t.Name(), "/", "-")
	cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
	c, err := uplink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe(filter, 1, func(topic string, payload []byte) {
		var rs []wire
		if err := json.Unmarshal(payload, &rs); err != nil {
			t.Errorf("%s: not the telemetry JSON: %v", topic, err)
			return
		}
		for _, r := range rs {
			if topic != "site/"+r.Device {
				t.Errorf("reading of %s on %s", r.Device, topic)
			}
			got.add(r.Device, r.Seq)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	if _, err := c.WaitConnected(wctx); err != nil {
		t.Fatalf("subscriber: %v", err)
	}
}

func newMQTT(t *testing.T, cfg MQTTConfig) *MQTT {
	t.Helper()
	cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
	m, err := NewMQTT(cfg, "gw-route-"+strings.ReplaceAll(t.Name(), "/", "-"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMQTTRouteDelivers: a route to a second broker delivers everything,
// QoS 1, each device in order, on the route's topics.
func TestMQTTRouteDelivers(t *testing.T) {
	b := mosquittotest.Start(t)
	var got arrivals
	subscribe(t, uplink.Config{URL: b.URL()}, "site/#", &got)
	ob := newOutbox(t)
	fill(t, ob, 100, "boiler", "pump", "fan")
	f := route(t, forwarder.Config{Route: "scada", Batch: 16}, ob, newMQTT(t, MQTTConfig{URL: b.URL()}))
	waitFor(t, "the outbox to drain", drained(ob))
	waitFor(t, "the subscriber to see all", func() bool {
		got.mu.Lock()
		defer got.mu.Unlock()
		n := 0
		for _, s := range got.seqs {
			n += len(s)
		}
		return n >= 300
	})
	got.check(t, 300, nil)
	if st := f.Stats(); st.Route != "scada" || st.Delivered != 300 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMQTTRoutePoisonDeadLettered: the second broker's max_packet_size
// makes it drop the connection on one oversize reading (MQTT 3.1.1 has no
// other way to refuse); with ClassifyFailures off, that reading is
// dead-lettered after MaxAttempts alone and the rest arrives.
func TestMQTTRoutePoisonDeadLettered(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.WithConfig("max_packet_size 1000"))
	var got arrivals
	subscribe(t, uplink.Config{URL: b.URL()}, "site/#", &got)
	ob := newOutbox(t)
	fill(t, ob, 10, "a", "b")
	big := reading.Reading{Device: "a", Metric: strings.Repeat("m", 1000), Value: 1, Time: time.Now()}
	if err := ob.Append(context.Background(), []reading.Reading{big}); err != nil {
		t.Fatal(err)
	}
	fill(t, ob, 10, "a", "b")
	dead := &deadBox{}
	route(t, forwarder.Config{Batch: 2, DeadLetters: dead, MaxAttempts: 2}, ob, newMQTT(t, MQTTConfig{URL: b.URL()}))
	waitFor(t, "the outbox to drain", drained(ob))
	d := dead.get()
	if len(d) != 1 || d[21] == "" {
		t.Fatalf("dead letters %v, want only seq 21 (the oversize one)", d)
	}
	waitFor(t, "the subscriber to see the rest", func() bool {
		got.mu.Lock()
		defer got.mu.Unlock()
		return len(got.seqs["a"]) >= 20 && len(got.seqs["b"]) >= 20
	})
	got.check(t, 41, map[uint64]bool{21: true})
}

// TestMQTTRouteMutualTLS: mqtts:// with the route's own CA and client
// certificate.
func TestMQTTRouteMutualTLS(t *testing.T) {
	p := testpki.New(t, t.TempDir())
	b := mosquittotest.Start(t, mosquittotest.WithConfig("cafile "+p.CAFile, "certfile "+p.ServerCert, "keyfile "+p.ServerKey, "require_certificate true"))
	url := "mqtts://" + b.Addr()
	var got arrivals
	subscribe(t, uplink.Config{URL: url, CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey}, "site/#", &got)
	ob := newOutbox(t)
	fill(t, ob, 20, "a")
	tlsCfg := TLSConfig{CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey}
	route(t, forwarder.Config{Batch: 8}, ob, newMQTT(t, MQTTConfig{URL: url, TLS: tlsCfg}))
	waitFor(t, "the outbox to drain", drained(ob))
	waitFor(t, "the subscriber to see all", func() bool {
		got.mu.Lock()
		defer got.mu.Unlock()
		return len(got.seqs["a"]) >= 20
	})
	got.check(t, 20, nil)
}

func TestMQTTConfigValidate(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cfg  MQTTConfig
		want string
	}{
		{MQTTConfig{}, "url: required"},
		{MQTTConfig{URL: "http://x"}, "url: scheme must be mqtt or mqtts"},
		{MQTTConfig{URL: "mqtt://u:p@x"}, "url: credentials"},
		{MQTTConfig{URL: "mqtt://x/path"}, "has a path"},
		{MQTTConfig{URL: "mqtt://x", PasswordFile: pw}, "password_file: set but username is empty"},
		{MQTTConfig{URL: "mqtt://x", TLS: TLSConfig{CAFile: "/ca.pem"}}, "tls.ca_file: set but url is not TLS, use mqtts://"},
		{MQTTConfig{URL: "mqtts://x", TLS: TLSConfig{KeyFile: pw}}, "tls.cert_file and tls.key_file go together"},
		{MQTTConfig{URL: "mqtt://x", KeepAlive: time.Millisecond}, "keepalive: must be between 1s and 65535s"},
		{MQTTConfig{URL: "mqtt://x", BackoffMin: time.Minute, BackoffMax: time.Second}, "backoff_min: 1m0s is above backoff_max"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	uc, err := MQTTConfig{URL: "mqtt://x", Username: "u", PasswordFile: pw}.Uplink("gw-1-scada", nil)
	if err != nil || uc.Password != "secret" || uc.ClientID != "gw-1-scada" {
		t.Fatalf("Uplink() = %+v, %v", uc, err)
	}
}
