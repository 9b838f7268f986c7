package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/edged-gateway/edged/drivers/mqttsensor"
	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/runtime/ingest"
	"github.com/edged-gateway/edged/sync/broker"
	"github.com/edged-gateway/edged/sync/broker/auth"
	"github.com/edged-gateway/edged/sync/uplink"
)

// Local MQTT modes.
const (
	localEmbedded = "embedded"
	localExternal = "external"
	localOff      = "off"
)

// LocalMQTTConfig is the MQTT broker on the gateway that sensors publish to:
// edged's own (embedded, the default) or one already running (external).
type LocalMQTTConfig struct {
	// Mode is embedded (default), external or off.
	Mode string `yaml:"mode"`
	// Listen is the embedded broker's plain listener; default
	// 127.0.0.1:1883. Any non-loopback address needs passwd_file.
	Listen string `yaml:"listen"`
	// TLS adds a TLS listener (embedded), or secures the link to an
	// external broker at an mqtts:// url.
	TLS LocalTLSConfig `yaml:"tls"`
	// AllowAnonymous lets clients without a username in, from loopback
	// addresses only; default true.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// PasswdFile lists users with bcrypt hashes: `edged broker passwd`.
	PasswdFile string `yaml:"passwd_file"`
	// ACL limits what each user may publish and subscribe to.
	ACL []auth.Rule `yaml:"acl"`
	// Persistence keeps retained messages and sessions in
	// data_dir/broker.db across restarts; default true.
	Persistence bool `yaml:"persistence"`
	// RateLimit bounds each client's publishes.
	RateLimit RateLimitConfig `yaml:"rate_limit"`
	// Limits bound what clients can make the embedded broker hold.
	Limits BrokerLimitsConfig `yaml:"limits"`
	// Republish puts every reading on the local broker too.
	Republish RepublishConfig `yaml:"republish"`

	// URL is the external broker (mode external), mqtt:// or mqtts://.
	URL string `yaml:"url"`
	// ClientID for the external broker; default edged-local-<gateway.id>.
	ClientID string `yaml:"client_id"`
	// Username and PasswordFile log in to the external broker.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// LocalTLSConfig is the embedded broker's TLS listener, or (external) the
// files that secure the link to the broker.
type LocalTLSConfig struct {
	Listen       string `yaml:"listen"`         // embedded: e.g. 0.0.0.0:8883
	CertFile     string `yaml:"cert_file"`      // embedded: server cert; external: client cert
	KeyFile      string `yaml:"key_file"`       // its key
	ClientCAFile string `yaml:"client_ca_file"` // embedded: require client certs signed by it
	CAFile       string `yaml:"ca_file"`        // external: CA of the broker's certificate
}

// RateLimitConfig bounds each client of the embedded broker.
type RateLimitConfig struct {
	// MessagesPerSecond per client; default 1000; 0 turns the limit off.
	// Over it QoS 0 messages are dropped and QoS 1/2 ones slowed down.
	MessagesPerSecond float64 `yaml:"messages_per_second"`
	// Burst above the rate; default 2× the rate.
	Burst int `yaml:"burst"`
}

// BrokerLimitsConfig is local_mqtt.limits: see broker.Limits for each.
type BrokerLimitsConfig struct {
	MaxPacketSize            yamlconf.Size        `yaml:"max_packet_size"`              // 256Ki
	MaxConnections           int                  `yaml:"max_connections"`              // 1024
	MaxConnectionsPerAddress int                  `yaml:"max_connections_per_address"`  // 64
	ConnectTimeout           time.Duration        `yaml:"connect_timeout"`              // 10s
	MaxTopicAliases          int                  `yaml:"max_topic_aliases"`            // 32
	MaxKeepAlive             time.Duration        `yaml:"max_keep_alive"`               // 5m
	MaxSessionExpiry         time.Duration        `yaml:"max_session_expiry"`           // 168h
	MaxQueuedPerSession      int                  `yaml:"max_queued_per_session"`       // 1000
	ReceiveMaximum           int                  `yaml:"receive_maximum"`              // 64
	MaxSubscriptions         int                  `yaml:"max_subscriptions_per_client"` // 100
	Retained                 RetainedLimitsConfig `yaml:"retained"`
	LoginBackoff             LoginBackoffConfig   `yaml:"login_backoff"`
}

// RetainedLimitsConfig bounds the retained messages, in all and per user.
type RetainedLimitsConfig struct {
	MaxMessages        int           `yaml:"max_messages"`          // 2000
	MaxBytes           yamlconf.Size `yaml:"max_bytes"`             // 4Mi
	MaxMessagesPerUser int           `yaml:"max_messages_per_user"` // 500
	MaxBytesPerUser    yamlconf.Size `yaml:"max_bytes_per_user"`    // 1Mi
}

// LoginBackoffConfig slows password guessing, per source address and per
// username.
type LoginBackoffConfig struct {
	FreeAttempts int           `yaml:"free_attempts"` // 3
	Initial      time.Duration `yaml:"initial"`       // 1s
	Max          time.Duration `yaml:"max"`           // 60s
}

func brokerLimitsConfig(l broker.Limits) BrokerLimitsConfig {
	return BrokerLimitsConfig{
		MaxPacketSize: yamlconf.Size(l.MaxPacketSize), MaxConnections: l.MaxConnections, MaxConnectionsPerAddress: l.MaxConnectionsPerAddress,
		ConnectTimeout: l.ConnectTimeout, MaxTopicAliases: l.MaxTopicAliases, MaxKeepAlive: l.MaxKeepAlive,
		MaxSessionExpiry: l.MaxSessionExpiry, MaxQueuedPerSession: l.MaxQueuedPerSession, ReceiveMaximum: l.ReceiveMaximum, MaxSubscriptions: l.MaxSubscriptionsPerClient,
		Retained: RetainedLimitsConfig{MaxMessages: l.MaxRetained, MaxBytes: yamlconf.Size(l.MaxRetainedBytes),
			MaxMessagesPerUser: l.MaxRetainedPerUser, MaxBytesPerUser: yamlconf.Size(l.MaxRetainedBytesPerUser)},
		LoginBackoff: LoginBackoffConfig{FreeAttempts: l.LoginFreeAttempts, Initial: l.LoginBackoff, Max: l.LoginBackoffMax},
	}
}

func (c BrokerLimitsConfig) limits() broker.Limits {
	return broker.Limits{
		MaxPacketSize: int64(c.MaxPacketSize), MaxConnections: c.MaxConnections, MaxConnectionsPerAddress: c.MaxConnectionsPerAddress,
		ConnectTimeout: c.ConnectTimeout, MaxTopicAliases: c.MaxTopicAliases, MaxKeepAlive: c.MaxKeepAlive,
		MaxSessionExpiry: c.MaxSessionExpiry, MaxQueuedPerSession: c.MaxQueuedPerSession, ReceiveMaximum: c.ReceiveMaximum, MaxSubscriptionsPerClient: c.MaxSubscriptions,
		MaxRetained: c.Retained.MaxMessages, MaxRetainedBytes: int64(c.Retained.MaxBytes),
		MaxRetainedPerUser: c.Retained.MaxMessagesPerUser, MaxRetainedBytesPerUser: int64(c.Retained.MaxBytesPerUser),
		LoginFreeAttempts: c.LoginBackoff.FreeAttempts, LoginBackoff: c.LoginBackoff.Initial, LoginBackoffMax: c.LoginBackoff.Max,
	}
}

// RepublishConfig puts readings on the local broker as
// <cloud.topic_prefix>/local/<device>/<metric>.
type RepublishConfig struct {
	Enabled bool `yaml:"enabled"`
	// Retain keeps the last value of each metric for new subscribers.
	Retain bool `yaml:"retain"`
}

func defaultLocalMQTT() LocalMQTTConfig {
	return LocalMQTTConfig{Mode: localEmbedded, Listen: broker.DefaultListen, AllowAnonymous: true, Persistence: true,
		RateLimit: RateLimitConfig{MessagesPerSecond: 1000}, Limits: brokerLimitsConfig(broker.DefaultLimits())}
}

// validateLocalMQTT checks local_mqtt.* and that sensor devices have a
// broker to listen on.
func (c *Config) validateLocalMQTT(errs interface {
	Add(path, format string, args ...any)
}, sensors int) {
	l := &c.LocalMQTT
	switch l.Mode {
	case localOff:
		if sensors > 0 {
			errs.Add("local_mqtt.mode", "is off but %d mqttsensor device(s) need a broker: use embedded or external", sensors)
		}
		if l.Republish.Enabled {
			errs.Add("local_mqtt.republish.enabled", "re-publishing needs a local broker but mode is off: use embedded or external, or remove republish")
		}
		return
	case localExternal:
		scheme, rest, ok := strings.Cut(l.URL, "://")
		if !ok || rest == "" || (scheme != "mqtt" && scheme != "mqtts") {
			errs.Add("local_mqtt.url", "%q is not a broker URL: use mqtt://127.0.0.1:1883 (or mqtts://)", l.URL)
		}
		if l.TLS.Listen != "" || l.PasswdFile != "" || len(l.ACL) > 0 {
			errs.Add("local_mqtt", "tls.listen, passwd_file and acl configure the embedded broker: with mode external, set them on that broker")
		}
		for path, f := range map[string]string{"local_mqtt.password_file": l.PasswordFile, "local_mqtt.tls.ca_file": l.TLS.CAFile,
			"local_mqtt.tls.cert_file": l.TLS.CertFile, "local_mqtt.tls.key_file": l.TLS.KeyFile} {
			if f != "" {
				if _, err := os.Stat(f); err != nil {
					errs.Add(path, "cannot read %s: %v", f, pathErr(err))
				}
			}
		}
		return
	case localEmbedded:
	default:
		errs.Add("local_mqtt.mode", "%q is not a mode: use embedded (edged is the broker), external (use url) or off", l.Mode)
		return
	}
	if l.URL != "" || l.Username != "" || l.PasswordFile != "" || l.TLS.CAFile != "" {
		errs.Add("local_mqtt.url", "url, username, password_file and tls.ca_file are for mode external: set mode: external or remove them")
	}
	if l.PasswdFile != "" {
		if _, err := os.Stat(l.PasswdFile); err != nil {
			errs.Add("local_mqtt.passwd_file", "cannot read %s: %v (create it with \"edged broker passwd %s USER\")", l.PasswdFile, pathErr(err), l.PasswdFile)
		}
	}
	if err := c.brokerConfig(nil).Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			path, msg, ok := strings.Cut(line, ": ")
			if !ok {
				path, msg = "", line
			}
			errs.Add(strings.TrimSuffix("local_mqtt."+path, "."), "%s", msg)
		}
	}
}

