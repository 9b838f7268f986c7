package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	"go.etcd.io/bbolt"
	"golang.org/x/time/rate"

	"edged/internal/logevery"
	"edged/internal/topic"
	"edged/sync/broker/auth"
)

// acceptGrace is how long Close waits, after closing the listeners, for
// connections accepted just before to register with the server.
const acceptGrace = 20 * time.Millisecond

// Broker is the running embedded broker.
type Broker struct {
	srv    *mqtt.Server
	auth   *auth.Hook
	route  *routeHook
	limit  *limitHook
	plain  *listeners.TCP // nil without a plain listener
	secure *listeners.TCP // nil without a TLS listener
	cancel context.CancelFunc
	ctx    context.Context

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// Stats counts what the broker did since it started.
type Stats struct {
	Clients     int64  // connected now
	Received    int64  // publishes received from clients
	Sent        int64  // publishes sent to clients
	Retained    int64  // retained messages held
	Routed      uint64 // publishes on sensor routes
	Durable     uint64 // routed publishes the handler made durable
	Refused     uint64 // routed publishes the handler refused (error)
	Busy        uint64 // routed QoS 0 publishes dropped: the handler was full
	RateDropped uint64 // QoS 0 publishes dropped by the rate limit
	RateDelayed uint64 // QoS 1/2 publishes held back by the rate limit
	RateLimit   float64
	OverLimit   []ClientLimit
	Auth        auth.Stats
}

// New checks cfg, opens the store and binds the listeners, so a port in use
// or a bad certificate fails here, before the daemon starts anything else.
// Clients are served from Run.
func New(cfg Config) (_ *Broker, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// mochi logs every client that drops its connection at warn; keep its
	// own lines for errors only, ours are above.
	mlog := slog.New(levelFloor{log.Handler(), slog.LevelError})
	if cfg.StorePath != "" {
		if _, err := os.Stat(cfg.StorePath); err != nil {
			// A new store has no server info yet; mochi logs that as an error.
			mlog = slog.New(dropFirstLoad{mlog.Handler()})
		}
	}
	opts := &mqtt.Options{InlineClient: true, Logger: mlog}
	opts.Capabilities = mqtt.NewDefaultServerCapabilities()
	opts.Capabilities.MaximumMessageExpiryInterval = 0
	srv := mqtt.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{srv: srv, ctx: ctx, cancel: cancel}
	defer func() {
		if err != nil {
			cancel()
			_ = srv.Close()
		}
	}()

	var pw *auth.Passwords
	if cfg.PasswdFile != "" {
		if pw, err = auth.LoadPasswords(cfg.PasswdFile); err != nil {
			return nil, fmt.Errorf("passwd_file: %w", err)
		}
		for _, w := range pw.Warnings() {
			log.Warn("broker password file", "warning", w)
		}
	}
	var acl *auth.ACL
	if len(cfg.ACL) > 0 {
		if acl, err = auth.NewACL(cfg.ACL); err != nil {
			return nil, err
		}
	}
	b.auth = auth.NewHook(auth.Options{Passwords: pw, ACL: acl, AllowAnonymous: cfg.AllowAnonymous, Logger: log})
	if err := srv.AddHook(b.auth, nil); err != nil {
		return nil, fmt.Errorf("broker: auth: %w", err)
	}
	if cfg.RateLimit > 0 {
		burst := cfg.Burst
		if burst == 0 {
			burst = max(1, int(2*cfg.RateLimit))
		}
		b.limit = &limitHook{limit: rate.Limit(cfg.RateLimit), burst: burst, ctx: ctx, log: log, clients: map[string]*clientLimit{},
			limiter: logevery.New(0)}
		if err := srv.AddHook(b.limit, nil); err != nil {
			return nil, fmt.Errorf("broker: rate limit: %w", err)
		}
	}
	if cfg.Handler != nil {
		b.route = &routeHook{srv: srv, handler: cfg.Handler, ctx: ctx, log: log, limiter: logevery.New(0)}
		routes := slices.Clone(cfg.Routes)
		b.route.routes.Store(&routes)
		if err := srv.AddHook(b.route, nil); err != nil {
			return nil, fmt.Errorf("broker: routes: %w", err)
		}
	}
	if cfg.StorePath != "" {
		store := &bolt.Hook{}
		if err := srv.AddHook(store, &bolt.Options{Path: cfg.StorePath, Options: &bbolt.Options{Timeout: time.Second}}); err != nil {
			return nil, fmt.Errorf("broker: store %s: %w (is another edged running on this data_dir?)", cfg.StorePath, err)
		}
	}
	if cfg.Listen != "" {
		b.plain = listeners.NewTCP(listeners.Config{ID: "tcp", Address: cfg.Listen})
		if err := srv.AddListener(b.plain); err != nil {
			return nil, fmt.Errorf("listen: %s: %w%s", cfg.Listen, err, inUseHint(err))
		}
	}
	if cfg.TLSListen != "" {
		tc, err := serverTLS(cfg)
		if err != nil {
			return nil, err
		}
		b.secure = listeners.NewTCP(listeners.Config{ID: "tls", Address: cfg.TLSListen, TLSConfig: tc})
		if err := srv.AddListener(b.secure); err != nil {
			return nil, fmt.Errorf("tls.listen: %s: %w%s", cfg.TLSListen, err, inUseHint(err))
		}
	}
	return b, nil
}

func inUseHint(err error) string {
	if errors.Is(err, syscallEADDRINUSE) {
		return " (another MQTT broker, such as mosquitto, may hold the port: stop it, pick another listen port, or use it with local_mqtt.mode: external)"
	}
	return ""
}

func serverTLS(cfg Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file/tls.key_file: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.client_ca_file: %s holds no PEM certificate", cfg.ClientCAFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Run serves clients until ctx ends, then closes the broker.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("broker: serve: %w", err)
	}
	<-ctx.Done()
	return b.Close()
}

