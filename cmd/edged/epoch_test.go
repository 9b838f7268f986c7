package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.etcd.io/bbolt"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// epochCloud records telemetry by (epoch, seq), as the README tells the
// cloud to dedup, and the retained health document.
type epochCloud struct {
	mu       sync.Mutex
	values   map[string]float64 // "epoch/seq" → value
	byEpoch  map[string]int     // distinct seqs per epoch
	problems []string
	health   statusDoc
}

func newEpochCloud(t *testing.T, addr, gw string) *epochCloud {
	t.Helper()
	c := &epochCloud{values: map[string]float64{}, byEpoch: map[string]int{}}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("epoch-cloud").SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond)
	subscribed := make(chan struct{}, 1)
	opts.SetOnConnectHandler(func(cl paho.Client) {
		cl.Subscribe("edged/"+gw+"/telemetry/+", 1, func(_ paho.Client, m paho.Message) {
			var rs []struct {
				Seq   uint64  `json:"seq"`
				Epoch string  `json:"epoch"`
				Value float64 `json:"value"`
			}
			err := json.Unmarshal(m.Payload(), &rs)
			c.mu.Lock()
			defer c.mu.Unlock()
			if err != nil {
				c.problems = append(c.problems, fmt.Sprintf("payload %q: %v", m.Payload(), err))
			}
			for _, r := range rs {
				if r.Epoch == "" {
					c.problems = append(c.problems, fmt.Sprintf("seq %d without an epoch", r.Seq))
				}
				k := fmt.Sprintf("%s/%d", r.Epoch, r.Seq)
				if v, dup := c.values[k]; dup && v != r.Value {
					c.problems = append(c.problems, fmt.Sprintf("%s arrived as %g and as %g", k, v, r.Value))
				} else if !dup {
					c.values[k] = r.Value
					c.byEpoch[r.Epoch]++
				}
			}
		}).Wait()
		cl.Subscribe("edged/"+gw+"/health", 1, func(_ paho.Client, m paho.Message) {
			var doc statusDoc
			if err := json.Unmarshal(m.Payload(), &doc); err == nil {
				c.mu.Lock()
				c.health = doc
				c.mu.Unlock()
			}
		}).Wait()
		select {
		case subscribed <- struct{}{}:
		default:
		}
	})
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("cloud subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("cloud subscriber: no SUBACK")
	}
	return c
}

func (c *epochCloud) has(epoch string, seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.values[fmt.Sprintf("%s/%d", epoch, seq)]
	return ok
}

// TestCorruptOutboxStartsANewEpochTheCloudSees: the outbox file is damaged
// in the middle while it holds a backlog; the restarted gateway moves it
// aside, starts a new epoch whose seqs begin at 1 again, says so in the
// retained health document (old epoch, its last seq, its readings, why),
// and the cloud, deduplicating on (epoch, seq), keeps the new readings. A
// wiped data directory is a new epoch too.
func TestCorruptOutboxStartsANewEpochTheCloudSees(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.WithPersistence())
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cl := newEpochCloud(t, broker.Addr(), "gw-ep")
	cfg := writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-ep}
http: {listen: 127.0.0.1:0}
data_dir: %s
cloud: {url: %s, batch: 32, inflight: 4}
devices:
  - {name: boiler, kind: sim, interval: 1ms, options: {metric: temperature, unit: C, waveform: random_walk, min: 0, max: 100, period: 5ms, seed: 7}}
`, data, broker.URL()))

	d1, stop1 := startDaemon(t, cfg)
	e1 := d1.outbox.Epoch()
	waitUntil(t, "the cloud to see seqs of the first epoch", func() bool { return cl.has(e1, 100) })
	broker.Stop()
	waitUntil(t, "the uplink to notice", func() bool { return !d1.link.Connected() })
	waitUntil(t, "a backlog", func() bool { return d1.outbox.Stats().Depth >= 2000 })
	if err := stop1(); err != nil {
		t.Fatal(err)
	}
	corruptReadingsRoot(t, filepath.Join(data, "outbox.db"))
	broker.Restart()

	d2, stop2 := startDaemon(t, cfg)
	e2 := d2.outbox.Epoch()
	rec := d2.outbox.Recovery()
	if rec == nil || rec.OldEpoch != e1 || e2 == e1 || rec.LastSeq < 2000 || rec.Readings < 2000 {
		t.Fatalf("recovery %+v; epochs %s then %s", rec, e1, e2)
	}
	if m := scrape(t, d2.api.Addr()); m["edged_outbox_recovered"] != 1 || m["edged_outbox_failed"] != 0 {
		t.Errorf("/metrics: edged_outbox_recovered %v, edged_outbox_failed %v; want 1 and 0", m["edged_outbox_recovered"], m["edged_outbox_failed"])
	}
	waitUntil(t, "the cloud to see seq 1 of the new epoch", func() bool { return cl.has(e2, 1) && cl.has(e2, 100) })
	waitUntil(t, "the retained health document to report the recovery", func() bool {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		h := cl.health.Outbox
		return h.Epoch == e2 && h.Recovered != nil && h.Recovered.OldEpoch == e1 && h.Recovered.LastSeq == rec.LastSeq && h.Recovered.Reason != ""
	})
	if err := stop2(); err != nil {
		t.Fatal(err)
	}

	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	d3, stop3 := startDaemon(t, cfg)
	e3 := d3.outbox.Epoch()
	if e3 == e2 || e3 == e1 || d3.outbox.Recovery() != nil {
		t.Fatalf("wiped data dir: epoch %s (before %s, %s), recovery %+v", e3, e1, e2, d3.outbox.Recovery())
	}
	waitUntil(t, "the cloud to see seq 1 of the third epoch", func() bool { return cl.has(e3, 1) })
	if err := stop3(); err != nil {
		t.Fatal(err)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, p := range cl.problems {
		t.Error(p)
	}
	t.Logf("distinct readings per epoch: %v (recovery: %+v)", cl.byEpoch, rec)
}

// corruptReadingsRoot overwrites the page holding the root of the outbox's
// readings bucket (in the middle of the file) with garbage.
func corruptReadingsRoot(t *testing.T, path string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root int64
	err = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("readings"))
		if b == nil {
			return fmt.Errorf("no readings bucket")
		}
		root = int64(b.Root())
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps := int64(os.Getpagesize())
	junk := make([]byte, ps)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(junk, root*ps); err != nil {
		t.Fatal(err)
	}
}
