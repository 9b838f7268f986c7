package uplink

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edged-gateway/edged/internal/topic"
)

// Defaults used when the corresponding Config field is zero.
const (
	// DefaultKeepAlive is the MQTT keepalive: a PINGREQ goes out when the
	// link has been idle this long, and a missing PINGRESP ends the
	// connection.
	DefaultKeepAlive = 30 * time.Second
	// DefaultConnectTimeout bounds the TCP/TLS dial plus the MQTT
	// handshake, and also a blocked socket write and a SUBACK wait.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds handing one message to the connection
	// and writing it to the socket.
	DefaultWriteTimeout = 5 * time.Second
	// DefaultBackoffMin is the shortest wait between connection attempts.
	DefaultBackoffMin = 500 * time.Millisecond
	// DefaultBackoffMax caps the wait between connection attempts.
	DefaultBackoffMax = 30 * time.Second
)

// Default ports when the URL names none.
const (
	defaultPortMQTT  = "1883"
	defaultPortMQTTS = "8883"
)

// Config configures a Client. Error messages name fields by their path in
// edged's configuration file (cloud.url, cloud.tls.ca_file, ...).
type Config struct {
	// URL is the broker, mqtt://host[:port] (plain TCP, port 1883 by
	// default) or mqtts://host[:port] (TLS, port 8883 by default).
	// Required. Credentials in the URL are refused; use Username and
	// Password.
	URL string
	// ClientID identifies the gateway to the broker. Required; the
	// caller picks the default. A second connection with the same ID
	// makes the broker drop the first.
	ClientID string
	// Username is sent in CONNECT when non-empty.
	Username string
	// Password is sent in CONNECT when non-empty (the caller reads it
	// from cloud.password_file). It needs a Username.
	Password string
	// CAFile is a PEM bundle of the CAs that verify the broker's
	// certificate (mqtts:// only). Empty means the system roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key for
	// mutual TLS (mqtts:// only). Both or neither.
	CertFile, KeyFile string
	// Persistent asks the broker to keep the session (CleanSession false):
	// its subscriptions, and the QoS 1 messages that arrive for them while
	// this client is away, which are handed to the handlers after the next
	// connect. Default false: a clean session each connection.
	Persistent bool
	// StatusTopic, when set, carries the gateway's presence: a retained
	// "online" is published on every connect, the broker publishes the
	// retained last will "offline" if the gateway vanishes, and Run
	// publishes a retained "offline" on clean shutdown. Empty disables.
	StatusTopic string
	// KeepAlive is the MQTT keepalive, at least 1s and at most 65535s.
	// 0 means DefaultKeepAlive.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt, a blocked socket
	// write and a SUBACK wait. 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// WriteTimeout bounds how long one Publish may wait to hand its
	// message to the connection and write it, so that a publish racing a
	// lost connection cannot hold up a shutdown for long. 0 means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// BackoffMin and BackoffMax bound the randomized, exponentially
	// growing wait between connection attempts. 0 means
	// DefaultBackoffMin and DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// Logger receives connects and losses (info/warn) and subscription
	// failures (error). nil discards.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field that has a default filled in.
func (c Config) withDefaults() Config {
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with c, each naming its field. It checks
// that the TLS files exist; TLSConfig reads and parses them.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	u, err := parseURL(c.URL)
	if err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" {
		add("cloud.client_id: required")
	} else if len(c.ClientID) > 65535 || !utf8.ValidString(c.ClientID) {
		add("cloud.client_id: must be valid UTF-8 of at most 65535 bytes")
	}
	if c.Password != "" && c.Username == "" {
		add("cloud.password_file: set but cloud.username is empty (MQTT 3.1.1 sends a password only with a username)")
	}

	files := []struct{ field, path string }{
		{"cloud.tls.ca_file", c.CAFile},
		{"cloud.tls.cert_file", c.CertFile},
		{"cloud.tls.key_file", c.KeyFile},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if u != nil && u.Scheme != "mqtts" {
			add("%s: set but cloud.url %q is not TLS, use mqtts://", f.field, c.URL)
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			add("%s: %w", f.field, err)
		}
	}
	switch {
	case c.CertFile != "" && c.KeyFile == "":
		add("cloud.tls.cert_file and key_file go together: key_file is empty")
	case c.CertFile == "" && c.KeyFile != "":
		add("cloud.tls.cert_file and key_file go together: cert_file is empty")
	}

	if c.StatusTopic != "" {
		if err := checkTopic(c.StatusTopic); err != nil {
			add("cloud.status_topic: %w", err)
		}
	}

	d := c.withDefaults()
	durations := []struct {
		field  string
		v, def time.Duration
	}{
		{"cloud.keepalive", c.KeepAlive, DefaultKeepAlive},
		{"cloud.connect_timeout", c.ConnectTimeout, DefaultConnectTimeout},
		{"cloud.write_timeout", c.WriteTimeout, DefaultWriteTimeout},
		{"cloud.backoff_min", c.BackoffMin, DefaultBackoffMin},
		{"cloud.backoff_max", c.BackoffMax, DefaultBackoffMax},
	}
	for _, f := range durations {
		if f.v < 0 {
			add("%s: must be > 0 (or 0 for the default %s), got %s", f.field, f.def, f.v)
		}
	}
	if c.KeepAlive > 0 && (c.KeepAlive < time.Second || c.KeepAlive > 65535*time.Second) {
		add("cloud.keepalive: must be between 1s and 65535s (MQTT counts whole seconds), got %s", c.KeepAlive)
	}
	if c.BackoffMin >= 0 && c.BackoffMax >= 0 && d.BackoffMin > d.BackoffMax {
		add("cloud.backoff_min: %s is above cloud.backoff_max %s", d.BackoffMin, d.BackoffMax)
	}
	return errors.Join(errs...)
}

// parseURL checks cloud.url and returns it with the default port filled in.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("cloud.url: required, e.g. mqtts://broker.example.com:8883")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("cloud.url: %q is not a URL: %w", raw, errors.Unwrap(err))
	}
	var port string
	switch u.Scheme {
	case "mqtt":
		port = defaultPortMQTT
	case "mqtts":
		port = defaultPortMQTTS
	default:
		return nil, fmt.Errorf("cloud.url: scheme %q not supported, use mqtt:// or mqtts://", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("cloud.url: credentials in the URL are not supported, use cloud.username and cloud.password_file")
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("cloud.url: %q has no host, use %s://host:port", raw, u.Scheme)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("cloud.url: %q has a path, query or fragment, use %s://host:port", raw, u.Scheme)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	return &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(u.Hostname(), port)}, nil
}

// checkTopic reports why topic cannot be published to: brokers drop the
// whole connection for an empty topic, a wildcard, NUL or invalid UTF-8.
func checkTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("empty topic")
	case len(topic) > 65535:
		return errors.New("topic longer than 65535 bytes")
	case strings.ContainsAny(topic, "+#"):
		return fmt.Errorf("%q contains a wildcard (+ or #)", topic)
	case strings.ContainsRune(topic, 0) || !utf8.ValidString(topic):
		return fmt.Errorf("%q contains NUL or invalid UTF-8", topic)
	}
	return nil
}

// checkFilter reports why filter cannot be subscribed to.
func checkFilter(filter string) error { return topic.ValidFilter(filter) }