// brokerConfig is the embedded broker's configuration from local_mqtt.
func (c *Config) brokerConfig(h *sensorRouter) broker.Config {
	l := c.LocalMQTT
	bc := broker.Config{
		Listen: l.Listen, TLSListen: l.TLS.Listen, CertFile: l.TLS.CertFile, KeyFile: l.TLS.KeyFile,
		ClientCAFile: l.TLS.ClientCAFile, AllowAnonymous: l.AllowAnonymous, PasswdFile: l.PasswdFile, ACL: l.ACL,
		RateLimit: l.RateLimit.MessagesPerSecond, Burst: l.RateLimit.Burst, Limits: l.Limits.limits(),
	}
	if l.Persistence {
		bc.StorePath = filepath.Join(c.DataDir, "broker.db")
	}
	if h != nil {
		bc.Routes, bc.Handler = h.filters(), h
	}
	return bc
}

// externalConfig is the link to an external local broker.
func (c *Config) externalConfig() (uplink.Config, error) {
	l := c.LocalMQTT
	password, err := readSecret("local_mqtt.password_file", l.PasswordFile)
	if err != nil {
		return uplink.Config{}, err
	}
	id := l.ClientID
	if id == "" {
		id = "edged-local-" + c.Gateway.ID
	}
	// A persistent session: the broker keeps the sensors' QoS 1 messages
	// for edged while it is stopped.
	return uplink.Config{URL: l.URL, ClientID: id, Username: l.Username, Password: password,
		CAFile: l.TLS.CAFile, CertFile: l.TLS.CertFile, KeyFile: l.TLS.KeyFile, Persistent: true}, nil
}

