package uplink

import (
	"context"
	"errors"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edged-gateway/edged/internal/topic"
)

// subscription is one registered filter; the pointer identifies it.
type subscription struct {
	filter  string
	qos     byte
	handler func(topic string, payload []byte)
}

// callback adapts the handler to paho.
func (sub *subscription) callback() paho.MessageHandler {
	return func(_ paho.Client, m paho.Message) { sub.handler(m.Topic(), m.Payload()) }
}

// Subscribe registers handler for messages matching filter at the given
// QoS. The subscription is made now if connected and again on every
// reconnect (a clean session forgets it with each connection; a
// persistent one also keeps it); a second Subscribe with the same filter replaces the first.
//
// Handlers run one at a time, in arrival order, on the connection's
// receiving goroutine. A handler must return quickly: while it runs no
// PUBACK is processed either, so a handler that blocks stalls every
// Delivery and, past the keepalive, costs the connection. Hand the message
// to a buffered channel or a goroutine instead; never wait on a Delivery
// inside a handler. The payload is the handler's to keep.
//
// Subscribe returns an error for an invalid filter, QoS or nil handler
// (nothing is registered) and when the broker rejects the filter on the
// current connection (the registration is removed). If the connection
// fails meanwhile, the subscription stays registered for the next one.
func (c *Client) Subscribe(filter string, qos byte, handler func(topic string, payload []byte)) error {
	if err := checkFilter(filter); err != nil {
		return fmt.Errorf("uplink: subscribe: %w", err)
	}
	if qos > 2 {
		return fmt.Errorf("uplink: subscribe %s: qos %d not supported, use 0, 1 or 2", filter, qos)
	}
	if handler == nil {
		return fmt.Errorf("uplink: subscribe %s: nil handler", filter)
	}
	sub := &subscription{filter: filter, qos: qos, handler: handler}
	c.mu.Lock()
	replaced := false
	for i, old := range c.subs {
		if old.filter == filter {
			c.subs[i], replaced = sub, true
		}
	}
	if !replaced {
		c.subs = append(c.subs, sub)
	}
	s := c.cur.Load()
	c.mu.Unlock()
	if s == nil {
		return nil // setUp applies it when the next connection comes up
	}

	rejected, err := s.subscribe(context.Background(), []*subscription{sub})
	if rejected != nil {
		c.mu.Lock()
		for i, cur := range c.subs {
			if cur == sub {
				c.subs = append(c.subs[:i], c.subs[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		return fmt.Errorf("uplink: %w", rejected)
	}
	if err != nil {
		c.log.Warn("uplink subscribe failed, will retry on reconnect", "filter", filter, "err", err)
	}
	return nil
}

// subscribe sends one SUBSCRIBE per subscription and waits for the SUBACKs,
// at most ConnectTimeout in all. rejected joins the filters the broker
// refused; err reports why the wait was cut short (timeout, lost
// connection, ctx).
func (s *session) subscribe(ctx context.Context, subs []*subscription) (rejected, err error) {
	if len(subs) == 0 {
		return nil, nil
	}
	toks := make([]paho.Token, len(subs))
	for i, sub := range subs {
		toks[i] = s.cli.Subscribe(sub.filter, sub.qos, sub.callback())
	}
	t := time.NewTimer(s.c.cfg.ConnectTimeout)
	defer t.Stop()
	var errs []error
	for i, tok := range toks {
		select {
		case <-tok.Done():
		case <-s.lostCh:
			return nil, s.lostErr
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, fmt.Errorf("no SUBACK for %s within %s", subs[i].filter, s.c.cfg.ConnectTimeout)
		}
		if err := tok.Error(); err != nil {
			if s.ended() {
				return nil, s.lostErr
			}
			return nil, fmt.Errorf("subscribe %s: %w", subs[i].filter, plainError(err))
		}
		if st, ok := tok.(*paho.SubscribeToken); ok {
			for _, code := range st.Result() {
				if code == 0x80 {
					errs = append(errs, fmt.Errorf("subscribe %s: %w", subs[i].filter, errSubscribeRejected))
				}
			}
		}
	}
	return errors.Join(errs...), nil
}

// route returns the registered subscription whose filter matches t, or nil.
func (c *Client) route(t string) *subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sub := range c.subs {
		if topic.Match(sub.filter, t) {
			return sub
		}
	}
	return nil
}
