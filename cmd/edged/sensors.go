package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"edged/drivers/mqttsensor"
	"edged/internal/logevery"
	"edged/runtime/ingest"
	"edged/sync/broker"
)

// sensorIngest is the ingest configuration for pushed readings: times are
// judged against outbox.max_future and the outbox's max_age in force.
func (d *daemon) sensorIngest() ingest.Config {
	return ingest.Config{Logger: d.log.With("component", "ingest"), MaxFuture: d.cfg.Outbox.MaxFuture,
		MaxAge: func() time.Duration { _, age := d.outbox.Limits(); return age }}
}

// sensorRouter turns messages on the local broker into readings: the first
// mqttsensor device whose topic pattern matches decodes the payload, and
// the readings go to the ingest queue. It is the broker's Handler (embedded
// mode) and the external subscription's handler.
type sensorRouter struct {
	sensors atomic.Pointer[[]*mqttsensor.Sensor] // a plan may replace them
	ingest  *ingest.Ingest
	log     *slog.Logger

	logged *logevery.Limiter // one malformed-payload line per device per 10 s
}

func newSensorRouter(sensors []*mqttsensor.Sensor, in *ingest.Ingest, log *slog.Logger) *sensorRouter {
	r := &sensorRouter{ingest: in, log: log, logged: logevery.New(0)}
	r.set(sensors)
	return r
}

// list is the sensors now.
func (r *sensorRouter) list() []*mqttsensor.Sensor { return *r.sensors.Load() }

// set replaces the sensors.
func (r *sensorRouter) set(sensors []*mqttsensor.Sensor) { r.sensors.Store(&sensors) }

// filters are the MQTT subscriptions that cover every sensor.
func (r *sensorRouter) filters() []string {
	ss := r.list()
	fs := make([]string, len(ss))
	for i, s := range ss {
		fs[i] = s.Filter()
	}
	return fs
}

// Handle decodes m and queues its readings. A QoS 0 message is dropped when
// the queue is full; a QoS 1 or 2 message waits for room, which slows its
// publisher. A message that no sensor can decode is counted, logged now
// and then, and acknowledged: sending it again would not make it valid.
func (r *sensorRouter) Handle(ctx context.Context, m broker.Message, done func(error)) {
	for _, s := range r.list() {
		if !s.Matches(m.Topic) {
			continue
		}
		rs, err := s.Decode(m.Topic, m.Payload, time.Now())
		if err != nil {
			r.malformed(s, err)
			done(nil)
			return
		}
		// Times the outbox cannot store or would drop at once are refused
		// here, counted per device, and the message acknowledged: a
		// resend would carry the same time (never a reconnect loop).
		if rs = r.ingest.Judge(m.Topic, rs); len(rs) == 0 {
			done(nil)
			return
		}
		r.ingest.Submit(ctx, rs, m.QoS > 0, func(err error) {
			if err == ingest.ErrFull {
				err = broker.ErrBusy
			}
			done(err)
		})
		return
	}
	done(nil) // a route no sensor claims (a $-topic on a # filter): nothing to store
}

// malformed logs a bad payload, at most once per logevery.Every per device.
func (r *sensorRouter) malformed(s *mqttsensor.Sensor, err error) {
	if n, ok := r.logged.Allow(s.Name(), time.Now()); ok {
		r.log.Warn("bad sensor payload, not stored", "device", s.Name(), "err", err, "suppressed", n)
	}
}

// handleExternal is the handler for subscriptions on an external broker: it
// returns once the readings are durable (or refused), so the broker keeps
// the message until then.
func (r *sensorRouter) handleExternal(ctx context.Context) func(topic string, payload []byte) {
	return func(topic string, payload []byte) {
		settled := make(chan struct{})
		r.Handle(ctx, broker.Message{Topic: topic, Payload: payload, QoS: 1}, func(error) { close(settled) })
		select {
		case <-settled:
		case <-ctx.Done():
		}
	}
}
