package broker

import (
	"cmp"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

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
	srv          *mqtt.Server
	maxSubs      int

	mu   sync.Mutex
	over map[overKey][]int // SUBSCRIBE filters refused for the quota, by client and packet id

	subsRefused atomic.Uint64
	overReceive atomic.Uint64 // clients disconnected for going past receive_maximum
}

type overKey struct {
	client string
	id     uint16
}

// invalidFilter makes mochi refuse a filter (0x8F) in processSubscribe;
// OnPacketEncode then turns that code into 0x97 "quota exceeded".
const invalidFilter = "#/quota"

func (h *conformHook) ID() string { return "edged-conform" }

func (h *conformHook) Provides(b byte) bool {
	return b == mqtt.OnPacketEncode || b == mqtt.OnConnect || b == mqtt.OnDisconnect || b == mqtt.OnSessionEstablish || b == mqtt.OnSubscribe
}

// OnDisconnect counts the clients mochi disconnected for sending more QoS
// 1/2 publishes at once than the Receive Maximum allows.
func (h *conformHook) OnDisconnect(_ *mqtt.Client, err error, _ bool) {
	if errors.Is(err, packets.ErrReceiveMaximum) {
		h.overReceive.Add(1)
	}
}

// OnSubscribe refuses the filters that would take a client over
// MaxSubscriptionsPerClient (filters it holds already do not count again).
func (h *conformHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	held := cl.State.Subscriptions.Len()
	var over []int
	filters := slices.Clone(pk.Filters)
	for i, f := range filters {
		if _, ok := cl.State.Subscriptions.Get(f.Filter); ok {
			continue
		}
		if held < h.maxSubs {
			held++
			continue
		}
		filters[i].Filter = invalidFilter
		over = append(over, i)
	}
	if len(over) == 0 {
		return pk
	}
	h.subsRefused.Add(uint64(len(over)))
	pk.Filters = filters
	h.mu.Lock()
	if h.over == nil {
		h.over = map[overKey][]int{}
	}
	h.over[overKey{cl.ID, pk.PacketID}] = over
	h.mu.Unlock()
	return pk
}

// OnSessionEstablish puts the messages a kept session holds for its client
// in publish order before mochi sends them again. mochi v2.7.9 resends them
// sorted by uint16(Created), with Created in whole seconds: messages of the
// same second came back in random order, others in an order that wraps
// every 18 hours. Here they are sorted by Created, then by packet id (ids
// are handed out in order, wrapping at 65535), and Created is replaced by
// their rank, which uint16 keeps in order (a session holds at most
// MaximumInflight, 8192, messages). Ranks stay below any unix time, so
// messages queued later still sort after them.
func (h *conformHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	old, ok := h.srv.Clients.Get(cl.ID)
	if !ok || old == cl || old.State.Inflight.Len() == 0 {
		return
	}
	msgs := old.State.Inflight.GetAll(false)
	byID := func(a, b packets.Packet) int { return cmp.Compare(a.PacketID, b.PacketID) }
	slices.SortFunc(msgs, func(a, b packets.Packet) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), byID(a, b))
	})
	// Within one second, ids that wrapped past 65535 come after the high ones.
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].Created == msgs[i].Created {
			j++
		}
		group := msgs[i:j]
		if len(group) > 1 && int(group[len(group)-1].PacketID)-int(group[0].PacketID) > 1<<15 {
			k := slices.IndexFunc(group, func(p packets.Packet) bool { return p.PacketID >= 1<<15 })
			slices.Reverse(group[:k])
			slices.Reverse(group[k:])
			slices.Reverse(group)
		}
		i = j
	}
	for rank, m := range msgs {
		m.Created = int64(rank)
		old.State.Inflight.Set(m)
	}
}

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
	if pk.FixedHeader.Type == packets.Suback {
		h.mu.Lock()
		over, ok := h.over[overKey{cl.ID, pk.PacketID}]
		delete(h.over, overKey{cl.ID, pk.PacketID})
		h.mu.Unlock()
		if ok && cl.Properties.ProtocolVersion == 5 {
			pk.ReasonCodes = slices.Clone(pk.ReasonCodes)
			for _, i := range over {
				if i < len(pk.ReasonCodes) {
					pk.ReasonCodes[i] = packets.ErrQuotaExceeded.Code
				}
			}
		}
	}
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