// Close disconnects every client, closes the listeners and the store. It is
// idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.cancel()
		// Stop accepting first and let connections just accepted register
		// themselves: mochi's Close waits on a WaitGroup that a connection
		// accepted during Close would Add to (a race in mochi v2.7.9).
		for _, l := range []*listeners.TCP{b.plain, b.secure} {
			if l != nil {
				l.Close(func(string) {})
			}
		}
		time.Sleep(acceptGrace)
		b.closeErr = b.srv.Close()
	})
	return b.closeErr
}

// Addr is the plain listener's address ("" without one).
func (b *Broker) Addr() string {
	if b.plain == nil {
		return ""
	}
	return b.plain.Address()
}

// TLSAddr is the TLS listener's address ("" without one).
func (b *Broker) TLSAddr() string {
	if b.secure == nil {
		return ""
	}
	return b.secure.Address()
}

// Publish sends a message to local subscribers, bypassing the ACL (the
// daemon's own messages, such as re-published readings).
func (b *Broker) Publish(topic string, payload []byte, retain bool) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := b.srv.Publish(topic, payload, retain, 0); err != nil {
		return fmt.Errorf("broker: publish %s: %w", topic, err)
	}
	return nil
}

// SetRoutes replaces the topic filters whose publishes go to the Handler
// (a plan changed the mqttsensor devices). It needs a broker built with a
// Handler.
func (b *Broker) SetRoutes(filters []string) error {
	if b.route == nil {
		return errors.New("broker: set routes: this broker was built without a handler")
	}
	for _, f := range filters {
		if err := topic.ValidFilter(f); err != nil {
			return fmt.Errorf("broker: route %q: %w", f, err)
		}
	}
	routes := slices.Clone(filters)
	b.route.routes.Store(&routes)
	return nil
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	info := b.srv.Info
	st := Stats{
		Clients:  atomic.LoadInt64(&info.ClientsConnected),
		Received: atomic.LoadInt64(&info.MessagesReceived),
		Sent:     atomic.LoadInt64(&info.MessagesSent),
		Retained: atomic.LoadInt64(&info.Retained),
		Auth:     b.auth.Stats(),
	}
	if r := b.route; r != nil {
		st.Routed, st.Durable, st.Refused, st.Busy = r.routed.Load(), r.durable.Load(), r.refused.Load(), r.dropped.Load()
	}
	if l := b.limit; l != nil {
		st.RateDropped, st.RateDelayed, st.RateLimit = l.dropped.Load(), l.delayed.Load(), float64(l.limit)
		st.OverLimit = l.over()
	}
	return st
}

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(as), h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(name), h.min}
}

// dropFirstLoad hides the error mochi's bbolt hook logs when a new store
// holds no server info yet: that is every first start, not a fault.
type dropFirstLoad struct{ slog.Handler }

func (h dropFirstLoad) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "failed to get data" {
		benign := false
		r.Attrs(func(a slog.Attr) bool {
			benign = a.Key == "key" && a.Value.String() == "SYS"
			return !benign
		})
		if benign {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h dropFirstLoad) WithAttrs(as []slog.Attr) slog.Handler {
	return dropFirstLoad{h.Handler.WithAttrs(as)}
}

func (h dropFirstLoad) WithGroup(name string) slog.Handler {
	return dropFirstLoad{h.Handler.WithGroup(name)}
}
