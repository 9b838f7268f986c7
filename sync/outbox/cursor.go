package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.etcd.io/bbolt"

	"github.com/edged-gateway/edged/reading"
)

// CursorStart says where a cursor new to the file starts.
type CursorStart uint8

const (
	// FromOldest starts at the oldest stored reading: a route also gets
	// what is stored now.
	FromOldest CursorStart = iota
	// FromNewest starts after the newest stored reading: a service gets
	// only what comes next.
	FromNewest
)

func (s CursorStart) String() string {
	switch s {
	case FromOldest:
		return "oldest"
	case FromNewest:
		return "newest"
	}
	return fmt.Sprintf("CursorStart(%d)", uint8(s))
}

// Cursor limits.
const (
	// MaxCursorName is the longest cursor name, in bytes.
	MaxCursorName = 64
	// MaxCursors is how many cursors one file may have.
	MaxCursors = 256
)

// CursorSpec names one consumer of the log.
type CursorSpec struct {
	// Name is 1..64 bytes of [A-Za-z0-9._:-], e.g. "route:cloud",
	// "service:porch-rules", "republish".
	Name string
	// Start is used only when the file has no cursor of this name yet.
	Start CursorStart
}

// CursorStats is a snapshot of one cursor.
type CursorStats struct {
	Name string `json:"name"`
	// Next is durable: every reading with a smaller seq is done for this
	// cursor.
	Next uint64 `json:"next"`
	// Lag is the stored readings this cursor has not passed yet (an upper
	// bound when an older release's out-of-order acks left holes after
	// Next).
	Lag uint64 `json:"lag"`
	// Acked counts readings acked through the cursor (persisted).
	Acked uint64 `json:"acked"`
	// Dropped counts readings a cap deleted before this cursor passed
	// them (persisted).
	Dropped uint64 `json:"dropped"`
}

// ErrCursors is returned by Outbox.Ack while cursors are registered: each
// consumer then acks through its own Cursor.
var ErrCursors = errors.New("outbox has cursors: ack through a Cursor, not Outbox.Ack")

// ErrCursorRemoved is wrapped by the methods of a Cursor that SetCursors
// removed.
var ErrCursorRemoved = errors.New("cursor removed by SetCursors")

// cursorState is what the cursors bucket persists per cursor: name ->
// next, acked, dropped as 3 × uint64 big-endian.
type cursorState struct {
	next, acked, dropped uint64
}

const cursorStateLen = 24

func (s cursorState) encode() []byte {
	b := make([]byte, cursorStateLen)
	binary.BigEndian.PutUint64(b[0:], s.next)
	binary.BigEndian.PutUint64(b[8:], s.acked)
	binary.BigEndian.PutUint64(b[16:], s.dropped)
	return b
}

// decodeCursor decodes one entry of the cursors bucket. A name that is not
// valid is an error (the entry is ignored); a value of the wrong length is
// an error too, and the caller restarts that cursor at the oldest stored
// reading (at-least-once: nothing is skipped).
func decodeCursor(k, v []byte) (string, cursorState, error) {
	name := string(k)
	if err := checkCursorName(name); err != nil {
		return "", cursorState{}, err
	}
	if len(v) != cursorStateLen {
		return name, cursorState{}, fmt.Errorf("cursor %q: state is %d bytes, want %d", name, len(v), cursorStateLen)
	}
	return name, cursorState{
		next:    binary.BigEndian.Uint64(v[0:]),
		acked:   binary.BigEndian.Uint64(v[8:]),
		dropped: binary.BigEndian.Uint64(v[16:]),
	}, nil
}

// checkCursorName reports why name cannot name a cursor, or nil.
func checkCursorName(name string) error {
	if name == "" || len(name) > MaxCursorName {
		return fmt.Errorf("cursor name %.80q is %d bytes, want 1..%d", name, len(name), MaxCursorName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Errorf("cursor name %q: byte %d (%q) is not one of [A-Za-z0-9._:-]", name, i, c)
		}
	}
	return nil
}

