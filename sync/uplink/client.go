package uplink

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edged-gateway/edged/internal/lasterr"
	"github.com/edged-gateway/edged/internal/latency"
)

const (
	statusOnline  = "online"
	statusOffline = "offline"
	// offlineWait bounds the wait for the PUBACK of the retained
	// "offline" on clean shutdown.
	offlineWait = 2 * time.Second
	// disconnectQuiesce is how long (ms) paho may take to send DISCONNECT.
	disconnectQuiesce = 250
)

// Client is the MQTT link to the cloud broker. Run owns the connection; the
// other methods may be called from any goroutine, before, during and after
// Run.
type Client struct {
	cfg    Config // defaults applied
	log    *slog.Logger
	server *url.URL // scheme://host:port, no credentials
	tls    *tls.Config

	backoff *backoff
	// sleep waits between connection attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error

	started atomic.Bool
	cur     atomic.Pointer[session] // the connected session, or nil

	mu           sync.Mutex
	connCh       chan struct{} // closed while connected, and once closed
	connChClosed bool
	closed       bool // Run has returned
	epoch        uint64
	subs         []*subscription
	lastErr      lasterr.Record

	reconnects      atomic.Int64
	lost            atomic.Int64
	connectFailures atomic.Int64
	published       atomic.Int64
	ackLatency      latency.Histogram
	publishErrors   atomic.Int64
}

// Stats is a snapshot of a Client's state and counters.
type Stats struct {
	// Connected reports whether Publish would currently be accepted.
	Connected bool
	// Epoch numbers the connections: 1 for the first, incremented on
	// every new one; 0 before the first.
	Epoch uint64
	// Reconnects counts connections established after the first.
	Reconnects int64
	// ConnectFailures counts failed connection attempts.
	ConnectFailures int64
	// Lost counts connections that ended without Run being asked to stop
	// (broker gone, network down, keepalive missed).
	Lost int64
	// Published counts deliveries the broker acknowledged (QoS 1 and 2)
	// or that were written (QoS 0), including the status messages.
	Published int64
	// PublishErrors counts Publish calls that failed, at once or through
	// their Delivery.
	PublishErrors int64
	// LastError is the most recent connection, subscription or publish
	// error with its time; RecoveredAt is set once a later connection or
	// publish succeeded.
	LastError lasterr.Error
	// AckLatency is the distribution of the time from Publish to the
	// broker's acknowledgement (QoS 1) of successful deliveries.
	AckLatency latency.Snapshot
}

// New checks cfg, loads its TLS files and returns a Client that is not
// connected yet; call Run.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	tc, err := cfg.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	server, err := parseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	cfg = cfg.withDefaults()
	return &Client{
		cfg:     cfg,
		log:     cfg.Logger,
		server:  server,
		tls:     tc,
		backoff: newBackoff(cfg.BackoffMin, cfg.BackoffMax),
		sleep:   sleepCtx,
		connCh:  make(chan struct{}),
	}, nil
}

// Run connects to the broker and keeps connecting: after a failed attempt
// or a lost connection it waits with randomized exponential backoff and
// tries again, until ctx is done. Then, if connected, it publishes the
// retained "offline" status (waiting at most 2s for its PUBACK, which also
// lets earlier in-flight publishes be acknowledged), disconnects cleanly and
// returns nil. Run returns only after its goroutines have exited; it may be
// called once.
func (c *Client) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return fmt.Errorf("uplink: run %s: already started: %w", c.server, ErrClosed)
	}
	defer c.markClosed()
	for ctx.Err() == nil {
		s, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.connectFailures.Add(1)
			c.setLastError(err)
			wait := c.backoff.next()
			c.log.Warn("uplink connect failed", "url", c.server.String(), "err", err, "retry_in", wait)
			if c.sleep(ctx, wait) != nil {
				break
			}
			continue
		}
		up := time.Now()
		if !c.serve(ctx, s) {
			break
		}
		if time.Since(up) >= c.cfg.BackoffMax {
			c.backoff.reset() // a long-lived connection starts the backoff afresh
		}
		wait := c.backoff.next()
		c.log.Warn("uplink connection lost", "url", c.server.String(), "epoch", s.epoch, "err", s.lostErr, "retry_in", wait)
		if c.sleep(ctx, wait) != nil {
			break
		}
	}
	return nil
}

