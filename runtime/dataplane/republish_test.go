package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

func TestLocalPayload(t *testing.T) {
	r := reading.Reading{Device: "porch", Metric: "temperature", Value: 21.5, Unit: "C", Seq: 7, Simulated: true,
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))}
	want := `{"value":21.5,"unit":"C","time":"2026-01-02T02:04:05.000000006Z","seq":7,"simulated":true}`
	if got := string(LocalPayload([]byte("junk"[:0]), r)); got != want {
		t.Fatalf("payload %s\nwant    %s", got, want)
	}
	r.Simulated, r.Unit, r.Value = false, `a"b`, -3e-9
	var v map[string]any
	if err := json.Unmarshal(LocalPayload(nil, r), &v); err != nil || v["unit"] != `a"b` || v["value"] != -3e-9 || v["simulated"] != nil {
		t.Fatalf("payload %s: %v %v", LocalPayload(nil, r), v, err)
	}
	if got := LocalTopic("edged/gw1", r); got != "edged/gw1/local/porch/temperature" {
		t.Fatalf("topic %s", got)
	}
}

type published struct {
	topic, payload string
	retain         bool
}

// TestRepublisherPublishesThenAcks: every reading of the cursor goes to the
// local broker, in seq order, before the cursor is acked past it; a
// refused publish is counted and named, and does not hold the rest back.
func TestRepublisherPublishesThenAcks(t *testing.T) {
	log := newMemLog()
	log.append(readings(0, 2)...) // before the cursor: not republished
	cur := log.cursor("republish", false)
	var (
		mu   sync.Mutex
		got  []published
		late []string
	)
	acked := map[uint64]bool{}
	cur.onAck = func(seqs []uint64) {
		for _, s := range seqs {
			acked[s] = true
		}
	}
	var logs syncBuffer
	p := NewRepublisher(cur, RepublishConfig{Prefix: "edged/gw1", Retain: true, Batch: 4, Logger: newTextLogger(&logs),
		Publish: func(topic string, payload []byte, retain bool) error {
			var m struct{ Seq uint64 }
			if err := json.Unmarshal(payload, &m); err != nil {
				return err
			}
			log.mu.Lock()
			if acked[m.Seq] {
				late = append(late, fmt.Sprintf("seq %d acked before its publish", m.Seq))
			}
			log.mu.Unlock()
			if m.Seq == 5 {
				return errors.New("broker closed")
			}
			mu.Lock()
			got = append(got, published{topic, string(payload), retain})
			mu.Unlock()
			return nil
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	rs := readings(2, 10)
	rs[0].Device, rs[0].Unit = "porch", "C"
	log.append(rs...)
	waitFor(t, "caught up", func() bool { return cur.Lag() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(late) > 0 {
		t.Fatalf("acked before published: %v", late)
	}
	if len(got) != 9 {
		t.Fatalf("published %d messages, want 9 (10 new readings, one refused): %+v", len(got), got)
	}
	if got[0].topic != "edged/gw1/local/porch/t" || got[0].payload != `{"value":2,"unit":"C","time":"1970-01-01T00:00:02Z","seq":3}` || !got[0].retain {
		t.Fatalf("first message %+v", got[0])
	}
	var last uint64
	for _, m := range got {
		var v struct{ Seq uint64 }
		if err := json.Unmarshal([]byte(m.payload), &v); err != nil || v.Seq <= last || v.Seq == 5 {
			t.Fatalf("message %+v out of seq order (after %d) or the refused one: %v", m, last, err)
		}
		last = v.Seq
	}
	st := p.Stats()
	if st.Published != 9 || st.Failed != 1 || st.Lag != 0 || st.LastError != "publish: broker closed" {
		t.Fatalf("stats %+v", st)
	}
	if out := logs.String(); !containsAll(out, "local re-publish", "broker closed", "boiler/t") {
		t.Fatalf("the failed publish was not logged with its topic:\n%s", out)
	}
	if a := cur.acked(); len(a) != 10 || a[0] != 3 || a[9] != 12 {
		t.Fatalf("acked %v, want seqs 3..12", a)
	}
}

func newTextLogger(w *syncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