// Cursor is one consumer's durable position in the log. Its method set is
// a superset of runtime/forwarder.Store, so a *Cursor is a forwarder.Store.
// Its methods are safe for concurrent use.
type Cursor struct {
	o    *Outbox
	name string

	// Published after every commit that changes them (durable).
	next, acked, dropped atomic.Uint64
	removed              atomic.Bool

	// Owned by the writer goroutine.
	w       cursorState         // committed
	t       cursorState         // in the transaction being built
	done    map[uint64]struct{} // acked seqs >= w.next, not yet passed
	touched bool                // acks or a cap moved it in this transaction
	fresh   bool                // created by the transaction being built
}

// cursorAck is one seq acked through a cursor, queued in a batch.
type cursorAck struct {
	c   *Cursor
	seq uint64
}

// Name is the cursor's name.
func (c *Cursor) Name() string { return c.name }

// Next is the durable position: every reading with a smaller seq is done
// for this cursor.
func (c *Cursor) Next() uint64 { return c.next.Load() }

// Lag is the number of stored readings this cursor has not passed (see
// CursorStats.Lag).
func (c *Cursor) Lag() uint64 {
	return c.o.lag(c.next.Load())
}

// Stats is a snapshot of the cursor.
func (c *Cursor) Stats() CursorStats {
	next := c.next.Load()
	return CursorStats{Name: c.name, Next: next, Lag: c.o.lag(next), Acked: c.acked.Load(), Dropped: c.dropped.Load()}
}

// Changed is Outbox.Changed.
func (c *Cursor) Changed() <-chan struct{} { return c.o.Changed() }

// Peek appends to dst[:0] up to n of the oldest stored, durable readings
// with Seq > after that this cursor has not passed (Seq >= Next()), in seq
// order, and returns it.
func (c *Cursor) Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error) {
	if c.removed.Load() {
		return dst[:0], fmt.Errorf("outbox: cursor %s: peek after %d: %w", c.name, after, ErrCursorRemoved)
	}
	if next := c.next.Load(); next > 0 && after < next-1 {
		after = next - 1
	}
	out, err := c.o.Peek(after, n, dst)
	if err != nil {
		return out, fmt.Errorf("cursor %s: %w", c.name, err)
	}
	return out, nil
}

