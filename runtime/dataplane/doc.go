// Package dataplane moves durable readings from the log to their
// consumers, each through its own cursor: a ServiceFeed per service
// subscription (managed by Feeds) hands readings to a service through the
// supervisor and waits for it, so a slow or stopped service only makes its
// own cursor lag; the Republisher publishes each reading on the local
// broker. A consumer acks what it has handled; after a crash of edged its
// cursor resends what was not acked (at-least-once).
//
// The package knows the log only through Cursor, an interface that
// sync/outbox's named cursors satisfy (runtime never imports sync: the
// composition in cmd/edged passes them in).
package dataplane

import (
	"context"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// Cursor is one consumer's durable position in the log: what
// sync/outbox's *Cursor provides.
type Cursor interface {
	// Peek returns up to n of the oldest readings with Seq > after that the
	// cursor has not passed, in seq order, appended to dst[:0].
	Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error)
	// Ack marks readings done for the cursor, durably once it returns.
	Ack(ctx context.Context, seqs []uint64) error
	// Changed is closed at the next commit that adds readings: take it
	// before Peek so none is missed.
	Changed() <-chan struct{}
	// Lag counts the stored readings the cursor has not passed.
	Lag() uint64
}

// Deliverer hands readings to one service and returns once it has taken
// them (filtering what the service must not get), counting what it handed:
// *supervisor.Supervisor's Deliver.
type Deliverer interface {
	Deliver(ctx context.Context, service string, rs []reading.Reading) (handed int, err error)
}

// seqs returns the seqs of rs, appended to dst[:0].
func seqs(dst []uint64, rs []reading.Reading) []uint64 {
	dst = dst[:0]
	for _, r := range rs {
		dst = append(dst, r.Seq)
	}
	return dst
}

// waiter reads a cursor's next batch, waiting on Changed when there is
// none. One wake without news is normal (a commit makes its readings
// visible before it notifies), so it only pauses when woken again and
// again without news: a closed log keeps Changed closed.
type waiter struct {
	cur  Cursor
	idle int // empty peeks in a row
}

// next returns the readings after seq (up to n, in dst); when there are
// none it waits for the next append (or ctx) and returns none, so the
// caller looks at its cursor again (a feed checks its lag first).
func (w *waiter) next(ctx context.Context, after uint64, n int, dst []reading.Reading) ([]reading.Reading, error) {
	changed := w.cur.Changed() // before Peek: no append is missed
	rs, err := w.cur.Peek(after, n, dst)
	if err != nil || len(rs) > 0 {
		w.idle = 0
		return rs, err
	}
	w.idle++
	if w.idle > 3 {
		sleep(ctx, 50*time.Millisecond)
	}
	select {
	case <-changed:
	case <-ctx.Done():
	}
	return rs, nil
}
