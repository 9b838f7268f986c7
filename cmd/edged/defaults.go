package main

import (
	"fmt"
	"strconv"

	"github.com/edged-gateway/edged/hardware"
	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/supervisor"
	"github.com/edged-gateway/edged/sync/cmdstore"
	"github.com/edged-gateway/edged/sync/deadletter"
)

// zeroMeans are the keys whose zero value in the file means a default
// chosen where the key is used: `config defaults` and `config check
// --explain` print that default rather than the 0.
var zeroMeans = map[string]string{
	"cloud.max_attempts":      "3", // runtime/forwarder: MaxAttempts 0 is 3
	"cloud.dead_letters":      strconv.Itoa(deadletter.DefaultMaxEntries),
	"service_chain.max_depth": strconv.Itoa(supervisor.DefaultMaxDepth),
	"hardware.board":          hardware.BoardAuto,
	"hardware.safe_timeout":   shortDuration(hardware.DefaultSafeTimeout),
	"commands.remember":       strconv.Itoa(cmdstore.DefaultMaxEntries), // runtime/commands also keeps 4096
	"commands.remember_for":   shortDuration(cmdstore.DefaultMaxAge),
	"commands.timeout":        shortDuration(commands.DefaultTimeout),
	"plans.max_clock_skew":    shortDuration(orchestrator.DefaultMaxClockSkew),
}

