package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/reading"
)

// TestPoisonReadingGoesToDeadLetters: the cloud mosquitto refuses packets
// over max_packet_size (it disconnects the client). One reading too large
// for it (3 KiB of names) is stored among porch's readings: the batch that carries it is
// split, the poison alone is refused cloud.max_attempts times and moved to
// the dead letters (acked from the outbox), and every other reading is
// delivered, each device's in order.
func TestPoisonReadingGoesToDeadLetters(t *testing.T) {
	// The retained health document the gateway publishes on every connect
	// carries the last error, and with a long one it can pass this limit
	// too: then that connection fails as well and the next try comes after
	// the back-off. The wait below allows for that.
	cloudBroker := mosquittotest.Start(t, mosquittotest.WithConfig("max_packet_size 3000"))
	dir := t.TempDir()
	cl := newCloud(t, cloudBroker.Addr(), "edged", "gw-poison")
	d, stopDaemon := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-poison}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
cloud: {url: %s, batch: 8, max_attempts: 3}
devices:
  - {name: porch, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: constant, min: 21}}
`, dir, cloudBroker.URL())))
	stop := sync.OnceValue(stopDaemon)
	defer stop()
	cl.waitFor("porch readings before the poison", func() bool { return len(cl.values["porch/temperature"]) >= 20 })

	poison := []reading.Reading{
		{Device: "porch", Metric: strings.Repeat("m", 1024), Value: 1, Time: time.Now(), Unit: strings.Repeat("u", 1024), Source: strings.Repeat("s", 1024)},
	}
	appended := time.Now()
	if err := d.sink.Append(context.Background(), poison); err != nil {
		t.Fatal(err)
	}
	bad := poison[0].Seq
	if bad == 0 {
		t.Fatal("the poison reading got no seq")
	}
	// Each refused try costs a reconnect with the uplink's growing back-off,
	// so this wait gets a longer hang guard than waitUntil's.
	for deadline := time.Now().Add(5 * time.Minute); d.dead.Stats().Count != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the poison in the dead letters")
		}
	}
	t.Logf("poison dead-lettered %v after it was stored", time.Since(appended).Round(time.Millisecond))
	// Everything else flows: 50 more porch readings after the poison, and
	// every seq but the poison's up to there.
	cl.waitFor("50 readings after the poison", func() bool { return cl.last["porch"] >= bad+50 })
	cl.waitFor("every seq but the poison's", func() bool {
		for s := uint64(1); s <= bad+50; s++ {
			if s != bad && cl.seen[s] == 0 {
				return false
			}
		}
		return true
	})
	cl.mu.Lock()
	if cl.seen[bad] != 0 {
		t.Errorf("the cloud got the poison seq %d", bad)
	}
	cl.mu.Unlock()
	cl.check() // each device's readings arrived in seq order

	es, err := d.dead.List(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Reading.Seq != bad || es[0].Route != "cloud" || es[0].Attempts != 3 || es[0].Reason == "" || es[0].Reading.Unit != poison[0].Unit {
		t.Errorf("dead letters %+v, want the poison seq %d, route cloud, 3 attempts, a reason", es, bad)
	}
	st := d.statusDoc()
	if st.Cloud.DeadLetters != 1 || st.Cloud.DeadLettered != 1 {
		t.Errorf("status cloud %+v, want dead_letters 1, dead_lettered 1", st.Cloud)
	}
	m := scrape(t, d.api.Addr())
	if m["edged_deadletters_stored"] != 1 || m[`edged_deadletters_added_total{route="cloud"}`] != 1 {
		t.Errorf("metrics: edged_deadletters_stored %v, edged_deadletters_added_total{route=cloud} %v, want 1 and 1", m["edged_deadletters_stored"], m[`edged_deadletters_added_total{route="cloud"}`])
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
