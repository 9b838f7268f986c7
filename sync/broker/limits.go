package broker

import "time"

// Limits bound what clients can make the broker hold or do, so that anyone
// who can reach the port cannot exhaust the gateway. A zero field takes its
// default (DefaultLimits); a negative one is an error.
type Limits struct {
	// MaxPacketSize is the largest packet a client may send, in bytes. It is
	// checked on the length a packet's fixed header declares, before its
	// body is read or any memory is set aside for it, also before CONNECT
	// completes; the connection is closed. MQTT 5 clients are told the
	// limit in CONNACK. Default 256 KiB.
	MaxPacketSize int64
	// MaxTopicAliases is the Topic Alias Maximum told to MQTT 5 clients in
	// CONNACK: how many topic aliases each may set (each holds a topic in
	// memory). Default 32.
	MaxTopicAliases int
	// MaxKeepAlive is the longest keep-alive an MQTT 5 client gets: one
	// asking for more, or for none (0), is given this one as Server Keep
	// Alive in CONNACK, and a connection silent for 1.5 times it is
	// closed. MQTT 3.1.1 clients keep theirs (they cannot be told).
	// Default 5m.
	MaxKeepAlive time.Duration
	// MaxSessionExpiry is the longest a disconnected client's session (its
	// subscriptions and queued messages) is kept: MQTT 5 clients asking
	// for more are told this one in CONNACK; MQTT 3.1.1 persistent
	// sessions expire after it. Default 168h.
	MaxSessionExpiry time.Duration
	// MaxQueuedPerSession is the most QoS 1/2 messages held for one client
	// (sent and not acknowledged, or queued while it is away); more are
	// dropped for it and counted. Default 1000.
	MaxQueuedPerSession int
	// ReceiveMaximum is how many QoS 1/2 publishes one client may have in
	// flight towards the broker at once (a QoS 2 publish is in flight until
	// its PUBREL): MQTT 5 clients are told it in CONNACK; a client going
	// past it is disconnected with 0x93 "receive maximum exceeded" (MQTT
	// 3.1.1 clients: the connection is closed) and it is counted.
	// Default 64.
	ReceiveMaximum int
	// MaxSubscriptionsPerClient is the most topic filters one client may
	// subscribe to; a SUBSCRIBE past it gets 0x97 "quota exceeded" (MQTT
	// 5) or 0x80 (3.1.1) for the filters over. Default 100.
	MaxSubscriptionsPerClient int
	// MaxConnections is the most connections open at once, counted from
	// accept (before CONNECT); one over it is closed at once. Default 1024.
	MaxConnections int
	// MaxConnectionsPerAddress is the most connections open at once from
	// one source IP address. Default 64.
	MaxConnectionsPerAddress int
	// ConnectTimeout is how long a new connection has to send its CONNECT
	// (TLS handshake included); then it is closed. Default 10s.
	ConnectTimeout time.Duration
	// MaxRetained and MaxRetainedBytes bound the retained messages held (and
	// kept in broker.db) in all; MaxRetainedPerUser and
	// MaxRetainedBytesPerUser bound those one user (or, for anonymous
	// clients, one client id) set. A retained publish past a bound is
	// refused: MQTT 5 QoS 1/2 get PUBACK/PUBREC 0x97 "quota exceeded",
	// others are delivered but not retained. Deleting (an empty retained
	// payload) is always allowed. Defaults 2000 messages, 4 MiB; per user
	// 500 messages, 1 MiB.
	MaxRetained             int
	MaxRetainedBytes        int64
	MaxRetainedPerUser      int
	MaxRetainedBytesPerUser int64
	// LoginFreeAttempts is how many wrong passwords a source address or a
	// username may give before back-off starts. Default 3.
	LoginFreeAttempts int
	// LoginBackoff is the first back-off after the free attempts; each
	// further failure doubles it up to LoginBackoffMax. While an address or
	// user is backing off, its logins are refused without checking the
	// password. Defaults 1s and 60s.
	LoginBackoff, LoginBackoffMax time.Duration
}

// DefaultLimits are the limits a zero Limits field takes.
func DefaultLimits() Limits {
	return Limits{
		MaxPacketSize:             256 << 10,
		MaxTopicAliases:           32,
		MaxKeepAlive:              5 * time.Minute,
		MaxSessionExpiry:          168 * time.Hour,
		MaxQueuedPerSession:       1000,
		ReceiveMaximum:            64,
		MaxSubscriptionsPerClient: 100,
		MaxConnections:            1024,
		MaxConnectionsPerAddress:  64,
		ConnectTimeout:            10 * time.Second,
		MaxRetained:               2000,
		MaxRetainedBytes:          4 << 20,
		MaxRetainedPerUser:        500,
		MaxRetainedBytesPerUser:   1 << 20,
		LoginFreeAttempts:         3,
		LoginBackoff:              time.Second,
		LoginBackoffMax:           time.Minute,
	}
}

