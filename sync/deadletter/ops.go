package deadletter

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edged-gateway/edged/reading"
)

// MaxIDs bounds the ids one Selection names.
const MaxIDs = 1000

// MaxPage bounds the entries one Page returns.
const MaxPage = 500

// replayChunk is how many entries one replay step marks, appends and
// deletes: one outbox transaction each.
const replayChunk = 256

// Selection says which entries Drop and Replay act on: the entries named
// by IDs, or every entry (All), in both cases only those dead-lettered
// before Before when it is set.
type Selection struct {
	IDs    []uint64
	All    bool
	Before time.Time
}

// Check refuses an empty or too large selection.
func (sel Selection) Check() error {
	switch {
	case sel.All && len(sel.IDs) > 0:
		return errors.New("ids and all: give either the ids or all, not both")
	case !sel.All && len(sel.IDs) == 0:
		return errors.New("ids: empty: name the dead letters by id, or select all")
	case len(sel.IDs) > MaxIDs:
		return fmt.Errorf("ids: %d ids, over %d: select all, or send them in several requests", len(sel.IDs), MaxIDs)
	}
	for _, id := range sel.IDs {
		if id == 0 {
			return errors.New("ids: 0 is not a dead letter id (ids start at 1)")
		}
	}
	return nil
}

func (sel Selection) wants(e *Entry) bool {
	return sel.Before.IsZero() || e.At.Before(sel.Before)
}

// Replayed is one entry a replay moved to the outbox.
type Replayed struct {
	ID          uint64 `json:"id"`           // the dead letter's id
	OriginalSeq uint64 `json:"original_seq"` // the seq the reading had when it was refused
	Seq         uint64 `json:"seq"`          // the new seq the outbox gave it
	// MaybeDuplicate is set when an earlier replay of this entry was cut
	// short (the gateway stopped between the outbox append and the
	// delete here), so the reading may reach the destination twice.
	MaybeDuplicate bool `json:"maybe_duplicate,omitempty"`
}

// Result says what Drop or Replay did.
type Result struct {
	Replayed []Replayed `json:"replayed,omitempty"`
	Dropped  []uint64   `json:"dropped,omitempty"`
	// NotFound are the ids asked for that the store does not hold (never
	// put, replayed or dropped before, or dropped by the cap).
	NotFound []uint64 `json:"not_found,omitempty"`
}

// Get returns the entry with this id; ok is false when there is none.
func (s *Store) Get(id uint64) (e Entry, ok bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucket).Get(key(id))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &e)
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("deadletter: get %d from %s: %w", id, s.cfg.Path, err)
	}
	return e, ok, nil
}

// Page returns up to limit entries (1..MaxPage; others mean MaxPage) with
// an id above after, oldest first, and the id to pass as after for the
// next page (0 when there is none).
func (s *Store) Page(after uint64, limit int) (es []Entry, next uint64, err error) {
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	es = []Entry{}
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		k, v := c.Seek(key(after + 1))
		for ; k != nil && len(es) < limit; k, v = c.Next() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			es = append(es, e)
		}
		if k != nil {
			next = es[len(es)-1].ID
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("deadletter: list %s: %w", s.cfg.Path, err)
	}
	return es, next, nil
}

// Newest returns up to limit entries (1..MaxPage; others mean MaxPage)
// with an id below before (0: from the newest), newest first, and the
// before to pass for the next page (0 when there is none).
func (s *Store) Newest(before uint64, limit int) (es []Entry, next uint64, err error) {
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	es = []Entry{}
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else if k, _ = c.Seek(key(before)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(es) < limit; k, v = c.Prev() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			es = append(es, e)
		}
		if k != nil {
			next = es[len(es)-1].ID
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("deadletter: list %s: %w", s.cfg.Path, err)
	}
	return es, next, nil
}

// Drop deletes the selected entries for good.
func (s *Store) Drop(sel Selection) (Result, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var res Result
	if err := sel.Check(); err != nil {
		return res, fmt.Errorf("deadletter: drop: %w", err)
	}
	for after := uint64(0); ; {
		ids, found, last, more, err := s.chunk(sel, after)
		if err != nil {
			return res, fmt.Errorf("deadletter: drop: %w", err)
		}
		res.NotFound = append(res.NotFound, found...)
		if len(ids) > 0 {
			if err := s.delete(ids); err != nil {
				return res, fmt.Errorf("deadletter: drop: %w", err)
			}
			s.removed.Add(uint64(len(ids)))
			res.Dropped = append(res.Dropped, ids...)
		}
		if !more {
			return res, nil
		}
		after = last
	}
}

// AppendFunc makes readings durable in the outbox and sets their Seq
// (sync/outbox.Outbox.Append).
type AppendFunc func(ctx context.Context, rs []reading.Reading) error

