package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
	"golang.org/x/time/rate"

	"github.com/edged-gateway/edged/internal/logevery"
	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/sync/broker/auth"
)

// acceptGrace is how long Close waits, after closing the listeners, for
// connections accepted just before to register with the server.
const acceptGrace = 20 * time.Millisecond

// Broker is the running embedded broker.
type Broker struct {
	srv     *mqtt.Server
	auth    *auth.Hook
	route   *routeHook
	limit   *limitHook
	retain  *retainHook
	conform *conformHook
	plain   *listeners.Net // nil without a plain listener
	secure  *listeners.Net // nil without a TLS listener
	cancel  context.CancelFunc
	ctx     context.Context

	limits Limits
	counts gateCounts
	log    *slog.Logger
	passwd string // the password file, "" for none

	reloadMu  sync.Mutex // serializes Reload
	pw        *auth.Passwords
	acl       []auth.Rule
	kicked    atomic.Uint64 // clients disconnected by a reload
	gates     []*gate
	ready     chan struct{} // closed once Run has counted the retained messages
	readyOnce sync.Once

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// Stats counts what the broker did since it started.
type Stats struct {
	Clients     int64         `json:"clients"`      // connected now
	Received    int64         `json:"received"`     // publishes received from clients
	Sent        int64         `json:"sent"`         // publishes sent to clients
	Retained    int64         `json:"retained"`     // retained messages held (not counting mochi's $SYS topics)
	Routed      uint64        `json:"routed"`       // publishes on sensor routes
	Durable     uint64        `json:"durable"`      // routed publishes the handler made durable
	Refused     uint64        `json:"refused"`      // routed publishes the handler refused (error)
	Declined    uint64        `json:"declined"`     // routed publishes acknowledged with part or all refused for good (Declined: malformed, a refused time)
	Busy        uint64        `json:"busy"`         // routed QoS 0 publishes dropped: the handler was full
	RateDropped uint64        `json:"rate_dropped"` // QoS 0 publishes dropped by the rate limit
	RateDelayed uint64        `json:"rate_delayed"` // QoS 1/2 publishes held back by the rate limit
	RateLimit   float64       `json:"rate_limit"`   // publishes per second per client (0: no limit)
	OverLimit   []ClientLimit `json:"over_limit"`   // the clients the rate limit held back or dropped
	Auth        auth.Stats    `json:"auth"`
	Limits      LimitStats    `json:"limits"`
}

// LimitStats are the broker's limits and what they refused.
type LimitStats struct {
	MaxPacketSize            int64   `json:"max_packet_size"`
	MaxConnections           int     `json:"max_connections"`
	MaxConnectionsPerAddress int     `json:"max_connections_per_address"`
	ConnectTimeoutSeconds    float64 `json:"connect_timeout_seconds"`
	MaxRetained              int     `json:"max_retained"`
	MaxRetainedBytes         int64   `json:"max_retained_bytes"`
	MaxRetainedPerUser       int     `json:"max_retained_per_user"`
	MaxRetainedBytesPerUser  int64   `json:"max_retained_bytes_per_user"`
	ReceiveMaximum           int     `json:"receive_maximum"`

	PacketTooLarge         uint64 `json:"packet_too_large"`             // connections closed for a declared packet over the limit
	OverMaxConnections     uint64 `json:"over_max_connections"`         // connections closed at accept: too many open
	OverConnectionsPerAddr uint64 `json:"over_connections_per_address"` // connections closed at accept: too many from that address
	ConnectTimeouts        uint64 `json:"connect_timeouts"`             // connections closed before a complete CONNECT
	SubscriptionsRefused   uint64 `json:"subscriptions_refused"`        // filters over max_subscriptions_per_client
	QueuedDropped          int64  `json:"queued_dropped"`               // QoS 1/2 messages not queued: the session held max_queued_per_session
	OverReceiveMaximum     uint64 `json:"over_receive_maximum"`         // clients disconnected for more QoS 1/2 publishes in flight than receive_maximum
	RetainedRefused        uint64 `json:"retained_refused"`             // retained publishes not retained: over a retained bound
	RetainedTrimmed        uint64 `json:"retained_trimmed"`             // retained messages deleted at start: over the bounds
	RetainedBytes          int64  `json:"retained_bytes"`               // payload and topic bytes of the retained messages held
	ReloadDisconnected     uint64 `json:"reload_disconnected"`          // clients disconnected by a reload: their user was removed or its password set again
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
	firstLoad := false
	if cfg.StorePath != "" {
		// A new store has no server info yet; mochi logs that as an error.
		_, err := os.Stat(cfg.StorePath)
		firstLoad = err != nil
	}
	mlog = slog.New(dropFirstLoad{mlog.Handler(), firstLoad})
	opts := &mqtt.Options{InlineClient: true, Logger: mlog}
	opts.Capabilities = mqtt.NewDefaultServerCapabilities()
	opts.Capabilities.MaximumMessageExpiryInterval = 0
	lim := cfg.Limits.withDefaults()
	opts.Capabilities.MaximumPacketSize = uint32(lim.MaxPacketSize)
	opts.Capabilities.TopicAliasMaximum = uint16(lim.MaxTopicAliases)
	opts.Capabilities.MaximumSessionExpiryInterval = uint32(lim.MaxSessionExpiry / time.Second)
	opts.Capabilities.MaximumInflight = uint16(lim.MaxQueuedPerSession)
	opts.Capabilities.ReceiveMaximum = uint16(lim.ReceiveMaximum)
	opts.Capabilities.Compatibilities.NoInheritedPropertiesOnAck = true
	srv := mqtt.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{srv: srv, ctx: ctx, cancel: cancel, limits: lim, ready: make(chan struct{}), log: log,
		passwd: cfg.PasswdFile, acl: slices.Clone(cfg.ACL)}
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
	b.pw = pw
	b.auth = auth.NewHook(auth.Options{Passwords: pw, ACL: acl, AllowAnonymous: cfg.AllowAnonymous, Logger: log,
		Backoff: auth.Backoff{FreeAttempts: lim.LoginFreeAttempts, Initial: lim.LoginBackoff, Max: lim.LoginBackoffMax},
		SessionOwner: func(id string) (string, bool) {
			cl, ok := srv.Clients.Get(id)
			if !ok || cl.Net.Inline {
				return "", false
			}
			return string(cl.Properties.Username), true
		}})
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
	b.conform = &conformHook{maxPacket: uint32(lim.MaxPacketSize), aliasMax: uint16(lim.MaxTopicAliases),
		maxKeepAlive: uint16(lim.MaxKeepAlive / time.Second), srv: srv, maxSubs: lim.MaxSubscriptionsPerClient}
	if err := srv.AddHook(b.conform, nil); err != nil {
		return nil, fmt.Errorf("broker: conformance: %w", err)
	}
	b.retain = newRetainHook(srv, lim, log)
	if err := srv.AddHook(b.retain, nil); err != nil {
		return nil, fmt.Errorf("broker: retained limits: %w", err)
	}
	if cfg.Handler != nil {
		inline := srv.NewClient(nil, "local", "edged-route", true)
		inline.Properties.ProtocolVersion = 5
		b.route = &routeHook{srv: srv, inline: inline, handler: cfg.Handler, ctx: ctx, log: log, limiter: logevery.New(0)}
		routes := slices.Clone(cfg.Routes)
		b.route.routes.Store(&routes)
		if err := srv.AddHook(b.route, nil); err != nil {
			return nil, fmt.Errorf("broker: routes: %w", err)
		}
	}
	if cfg.StorePath != "" {
		store := &boltStore{Hook: &bolt.Hook{}}
		if err := srv.AddHook(store, &bolt.Options{Path: cfg.StorePath, Options: &bbolt.Options{Timeout: time.Second}}); err != nil {
			return nil, fmt.Errorf("broker: store %s: %w (is another edged running on this data_dir?)", cfg.StorePath, err)
		}
	}
	if cfg.Listen != "" {
		if b.plain, err = b.listen("tcp", "listen", cfg.Listen, nil); err != nil {
			return nil, err
		}
	}
	if cfg.TLSListen != "" {
		tc, err := serverTLS(cfg)
		if err != nil {
			return nil, err
		}
		if b.secure, err = b.listen("tls", "tls.listen", cfg.TLSListen, tc); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// listen binds addr and adds it to the server behind the connection limits
// (gate) and, above TLS, the packet size guard.
func (b *Broker) listen(id, field, addr string, tc *tls.Config) (*listeners.Net, error) {
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w%s", field, addr, err, inUseHint(err))
	}
	g := newGate(raw, b.limits, b.ready, &b.counts)
	b.gates = append(b.gates, g)
	var l net.Listener = g
	if tc != nil {
		l = tls.NewListener(l, tc)
	}
	nl := listeners.NewNet(id, guard{Listener: l, maxPacket: b.limits.MaxPacketSize, counts: &b.counts})
	if err := b.srv.AddListener(nl); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("%s: %s: %w", field, addr, err)
	}
	return nl, nil
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
	// The store is loaded: count what it retained (trimming any excess)
	// before the listeners let the first client in.
	b.retain.load()
	b.readyOnce.Do(func() { close(b.ready) })
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		b.watchPasswd(ctx)
	}()
	<-ctx.Done()
	<-watched
	return b.Close()
}