// maxMQTTPacket is the largest remaining length MQTT can declare (256 MiB).
const maxMQTTPacket = 268435455

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int64, def int64) {
		if *v == 0 {
			*v = def
		}
	}
	seti := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setd := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxPacketSize, d.MaxPacketSize)
	seti(&l.MaxTopicAliases, d.MaxTopicAliases)
	setd(&l.MaxKeepAlive, d.MaxKeepAlive)
	setd(&l.MaxSessionExpiry, d.MaxSessionExpiry)
	seti(&l.MaxQueuedPerSession, d.MaxQueuedPerSession)
	seti(&l.ReceiveMaximum, d.ReceiveMaximum)
	seti(&l.MaxSubscriptionsPerClient, d.MaxSubscriptionsPerClient)
	seti(&l.MaxConnections, d.MaxConnections)
	seti(&l.MaxConnectionsPerAddress, d.MaxConnectionsPerAddress)
	setd(&l.ConnectTimeout, d.ConnectTimeout)
	seti(&l.MaxRetained, d.MaxRetained)
	set(&l.MaxRetainedBytes, d.MaxRetainedBytes)
	seti(&l.MaxRetainedPerUser, d.MaxRetainedPerUser)
	set(&l.MaxRetainedBytesPerUser, d.MaxRetainedBytesPerUser)
	seti(&l.LoginFreeAttempts, d.LoginFreeAttempts)
	setd(&l.LoginBackoff, d.LoginBackoff)
	setd(&l.LoginBackoffMax, d.LoginBackoffMax)
	return l
}

// validate reports each limit that cannot work, named as in the
// local_mqtt.limits block.
func (l Limits) validate(add func(format string, a ...any)) {
	neg := func(field string, v int64, example string) {
		if v < 0 {
			add("limits.%s: %d is negative: leave it out for the default or set e.g. %s", field, v, example)
		}
	}
	negDur := func(field string, v time.Duration, example string) {
		if v < 0 {
			add("limits.%s: %v is negative: leave it out for the default or set e.g. %s", field, v, example)
		}
	}
	neg("max_packet_size", l.MaxPacketSize, "256Ki")
	if l.MaxPacketSize > maxMQTTPacket {
		add("limits.max_packet_size: %d is over MQTT's largest packet (256Mi): use e.g. 256Ki", l.MaxPacketSize)
	} else if l.MaxPacketSize > 0 && l.MaxPacketSize < 64 {
		add("limits.max_packet_size: %d bytes is too small for a CONNECT: use e.g. 256Ki", l.MaxPacketSize)
	}
	neg("max_topic_aliases", int64(l.MaxTopicAliases), "32")
	if l.MaxTopicAliases > 65535 {
		add("limits.max_topic_aliases: %d is over MQTT's 65535: use e.g. 32", l.MaxTopicAliases)
	}
	negDur("max_keep_alive", l.MaxKeepAlive, "5m")
	if l.MaxKeepAlive > 65535*time.Second {
		add("limits.max_keep_alive: %v is over MQTT's 65535s: use e.g. 5m", l.MaxKeepAlive)
	} else if l.MaxKeepAlive > 0 && l.MaxKeepAlive < time.Second {
		add("limits.max_keep_alive: %v is under a second: use e.g. 5m", l.MaxKeepAlive)
	}
	negDur("max_session_expiry", l.MaxSessionExpiry, "168h")
	if l.MaxSessionExpiry > time.Duration(1<<32-1)*time.Second {
		add("limits.max_session_expiry: %v is over MQTT's 4294967295s: use e.g. 168h", l.MaxSessionExpiry)
	}
	neg("max_queued_per_session", int64(l.MaxQueuedPerSession), "1000")
	neg("receive_maximum", int64(l.ReceiveMaximum), "64")
	if l.ReceiveMaximum > 65535 {
		add("limits.receive_maximum: %d is over MQTT's 65535: use e.g. 64", l.ReceiveMaximum)
	}
	if l.MaxQueuedPerSession > 65535 {
		add("limits.max_queued_per_session: %d is over 65535 (packet ids): use e.g. 1000", l.MaxQueuedPerSession)
	}
	neg("max_subscriptions_per_client", int64(l.MaxSubscriptionsPerClient), "100")
	neg("max_connections", int64(l.MaxConnections), "1024")
	neg("max_connections_per_address", int64(l.MaxConnectionsPerAddress), "64")
	negDur("connect_timeout", l.ConnectTimeout, "10s")
	neg("retained.max_messages", int64(l.MaxRetained), "2000")
	neg("retained.max_bytes", l.MaxRetainedBytes, "4Mi")
	neg("retained.max_messages_per_user", int64(l.MaxRetainedPerUser), "500")
	neg("retained.max_bytes_per_user", l.MaxRetainedBytesPerUser, "1Mi")
	neg("login_backoff.free_attempts", int64(l.LoginFreeAttempts), "3")
	negDur("login_backoff.initial", l.LoginBackoff, "1s")
	negDur("login_backoff.max", l.LoginBackoffMax, "60s")
	w := l.withDefaults()
	if w.MaxConnectionsPerAddress > w.MaxConnections && l.MaxConnectionsPerAddress > 0 {
		add("limits.max_connections_per_address: %d is over max_connections (%d): lower it or raise max_connections",
			w.MaxConnectionsPerAddress, w.MaxConnections)
	}
	if w.LoginBackoff > w.LoginBackoffMax {
		add("limits.login_backoff.initial: %v is over login_backoff.max (%v)", w.LoginBackoff, w.LoginBackoffMax)
	}
}
