package broker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"
)

// declineHandler settles each message at once by its payload: "ok" is
// stored, "part" partly refused, "bad" refused with 0x99, "window" with 0x83.
type declineHandler struct{}

func (declineHandler) Handle(_ context.Context, m Message, done func(error)) {
	switch string(m.Payload) {
	case "part":
		done(&Declined{Code: CodeSuccess, Reason: "1 reading(s) refused for their time", Refused: 1})
	case "bad":
		done(&Declined{Code: CodePayloadFormatInvalid, Reason: "time 9999-01-01T00:00:00Z outside the years 1678–2262", Refused: 1})
	case "binary":
		done(&Declined{Code: CodePayloadFormatInvalid, Reason: "payload \x00\xff\n" + strings.Repeat("é", 300)})
	case "window":
		done(&Declined{Code: CodeImplementationSpecific, Reason: "more than 10m0s ahead", Refused: 2})
	default:
		done(nil)
	}
}

func publishPacket(topic, payload string, qos byte, id uint16) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic,
		Payload: []byte(payload), PacketID: id}
}

func refusedProperty(pk packets.Packet) string {
	for _, u := range pk.Properties.User {
		if u.Key == RefusedProperty {
			return u.Val
		}
	}
	return ""
}

// TestDeclinedPublishIsAcknowledgedWithItsReason: a message the handler
// declines is acknowledged, never a disconnect. MQTT 5 acks carry the
// reason code, the reason string and edged-refused; 3.1.1 acks are plain
// and the connection stays up. Local subscribers get the partly taken
// message, not the refused ones.
func TestDeclinedPublishIsAcknowledgedWithItsReason(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true, Routes: []string{"sensors/#"}, Handler: declineHandler{}})

	sub := dialRaw(t, b.Addr(), "", 5)
	sub.mustConnect("watcher")
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "sensors/#"}}})
	sub.expect(packets.Suback)

	c := dialRaw(t, b.Addr(), "", 5)
	c.mustConnect("v5")
	for i, want := range []struct {
		payload      string
		code         byte
		reason, prop string
	}{
		{"bad", 0x99, "outside the years", "1"},
		{"window", 0x83, "ahead", "2"},
		{"part", 0x00, "refused for their time", "1"},
		{"ok", 0x00, "", ""},
	} {
		c.send(publishPacket("sensors/a", want.payload, 1, uint16(i+1)))
		ack := c.expect(packets.Puback)
		if ack.PacketID != uint16(i+1) || ack.ReasonCode != want.code || !strings.Contains(ack.Properties.ReasonString, want.reason) ||
			refusedProperty(ack) != want.prop {
			t.Errorf("%s: PUBACK id %d code %#x reason %q edged-refused %q; want code %#x saying %q, edged-refused %q",
				want.payload, ack.PacketID, ack.ReasonCode, ack.Properties.ReasonString, refusedProperty(ack), want.code, want.reason, want.prop)
		}
	}
	// A reason with a NUL, invalid UTF-8 and too long goes out as a string
	// MQTT allows, cut to maxReason bytes.
	c.send(publishPacket("sensors/a", "binary", 1, 9))
	if ack := c.expect(packets.Puback); ack.ReasonCode != 0x99 || len(ack.Properties.ReasonString) > maxReason ||
		!utf8.ValidString(ack.Properties.ReasonString) || strings.ContainsAny(ack.Properties.ReasonString, "\x00\n") {
		t.Errorf("PUBACK code %#x reason %q: want 0x99 and a valid UTF-8 reason of at most %d bytes without controls",
			ack.ReasonCode, ack.Properties.ReasonString, maxReason)
	}
	// QoS 2 refused: a PUBREC with the code ends the exchange.
	c.send(publishPacket("sensors/a", "bad", 2, 10))
	if rec := c.expect(packets.Pubrec); rec.PacketID != 10 || rec.ReasonCode != 0x99 || refusedProperty(rec) != "1" {
		t.Errorf("QoS 2 PUBREC id %d code %#x edged-refused %q; want 0x99 and 1", rec.PacketID, rec.ReasonCode, refusedProperty(rec))
	}

	// 3.1.1: plain acks, and the connection stays up for the next publish.
	old := dialRaw(t, b.Addr(), "", 4)
	old.mustConnect("v311")
	old.send(publishPacket("sensors/b", "bad", 1, 1))
	old.expect(packets.Puback)
	old.send(publishPacket("sensors/b", "window", 2, 2))
	old.expect(packets.Pubrec)
	old.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel}, PacketID: 2})
	old.expect(packets.Pubcomp)
	old.send(publishPacket("sensors/b", "ok", 1, 3))
	if ack := old.expect(packets.Puback); ack.PacketID != 3 {
		t.Errorf("3.1.1 PUBACK for id %d, want 3", ack.PacketID)
	}

	// The watcher sees only what was taken, in order: part, ok (v5), ok (3.1.1).
	var got []string
	for len(got) < 3 {
		pk := sub.expect(packets.Publish)
		got = append(got, pk.TopicName+" "+string(pk.Payload))
	}
	if want := []string{"sensors/a part", "sensors/a ok", "sensors/b ok"}; !slices.Equal(got, want) {
		t.Errorf("local subscriber got %q, want %q (nothing refused as a whole)", got, want)
	}
	st := b.Stats()
	if st.Declined != 7 || st.Durable != 2 || st.Refused != 0 || st.Auth.AuthOK != 3 {
		t.Errorf("stats routed %d declined %d durable %d refused %d connections %d; want 7 declined, 2 durable, 0 refused, 3 connections",
			st.Routed, st.Declined, st.Durable, st.Refused, st.Auth.AuthOK)
	}
}