// defaultsYAML renders the default configuration, commented: every key
// the file may set (TestConfigDefaultsComplete keeps it so), parsing back
// into defaultConfig().
func defaultsYAML() string {
	c := defaultConfig()
	z := zeroMeans
	return fmt.Sprintf(`# edged configuration: every key is optional; these are the defaults.
# Every key holding one value can also be set by EDGED_ + its path (EDGED_CLOUD_URL);
# edged config check --explain FILE shows each key's value and where it came from.
gateway:
  id: %s                  # default: this host's name; becomes part of MQTT topics
  labels: {}                   # e.g. {site: plant-3}: plans may pick gateways by labels
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
  max_attempts: %s              # a reading refused this often when sent alone goes to the dead letters
  dead_letters: %s          # most dead letters kept (data_dir/deadletters.db); oldest dropped, counted
outbox:
  max_bytes: %s             # oldest readings dropped (and counted) beyond this
  max_age: %s
  fsync: %t
  max_future: %s              # MQTT sensor readings timed further ahead are refused (counted)
devices:
  - name: demo-temp
    kind: sim
    interval: 1s
    options: {metric: temperature, unit: C, waveform: sine, min: 18, max: 26, period: 10m, seed: 1}
  # sensors publishing on the local broker: mosquitto_pub -t sensors/porch/temperature -m 21.5
  # (or -m '{"value": 21.5, "unit": "C"}'); left out when local_mqtt.mode is off
  - {name: lan, kind: mqttsensor, options: {topic: sensors/+device/+metric, format: auto}}
  # every device also takes interval, scale: {factor, offset, unit} and precision (log decimals)
services: []                   # plugin processes inside budgets: see examples/services.yaml (each may set max_lag)
routes: []                     # more destinations (mqtt, http/influx) besides the cloud: README "Routes"; [] = the cloud route
service_usage: {every: %s}     # services' memory and CPU as readings this often; 0s = off
service_chain: {max_depth: %s}  # longest chain of services handing readings on
local_mqtt:
  mode: %s               # embedded (edged is the broker) | external (use url) | off
  listen: %s      # any non-loopback address needs passwd_file
  tls: {listen: "", cert_file: "", key_file: "", client_ca_file: "", ca_file: ""}   # ca_file: external only
  allow_anonymous: %t      # clients without a username, from loopback only
  passwd_file: ""              # users with bcrypt hashes: edged broker passwd FILE USER
  acl: []                      # e.g. [{users: [porch], publish: ["sensors/%%u/#"]}]; none = every user may do everything
  persistence: %t          # retained messages and sessions in data_dir/broker.db
  rate_limit: {messages_per_second: %g, burst: 0}   # per client; over it QoS 0 drops, QoS 1 waits; 0 = off
%s  republish: {enabled: false, retain: false}      # readings also on <topic_prefix>/local/<device>/<metric>
  url: ""                      # mode external: the broker, mqtt://127.0.0.1:1883 or mqtts://
  client_id: ""                # mode external: default edged-local-<gateway.id>
  username: ""                 # mode external: login
  password_file: ""            # mode external: file holding the password
hardware:
  board: %s                  # auto | host | sim (README "Hardware")
  allow_sim_fallback: false    # auto may simulate on a gateway (Linux on ARM) without buses
  safe_timeout: %s             # bound on one actuator's safe state (and close) at stop and in plans
  sim: {chips: [], pins: []}   # the simulated board's chips and pins; empty = the default board
http:
  listen: %s       # the local API, /metrics and the web console; "" = off; beyond loopback every request needs the token
  token_file: ""               # bearer token; default data_dir/api.token, made on first start (0600)
  tls: {cert_file: "", key_file: ""}   # serve HTTPS
  allowed_hosts: []            # e.g. [gateway.lan]: Host names besides IPs, localhost and this host's name
log: {level: %s, format: %s, services: {lines_per_second: %g, bytes_per_second: %s}}  # levels debug|info|warn|error; formats text|json; services: each one's output
plans:                         # signed plans then decide devices, services and sync (README "Plans")
  trusted_keys: []             # e.g. [/etc/edged/ops.pub]; empty = plans off
  reset_keys: []               # keys that sign reset plans only (edged plan sign --reset)
  memory_allowance: 0          # cap on the sum of a plan's service memory budgets; 0 = half the RAM
  max_clock_skew: %s          # plans signed further ahead of this clock are refused
commands:
  remember: %s               # command ids kept to answer redeliveries (data_dir/commands.db)
  remember_for: %s            # ... and for how long
  timeout: %s                 # one command's execution; past it: "timed out", state unknown
`, c.Gateway.ID, c.DataDir, c.Cloud.TopicPrefix, c.Cloud.Batch, c.Cloud.Inflight, z["cloud.max_attempts"], z["cloud.dead_letters"],
		c.Outbox.MaxBytes, shortDuration(c.Outbox.MaxAge), c.Outbox.Fsync, shortDuration(c.Outbox.MaxFuture),
		shortDuration(c.ServiceUsage.Every), z["service_chain.max_depth"],
		c.LocalMQTT.Mode, c.LocalMQTT.Listen, c.LocalMQTT.AllowAnonymous,
		c.LocalMQTT.Persistence, c.LocalMQTT.RateLimit.MessagesPerSecond, limitsYAML(c.LocalMQTT.Limits),
		z["hardware.board"], z["hardware.safe_timeout"],
		c.HTTP.Listen, c.Log.Level, c.Log.Format, c.Log.Services.LinesPerSecond, c.Log.Services.BytesPerSecond,
		z["plans.max_clock_skew"], z["commands.remember"], z["commands.remember_for"], z["commands.timeout"]) + integrationsYAML(c)
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
    receive_maximum: %d
    max_subscriptions_per_client: %d
    retained: {max_messages: %d, max_bytes: %s, max_messages_per_user: %d, max_bytes_per_user: %s}
    login_backoff: {free_attempts: %d, initial: %s, max: %s}
`, l.MaxPacketSize, l.MaxConnections, l.MaxConnectionsPerAddress, shortDuration(l.ConnectTimeout), l.MaxTopicAliases, shortDuration(l.MaxKeepAlive),
		shortDuration(l.MaxSessionExpiry), l.MaxQueuedPerSession, l.ReceiveMaximum, l.MaxSubscriptions, l.Retained.MaxMessages, l.Retained.MaxBytes,
		l.Retained.MaxMessagesPerUser, l.Retained.MaxBytesPerUser, l.LoginBackoff.FreeAttempts, shortDuration(l.LoginBackoff.Initial), shortDuration(l.LoginBackoff.Max))
}
