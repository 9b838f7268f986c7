// Package uplink is edged's MQTT link to the cloud: TLS (with optional
// client certificates), reconnection with backoff, QoS 1 publishing with a
// per-message Delivery, subscriptions that survive reconnects, and a
// retained online/offline status with a last will. It wraps
// github.com/eclipse/paho.mqtt.golang; no paho type or error value leaves
// the package.
//
// A Client is created with New and driven by Run, which owns the
// connection until its context ends:
//
//	c, err := uplink.New(cfg)
//	...
//	go c.Run(ctx)
//	epoch, err := c.WaitConnected(ctx)
//	d, err := c.Publish("gw/1/telemetry", payload, 1, false)
//	<-d.Done() // d.Err() == nil: the broker has it (PUBACK)
//
// # Delivery semantics
//
// Every connection uses a clean session and paho's automatic reconnect is
// off: Run reconnects itself. Nothing is resent by this package; a message
// whose Delivery failed (always with ErrConnectionLost or ErrClosed once
// the connection is gone) may or may not have reached the broker, and the
// caller, which reads from a durable outbox, publishes it again. The epoch
// returned by WaitConnected and Stats increases with every connection, so a
// forwarder rewinds its cursor to the oldest unacknowledged reading when it
// changes. Every Delivery completes, whatever happens to the connection.
//
// Publish starts no goroutine: one goroutine per connection completes the
// deliveries in order. Keep a bounded window of deliveries in flight
// (32–64 reach full speed against a local broker).
//
// # Subscriptions
//
// Handlers registered with Subscribe run one at a time, in arrival order,
// on the connection's receiving goroutine, and must not block (see
// Subscribe). They are subscribed again on every connection.
//
// # Status
//
// With Config.StatusTopic set, the broker holds a retained "online" while
// the gateway is connected, publishes the retained last will "offline" if
// the connection dies without a DISCONNECT (crash, power loss, network
// loss detected by the keepalive), and Run publishes a retained "offline"
// on clean shutdown.
package uplink
