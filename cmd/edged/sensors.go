package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/drivers/mqttsensor"
	"github.com/edged-gateway/edged/internal/logevery"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/ingest"
	"github.com/edged-gateway/edged/sync/broker"
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

	// owners maps a device name to the sensor that first published
	// readings for it (up to maxOwnedDevices names), so that two sensors
	// (say a Zigbee2MQTT and a SenML one) never mix readings on one
	// device: the later sensor's readings for that name are refused and
	// counted in collided.
	mu       sync.Mutex
	owners   map[string]string
	collided map[string]uint64 // by sensor
}

// maxOwnedDevices bounds the device names whose owner the router keeps;
// past it, new names are not checked.
const maxOwnedDevices = 4096

func newSensorRouter(sensors []*mqttsensor.Sensor, in *ingest.Ingest, log *slog.Logger) *sensorRouter {
	r := &sensorRouter{ingest: in, log: log, logged: logevery.New(0), owners: map[string]string{}, collided: map[string]uint64{}}
	r.set(sensors)
	return r
}

// claim keeps the readings of rs whose device is s's (or nobody's yet,
// which makes it s's) and returns them with the first device another
// sensor owns, counting the readings refused for s.
func (r *sensorRouter) claim(s *mqttsensor.Sensor, rs []reading.Reading) ([]reading.Reading, string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var dev, owner string
	kept := rs[:0:0]
	for _, rd := range rs {
		o, ok := r.owners[rd.Device]
		if !ok && len(r.owners) < maxOwnedDevices {
			r.owners[rd.Device], o = s.Name(), s.Name()
		}
		if ok && o != s.Name() {
			r.collided[s.Name()]++
			if dev == "" {
				dev, owner = rd.Device, o
			}
			continue
		}
		kept = append(kept, rd)
	}
	return kept, dev, owner
}

// collisions is how many readings of sensor were refused because another
// sensor owns their device name.
func (r *sensorRouter) collisions(sensor string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.collided[sensor]
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
// publisher. A message that no sensor can decode, or whose readings are all
// refused for their time, is counted, logged now and then, and acknowledged
// with a broker.Declined (MQTT 5: reason 0x99 or 0x83; 3.1.1: a plain
// ack): sending it again would not make it valid. When only some readings
// are refused, the others are stored and the ack, once they are durable,
// is a success that counts the refused (edged-refused).
func (r *sensorRouter) Handle(ctx context.Context, m broker.Message, done func(error)) {
	for _, s := range r.list() {
		if !s.Matches(m.Topic) {
			continue
		}
		now := time.Now()
		rs, err := s.Decode(m.Topic, m.Payload, now)
		if err != nil {
			r.malformed(s, err)
			done(&broker.Declined{Code: broker.CodePayloadFormatInvalid, Reason: err.Error()})
			return
		}
		decoded := len(rs)
		rs, dev, owner := r.claim(s, rs)
		if dev != "" {
			err := fmt.Errorf("mqttsensor %s: %s: device %s already has readings from sensor %s: set options.device_prefix on one of them so that their devices cannot meet", s.Name(), m.Topic, dev, owner)
			r.malformed(s, err)
			if len(rs) == 0 {
				done(&broker.Declined{Code: broker.CodeImplementationSpecific, Reason: err.Error(), Refused: decoded})
				return
			}
		}
		// Times the outbox cannot store or would drop at once are refused
		// here (or, bad_time: receive, restamped), counted per device, and
		// the message acknowledged: a resend would carry the same time
		// (never a reconnect loop).
		var receive time.Time
		if s.Restamp() {
			receive = now
		}
		rs, v := r.ingest.JudgeMessage(m.Topic, rs, receive)
		if len(rs) == 0 && v.Refused > 0 {
			done(timeDeclined(v, true))
			return
		}
		if len(rs) == 0 {
			done(nil)
			return
		}
		r.ingest.Submit(ctx, rs, m.QoS > 0, func(err error) {
			switch {
			case err == ingest.ErrFull:
				err = broker.ErrBusy
			case err == nil && v.Refused > 0:
				err = timeDeclined(v, false) // the stored readings are durable: a success ack
			}
			done(err)
		})
		return
	}
	done(nil) // a route no sensor claims (a $-topic on a # filter): nothing to store
}

// timeDeclined is the ack of a message with readings refused for their
// time: 0x99 (payload format invalid) when a time is one the outbox cannot
// store at all, 0x83 (valid, but not accepted) when times are only outside
// the accepted window, and a success when some readings were stored.
func timeDeclined(v ingest.Verdict, none bool) *broker.Declined {
	d := &broker.Declined{Code: broker.CodeImplementationSpecific, Reason: v.Reason, Refused: v.Refused}
	switch {
	case !none:
		d.Code = broker.CodeSuccess
		d.Reason = fmt.Sprintf("%d reading(s) refused for their time; first: %s", v.Refused, v.Reason)
	case v.Unstorable > 0:
		d.Code = broker.CodePayloadFormatInvalid
	}
	return d
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
