package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// conformHook fixes what mochi v2.7.9 sends so that strict MQTT 5 clients
// (MQTT.js, python paho) accept it: CONNACK tells the limits the client must
// keep to, and a PUBACK or PUBREC never carries a reason code the spec does
// not list for it (mochi puts "granted QoS 1" 0x01 in a QoS 1 PUBACK; the
// Compatibilities switch NoInheritedPropertiesOnAck, set in New, keeps the
// publish's properties out of the ack).
type conformHook struct {
	mqtt.HookBase
	maxPacket    uint32
	aliasMax     uint16
	maxKeepAlive uint16 // seconds
}

func (h *conformHook) ID() string { return "edged-conform" }

func (h *conformHook) Provides(b byte) bool { return b == mqtt.OnPacketEncode || b == mqtt.OnConnect }

// OnConnect gives an MQTT 5 client a Server Keep Alive: its own keep-alive,
// or MaxKeepAlive when it asked for more or for none. mochi sends it in
// CONNACK and closes the connection after 1.5 times it of silence.
func (h *conformHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if cl.Properties.ProtocolVersion == 5 {
		if ka := cl.State.Keepalive; ka == 0 || ka > h.maxKeepAlive {
			cl.State.Keepalive = h.maxKeepAlive
		}
		cl.State.ServerKeepalive = true
	}
	return nil
}

func (h *conformHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Properties.ProtocolVersion != 5 {
		return pk
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		if pk.ReasonCode < packets.ErrUnspecifiedError.Code {
			pk.Properties.MaximumPacketSize = h.maxPacket
			pk.Properties.TopicAliasMaximum = h.aliasMax
		}
	case packets.Puback, packets.Pubrec:
		// Success is 0x00; 0x10 "no matching subscribers" is the only
		// other code below 0x80 these packets may carry.
		if pk.ReasonCode != 0 && pk.ReasonCode != packets.CodeNoMatchingSubscribers.Code && pk.ReasonCode < packets.ErrUnspecifiedError.Code {
			pk.ReasonCode = 0
		}
	}
	return pk
}