// wireLocalMQTT builds the local broker (or the link to an external one)
// and, when there are mqttsensor devices, the route from it to the outbox.
func (d *daemon) wireLocalMQTT(sensors []*mqttsensor.Sensor) error {
	l := d.cfg.LocalMQTT
	if l.Mode == localOff {
		return nil
	}
	// With plans on, the embedded broker gets a router even with no
	// sensors yet: a plan may bring some.
	if len(sensors) > 0 || (d.plans != nil && l.Mode == localEmbedded) {
		d.ingest = ingest.New(d.sink, d.sensorIngest())
		d.sensors = newSensorRouter(sensors, d.ingest, d.log.With("component", "mqttsensor"))
	}
	if l.Mode == localExternal {
		uc, err := d.cfg.externalConfig()
		if err != nil {
			return err
		}
		uc.Logger = d.log.With("component", "local_mqtt")
		if d.local, err = uplink.New(uc); err != nil {
			return fmt.Errorf("local_mqtt: %w", err)
		}
		if d.sensors != nil {
			h := d.sensors.handleExternal(context.Background())
			for _, f := range d.sensors.filters() {
				if err := d.local.Subscribe(f, 1, h); err != nil {
					return fmt.Errorf("local_mqtt: %w", err)
				}
			}
		}
		return nil
	}
	bc := d.cfg.brokerConfig(d.sensors)
	bc.Logger = d.log.With("component", "broker")
	b, err := broker.New(bc)
	if err != nil && d.brokerOptional(err) {
		d.sensors, d.ingest = nil, nil // only the default lan sensor was there, with nothing to route
		d.brokerOff = fmt.Sprintf("%s is in use by another program (a system mosquitto?) and nothing configured needs edged's broker", l.Listen)
		d.log.Warn("local MQTT broker off: "+d.brokerOff+"; to run it, set local_mqtt.listen to a free port (127.0.0.1:1884), "+
			"or take sensors from that broker with local_mqtt: {mode: external, url: mqtt://"+l.Listen+"}", "addr", l.Listen)
		return nil
	}
	if err != nil {
		return fmt.Errorf("local_mqtt: %w", err)
	}
	d.broker = b
	return nil
}

