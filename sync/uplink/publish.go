package uplink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Delivery is the outcome of one Publish: Done is closed once the broker
// has acknowledged the message (PUBACK for QoS 1, PUBCOMP for QoS 2,
// written to the socket for QoS 0) or the publish has failed, and Err then
// tells which. Every Delivery completes: when the connection ends, the ones
// still waiting fail with ErrConnectionLost (or ErrClosed on shutdown).
type Delivery struct {
	topic string
	start time.Time
	tok   paho.Token // nil once complete
	done  chan struct{}
	err   error
}

// Done returns a channel that is closed when the delivery is complete.
func (d *Delivery) Done() <-chan struct{} { return d.done }

// Err returns nil if the broker acknowledged the message and the reason
// otherwise. Before Done is closed it returns nil.
func (d *Delivery) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Wait blocks until the delivery is complete and returns Err, or returns
// ctx's error first.
func (d *Delivery) Wait(ctx context.Context) error {
	select {
	case <-d.done:
		return d.err
	case <-ctx.Done():
		return fmt.Errorf("uplink: wait for delivery to %s: %w", d.topic, ctx.Err())
	}
}

// Publish sends payload to topic with the given QoS (0, 1 or 2) and retain
// flag, and returns its Delivery. It fails at once, wrapping
// ErrNotConnected, when there is no connection, and for an invalid topic or
// QoS (a broker would drop the whole connection for a wildcard in a topic).
//
// Publish does not wait for the acknowledgement and starts no goroutine; it
// blocks only while the message is handed to the connection's writer, which
// can take as long as a blocked socket write (bounded by ConnectTimeout).
// The payload must not be modified until the Delivery is done. Keep the
// number of outstanding deliveries bounded (a window of 32–64 is plenty for
// full speed); MQTT allows at most 65535 per connection.
func (c *Client) Publish(topic string, payload []byte, qos byte, retained bool) (*Delivery, error) {
	if err := checkTopic(topic); err != nil {
		c.publishErrors.Add(1)
		return nil, fmt.Errorf("uplink: publish: %w", err)
	}
	if qos > 2 {
		c.publishErrors.Add(1)
		return nil, fmt.Errorf("uplink: publish %s: qos %d not supported, use 0, 1 or 2", topic, qos)
	}
	s := c.cur.Load()
	if s == nil {
		c.publishErrors.Add(1)
		return nil, fmt.Errorf("uplink: publish %s: %w", topic, ErrNotConnected)
	}
	return s.publish(topic, payload, qos, retained), nil
}

// PublishIn is Publish on the connection of epoch only (what WaitConnected
// returned): after a reconnect it fails with ErrNotConnected instead of
// sending on the new connection. A forwarder that resends from its oldest
// unacknowledged message after a lost connection uses it, so a later
// message never reaches the broker on a new connection ahead of an earlier
// one the old connection lost.
func (c *Client) PublishIn(epoch uint64, topic string, payload []byte, qos byte, retained bool) (*Delivery, error) {
	if s := c.cur.Load(); s == nil || s.epoch != epoch {
		c.publishErrors.Add(1)
		return nil, fmt.Errorf("uplink: publish %s: connection %d is gone: %w", topic, epoch, ErrNotConnected)
	}
	return c.Publish(topic, payload, qos, retained)
}

// finish completes d with err (nil for success) and counts it.
func (c *Client) finish(d *Delivery, err error) {
	d.tok = nil
	if err != nil {
		c.publishErrors.Add(1)
		d.err = fmt.Errorf("uplink: publish %s: %w", d.topic, err)
		c.setLastError(d.err)
	} else {
		c.published.Add(1)
		c.ackLatency.Observe(time.Since(d.start))
		c.lastErr.Recovered(time.Now())
	}
	close(d.done)
}