// passwdPoll is how often Run looks at the password file for a change
// (such as one made by "edged broker passwd").
const passwdPoll = 2 * time.Second

// watchPasswd reloads the users when the password file changes, until ctx
// ends.
func (b *Broker) watchPasswd(ctx context.Context) {
	if b.passwd == "" {
		return
	}
	last, _ := os.Stat(b.passwd)
	t := time.NewTicker(passwdPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(b.passwd)
		if err != nil || (last != nil && os.SameFile(last, fi) && fi.ModTime().Equal(last.ModTime()) && fi.Size() == last.Size()) {
			continue
		}
		last = fi
		b.reloadMu.Lock()
		acl := b.acl
		b.reloadMu.Unlock()
		if err := b.Reload(acl); err != nil {
			b.log.Error("broker password file changed but was not reloaded; the users before stay in force", "err", err)
		}
	}
}

// Reload reads the password file again and puts acl in force, without a
// restart. Clients connected as a user who is gone, or whose password was
// set again, are disconnected (they log in again with the new password);
// the ACL applies to every publish and delivery from now on. On an error
// nothing changes.
func (b *Broker) Reload(acl []auth.Rule) error {
	b.reloadMu.Lock()
	defer b.reloadMu.Unlock()
	var pw *auth.Passwords
	if b.passwd != "" {
		var err error
		if pw, err = auth.LoadPasswords(b.passwd); err != nil {
			return fmt.Errorf("broker: reload: passwd_file: %w", err)
		}
	}
	var a *auth.ACL
	if len(acl) > 0 {
		var err error
		if a, err = auth.NewACL(acl); err != nil {
			return fmt.Errorf("broker: reload: %w", err)
		}
	}
	old := b.pw
	b.auth.Reload(pw, a)
	b.pw, b.acl = pw, slices.Clone(acl)
	kicked := 0
	for _, cl := range b.srv.Clients.GetAll() {
		user := string(cl.Properties.Username)
		if cl.Net.Inline || cl.Closed() || user == "" || !old.Changed(pw, user) {
			continue
		}
		_ = b.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
		kicked++
	}
	b.kicked.Add(uint64(kicked))
	b.log.Info("broker users and ACL reloaded", "users", len(pw.Users()), "acl_rules", len(acl), "disconnected", kicked)
	return nil
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
		for _, l := range []*listeners.Net{b.plain, b.secure} {
			if l != nil {
				l.Close(func(string) {})
			}
		}
		time.Sleep(acceptGrace)
		// The listeners are closed without mochi's closer, so its Close
		// would wait for every client to leave on its own: disconnect the
		// clients, then close what is left (connections still before
		// CONNECT).
		for _, cl := range b.srv.Clients.GetAll() {
			if !cl.Net.Inline && !cl.Closed() {
				_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
		for _, g := range b.gates {
			g.closeConns()
		}
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
		Auth:     b.auth.Stats(),
	}
	if r := b.route; r != nil {
		st.Routed, st.Durable, st.Refused, st.Busy, st.Declined = r.routed.Load(), r.durable.Load(), r.refused.Load(), r.dropped.Load(), r.declined.Load()
	}
	lim := b.limits
	st.Limits = LimitStats{
		MaxPacketSize: lim.MaxPacketSize, MaxConnections: lim.MaxConnections, MaxConnectionsPerAddress: lim.MaxConnectionsPerAddress,
		ConnectTimeoutSeconds: lim.ConnectTimeout.Seconds(), MaxRetained: lim.MaxRetained, MaxRetainedBytes: lim.MaxRetainedBytes,
		MaxRetainedPerUser: lim.MaxRetainedPerUser, MaxRetainedBytesPerUser: lim.MaxRetainedBytesPerUser,
		PacketTooLarge: b.counts.tooLarge.Load(), OverMaxConnections: b.counts.overTotal.Load(),
		OverConnectionsPerAddr: b.counts.overAddr.Load(), ConnectTimeouts: b.counts.connectTimeout.Load(),
		SubscriptionsRefused: b.conform.subsRefused.Load(), QueuedDropped: atomic.LoadInt64(&info.InflightDropped),
		ReceiveMaximum: lim.ReceiveMaximum, OverReceiveMaximum: b.conform.overReceive.Load(),
	}
	st.Limits.ReloadDisconnected = b.kicked.Load()
	held, bytes, refused, trimmed := b.retain.stats()
	st.Retained, st.Limits.RetainedBytes, st.Limits.RetainedRefused, st.Limits.RetainedTrimmed = int64(held), bytes, refused, trimmed
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
// holds no server info yet (first is set): that is every first start, not a
// fault. It also hides mochi's line for a publish a hook refused.
type dropFirstLoad struct {
	slog.Handler
	first bool
}

func (h dropFirstLoad) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "publish packet error" {
		// A hook refused a publish with a reason code (retained limits):
		// the hook logs that itself, rate-limited, without the packet.
		return nil
	}
	if h.first && r.Message == "failed to get data" {
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
	return dropFirstLoad{h.Handler.WithAttrs(as), h.first}
}

func (h dropFirstLoad) WithGroup(name string) slog.Handler {
	return dropFirstLoad{h.Handler.WithGroup(name), h.first}
}