// connect makes one connection attempt with a new paho client (paho warns
// against reusing one after Disconnect).
func (c *Client) connect(ctx context.Context) (*session, error) {
	s := newSession(c)
	a := &attempt{}
	s.cli = paho.NewClient(c.pahoOptions(ctx, s, a))
	tok := s.cli.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		a.abort() // unblocks the MQTT handshake; the dial watches ctx
		<-tok.Done()
		if tok.Error() == nil {
			s.cli.Disconnect(disconnectQuiesce)
		}
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("uplink: connect %s: %w", c.server, connectError(tok, a.dialError(), err))
	}
	return s, nil
}

// pahoOptions configures paho for one connection: clean session, no
// automatic reconnect or connect retry (Run does that, so the caller's
// durable outbox stays the single source of truth for what to resend),
// MQTT 3.1.1 pinned (otherwise paho retries a refused CONNECT as MQTT 3.1
// on a second connection and reports that attempt's error, "unacceptable
// protocol version" on brokers without 3.1), our own dialer (no proxy from
// the environment; buffered reads), and handlers called in order.
func (c *Client) pahoOptions(ctx context.Context, s *session, a *attempt) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker(c.server.String()).
		SetClientID(c.cfg.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(!c.cfg.Persistent).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(c.cfg.KeepAlive).
		SetPingTimeout(min(c.cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(c.cfg.ConnectTimeout).
		SetWriteTimeout(c.cfg.WriteTimeout).
		SetOrderMatters(true).
		SetCustomOpenConnectionFn(a.open(ctx, c)).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.end(fmt.Errorf("%w: %w", ErrConnectionLost, plainError(err)))
		}).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			// A persistent session delivers what the broker kept for us
			// right after CONNACK, before this connection subscribed:
			// route it by the registered filters.
			if sub := c.route(m.Topic()); sub != nil {
				sub.handler(m.Topic(), m.Payload())
				return
			}
			c.log.Debug("uplink message without a subscription", "topic", m.Topic())
		})
	if c.cfg.Username != "" {
		o.SetUsername(c.cfg.Username)
	}
	if c.cfg.Password != "" {
		o.SetPassword(c.cfg.Password)
	}
	if c.cfg.StatusTopic != "" {
		o.SetBinaryWill(c.cfg.StatusTopic, []byte(statusOffline), 1, true)
	}
	return o
}

// serve sets up a fresh connection (subscriptions, then "online"), opens
// it for Publish and waits for its end. It reports whether the connection
// was lost (true) or ctx ended it (false). Either way the session's
// deliveries are all complete when it returns.
func (c *Client) serve(ctx context.Context, s *session) (lost bool) {
	go s.complete()
	if err := c.setUp(ctx, s); err != nil {
		c.log.Error("uplink connection setup failed", "url", c.server.String(), "err", err)
		s.cli.Disconnect(disconnectQuiesce)
		s.end(fmt.Errorf("%w: %w", ErrConnectionLost, err))
	}
	select {
	case <-s.lostCh:
		c.setDisconnected(s)
		c.lost.Add(1)
		c.setLastError(fmt.Errorf("uplink: connection to %s: %w", c.server, s.lostErr))
		<-s.done
		return true
	case <-ctx.Done():
	}
	c.setDisconnected(s)
	if c.cfg.StatusTopic != "" {
		d := s.publish(c.cfg.StatusTopic, []byte(statusOffline), 1, true)
		t := time.NewTimer(offlineWait)
		select {
		case <-d.Done():
			if err := d.Err(); err != nil {
				c.log.Warn("uplink offline status not acknowledged", "topic", c.cfg.StatusTopic, "err", err)
			}
		case <-t.C:
			c.log.Warn("uplink offline status not acknowledged", "topic", c.cfg.StatusTopic, "err", "timeout")
		case <-s.lostCh:
		}
		t.Stop()
	}
	s.cli.Disconnect(disconnectQuiesce)
	s.end(ErrClosed)
	<-s.done
	c.log.Info("uplink disconnected", "url", c.server.String(), "epoch", s.epoch)
	return false
}

