package broker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"edged/internal/topic"

	"edged/internal/logevery"
)

// routeHook hands publishes on the routes to the Handler. A QoS 1 publish is
// acknowledged only once the handler calls done(nil): the hook rejects the
// packet so mochi sends no PUBACK of its own, and writes the PUBACK itself
// from done, then delivers the message to local subscribers. A QoS 2 publish
// waits in the hook until done, then mochi's own PUBREC flow goes on.
type routeHook struct {
	mqtt.HookBase
	srv     *mqtt.Server
	inline  *mqtt.Client             // re-publishes stored QoS 1 messages, properties kept
	routes  atomic.Pointer[[]string] // SetRoutes replaces them
	handler Handler
	ctx     context.Context // ends at Close: handlers stop waiting
	log     *slog.Logger

	limiter *logevery.Limiter

	routed, durable, refused, dropped atomic.Uint64
}

func (h *routeHook) ID() string { return "edged-route" }

func (h *routeHook) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *routeHook) wants(t string) bool {
	for _, r := range *h.routes.Load() {
		if topic.Match(r, t) {
			return true
		}
	}
	return false
}

// OnPublish runs on the client's read goroutine, after the ACL check.
func (h *routeHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || !h.wants(pk.TopicName) {
		return pk, nil
	}
	h.routed.Add(1)
	m := Message{
		Topic: pk.TopicName, Payload: bytes.Clone(pk.Payload), QoS: pk.FixedHeader.Qos,
		Retain: pk.FixedHeader.Retain, ClientID: cl.ID, Username: string(cl.Properties.Username),
	}
	switch m.QoS {
	case 0:
		h.handler.Handle(h.ctx, m, h.settled)
		return pk, nil
	case 1:
		h.handler.Handle(h.ctx, m, func(err error) { h.ack(cl, pk, err) })
		return pk, packets.ErrRejectPacket
	default:
		done := make(chan error, 1)
		h.handler.Handle(h.ctx, m, func(err error) { done <- err })
		var err error
		select {
		case err = <-done:
		case <-h.ctx.Done():
			err = h.ctx.Err()
		}
		h.settled(err)
		if err != nil {
			return pk, h.fail(cl, err)
		}
		return pk, nil
	}
}

// settled counts the outcome of one routed message.
func (h *routeHook) settled(err error) {
	switch {
	case err == nil:
		h.durable.Add(1)
	case errors.Is(err, ErrBusy):
		h.dropped.Add(1)
	default:
		h.refused.Add(1)
	}
}

// ack answers a QoS 1 publish once its fate is known: PUBACK when durable,
// then delivery to local subscribers; otherwise a PUBACK with an error code
// (MQTT 5) or a disconnect (3.1.1, which has no negative ack), so the client
// sends it again.
func (h *routeHook) ack(cl *mqtt.Client, pk packets.Packet, err error) {
	h.settled(err)
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID}
	if err != nil {
		if cl.Properties.ProtocolVersion != 5 {
			h.fail(cl, err)
			return
		}
		code := failCode(err)
		ack.ReasonCode, ack.Properties.ReasonString = code.Code, err.Error()
		h.warn(cl, err)
	}
	if werr := cl.WritePacket(ack); werr != nil || err != nil {
		return // a gone client resends on reconnect if its session says so
	}
	// Local subscribers get the message only now, so they never see one the
	// sensor will send again, with its MQTT 5 properties (content type, user
	// properties…). The inline client skips this hook and the ACL.
	out := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: pk.FixedHeader.Retain},
		TopicName: pk.TopicName, Payload: pk.Payload, PacketID: 1, Properties: pk.Properties.Copy(false)}
	out.Properties.TopicAlias, out.Properties.TopicAliasFlag = 0, false
	if perr := h.srv.InjectPacket(h.inline, out); perr != nil {
		h.log.Warn("local delivery failed", "topic", pk.TopicName, "err", perr)
	}
}

func failCode(err error) packets.Code {
	if errors.Is(err, ErrBusy) {
		return packets.ErrServerBusy
	}
	return packets.ErrUnspecifiedError
}

// fail disconnects a client whose publish was not stored, so it sends the
// message again; it returns what OnPublish gives mochi.
func (h *routeHook) fail(cl *mqtt.Client, err error) error {
	h.warn(cl, err)
	_ = h.srv.DisconnectClient(cl, failCode(err))
	return packets.ErrRejectPacket
}

// warn logs a refused publish, at most once per logevery.Every.
func (h *routeHook) warn(cl *mqtt.Client, err error) {
	if n, ok := h.limiter.Allow("", time.Now()); ok {
		h.log.Warn("publish not stored; the client will send it again", "client", cl.ID, "err", err, "suppressed", n)
	}
}
