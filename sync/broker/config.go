package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/sync/broker/auth"
)

// DefaultListen is where the embedded broker listens unless told otherwise:
// loopback only, the standard MQTT port.
const DefaultListen = "127.0.0.1:1883"

// Config sets up the embedded broker. Field names in errors are the keys of
// the daemon's local_mqtt block.
type Config struct {
	// Listen is the plain-TCP listener, host:port. Default DefaultListen;
	// "" means no plain listener (TLS only). An address that is not
	// loopback needs PasswdFile: the LAN gets no anonymous broker.
	Listen string
	// TLSListen is an optional TLS listener, host:port, with CertFile and
	// KeyFile; ClientCAFile additionally requires client certificates
	// (users still log in with a password: certificates are not users).
	TLSListen, CertFile, KeyFile, ClientCAFile string
	// AllowAnonymous lets clients without a username connect, from
	// loopback addresses only.
	AllowAnonymous bool
	// PasswdFile holds users with bcrypt hashes ("edged broker passwd").
	PasswdFile string
	// ACL limits what users may publish and subscribe to; empty allows
	// everything to every user who may connect.
	ACL []auth.Rule
	// StorePath keeps retained messages and sessions across restarts;
	// "" keeps them in memory only.
	StorePath string
	// RateLimit is the most publishes per second one client may make; 0
	// means no limit. Past it (and Burst) QoS 0 publishes are dropped and
	// QoS 1 and 2 publishes wait, which slows that client and no other.
	RateLimit float64
	// Burst is how many publishes a client may make at once above
	// RateLimit; default 2×RateLimit (at least 1).
	Burst int
	// Limits bound connections, packets, retained messages and failed
	// logins; zero fields take DefaultLimits.
	Limits Limits
	// Routes are topic filters whose publishes go to Handler.
	Routes []string
	// Handler takes the publishes on Routes; required when Routes is set.
	// With a Handler, SetRoutes can change the routes later.
	Handler Handler
	// Logger receives the broker's log lines; default slog.Default().
	Logger *slog.Logger
}

// Handler takes the messages published on the broker's routes.
//
// Handle is called on the publishing client's connection goroutine; it may
// block to push back on that client (a full queue), but no longer. It calls
// done exactly once, from any goroutine: with nil when the message is
// durable, or with the reason it was not taken. For a QoS 0 message done
// may be called with ErrBusy at once.
type Handler interface {
	Handle(ctx context.Context, m Message, done func(error))
}

// Message is one publish on a routed topic. Payload is the handler's to keep.
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retain   bool
	ClientID string
	Username string
}

// Validate reports every problem with the configuration, each naming its
// field (as in the local_mqtt block) and the fix.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Listen == "" && c.TLSListen == "" {
		add("listen: both listen and tls.listen are empty, so no client could connect: set listen: %s", DefaultListen)
	}
	for _, l := range []struct{ field, addr string }{{"listen", c.Listen}, {"tls.listen", c.TLSListen}} {
		if l.addr == "" {
			continue
		}
		loop, err := loopbackAddr(l.addr)
		if err != nil {
			add("%s: %v", l.field, err)
			continue
		}
		if !loop && c.PasswdFile == "" {
			add("%s: %q is reachable from other hosts, which needs authentication: set passwd_file (create it with \"edged broker passwd FILE USER\") or listen on 127.0.0.1", l.field, l.addr)
		}
	}
	if c.TLSListen != "" && (c.CertFile == "" || c.KeyFile == "") {
		add("tls: tls.listen needs tls.cert_file and tls.key_file")
	}
	if c.TLSListen == "" && (c.CertFile != "" || c.KeyFile != "" || c.ClientCAFile != "") {
		add("tls: certificate files are set but tls.listen is empty: set tls.listen, e.g. 0.0.0.0:8883")
	}
	if c.RateLimit < 0 {
		add("rate_limit.messages_per_second: %v is negative: use 0 for no limit or e.g. 1000", c.RateLimit)
	}
	if c.Burst < 0 {
		add("rate_limit.burst: %d is negative: leave it out for 2× the rate", c.Burst)
	}
	c.Limits.validate(add)
	if len(c.ACL) > 0 {
		if _, err := auth.NewACL(c.ACL); err != nil {
			add("%v", err)
		}
	}
	for _, r := range c.Routes {
		if err := topic.ValidFilter(r); err != nil {
			add("route %q: %v", r, err)
		}
	}
	if len(c.Routes) > 0 && c.Handler == nil {
		add("routes are set without a handler")
	}
	return errors.Join(errs...)
}

// loopbackAddr parses host:port and reports whether the host is loopback
// only. "localhost" counts as loopback; an empty host (all interfaces) does
// not.
func loopbackAddr(addr string) (bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("%q is not host:port, e.g. %s", addr, DefaultListen)
	}
	if port == "" {
		return false, fmt.Errorf("%q has no port, e.g. %s", addr, DefaultListen)
	}
	if host == "localhost" {
		return true, nil
	}
	if host == "" {
		return false, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, fmt.Errorf("%q: host %q is not an IP address: use 127.0.0.1, ::1 or an interface address", addr, host)
	}
	return ip.IsLoopback(), nil
}