// setUp subscribes every registered filter, publishes "online" and makes s
// the current session. Subscribe calls that race with it are caught: s
// becomes current only when no registered subscription is left unapplied.
// It returns an error only when the connection should be dropped; it
// returns nil early when s ends or ctx is done.
func (c *Client) setUp(ctx context.Context, s *session) error {
	// The broker accepted the connection: a connection error before it is
	// past. A subscription it rejects below is recorded after this.
	c.lastErr.Recovered(time.Now())
	applied := make(map[*subscription]bool)
	online := false
	for {
		c.mu.Lock()
		var pending []*subscription
		for _, sub := range c.subs {
			if !applied[sub] {
				pending = append(pending, sub)
			}
		}
		if len(pending) == 0 && online {
			if s.ended() || ctx.Err() != nil {
				c.mu.Unlock()
				return nil
			}
			c.epoch++
			s.epoch = c.epoch
			c.cur.Store(s)
			close(c.connCh)
			c.connChClosed = true
			c.mu.Unlock()
			if s.epoch > 1 {
				c.reconnects.Add(1)
			}
			c.log.Info("uplink connected", "url", c.server.String(), "client_id", c.cfg.ClientID, "epoch", s.epoch)
			return nil
		}
		c.mu.Unlock()

		rejected, err := s.subscribe(ctx, pending)
		if err != nil {
			if s.ended() || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("subscribe: %w", err)
		}
		if rejected != nil {
			rejected = fmt.Errorf("uplink: %w", rejected)
			c.setLastError(rejected)
			c.log.Error("uplink subscription rejected", "url", c.server.String(), "err", rejected)
		}
		for _, sub := range pending {
			applied[sub] = true
		}
		if !online {
			online = true
			if c.cfg.StatusTopic == "" {
				continue
			}
			if err := s.publishWait(ctx, c.cfg.StatusTopic, []byte(statusOnline)); err != nil {
				if s.ended() || ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("publish %q to %s: %w", statusOnline, c.cfg.StatusTopic, err)
			}
		}
	}
}

// setDisconnected makes Publish fail from now on, if s is the current
// session.
func (c *Client) setDisconnected(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.Load() == s {
		c.cur.Store(nil)
		c.connCh = make(chan struct{})
		c.connChClosed = false
	}
}

// markClosed records that Run has returned and wakes WaitConnected.
func (c *Client) markClosed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if !c.connChClosed {
		close(c.connCh)
		c.connChClosed = true
	}
}

func (c *Client) setLastError(err error) { c.lastErr.Set(err.Error(), time.Now()) }

// WaitConnected blocks until the client is connected and returns the
// connection's epoch, which increases with every new connection: a
// forwarder that sees it change knows that its unacknowledged publishes
// were lost with the old connection and resends from its cursor. It fails
// when ctx is done or Run has returned.
func (c *Client) WaitConnected(ctx context.Context) (epoch uint64, err error) {
	for {
		c.mu.Lock()
		s, ch, closed := c.cur.Load(), c.connCh, c.closed
		c.mu.Unlock()
		switch {
		case s != nil:
			return s.epoch, nil
		case closed:
			return 0, fmt.Errorf("uplink: wait for connection to %s: %w", c.server, ErrClosed)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("uplink: wait for connection to %s: %w", c.server, ctx.Err())
		}
	}
}

// Connected reports whether the client is connected now.
func (c *Client) Connected() bool { return c.cur.Load() != nil }

// Stats returns a snapshot of the client's state and counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Stats{
		Reconnects:      c.reconnects.Load(),
		ConnectFailures: c.connectFailures.Load(),
		Lost:            c.lost.Load(),
		Published:       c.published.Load(),
		PublishErrors:   c.publishErrors.Load(),
		LastError:       c.lastErr.Get(),
		AckLatency:      c.ackLatency.Snapshot(),
	}
	if s := c.cur.Load(); s != nil {
		st.Connected, st.Epoch = true, s.epoch
	} else {
		st.Epoch = c.epoch
	}
	return st
}
