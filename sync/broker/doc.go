// Package broker is edged's local MQTT broker: an embedded mochi-mqtt server
// that sensors on the gateway's LAN publish to, with users from a bcrypt
// password file, per-user ACLs (package auth), a per-client rate limit,
// retained messages and sessions kept in the data directory, and a route
// that hands every publish on a sensor topic to a Handler.
//
// A QoS 1 publish on a routed topic is acknowledged (PUBACK) only after the
// Handler reports it durable, so a sensor that saw its PUBACK never loses
// that message, whatever happens to the gateway next. QoS 0 publishes are
// handed over without waiting. The broker never imports the runtime: the
// Handler is an interface it defines, and cmd/edged supplies it.
package broker
