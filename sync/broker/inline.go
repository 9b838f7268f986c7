package broker

import (
	"bytes"
	"fmt"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// PublishQoS is Publish at a chosen QoS (0 or 1): a retained message kept
// at QoS 1 reaches a QoS 1 subscriber at QoS 1, as Home Assistant's
// discovery messages should.
func (b *Broker) PublishQoS(topic string, payload []byte, qos byte, retain bool) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if qos > 1 {
		return fmt.Errorf("broker: publish %s: QoS %d: use 0 or 1", topic, qos)
	}
	if err := b.srv.Publish(topic, payload, retain, qos); err != nil {
		return fmt.Errorf("broker: publish %s: %w", topic, err)
	}
	return nil
}

// inlineSubID is the id of the daemon's own subscriptions: mochi keys them
// by filter and id, so there is one per filter.
const inlineSubID = 1

// Subscribe has fn called with every message published on filter by a
// client (and, at once, with the retained messages that match it). fn runs
// on the publishing client's goroutine: it must not block. The payload is
// fn's to keep. A second Subscribe to the same filter replaces the first.
// The returned func ends the subscription.
func (b *Broker) Subscribe(filter string, fn func(topic string, payload []byte, retained bool)) (unsubscribe func(), err error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	err = b.srv.Subscribe(filter, inlineSubID, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, bytes.Clone(pk.Payload), pk.FixedHeader.Retain)
	})
	if err != nil {
		return nil, fmt.Errorf("broker: subscribe %s: %w", filter, err)
	}
	return func() { _ = b.srv.Unsubscribe(filter, inlineSubID) }, nil
}

// Ready is closed once Run has loaded the retained messages a previous run
// left in StorePath: a Subscribe before it sees none of them.
func (b *Broker) Ready() <-chan struct{} { return b.ready }
