package mqttload

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// CollectorOptions configures NewCollector.
type CollectorOptions struct {
	// URL of the cloud broker, mqtt://127.0.0.1:PORT. Loopback only.
	URL string
	// Filter is the subscription, at QoS 1. Default "#".
	Filter string
	// ClientID defaults to "mqttload-collector-<pid>-<n>".
	ClientID string
	// Persistent connects with CleanSession false, so that a cloud broker
	// with persistence keeps the subscription and queues messages for the
	// collector while either is down. Needed for Outage, where the cloud
	// broker restarts and the gateway may deliver before the collector
	// is back.
	Persistent bool
	// Decode returns the ids one message carries. Default DecodeID.
	Decode func(topic string, payload []byte) ([]int64, error)
}

// CollectorStats are the collector's counters since it started or was
// last Reset. Probe ids (ProbeClient) count in none of them.
type CollectorStats struct {
	Messages     int64 // messages received, probes excluded
	Unique       int   // distinct ids received
	Duplicates   int64 // ids received again
	DecodeErrors int64 // messages Decode rejected
	FirstError   error // Decode's first error
	// First and Last are when the first and the latest new id arrived.
	First, Last time.Time
}

// Collector subscribes on the cloud broker and counts the ids that arrive.
// It reconnects by itself (every 500ms at most) and subscribes again after
// each reconnect. Its methods are safe for concurrent use.
type Collector struct {
	client paho.Client
	decode func(string, []byte) ([]int64, error)
	filter string

	mu      sync.Mutex
	ids     IDSet
	probes  IDSet
	stats   CollectorStats
	notify  chan struct{} // closed on the next new id, when a waiter made it
	closeMu sync.Once
}

// NewCollector connects to o.URL and subscribes to o.Filter at QoS 1. It
// returns when the subscription is confirmed.
func NewCollector(ctx context.Context, o CollectorOptions) (*Collector, error) {
	if err := checkLoopback(o.URL); err != nil {
		return nil, err
	}
	if o.Filter == "" {
		o.Filter = "#"
	}
	if o.ClientID == "" {
		o.ClientID = fmt.Sprintf("mqttload-collector-%d-%d", os.Getpid(), prefixSeq.Add(1))
	}
	if o.Decode == nil {
		o.Decode = DecodeID
	}
	c := &Collector{decode: o.Decode, filter: o.Filter}
	first := true
	var firstMu sync.Mutex
	opts := paho.NewClientOptions().
		AddBroker(o.URL).
		SetClientID(o.ClientID).
		SetCleanSession(!o.Persistent).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(500 * time.Millisecond).
		SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(writeTimeout).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).
		SetDefaultPublishHandler(c.handle). // messages of a resumed session may come before SUBSCRIBE
		SetOnConnectHandler(func(cl paho.Client) {
			firstMu.Lock()
			again := !first
			first = false
			firstMu.Unlock()
			if again { // paho runs this on its own goroutine: waiting is fine
				cl.Subscribe(c.filter, 1, c.handle).WaitTimeout(connectTimeout)
			}
		})
	c.client = paho.NewClient(opts)
	if err := waitToken(ctx, c.client.Connect()); err != nil {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("mqttload: collector connect to %s: %w", o.URL, err)
	}
	if err := waitToken(ctx, c.client.Subscribe(o.Filter, 1, c.handle)); err != nil {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("mqttload: collector subscribe %q on %s: %w", o.Filter, o.URL, err)
	}
	return c, nil
}

func waitToken(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(connectTimeout + time.Second):
		return fmt.Errorf("no answer after %s", connectTimeout)
	}
}

func (c *Collector) handle(_ paho.Client, m paho.Message) {
	ids, err := c.decode(m.Topic(), m.Payload())
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.stats.Messages++
		c.stats.DecodeErrors++
		if c.stats.FirstError == nil {
			c.stats.FirstError = fmt.Errorf("mqttload: collector: topic %q: %w", m.Topic(), err)
		}
		return
	}
	probe := true
	for _, id := range ids {
		if client, _ := SplitID(id); client == ProbeClient {
			c.probes.Add(id)
			continue
		}
		probe = false
		if !c.ids.Add(id) {
			c.stats.Duplicates++
			continue
		}
		if c.stats.First.IsZero() {
			c.stats.First = now
		}
		c.stats.Last = now
		if c.notify != nil {
			close(c.notify)
			c.notify = nil
		}
	}
	if !probe {
		c.stats.Messages++
	}
}

// Stats returns the counters.
func (c *Collector) Stats() CollectorStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Unique = c.ids.Len()
	return s
}

// Has reports whether id arrived (probe ids included).
func (c *Collector) Has(id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids.Has(id) || c.probes.Has(id)
}

// Received returns a copy of the set of ids received.
func (c *Collector) Received() *IDSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids.Clone()
}

// Reset forgets the ids and counters. Messages still on their way arrive
// afterwards and count as new.
func (c *Collector) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids, c.probes, c.stats = IDSet{}, IDSet{}, CollectorStats{}
}

// Lost returns, in ascending order, the acked ids that never arrived.
func (c *Collector) Lost(acked *IDSet) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return acked.Missing(&c.ids)
}

// LostCount returns how many acked ids never arrived.
func (c *Collector) LostCount(acked *IDSet) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return acked.CountMissing(&c.ids)
}

// Wait returns when n distinct ids have arrived, when no new id arrived
// for idle (counted from the later of the call and the last new id), or
// when ctx is done (then with ctx.Err()). It returns the number of
// distinct ids received.
func (c *Collector) Wait(ctx context.Context, n int, idle time.Duration) (int, error) {
	err := c.waitUntil(ctx, time.Now(), idle, idle, func() bool { return c.ids.Len() >= n })
	return c.Stats().Unique, err
}

// WaitFor is Wait for a set: it returns when every id of want has arrived,
// nothing new arrived for idle, or ctx is done. It returns how many ids of
// want are still missing.
func (c *Collector) WaitFor(ctx context.Context, want *IDSet, idle time.Duration) (missing int, err error) {
	return c.waitFor(ctx, want, time.Now(), idle, idle)
}

func (c *Collector) waitFor(ctx context.Context, want *IDSet, since time.Time, first, idle time.Duration) (int, error) {
	err := c.waitUntil(ctx, since, first, idle, func() bool { return want.CountMissing(&c.ids) == 0 })
	return c.LostCount(want), err
}

// waitUntil waits until done (called with c.mu held, at most every 20ms)
// holds, or no new id arrived within first of since, or none within idle
// of the last one that arrived after since, or ctx is done.
func (c *Collector) waitUntil(ctx context.Context, since time.Time, first, idle time.Duration, done func() bool) error {
	timer := time.NewTimer(first)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if done() {
			c.mu.Unlock()
			return nil
		}
		left := first - time.Since(since)
		if last := c.stats.Last; last.After(since) {
			left = idle - time.Since(last)
		}
		if left <= 0 {
			c.mu.Unlock()
			return nil
		}
		if c.notify == nil {
			c.notify = make(chan struct{})
		}
		notify := c.notify
		c.mu.Unlock()
		timer.Reset(left)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-notify:
			// Rate-limit the checks: done may cost a pass over a bitmap.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// Close disconnects. It is idempotent.
func (c *Collector) Close() {
	c.closeMu.Do(func() { c.client.Disconnect(100) })
}