// Ack marks readings done for this cursor. Seqs may come in any order and
// with gaps; the durable position moves over the longest run of done
// readings from Next() (readings no longer stored count as done). Ack
// returns when that position is committed, group-committed with appends.
// Acking a seq the cursor already passed is a no-op. The seqs acked beyond
// a gap are held in memory until the gap is acked: the memory is bounded
// by what the consumer has in flight.
func (c *Cursor) Ack(ctx context.Context, seqs []uint64) error {
	if c.removed.Load() {
		return fmt.Errorf("outbox: cursor %s: ack %d readings: %w", c.name, len(seqs), ErrCursorRemoved)
	}
	next := c.next.Load()
	keep := 0
	for _, s := range seqs {
		if s >= next {
			keep++
		}
	}
	if keep == 0 {
		return nil
	}
	acks := make([]cursorAck, 0, keep)
	for _, s := range seqs {
		if s >= next {
			acks = append(acks, cursorAck{c, s})
		}
	}
	b, err := c.o.enqueueReq(ctx, request{cacks: acks})
	if err == nil && b != nil {
		select {
		case <-b.done:
			err = b.err
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil && c.removed.Load() {
		err = ErrCursorRemoved
	}
	if err != nil {
		return fmt.Errorf("outbox: cursor %s: ack %d readings: %w", c.name, len(seqs), err)
	}
	return nil
}

// cursorSet is the published set of cursors, read by Cursor and Cursors.
type cursorSet struct {
	mu     sync.RWMutex
	byName map[string]*Cursor
	count  atomic.Int64
}

// SetCursors makes the file's cursors exactly specs, durably, in one
// transaction: a name new to the file starts per its Start; a name the file
// has and specs lack is removed (it no longer holds readings back, and its
// *Cursor returns ErrCursorRemoved). It may be called again at run time.
// With no cursors (never called on this file, or called with none) the
// outbox behaves as before: Outbox.Ack deletes the given seqs. With cursors,
// Outbox.Ack returns ErrCursors and a reading is deleted once every cursor
// has passed it (or a cap drops it). The cursors are stored in the file:
// Open restores them (with their positions) before SetCursors is called.
func (o *Outbox) SetCursors(ctx context.Context, specs []CursorSpec) error {
	if len(specs) > MaxCursors {
		return fmt.Errorf("outbox: set cursors: %d cursors, at most %d allowed", len(specs), MaxCursors)
	}
	var errs []error
	seen := make(map[string]bool, len(specs))
	for i, s := range specs {
		if err := checkCursorName(s.Name); err != nil {
			errs = append(errs, fmt.Errorf("cursor %d: %w", i, err))
			continue
		}
		if s.Start != FromOldest && s.Start != FromNewest {
			errs = append(errs, fmt.Errorf("cursor %q: start %d is neither FromOldest nor FromNewest", s.Name, s.Start))
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("cursor %q named twice", s.Name))
		}
		seen[s.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("outbox: set cursors: %w", err)
	}
	sorted := slices.Clone(specs)
	slices.SortFunc(sorted, func(a, b CursorSpec) int { return strings.Compare(a.Name, b.Name) })
	b, err := o.enqueueReq(ctx, request{specs: sorted, setSpecs: true})
	if err == nil && b != nil {
		select {
		case <-b.done:
			err = b.err
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("outbox: set %d cursors: %w", len(specs), err)
	}
	return nil
}

// Cursor returns the named cursor, or an error naming the cursors there
// are. The same *Cursor is returned for the same name until SetCursors
// removes it.
func (o *Outbox) Cursor(name string) (*Cursor, error) {
	o.curs.mu.RLock()
	defer o.curs.mu.RUnlock()
	if c, ok := o.curs.byName[name]; ok {
		return c, nil
	}
	names := make([]string, 0, len(o.curs.byName))
	for n := range o.curs.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("outbox: no cursor %q: the file has no cursors (SetCursors makes them)", name)
	}
	return nil, fmt.Errorf("outbox: no cursor %q; the cursors are %s", name, strings.Join(names, ", "))
}

// Cursors reports every cursor, in name order.
func (o *Outbox) Cursors() []CursorStats {
	o.curs.mu.RLock()
	out := make([]CursorStats, 0, len(o.curs.byName))
	for _, c := range o.curs.byName {
		out = append(out, c.Stats())
	}
	o.curs.mu.RUnlock()
	slices.SortFunc(out, func(a, b CursorStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// lag is the number of stored readings at or after next: exact while the
// stored seqs form one range, an upper bound with holes.
func (o *Outbox) lag(next uint64) uint64 {
	end := o.nextSeq.Load()
	first := o.first.Load()
	if next < first {
		next = first
	}
	if next >= end {
		return 0
	}
	n := end - next
	if d := o.depth.Load(); d >= 0 && uint64(d) < n {
		n = uint64(d)
	}
	return n
}

// loadedCursor is one entry of the cursors bucket as Open found it.
type loadedCursor struct {
	name string
	st   cursorState
	err  error // the state was malformed (it restarts at the oldest reading) or the entry ignored (name "")
	key  string
}

// readCursors reads the cursors bucket (absent in files of older releases).
// Malformed entries are returned with their error for Open to log: more
// than MaxCursors entries is damage.
func readCursors(tx *bbolt.Tx) ([]loadedCursor, error) {
	cb := tx.Bucket([]byte(bucketCursors))
	if cb == nil {
		return nil, nil
	}
	var out []loadedCursor
	err := cb.ForEach(func(k, v []byte) error {
		if len(out) >= MaxCursors {
			return corruptf("bucket %q holds more than %d cursors", bucketCursors, MaxCursors)
		}
		name, cs, err := decodeCursor(k, v)
		out = append(out, loadedCursor{name: name, st: cs, err: err, key: fmt.Sprintf("%.80q", k)})
		return nil
	})
	return out, err
}

// installCursors makes the cursors Open read the writer's and publishes
// them. Before the writer starts.
func (o *Outbox) installCursors(lc []loadedCursor) {
	for _, l := range lc {
		if l.name == "" {
			o.log.Error("outbox: ignoring a cursor entry with an invalid name (it holds nothing back)", "path", o.cfg.Path, "key", l.key, "err", l.err)
			continue
		}
		if l.err != nil {
			o.log.Error("outbox: cursor state malformed; the cursor restarts at the oldest stored reading", "path", o.cfg.Path, "cursor", l.name, "err", l.err)
		}
		cs := l.st
		if cs.next > o.w.st.nextSeq {
			cs.next = o.w.st.nextSeq
		}
		c := &Cursor{o: o, name: l.name, w: cs}
		c.touched = cs.next < o.w.st.first // moves to the first stored reading at the next commit
		c.publish()
		o.w.curs = append(o.w.curs, c)
	}
	o.publishCursors(o.w.curs, nil)
}

// mergeCursorAcks adds acked seqs to their cursors' done sets. Seqs the
// cursor passed and seqs never handed out (>= end) are ignored. The sets
// keep them even if the commit fails: the consumer did finish them, and a
// later commit moves the position over them. Writer only.
func (o *Outbox) mergeCursorAcks(acks []cursorAck, end uint64) {
	for _, a := range acks {
		c := a.c
		if c.removed.Load() || a.seq < c.w.next || a.seq >= end {
			continue
		}
		if c.done == nil {
			c.done = make(map[uint64]struct{})
		}
		c.done[a.seq] = struct{}{}
		c.touched = true
	}
}

// planCursors returns the cursor list specs (sorted by name) asks for:
// existing cursors keep their *Cursor, new names get a fresh one; and the
// cursors it removes. Nothing is published. Writer only.
func (o *Outbox) planCursors(specs []CursorSpec) (list, removed []*Cursor) {
	have := make(map[string]*Cursor, len(o.w.curs))
	for _, c := range o.w.curs {
		have[c.name] = c
	}
	list = make([]*Cursor, 0, len(specs))
	for _, s := range specs {
		if c, ok := have[s.Name]; ok {
			c.fresh = false
			list = append(list, c)
			delete(have, s.Name)
			continue
		}
		list = append(list, &Cursor{o: o, name: s.Name, fresh: true})
	}
	for _, c := range o.w.curs {
		if _, gone := have[c.name]; gone {
			removed = append(removed, c)
		}
	}
	return list, removed
}

// applyCursorSpecs, in the transaction, places the new cursors of list per
// their spec's Start and deletes the removed ones from the file.
func (o *Outbox) applyCursorSpecs(tx *bbolt.Tx, rc *bbolt.Cursor, st *state, specs []CursorSpec, list, removed []*Cursor) error {
	cb, err := tx.CreateBucketIfNotExists([]byte(bucketCursors))
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", bucketCursors, err)
	}
	for _, c := range removed {
		if err := cb.Delete([]byte(c.name)); err != nil {
			return fmt.Errorf("remove cursor %s: %w", c.name, err)
		}
	}
	first := st.nextSeq
	if k, _ := rc.First(); len(k) == keyLen {
		first = binary.BigEndian.Uint64(k)
	}
	for i, c := range list {
		if !c.fresh {
			continue
		}
		c.t = cursorState{next: first}
		if specs[i].Start == FromNewest {
			c.t.next = st.nextSeq
		}
	}
	return nil
}

// putCursors persists the cursors whose state the transaction changed.
func (o *Outbox) putCursors(tx *bbolt.Tx, list []*Cursor) error {
	var cb *bbolt.Bucket
	for _, c := range list {
		if !c.fresh && c.t == c.w {
			continue
		}
		if cb == nil {
			if cb = tx.Bucket([]byte(bucketCursors)); cb == nil {
				return corruptf("bucket %q missing", bucketCursors)
			}
		}
		if err := cb.Put([]byte(c.name), c.t.encode()); err != nil {
			return fmt.Errorf("store cursor %s: %w", c.name, err)
		}
	}
	return nil
}

// commitCursors takes the transaction's cursor states as committed and
// publishes them. Writer only, after a successful commit.
func (o *Outbox) commitCursors(list, removed []*Cursor, set bool) {
	for _, c := range list {
		if d := c.t.dropped - c.w.dropped; d > 0 && c.t.dropped > c.w.dropped {
			if o.w.curDrops == nil {
				o.w.curDrops = make(map[string]uint64)
			}
			o.w.curDrops[c.name] += d
		}
		c.w = c.t
		c.fresh, c.touched = false, false
		c.commitDone()
		c.publish()
	}
	if set {
		for _, c := range removed {
			c.done = nil
		}
		o.w.curs = list
		o.publishCursors(list, removed)
	}
}

// minCursorNext is the smallest next of list in the transaction being
// built (0 for none).
func minCursorNext(list []*Cursor) uint64 {
	if len(list) == 0 {
		return 0
	}
	m := list[0].t.next
	for _, c := range list[1:] {
		m = min(m, c.t.next)
	}
	return m
}

// minCommittedNext is the smallest committed next of list (0 for none).
func minCommittedNext(list []*Cursor) uint64 {
	if len(list) == 0 {
		return 0
	}
	m := list[0].w.next
	for _, c := range list[1:] {
		m = min(m, c.w.next)
	}
	return m
}

// cursorDropList names the cursors with drops not yet logged, for the log:
// "route:cloud=12,service:x=3", at most 16 of them.
func (o *Outbox) cursorDropList() string {
	names := make([]string, 0, len(o.w.curDrops))
	for n := range o.w.curDrops {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for i, n := range names {
		if i == 16 {
			b.WriteString(",…")
			break
		}
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%d", n, o.w.curDrops[n])
	}
	return b.String()
}

// publishCursors installs list as the published set. Writer only.
func (o *Outbox) publishCursors(list []*Cursor, removed []*Cursor) {
	m := make(map[string]*Cursor, len(list))
	for _, c := range list {
		m[c.name] = c
	}
	for _, c := range removed {
		c.removed.Store(true)
	}
	o.curs.mu.Lock()
	o.curs.byName = m
	o.curs.count.Store(int64(len(list)))
	o.curs.mu.Unlock()
}

// publishCursorState copies a cursor's committed state to its atomics.
func (c *Cursor) publish() {
	c.next.Store(c.w.next)
	c.acked.Store(c.w.acked)
	c.dropped.Store(c.w.dropped)
}

// advance moves c.t.next over done seqs and over seqs that are not stored,
// up to the first stored reading not done or the end of the log. rc is a
// cursor on the readings bucket.
func (c *Cursor) advance(rc *bbolt.Cursor, end uint64) {
	n := c.t.next
	var key [keyLen]byte
	for n < end {
		if _, ok := c.done[n]; ok {
			c.t.acked++
			n++
			continue
		}
		binary.BigEndian.PutUint64(key[:], n)
		k, _ := rc.Seek(key[:])
		if k == nil {
			n = end
			break
		}
		s := binary.BigEndian.Uint64(k)
		if s == n {
			break // stored and not done
		}
		n = s
	}
	c.t.next = n
}

// commitDone drops done seqs the committed position has passed.
func (c *Cursor) commitDone() {
	if len(c.done) == 0 {
		return
	}
	for s := range c.done {
		if s < c.w.next {
			delete(c.done, s)
		}
	}
}