// Replay appends the selected entries' readings to the outbox again, so
// the uplink sends them like any other, and deletes the entries once the
// append is durable. A replayed reading keeps its device, metric, value,
// unit, time, source and simulated mark; it gets a new seq (seqs only go
// up per gateway and the cloud drops a seq it saw), and Result.Replayed
// pairs it with the original one.
//
// The outbox and this store are two files, so the steps are ordered to
// lose nothing: each entry is first marked Replaying (durably), then
// appended, then deleted. A crash after the mark leaves the entry here,
// marked: it is never lost, and a later replay of it says it may be a
// duplicate. The entries are handled in chunks of 256, oldest first; an
// error stops the replay, and Result says what was done before it.
func (s *Store) Replay(ctx context.Context, sel Selection, appendTo AppendFunc) (Result, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var res Result
	if err := sel.Check(); err != nil {
		return res, fmt.Errorf("deadletter: replay: %w", err)
	}
	for after := uint64(0); ; {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("deadletter: replay: %w", err)
		}
		ids, found, last, more, err := s.chunk(sel, after)
		if err != nil {
			return res, fmt.Errorf("deadletter: replay: %w", err)
		}
		res.NotFound = append(res.NotFound, found...)
		if len(ids) > 0 {
			done, err := s.replayChunk(ctx, ids, appendTo)
			res.Replayed = append(res.Replayed, done...)
			if err != nil {
				return res, fmt.Errorf("deadletter: replay: %w", err)
			}
		}
		if !more {
			return res, nil
		}
		after = last
	}
}

// replayChunk marks, appends and deletes one chunk.
func (s *Store) replayChunk(ctx context.Context, ids []uint64, appendTo AppendFunc) ([]Replayed, error) {
	var es []Entry
	err := s.update(func(b *bbolt.Bucket) error {
		for _, id := range ids {
			v := b.Get(key(id))
			if v == nil {
				continue // dropped meanwhile
			}
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %d: %w", id, err)
			}
			es = append(es, e)
			e.Replaying = true
			nv, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(key(id), nv); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mark %d entries: %w", len(ids), err)
	}
	if len(es) == 0 {
		return nil, nil
	}
	rs := make([]reading.Reading, len(es))
	for i, e := range es {
		rs[i] = e.Reading
		rs[i].Seq = 0
	}
	if err := appendTo(ctx, rs); err != nil {
		if ctx.Err() == nil {
			// Not committed: the outbox said so (a context that ended
			// may have left them committed, and then the marks stay).
			s.unmark(es)
		}
		return nil, fmt.Errorf("append %d readings to the outbox: %w", len(rs), err)
	}
	done := make([]Replayed, len(es))
	del := make([]uint64, len(es))
	for i, e := range es {
		done[i] = Replayed{ID: e.ID, OriginalSeq: e.Reading.Seq, Seq: rs[i].Seq, MaybeDuplicate: e.Replaying}
		del[i] = e.ID
	}
	if err := s.delete(del); err != nil {
		return done, fmt.Errorf("the readings are in the outbox but their %d entries stay here, marked replaying: %w", len(del), err)
	}
	s.replayed.Add(uint64(len(del)))
	return done, nil
}

// unmark clears the Replaying mark of entries whose append was refused.
func (s *Store) unmark(es []Entry) {
	_ = s.update(func(b *bbolt.Bucket) error {
		for _, e := range es {
			if e.Replaying || b.Get(key(e.ID)) == nil {
				continue // it was marked before this replay: keep it
			}
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(key(e.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// chunk returns up to replayChunk ids of selected entries with an id above
// after, the ids asked for and not held, the last id looked at, and
// whether more may follow.
func (s *Store) chunk(sel Selection, after uint64) (ids, notFound []uint64, last uint64, more bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		if !sel.All {
			want := slices.Clone(sel.IDs)
			slices.Sort(want)
			want = slices.Compact(want)
			i, _ := slices.BinarySearch(want, after+1)
			for ; i < len(want) && len(ids) < replayChunk; i++ {
				last = want[i]
				v := b.Get(key(last))
				if v == nil {
					notFound = append(notFound, last)
					continue
				}
				var e Entry
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("entry %d: %w", last, err)
				}
				if sel.wants(&e) {
					ids = append(ids, last)
				}
			}
			more = i < len(want)
			return nil
		}
		c := b.Cursor()
		k, v := c.Seek(key(after + 1))
		for ; k != nil && len(ids) < replayChunk; k, v = c.Next() {
			last = binary.BigEndian.Uint64(k)
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %d: %w", last, err)
			}
			if sel.wants(&e) {
				ids = append(ids, last)
			}
		}
		more = k != nil
		return nil
	})
	return ids, notFound, last, more, err
}

// delete removes these entries, and counts them.
func (s *Store) delete(ids []uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	var routes []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		n, routes = 0, routes[:0]
		for _, id := range ids {
			v := b.Get(key(id))
			if v == nil {
				continue
			}
			routes = append(routes, routeOf(v))
			if err := b.Delete(key(id)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %d entries from %s: %w", len(ids), s.cfg.Path, err)
	}
	s.count.Add(int64(-n))
	for _, r := range routes {
		s.uncount(r)
	}
	return nil
}

// update runs fn in one write transaction, serialized with Put's cap.
func (s *Store) update(fn func(b *bbolt.Bucket) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bbolt.Tx) error { return fn(tx.Bucket(bucket)) })
}
