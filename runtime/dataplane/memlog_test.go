package dataplane

import (
	"context"
	"slices"
	"sync"

	"github.com/edged-gateway/edged/reading"
)

// memLog is an in-memory log with named cursors, the shape of sync/outbox's
// (which lives in sync: runtime tests cannot import it). Readings are kept
// (never deleted), so a test can look at everything appended.
type memLog struct {
	mu      sync.Mutex
	rs      []reading.Reading // seq order; Seq = index+1
	changed chan struct{}
	cursors map[string]*memCursor
}

func newMemLog() *memLog {
	return &memLog{changed: make(chan struct{}), cursors: map[string]*memCursor{}}
}

// cursor returns the named cursor, made at the log's end (FromNewest) or
// at its start.
func (l *memLog) cursor(name string, fromOldest bool) *memCursor {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.cursors[name]; c != nil {
		return c
	}
	c := &memCursor{log: l, done: map[uint64]bool{}, next: 1}
	if !fromOldest {
		c.next = uint64(len(l.rs)) + 1
	}
	l.cursors[name] = c
	return c
}

// append stores rs with the next seqs and wakes the consumers.
func (l *memLog) append(rs ...reading.Reading) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		r.Seq = uint64(len(l.rs)) + 1
		l.rs = append(l.rs, r)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

type memCursor struct {
	log  *memLog
	next uint64 // every seq below is done
	done map[uint64]bool
	acks [][]uint64 // every Ack's seqs, in order
	// onAck, when set, runs at the start of every Ack (the log's lock held).
	onAck func(seqs []uint64)
}

func (c *memCursor) Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error) {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	dst = dst[:0]
	for _, r := range c.log.rs[min(max(after, c.next-1), uint64(len(c.log.rs))):] {
		if len(dst) == n {
			break
		}
		dst = append(dst, r)
	}
	return dst, nil
}

func (c *memCursor) Ack(ctx context.Context, seqs []uint64) error {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	if c.onAck != nil {
		c.onAck(seqs)
	}
	c.acks = append(c.acks, slices.Clone(seqs))
	for _, s := range seqs {
		if s >= c.next {
			c.done[s] = true
		}
	}
	for c.done[c.next] {
		delete(c.done, c.next)
		c.next++
	}
	return nil
}

func (c *memCursor) Changed() <-chan struct{} {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	return c.log.changed
}

func (c *memCursor) Lag() uint64 {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	return uint64(len(c.log.rs)) + 1 - c.next
}

// acked lists every seq acked through the cursor, in order.
func (c *memCursor) acked() []uint64 {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	var out []uint64
	for _, a := range c.acks {
		out = append(out, a...)
	}
	return out
}
