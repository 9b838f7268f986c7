package main

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"edged/reading"
)

// republishSink stores readings in the outbox and, once they are durable,
// also publishes each on the local broker as
// <prefix>/local/<device>/<metric>, so dashboards and automations on the
// gateway's network see them without the cloud.
type republishSink struct {
	store interface {
		Append(ctx context.Context, rs []reading.Reading) error
	}
	publish func(topic string, payload []byte, retain bool) error
	prefix  string
	retain  bool
	log     *slog.Logger
	limiter logEvery
}

func (s *republishSink) Append(ctx context.Context, rs []reading.Reading) error {
	if err := s.store.Append(ctx, rs); err != nil {
		return err
	}
	var buf []byte
	for _, r := range rs {
		buf = localPayload(buf[:0], r)
		topic := s.prefix + "/local/" + r.Device + "/" + r.Metric
		if err := s.publish(topic, buf, s.retain); err != nil && s.limiter.ok() {
			s.log.Warn("local re-publish failed", "topic", topic, "err", err)
		}
	}
	return nil
}

// localPayload is one reading as JSON: {"value":21.5,"unit":"C","time":"…","seq":7}.
func localPayload(b []byte, r reading.Reading) []byte {
	b = append(b, `{"value":`...)
	b = strconv.AppendFloat(b, r.Value, 'g', -1, 64)
	b = append(b, `,"unit":`...)
	b = strconv.AppendQuote(b, r.Unit)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	return append(b, '}')
}

// logEvery lets a repeated warning through once per statusEvery; safe for
// concurrent use.
type logEvery struct{ last atomic.Int64 }

func (l *logEvery) ok() bool {
	now, last := time.Now().UnixNano(), l.last.Load()
	if last != 0 && now-last < int64(statusEvery) {
		return false
	}
	return l.last.CompareAndSwap(last, now)
}
