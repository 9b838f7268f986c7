package routeout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/edged-gateway/edged/runtime/forwarder"
	"github.com/edged-gateway/edged/sync/uplink"
)

// MQTTConfig is a second MQTT broker (routes[].mqtt): a site SCADA broker,
// say. The connection is sync/uplink's, like the cloud link's: MQTT 3.1.1,
// clean session, TLS or mutual TLS, reconnect with back-off; messages go
// with QoS 1.
type MQTTConfig struct {
	// URL is mqtt://host[:port] or mqtts://host[:port] (TLS).
	URL string `yaml:"url"`
	// ClientID identifies the gateway to this broker; empty means the
	// default the caller gives NewMQTT.
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	// PasswordFile holds the password (trimmed); it needs username.
	PasswordFile string    `yaml:"password_file"`
	TLS          TLSConfig `yaml:"tls"`
	// KeepAlive and ConnectTimeout: 0 means uplink's defaults (30s, 10s).
	KeepAlive      time.Duration `yaml:"keepalive"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// BackoffMin and BackoffMax bound the wait between connection
	// attempts: 0 means uplink's defaults (500ms, 30s).
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
}

// Validate reports every problem, each naming its field relative to the
// destination ("url: ...").
func (c MQTTConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	secure := false
	switch u, err := url.Parse(c.URL); {
	case c.URL == "":
		add("url: required, e.g. mqtt://192.168.1.10:1883 or mqtts://scada.local:8883")
	case err != nil:
		add("url: %q is not a URL: %w", c.URL, errors.Unwrap(err))
	case u.Scheme != "mqtt" && u.Scheme != "mqtts":
		add("url: scheme must be mqtt or mqtts, got %q", u.Scheme)
	case u.Hostname() == "":
		add("url: %q has no host, use %s://host:port", c.URL, u.Scheme)
	case u.User != nil:
		add("url: credentials in the URL are not supported, use username and password_file")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		add("url: %q has a path, query or fragment, use %s://host:port", c.URL, u.Scheme)
	default:
		secure = u.Scheme == "mqtts"
	}
	if c.PasswordFile != "" {
		if c.Username == "" {
			add("password_file: set but username is empty (MQTT 3.1.1 sends a password only with a username)")
		}
		if _, err := os.Stat(c.PasswordFile); err != nil {
			add("password_file: %w", err)
		}
	}
	if len(c.ClientID) > 256 {
		add("client_id: %d bytes, at most 256", len(c.ClientID))
	}
	errs = append(errs, c.TLS.validate(secure, "mqtts")...)
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"keepalive", c.KeepAlive}, {"connect_timeout", c.ConnectTimeout}, {"backoff_min", c.BackoffMin}, {"backoff_max", c.BackoffMax}} {
		if d.v < 0 {
			add("%s: must be > 0 (or 0 for the default), got %s", d.field, d.v)
		}
	}
	if c.KeepAlive > 0 && (c.KeepAlive < time.Second || c.KeepAlive > 65535*time.Second) {
		add("keepalive: must be between 1s and 65535s, got %s", c.KeepAlive)
	}
	if c.BackoffMin > 0 && c.BackoffMax > 0 && c.BackoffMin > c.BackoffMax {
		add("backoff_min: %s is above backoff_max %s", c.BackoffMin, c.BackoffMax)
	}
	return errors.Join(errs...)
}

// Uplink is the uplink client configuration for c, with clientID when
// c.ClientID is empty; it reads the password file.
func (c MQTTConfig) Uplink(clientID string, log *slog.Logger) (uplink.Config, error) {
	if err := c.Validate(); err != nil {
		return uplink.Config{}, err
	}
	uc := uplink.Config{
		URL: c.URL, ClientID: cmp(c.ClientID, clientID), Username: c.Username,
		CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile,
		KeepAlive: c.KeepAlive, ConnectTimeout: c.ConnectTimeout,
		BackoffMin: c.BackoffMin, BackoffMax: c.BackoffMax, Logger: log,
	}
	if uc.ClientID == "" {
		return uplink.Config{}, errors.New("client_id: required (no default given)")
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return uplink.Config{}, fmt.Errorf("password_file: %w", err)
		}
		uc.Password = strings.TrimSpace(string(b))
	}
	return uc, nil
}

// MQTT is a second broker as a forwarder.Link. Call Run.
type MQTT struct {
	Client *uplink.Client
}

// NewMQTT checks cfg and returns its link, not connected yet; clientID is
// the client id when cfg names none (e.g. "<gateway>-<route>"), log
// receives connects and losses.
func NewMQTT(cfg MQTTConfig, clientID string, log *slog.Logger) (*MQTT, error) {
	uc, err := cfg.Uplink(clientID, log)
	if err != nil {
		return nil, err
	}
	c, err := uplink.New(uc)
	if err != nil {
		return nil, err
	}
	return &MQTT{Client: c}, nil
}

// Run connects and keeps connecting until ctx ends (uplink.Client.Run).
func (m *MQTT) Run(ctx context.Context) error { return m.Client.Run(ctx) }

// WaitConnected waits for a connection and returns its epoch.
func (m *MQTT) WaitConnected(ctx context.Context) (uint64, error) {
	return m.Client.WaitConnected(ctx)
}

// Publish sends one QoS 1 message. MQTT 3.1.1 (which sync/uplink speaks)
// has no PUBACK reason codes: a broker refusing a message drops the
// connection, which looks like any loss, so no failure here is Permanent;
// run this route's forwarder with ClassifyFailures false, so MaxAttempts
// finds the poison (as for the cloud route).
func (m *MQTT) Publish(topic string, payload []byte) (forwarder.Delivery, error) {
	return Link(m.Client).Publish(topic, payload)
}

// Stats is the client's.
func (m *MQTT) Stats() uplink.Stats { return m.Client.Stats() }

// Link makes an uplink client a forwarder.Link publishing with QoS 1 (the
// cloud route's link, and the MQTT route's).
func Link(c *uplink.Client) forwarder.Link { return uplinkLink{c} }

type uplinkLink struct{ c *uplink.Client }

func (a uplinkLink) WaitConnected(ctx context.Context) (uint64, error) {
	return a.c.WaitConnected(ctx)
}

func (a uplinkLink) Publish(topic string, payload []byte) (forwarder.Delivery, error) {
	d, err := a.c.Publish(topic, payload, 1, false)
	if err != nil {
		return nil, err // a nil *Delivery must not become a non-nil interface
	}
	return d, nil
}

// PublishIn publishes on the connection of epoch only (forwarder.EpochLink).
func (a uplinkLink) PublishIn(epoch uint64, topic string, payload []byte) (forwarder.Delivery, error) {
	d, err := a.c.PublishIn(epoch, topic, payload, 1, false)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// PublishIn publishes on the connection of epoch only (forwarder.EpochLink).
func (m *MQTT) PublishIn(epoch uint64, topic string, payload []byte) (forwarder.Delivery, error) {
	return uplinkLink{m.Client}.PublishIn(epoch, topic, payload)
}
