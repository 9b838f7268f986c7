package main

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogger builds the daemon's logger from log.level and log.format.
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// defaultsYAML renders the default configuration, commented.
func defaultsYAML() string {
	c := defaultConfig()
	return fmt.Sprintf(`# edged configuration: every key is optional; these are the defaults.
gateway:
  id: %s                  # default: this host's name; becomes part of MQTT topics
  # labels: {site: plant-3}    # plans may pick gateways by labels
data_dir: %s              # installs use /var/lib/edged
cloud:
  url: ""                      # mqtt://host:1883 or mqtts://host:8883; empty = buffer only
  client_id: ""                # default edged-<gateway.id>
  username: ""
  password_file: ""            # file holding the password
  tls: {ca_file: "", cert_file: "", key_file: ""}   # mutual TLS when cert+key are set
  topic_prefix: %s
  batch: %d                    # most readings per MQTT message
  inflight: %d                 # most unacknowledged publishes at once
outbox:
  max_bytes: %s             # oldest readings dropped (and counted) beyond this
  max_age: %s
  fsync: %t
devices:
  - name: demo-temp
    kind: sim
    interval: 1s
    options: {metric: temperature, unit: C, waveform: sine, min: 18, max: 26, period: 10m, seed: 1}
  # a sensor publishing on the local broker, e.g. mosquitto_pub -t sensors/porch/temperature -m 21.5:
  # - {name: lan, kind: mqttsensor, options: {topic: sensors/+device/+metric}}
local_mqtt:
  mode: %s               # embedded (edged is the broker) | external (use url) | off
  listen: %s      # any non-loopback address needs passwd_file
  allow_anonymous: %t      # clients without a username, from loopback only
  passwd_file: ""              # users with bcrypt hashes: edged broker passwd FILE USER
  # acl: [{users: [porch], publish: ["sensors/%%u/#"]}]   # none = every user may do everything
  tls: {listen: "", cert_file: "", key_file: "", client_ca_file: ""}
  persistence: %t          # retained messages and sessions in data_dir/broker.db
  rate_limit: {messages_per_second: %g, burst: 0}   # per client; over it QoS 0 drops, QoS 1 waits; 0 = off
  republish: {enabled: false, retain: false}      # readings also on <topic_prefix>/local/<device>/<metric>
%shttp:
  listen: %s         # the local API for edged status / edged device set; loopback only; "" = off
  # allowed_hosts: [gateway.lan]  # Host names besides IPs, localhost and this host's name
log: {level: %s, format: %s, services: {lines_per_second: %g, bytes_per_second: %s}}  # levels debug|info|warn|error; formats text|json; services: each one's output
# services: see examples/services.yaml
# plans: {trusted_keys: [/etc/edged/ops.pub]}   # signed plans then decide devices, services and sync (README "Plans")
`, c.Gateway.ID, c.DataDir, c.Cloud.TopicPrefix, c.Cloud.Batch, c.Cloud.Inflight, c.Outbox.MaxBytes,
		c.Outbox.MaxAge, c.Outbox.Fsync, c.LocalMQTT.Mode, c.LocalMQTT.Listen, c.LocalMQTT.AllowAnonymous,
		c.LocalMQTT.Persistence, c.LocalMQTT.RateLimit.MessagesPerSecond, limitsYAML(c.LocalMQTT.Limits), c.HTTP.Listen, c.Log.Level, c.Log.Format,
		c.Log.Services.LinesPerSecond, c.Log.Services.BytesPerSecond)
}

// limitsYAML is local_mqtt.limits in the defaults.
func limitsYAML(l BrokerLimitsConfig) string {
	return fmt.Sprintf(`  limits:                    # what clients can make the broker hold (README "Local MQTT")
    max_packet_size: %s
    max_connections: %d
    max_connections_per_address: %d
    connect_timeout: %s
    max_topic_aliases: %d
    max_keep_alive: %s
    max_session_expiry: %s
    max_queued_per_session: %d
    max_subscriptions_per_client: %d
    retained: {max_messages: %d, max_bytes: %s, max_messages_per_user: %d, max_bytes_per_user: %s}
    login_backoff: {free_attempts: %d, initial: %s, max: %s}
`, l.MaxPacketSize, l.MaxConnections, l.MaxConnectionsPerAddress, l.ConnectTimeout, l.MaxTopicAliases, l.MaxKeepAlive,
		l.MaxSessionExpiry, l.MaxQueuedPerSession, l.MaxSubscriptions, l.Retained.MaxMessages, l.Retained.MaxBytes,
		l.Retained.MaxMessagesPerUser, l.Retained.MaxBytesPerUser, l.LoginBackoff.FreeAttempts, l.LoginBackoff.Initial, l.LoginBackoff.Max)
}
