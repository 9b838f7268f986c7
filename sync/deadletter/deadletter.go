// Package deadletter keeps the readings a destination refused every time
// (too large for the broker, or past the attempts allowed), so one poison
// reading never blocks the rest: the forwarder puts it here, with the
// route, the reason and the attempts, and acks it from the outbox.
//
// The store is its own bbolt file (data_dir/deadletters.db), capped by
// count: past MaxEntries the oldest entries are dropped and counted.
package deadletter

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edged-gateway/edged/reading"
)

// DefaultMaxEntries is Config.MaxEntries' default.
const DefaultMaxEntries = 10000

var bucket = []byte("deadletters")

// Config says where the dead letters live and how many are kept.
type Config struct {
	// Path is the bbolt file; required.
	Path string
	// MaxEntries bounds the entries kept; past it the oldest are dropped
	// (counted). Default 10000.
	MaxEntries int
}

// Entry is one dead letter.
type Entry struct {
	ID       uint64          `json:"id"` // this store's own sequence
	Route    string          `json:"route"`
	Reason   string          `json:"reason"`
	Attempts int             `json:"attempts"`
	At       time.Time       `json:"at"`
	Reading  reading.Reading `json:"reading"`
	// Replaying is set, durably, just before a replay appends the reading
	// to the outbox, and the entry is deleted once the append is durable.
	// An entry found with it set was being replayed when the gateway
	// stopped: its reading may be in the outbox already, so a further
	// replay may deliver it twice (Replayed.MaybeDuplicate says so).
	Replaying bool `json:"replaying,omitempty"`
}

// MaxRouteNames bounds the routes Stats names one by one; the entries of
// the others are counted under OtherRoute.
const MaxRouteNames = 64

// OtherRoute stands for the routes past MaxRouteNames in Stats.
const OtherRoute = "_other"

// Stats counts the store's entries. Count and CountByRoute are read from
// the file at Open and kept up to date (they survive a restart); the
// other counters start at zero at Open.
type Stats struct {
	Count    int    // entries kept now
	Added    uint64 // entries put since open
	Dropped  uint64 // oldest entries dropped by the cap since open
	Replayed uint64 // entries replayed to the outbox since open
	Removed  uint64 // entries dropped by Drop since open
	// AddedByRoute is Added per route, CountByRoute is Count per route:
	// at most MaxRouteNames routes each, the rest summed under OtherRoute.
	AddedByRoute map[string]uint64
	CountByRoute map[string]int
	// Unfinished is the number of entries found at Open with a replay
	// begun and not finished (Entry.Replaying).
	Unfinished int
}

// Store is the dead-letter bucket. It is safe for concurrent use.
type Store struct {
	cfg        Config
	db         *bbolt.DB
	mu         sync.Mutex // serializes Put (the cap); guards addedBy and countBy
	opMu       sync.Mutex // one Replay or Drop at a time: two replays never append one entry twice
	count      atomic.Int64
	added      atomic.Uint64
	dropped    atomic.Uint64
	replayed   atomic.Uint64
	removed    atomic.Uint64
	unfinished int
	addedBy    map[string]uint64 // per route, at most MaxRouteNames names and OtherRoute
	countBy    map[string]int    // entries kept per route (route names are config names: few)
}

// routeOf decodes only an entry's route.
func routeOf(v []byte) string {
	var e struct{ Route string }
	_ = json.Unmarshal(v, &e) // an undecodable entry counts under ""
	return e.Route
}

// uncount takes an entry of this route off countBy; s.mu is held.
func (s *Store) uncount(route string) {
	if s.countBy[route]--; s.countBy[route] <= 0 {
		delete(s.countBy, route)
	}
}

// Open opens (or creates) the store.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("deadletter: open: path is empty")
	}
	if cfg.MaxEntries < 0 {
		return nil, fmt.Errorf("deadletter: open %s: max entries %d is negative", cfg.Path, cfg.MaxEntries)
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	db, err := bbolt.Open(cfg.Path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("deadletter: open %s: %w", cfg.Path, err)
	}
	s := &Store{cfg: cfg, db: db, addedBy: map[string]uint64{}, countBy: map[string]int{}}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		s.count.Store(int64(b.Stats().KeyN))
		return b.ForEach(func(_, v []byte) error {
			var e struct {
				Route     string
				Replaying bool
			}
			_ = json.Unmarshal(v, &e) // an undecodable entry counts under ""; List names it
			if e.Replaying {
				s.unfinished++
			}
			s.countBy[e.Route]++
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("deadletter: open %s: %w", cfg.Path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("deadletter: close %s: %w", s.cfg.Path, err)
	}
	return nil
}

// Put stores a dead letter durably (the entry's ID and, when zero, At are
// set here), dropping the oldest entries past MaxEntries.
func (s *Store) Put(ctx context.Context, e Entry) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deadletter: put seq %d: %w", e.Reading.Seq, err)
	}
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var dropped int
	var droppedRoutes []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		dropped, droppedRoutes = 0, droppedRoutes[:0]
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.ID = id
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := b.Put(key(id), v); err != nil {
			return err
		}
		n := int(s.count.Load()) + 1
		c := b.Cursor()
		for k, v := c.First(); k != nil && n > s.cfg.MaxEntries; k, v = c.First() {
			route := e.Route
			if binary.BigEndian.Uint64(k) != id {
				route = routeOf(v)
			}
			if err := c.Delete(); err != nil {
				return err
			}
			droppedRoutes = append(droppedRoutes, route)
			n--
			dropped++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deadletter: put seq %d in %s: %w", e.Reading.Seq, s.cfg.Path, err)
	}
	s.count.Add(int64(1 - dropped))
	s.added.Add(1)
	s.dropped.Add(uint64(dropped))
	r := e.Route
	if _, ok := s.addedBy[r]; !ok && len(s.addedBy) >= MaxRouteNames {
		r = OtherRoute
	}
	s.addedBy[r]++
	s.countBy[e.Route]++
	for _, r := range droppedRoutes {
		s.uncount(r)
	}
	return nil
}

// List returns up to limit entries, oldest first (limit <= 0: all).
func (s *Store) List(limit int) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deadletter: list %s: %w", s.cfg.Path, err)
	}
	return out, nil
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	st := Stats{Count: int(s.count.Load()), Added: s.added.Load(), Dropped: s.dropped.Load(),
		Replayed: s.replayed.Load(), Removed: s.removed.Load(), Unfinished: s.unfinished,
		AddedByRoute: map[string]uint64{}, CountByRoute: map[string]int{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for r, n := range s.addedBy {
		st.AddedByRoute[r] = n
	}
	// The routes with the most entries are named; a store full of old
	// routes' entries stays one series per route up to the bound.
	routes := make([]string, 0, len(s.countBy))
	for r := range s.countBy {
		routes = append(routes, r)
	}
	slices.SortFunc(routes, func(a, b string) int {
		if c := cmp.Compare(s.countBy[b], s.countBy[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for i, r := range routes {
		if i < MaxRouteNames && r != OtherRoute {
			st.CountByRoute[r] = s.countBy[r]
		} else {
			st.CountByRoute[OtherRoute] += s.countBy[r]
		}
	}
	return st
}

func key(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}
