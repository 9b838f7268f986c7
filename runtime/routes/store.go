package routes

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/edged-gateway/edged/reading"
)

// Cursor is one consumer's position in the durable log (sync/outbox's
// *Cursor): what a route reads through.
type Cursor interface {
	// Peek returns up to n of the oldest readings with Seq > after that
	// the cursor has not passed.
	Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error)
	// Ack marks readings done for this cursor (any order).
	Ack(ctx context.Context, seqs []uint64) error
	// Changed returns a channel closed when new readings are stored.
	Changed() <-chan struct{}
}

// Keep decides, at send time, whether a route sends a reading.
type Keep func(r *reading.Reading) bool

// maxSkipped is how many passed-over readings a Store holds before it acks
// them itself instead of with the forwarder's next ack.
const maxSkipped = 4096

// Store is a route's view of the log for runtime/forwarder (it is a
// forwarder.Store): its cursor, minus the readings the route does not
// want. Those are passed over and acked on the cursor (with the
// forwarder's next ack, or at once when nothing else is to be sent), so
// they hold nothing back: the log keeps a reading only while some
// consumer still wants it.
type Store struct {
	c    Cursor
	keep atomic.Pointer[Keep]

	mu      sync.Mutex
	skipped []uint64 // passed over, not yet acked
	passed  atomic.Uint64
}

// NewStore returns the store of a route reading through c; keep nil sends
// everything.
func NewStore(c Cursor, keep Keep) *Store {
	s := &Store{c: c}
	s.SetKeep(keep)
	return s
}

// SetKeep changes what the route sends from the next Peek on (a plan's
// sync policy).
func (s *Store) SetKeep(keep Keep) {
	if keep == nil {
		keep = func(*reading.Reading) bool { return true }
	}
	s.keep.Store(&keep)
}

// Passed counts the readings passed over because the route does not want
// them.
func (s *Store) Passed() uint64 { return s.passed.Load() }

// Peek returns the oldest readings after seq that the route sends.
func (s *Store) Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error) {
	keep := *s.keep.Load()
	from := after
	for {
		rs, err := s.c.Peek(from, n, dst)
		if err != nil || len(rs) == 0 {
			return rs, s.flushIfIdle(err)
		}
		last := rs[len(rs)-1].Seq
		full := len(rs) == n
		out := rs[:0]
		var skip []uint64
		for i := range rs {
			if keep(&rs[i]) {
				out = append(out, rs[i])
			} else {
				skip = append(skip, rs[i].Seq)
			}
		}
		if len(skip) > 0 {
			s.passed.Add(uint64(len(skip)))
			s.mu.Lock()
			s.skipped = append(s.skipped, skip...)
			big := len(s.skipped) >= maxSkipped
			s.mu.Unlock()
			if big {
				if err := s.flush(context.Background()); err != nil {
					return out, err
				}
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if !full {
			return out, s.flushIfIdle(nil)
		}
		from, dst = last, out // nothing wanted in this page: read on
	}
}

// flushIfIdle acks the passed-over readings when there is nothing to send
// (no forwarder ack would carry them).
func (s *Store) flushIfIdle(err error) error {
	if err != nil {
		return err
	}
	return s.flush(context.Background())
}

func (s *Store) flush(ctx context.Context) error {
	s.mu.Lock()
	skip := s.skipped
	s.skipped = nil
	s.mu.Unlock()
	if len(skip) == 0 {
		return nil
	}
	if err := s.c.Ack(ctx, skip); err != nil {
		s.mu.Lock()
		s.skipped = append(s.skipped, skip...) // tried again with the next ack
		s.mu.Unlock()
		return err
	}
	return nil
}

// Ack acks delivered readings, with the passed-over ones.
func (s *Store) Ack(ctx context.Context, seqs []uint64) error {
	s.mu.Lock()
	skip := s.skipped
	s.skipped = nil
	s.mu.Unlock()
	all := seqs
	if len(skip) > 0 {
		all = append(append(make([]uint64, 0, len(seqs)+len(skip)), seqs...), skip...)
	}
	if err := s.c.Ack(ctx, all); err != nil {
		s.mu.Lock()
		s.skipped = append(s.skipped, skip...)
		s.mu.Unlock()
		return err
	}
	return nil
}

// Changed is the cursor's.
func (s *Store) Changed() <-chan struct{} { return s.c.Changed() }