// session is one connection: its paho client and the deliveries waiting for
// their acknowledgement. One goroutine (complete) waits on the paho tokens
// in publish order, so Publish needs no goroutine of its own; brokers
// acknowledge QoS 1 in order, so waiting on the oldest first costs nothing.
// When the connection ends, every delivery still waiting is completed: with
// its token's result if paho already has one, with the session's end error
// otherwise. That guard does not rely on paho completing every token (it
// does with CleanSession and no AutoReconnect, but a Publish that races the
// loss waits up to Config.WriteTimeout).
type session struct {
	c     *Client
	cli   paho.Client
	epoch uint64 // set under c.mu when the session becomes current

	endOnce sync.Once
	lostCh  chan struct{} // closed by end
	lostErr error         // why the session ended; set before lostCh is closed
	done    chan struct{} // closed when complete has returned

	mu    sync.Mutex
	queue []*Delivery // waiting, oldest first
	over  bool        // complete has drained the queue for the last time
	wake  chan struct{}
}

func newSession(c *Client) *session {
	return &session{
		c:      c,
		lostCh: make(chan struct{}),
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
	}
}

// end marks the session over with err (the first call wins).
func (s *session) end(err error) {
	s.endOnce.Do(func() {
		s.lostErr = err
		close(s.lostCh)
	})
}

// ended reports whether end has been called.
func (s *session) ended() bool {
	select {
	case <-s.lostCh:
		return true
	default:
		return false
	}
}

// publish hands the message to paho and queues its Delivery.
func (s *session) publish(topic string, payload []byte, qos byte, retained bool) *Delivery {
	d := &Delivery{topic: topic, start: time.Now(), done: make(chan struct{})}
	d.tok = s.cli.Publish(topic, qos, retained, payload)
	s.mu.Lock()
	if s.over {
		s.mu.Unlock()
		s.settle(d)
		return d
	}
	s.queue = append(s.queue, d)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return d
}

// publishWait publishes a retained QoS 1 status message and waits for its
// acknowledgement, at most ConnectTimeout.
func (s *session) publishWait(ctx context.Context, topic string, payload []byte) error {
	d := s.publish(topic, payload, 1, true)
	t := time.NewTimer(s.c.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-d.Done():
		return d.Err()
	case <-t.C:
		return fmt.Errorf("no PUBACK within %s", s.c.cfg.ConnectTimeout)
	case <-s.lostCh:
		return s.lostErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// complete is the session's goroutine: it completes deliveries as their
// tokens complete and, once the session ends, all the rest. It closes done
// when it returns.
func (s *session) complete() {
	defer close(s.done)
	var batch []*Delivery
	for {
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		s.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-s.wake:
				continue
			case <-s.lostCh:
				s.drain(nil)
				return
			}
		}
		for i, d := range batch {
			select {
			case <-d.tok.Done():
				s.c.finish(d, s.tokenError(d.tok))
			case <-s.lostCh:
				s.drain(batch[i:])
				return
			}
			batch[i] = nil
		}
	}
}

// drain completes rest and everything still queued, and makes later
// publishes complete at once.
func (s *session) drain(rest []*Delivery) {
	for _, d := range rest {
		s.settle(d)
	}
	s.mu.Lock()
	queued := s.queue
	s.queue, s.over = nil, true
	s.mu.Unlock()
	for _, d := range queued {
		s.settle(d)
	}
}

// settle completes d of an ended session: with its token's result if paho
// has one, with the session's end error otherwise.
func (s *session) settle(d *Delivery) {
	select {
	case <-d.tok.Done():
		s.c.finish(d, s.tokenError(d.tok))
	default:
		s.c.finish(d, s.lostErr)
	}
}

// tokenError translates a completed publish token's error. When the session
// has ended, its end error says why (paho's own text, "connection lost
// before Publish completed", names no cause). Before that, paho fails a
// token only as the connection dies (a failed socket write, "not
// Connected", a Publish stuck past WriteTimeout), so those count as a lost
// connection too; the one exception is running out of message IDs.
func (s *session) tokenError(tok paho.Token) error {
	err := tok.Error()
	switch {
	case err == nil:
		return nil
	case s.ended():
		return s.lostErr
	case errors.Is(err, paho.ErrNotConnected), strings.HasPrefix(err.Error(), "connection lost"):
		return ErrConnectionLost
	case strings.HasPrefix(err.Error(), "no message IDs"):
		return plainError(err)
	}
	return fmt.Errorf("%w: %w", ErrConnectionLost, plainError(err))
}