// brokerOptional reports whether the embedded broker may stay off after
// err: its default address is taken (a system mosquitto holds 1883 on many
// hosts) and nothing configured depends on it (no mqttsensor device, no
// re-publishing, no plans that could bring sensors; the default lan sensor
// does not count). Then `edged run` on defaults still works; any other
// failure, or any other address, stops the start as before.
func (d *daemon) brokerOptional(err error) bool {
	l := d.cfg.LocalMQTT
	return errors.Is(err, syscall.EADDRINUSE) && l.Listen == broker.DefaultListen && l.TLS.Listen == "" &&
		!d.cfg.userSensors() && !l.Republish.Enabled && d.plans == nil
}

// runBroker runs the embedded broker until ctx ends. SIGHUP reads the
// password file and local_mqtt.acl again with the rest of the config file
// (reload.go).
func (d *daemon) runBroker(ctx context.Context) error {
	return d.broker.Run(ctx)
}

// publishLocal puts a message on the local broker, embedded or external.
func (d *daemon) publishLocal(topic string, payload []byte, retain bool) error {
	switch {
	case d.broker != nil:
		return d.broker.Publish(topic, payload, retain)
	case d.local != nil:
		_, err := d.local.Publish(topic, payload, 0, retain)
		return err
	}
	return nil
}

// sensorList is the mqttsensor devices, for status and metrics.
func (d *daemon) sensorList() []*mqttsensor.Sensor {
	if d.sensors == nil {
		return nil
	}
	return d.sensors.list()
}
