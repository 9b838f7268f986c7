package dataplane

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/internal/logevery"
	"github.com/edged-gateway/edged/reading"
)

// RepublishConfig configures a Republisher.
type RepublishConfig struct {
	// Prefix starts every topic: <Prefix>/local/<device>/<metric>.
	Prefix string
	// Retain is the retain flag of every message.
	Retain bool
	// Publish puts one message on the local broker (in-process: it does not
	// block on the network). Required.
	Publish func(topic string, payload []byte, retain bool) error
	// Batch is the most readings one Peek takes; default DefaultBatch.
	Batch int
	// RetryEvery is the wait after the log's error; default DefaultRetryEvery.
	RetryEvery time.Duration
	Logger     *slog.Logger
}

// RepublishStats is the Republisher's counters.
type RepublishStats struct {
	Published   uint64    `json:"published"`
	Failed      uint64    `json:"failed"` // publishes the broker refused (acked: never retried)
	Lag         uint64    `json:"lag"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Republisher is the local re-publish as a consumer of the log: each
// reading of its cursor goes to the local broker as
// <prefix>/local/<device>/<metric> with LocalPayload, so dashboards and
// automations on the gateway's network see it without the cloud. It acks
// a batch once every reading of it was published; a publish the broker
// refuses is logged (once per 10 s), counted and not retried.
type Republisher struct {
	cur  Cursor
	cfg  RepublishConfig
	warn *logevery.Limiter

	published, failed atomic.Uint64
	mu                sync.Mutex
	lastErr           string
	lastErrAt         time.Time
}

// NewRepublisher returns the republisher of cur; Run runs it.
func NewRepublisher(cur Cursor, cfg RepublishConfig) *Republisher {
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = DefaultRetryEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Republisher{cur: cur, cfg: cfg, warn: logevery.New(0)}
}

// Stats reports the republisher.
func (p *Republisher) Stats() RepublishStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return RepublishStats{Published: p.published.Load(), Failed: p.failed.Load(), Lag: p.cur.Lag(), LastError: p.lastErr, LastErrorAt: p.lastErrAt}
}

func (p *Republisher) noteErr(what string, err error, args ...any) {
	p.mu.Lock()
	p.lastErr, p.lastErrAt = what+": "+err.Error(), time.Now()
	p.mu.Unlock()
	if n, ok := p.warn.Allow(what, time.Now()); ok {
		p.cfg.Logger.Warn("local re-publish: "+what+" failed", append(args, "err", err, "suppressed", n)...)
	}
}

// Run republishes until ctx ends (it returns nil then).
func (p *Republisher) Run(ctx context.Context) error {
	var (
		after uint64
		buf   = make([]reading.Reading, 0, p.cfg.Batch)
		sq    []uint64
		w     = waiter{cur: p.cur}
	)
	for ctx.Err() == nil {
		rs, err := w.next(ctx, after, p.cfg.Batch, buf[:0])
		buf = rs[:0]
		if err != nil {
			p.noteErr("peek", err)
			sleep(ctx, p.cfg.RetryEvery)
			continue
		}
		if len(rs) == 0 {
			continue // woken by an append, or ctx ended
		}
		for _, r := range rs {
			// A fresh buffer each time: an MQTT client (the external
			// local broker's) may still be writing the last one.
			payload := LocalPayload(make([]byte, 0, 128), r)
			topic := LocalTopic(p.cfg.Prefix, r)
			if err := p.cfg.Publish(topic, payload, p.cfg.Retain); err != nil {
				p.failed.Add(1)
				p.noteErr("publish", err, "topic", topic, "failed_total", p.failed.Load())
				continue
			}
			p.published.Add(1)
		}
		sq = seqs(sq, rs)
		if err := p.cur.Ack(ctx, sq); err != nil {
			if ctx.Err() != nil {
				break
			}
			p.noteErr("ack", err)
			sleep(ctx, p.cfg.RetryEvery)
			continue // peeked and published again: at-least-once
		}
		after = rs[len(rs)-1].Seq
	}
	return nil
}

// LocalTopic is the local broker's topic of r: <prefix>/local/<device>/<metric>.
func LocalTopic(prefix string, r reading.Reading) string {
	return prefix + "/local/" + r.Device + "/" + r.Metric
}

// LocalPayload is one reading as JSON, appended to b:
// {"value":21.5,"unit":"C","time":"…","seq":7}, with ,"simulated":true for
// a reading from a simulated chip or source.
func LocalPayload(b []byte, r reading.Reading) []byte {
	b = append(b, `{"value":`...)
	b = strconv.AppendFloat(b, r.Value, 'g', -1, 64)
	b = append(b, `,"unit":`...)
	b = strconv.AppendQuote(b, r.Unit)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	if r.Simulated {
		b = append(b, `,"simulated":true`...)
	}
	return append(b, '}')
}
