package main

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/edged-gateway/edged/internal/logevery"
	"github.com/edged-gateway/edged/reading"
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
	limiter *logevery.Limiter
}

func (s *republishSink) Append(ctx context.Context, rs []reading.Reading) error {
	if err := s.store.Append(ctx, rs); err != nil {
		return err
	}
	var buf []byte
	for _, r := range rs {
		buf = localPayload(buf[:0], r)
		topic := s.prefix + "/local/" + r.Device + "/" + r.Metric
		if err := s.publish(topic, buf, s.retain); err != nil {
			if n, ok := s.limiter.Allow("", time.Now()); ok {
				s.log.Warn("local re-publish failed", "topic", topic, "err", err, "suppressed", n)
			}
		}
	}
	return nil
}

// localPayload is one reading as JSON: {"value":21.5,"unit":"C","time":"…","seq":7},
// with ,"simulated":true for a reading from a simulated chip or source.
func localPayload(b []byte, r reading.Reading) []byte {
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
