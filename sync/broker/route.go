package broker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edged-gateway/edged/internal/topic"

	"github.com/edged-gateway/edged/internal/logevery"
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

	routed, durable, refused, dropped, declined atomic.Uint64
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
		var dec *Declined
		if errors.As(err, &dec) {
			return h.declineQoS2(cl, pk, dec)
		}
		if err != nil {
			return pk, h.fail(cl, err)
		}
		return pk, nil
	}
}

// declineQoS2 answers a QoS 2 publish the handler declined. When part was
// taken, mochi's own PUBREC flow goes on (and delivers the message). When
// nothing was, an MQTT 5 client gets a PUBREC with the reason code, which
// ends the exchange; a 3.1.1 client the plain PUBREC flow, with the message
// not delivered (mochi's "ignore").
func (h *routeHook) declineQoS2(cl *mqtt.Client, pk packets.Packet, dec *Declined) (packets.Packet, error) {
	if dec.Code < packets.ErrUnspecifiedError.Code {
		return pk, nil
	}
	if cl.Properties.ProtocolVersion != 5 {
		return pk, packets.CodeSuccessIgnore
	}
	rec := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID, ReasonCode: dec.Code}
	declineProperties(&rec.Properties, dec)
	_ = cl.WritePacket(rec) // a gone client resends on reconnect if its session says so
	return pk, packets.ErrRejectPacket
}

// maxReason bounds the reason string of a declined ack, in bytes.
const maxReason = 256

// declineProperties puts the reason and the refused count of dec in an
// MQTT 5 ack's properties. The reason is cut to maxReason bytes and made a
// string MQTT allows (valid UTF-8, no control characters); mochi leaves
// both properties out when the client asked for no problem information or
// they would pass its maximum packet size.
func declineProperties(p *packets.Properties, dec *Declined) {
	reason := dec.Reason
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	reason = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(reason, ""))
	p.ReasonString = reason
	if dec.Refused > 0 {
		p.User = append(p.User, packets.UserProperty{Key: RefusedProperty, Val: strconv.Itoa(dec.Refused)})
	}
}

// settled counts the outcome of one routed message.
func (h *routeHook) settled(err error) {
	var dec *Declined
	switch {
	case err == nil:
		h.durable.Add(1)
	case errors.As(err, &dec):
		h.declined.Add(1)
	case errors.Is(err, ErrBusy):
		h.dropped.Add(1)
	default:
		h.refused.Add(1)
	}
}

// ack answers a QoS 1 publish once its fate is known: PUBACK when durable,
// then delivery to local subscribers; otherwise a PUBACK with an error code
// (MQTT 5) or a disconnect (3.1.1, which has no negative ack), so the client
// sends it again. A Declined message is acknowledged, never retried: MQTT 5
// with its reason code, 3.1.1 plainly; it is delivered locally only if part
// of it was taken.
func (h *routeHook) ack(cl *mqtt.Client, pk packets.Packet, err error) {
	h.settled(err)
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID}
	var dec *Declined
	if errors.As(err, &dec) {
		if cl.Properties.ProtocolVersion == 5 {
			ack.ReasonCode = dec.Code
			declineProperties(&ack.Properties, dec)
		}
		if werr := cl.WritePacket(ack); werr != nil || dec.Code >= packets.ErrUnspecifiedError.Code {
			return
		}
		h.deliver(pk)
		return
	}
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
	h.deliver(pk)
}

// deliver hands an acknowledged QoS 1 publish to local subscribers.
func (h *routeHook) deliver(pk packets.Packet) {
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
