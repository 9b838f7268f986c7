package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/sync/outbox"
)

// writeConfig writes a config file for a test gateway and returns its path.
func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("edged-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startDaemon runs a daemon in-process until the returned stop is called.
func startDaemon(t testing.TB, cfgPath string) (d *daemon, stop func() error) {
	t.Helper()
	cfg, devs, err := loadConfig(cfgPath, builtinKinds())
	if err != nil {
		t.Fatal(err)
	}
	noDefaultAPI(t, cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err = newDaemon(cfg, devs, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, time.Now()) }()
	return d, func() error { cancel(); return <-done }
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // hang guard only
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOutageBuffersThenDeliversEverySeqInOrder runs the daemon against a
// real mosquitto, stops the broker while readings flow, restarts it, stops
// the daemon with a backlog and starts it again with no devices: the cloud
// must end up with every seq 1..N, per device in order.
func TestOutageBuffersThenDeliversEverySeqInOrder(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.WithPersistence())
	dir := t.TempDir()
	cl := newCloud(t, broker.Addr(), "edged", "gw-it")
	devices := `devices:
  - {name: boiler, kind: sim, interval: 1ms, options: {metric: temperature, unit: C, min: 60, max: 80, period: 1s}}
  - {name: door, kind: sim, interval: 2ms, options: {metric: open, waveform: square, min: 0, max: 1, period: 50ms}}
  - {name: tank, kind: sim, interval: 3ms, options: {metric: level, unit: "%", waveform: random_walk, min: 0, max: 100, period: 5ms, seed: 3}}
`
	base := fmt.Sprintf("gateway: {id: gw-it}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: %s\ncloud: {url: %s, batch: 16, inflight: 8}\n", dir, broker.URL())
	d, stop := startDaemon(t, writeConfig(t, dir, base+devices))

	cl.statusIs("online")
	cl.waitFor("a health document naming the 3 healthy devices", func() bool {
		h := cl.health
		return h.Gateway == "gw-it" && h.Cloud.Connected && len(h.Devices) == 3 && h.Devices[0].Name == "boiler" &&
			h.Devices[0].Healthy && h.Devices[1].Healthy && h.Devices[2].Healthy
	})
	cl.waitAll(200) // flowing

	broker.Stop()
	before := d.outbox.Stats().Depth
	waitUntil(t, "readings to buffer while the broker is down", func() bool { return d.outbox.Stats().Depth >= before+500 })
	broker.Restart()
	cl.waitAll(d.outbox.Stats().NextSeq - 1) // the whole backlog arrives
	// The outage is in the status as a past error: with its time, and the
	// time the cloud part worked again.
	waitUntil(t, "the status to show the outage's error as recovered", func() bool {
		c := d.statusDoc().Cloud
		return c.Connected && c.LastError != "" && !c.LastErrorAt.IsZero() && !c.LastErrorRecoveredAt.Before(c.LastErrorAt)
	})

	// Stop with readings still flowing, then drain the rest from a daemon
	// that has no devices: the backlog survives the restart. The outbox's
	// depth is no measure of the backlog here: acks of PUBACKs that came in
	// before the broker stopped may still commit after it, and a cursor
	// deletes a run of acked readings only once the oldest before it is
	// acked too. What was appended after the link went down can never have
	// been delivered: wait for 500 of those.
	broker.Stop()
	waitUntil(t, "the uplink to notice", func() bool { return !d.link.Connected() })
	downAt := d.outbox.Stats().NextSeq
	waitUntil(t, "a backlog", func() bool { return d.outbox.Stats().NextSeq >= downAt+500 })
	if err := stop(); err != nil {
		t.Fatalf("daemon stopped with %v", err)
	}
	ob, err := outbox.Open(outbox.Config{Path: filepath.Join(dir, "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	st := ob.Stats()
	ob.Close()
	n := st.NextSeq - 1
	if st.Depth < 400 || st.Dropped != 0 {
		t.Fatalf("after stop the outbox holds %d readings (dropped %d), want the backlog", st.Depth, st.Dropped)
	}
	broker.Restart()
	d2, stop2 := startDaemon(t, writeConfig(t, dir, base+"devices: []\n"))
	cl.waitAll(n)
	waitUntil(t, "the outbox to empty", func() bool { return d2.outbox.Stats().Depth == 0 })
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	cl.statusIs("offline")
	distinct, dups := cl.check()
	if uint64(distinct) != n {
		t.Fatalf("cloud saw %d distinct seqs, want exactly 1..%d", distinct, n)
	}
	t.Logf("delivered %d readings across an outage and a restart (%d duplicates)", n, dups)
}

// noDefaultAPI fails a test whose daemon would take the default API
// address: a user's edged, a README check or another test may hold it, so
// tests listen on a free port (http: {listen: 127.0.0.1:0}) or none.
func noDefaultAPI(t testing.TB, cfg Config) {
	t.Helper()
	if cfg.HTTP.Listen == defaultAPI {
		t.Fatalf("the test's config takes the default API address %s: set http: {listen: 127.0.0.1:0} (or \"\")", defaultAPI)
	}
}
