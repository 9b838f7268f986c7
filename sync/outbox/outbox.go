package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/edged-gateway/edged/internal/latency"
	"github.com/edged-gateway/edged/reading"
)

// Outbox is a durable FIFO of readings in one bbolt file. Its methods are
// safe for concurrent use. Create one with Open and release it with Close.
type Outbox struct {
	cfg Config
	db  *bbolt.DB
	log *slog.Logger

	maxBytes atomic.Int64 // the caps in force (SetLimits changes them)
	maxAge   atomic.Int64 // nanoseconds

	mu      sync.Mutex // guards closed, pending, queue, free
	closed  bool
	pending *batch   // the batch new requests join
	queue   []*batch // full batches waiting for the writer, oldest first
	free    []*bufs  // buffers of committed batches, for reuse

	kick       chan struct{} // wakes the writer; capacity 1
	stop       chan struct{} // closed by Close
	writerDone chan struct{} // closed when the writer has drained and exited

	changedMu sync.Mutex
	changed   chan struct{} // closed at the next commit that adds readings

	peekMu sync.Mutex // serialises use of intern
	intern interner

	closeOnce sync.Once
	closeErr  error
	isClosed  atomic.Bool

	w writerState // owned by the writer goroutine (and Open before it starts)

	curs  cursorSet     // the published cursors
	first atomic.Uint64 // seq of the first stored reading (Lag)

	epoch    string    // this file's stream identity
	recovery *Recovery // the damaged file Open moved aside; nil if none

	// durable is the last seq whose commit returned successfully; Peek
	// reads no further (bbolt shows a commit to readers before its
	// fdatasync has returned, and a commit whose fsync failed too).
	durable atomic.Uint64
	// failure is the error of the first commit that failed after bbolt
	// may have made it visible (an fsync or write error): from then on
	// Append and Ack are refused until the file is opened again.
	failure  atomic.Pointer[error]
	failedCh chan struct{} // closed when failure is set

	// Published by the writer after every successful commit.
	depth, bytes, oldest      atomic.Int64
	nextSeq, dropped          atomic.Uint64
	appended, acked, commits  atomic.Uint64
	appendErrors, undecodable atomic.Uint64
	lastCommit, lastBatch     atomic.Int64
	commitLatency             latency.Histogram
}

// Stats is a snapshot of an Outbox. Fields are read one by one, so a
// snapshot taken during a commit may mix values from before and after it.
type Stats struct {
	// Depth is the number of readings stored.
	Depth int64
	// Bytes is the stored size counted against Config.MaxBytes.
	Bytes int64
	// Oldest is the Time of the first stored reading; zero when empty.
	Oldest time.Time
	// NextSeq is the seq the next appended reading will get.
	NextSeq uint64
	// Dropped counts readings deleted by the caps (or as undecodable)
	// over the life of the file; it is persisted.
	Dropped uint64
	// Appended, Acked and AppendErrors count, since Open, readings made
	// durable, readings deleted by Ack (unknown seqs excluded) or, with
	// cursors, because every cursor had passed them, and Append calls
	// that failed.
	Appended, Acked, AppendErrors uint64
	// Undecodable counts records Peek skipped because they do not decode.
	Undecodable uint64
	// Commits counts write transactions since Open.
	Commits uint64
	// LastCommit is the duration of the last commit, fsync included, and
	// LastBatch the number of readings and acked seqs it carried.
	LastCommit time.Duration
	// CommitLatency is the distribution of commit durations, fsync
	// included, since Open.
	CommitLatency latency.Snapshot
	LastBatch     int
	// Epoch names this file's stream: seqs only go up within one epoch;
	// a new file (after a damaged one was moved aside, or a wiped data
	// directory) has a new epoch and starts at seq 1.
	Epoch string
	// Durable is the last seq whose commit returned successfully, the
	// highest seq Peek hands out.
	Durable uint64
	// Failed is the commit error that stopped the outbox ("" when
	// healthy); see Failed.
	Failed string
}

// Append stores rs and returns once they are durable: committed and, unless
// Config.Fsync is false, fsynced. It sets rs[i].Seq to the seqs assigned,
// which are contiguous and ascending in the order of rs, and stamps a zero
// rs[i].Time with Config.Now. One call is one transaction: all of rs is
// stored or none. Concurrent callers share a transaction and its fsync.
//
// If ctx ends first Append returns its error; the readings may still be
// committed (Seq is then not set), so a retry can store them twice.
func (o *Outbox) Append(ctx context.Context, rs []reading.Reading) error {
	var now time.Time
	for i := range rs {
		r := &rs[i]
		if r.Time.IsZero() {
			if now.IsZero() {
				now = o.cfg.Now()
			}
			r.Time = now
		}
		if err := checkReading(r); err != nil {
			o.appendErrors.Add(1)
			return fmt.Errorf("outbox: append %d readings: reading %d (%.64s/%.64s): %w: %v",
				len(rs), i, r.Device, r.Metric, ErrInvalidReading, err)
		}
	}
	b, start, err := o.enqueue(ctx, rs, nil)
	if err != nil {
		if errors.Is(err, ErrFailed) {
			o.appendErrors.Add(1)
		}
		return fmt.Errorf("outbox: append %d readings: %w", len(rs), err)
	}
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return fmt.Errorf("outbox: append %d readings: %w (they may still be committed)", len(rs), ctx.Err())
	}
	if b.err != nil {
		o.appendErrors.Add(1)
		return fmt.Errorf("outbox: append %d readings: %w", len(rs), b.err)
	}
	for i := range rs {
		rs[i].Seq = b.first + uint64(start+i)
	}
	return nil
}

// Ack deletes the readings with these seqs, typically after the broker
// acknowledged them. Unknown and already deleted seqs are ignored, so Ack is
// idempotent. It returns once the deletion is committed; it rides the same
// group commit as Append. After a crash an acked reading may reappear (it is
// then sent twice), but a reading is never lost.
func (o *Outbox) Ack(ctx context.Context, seqs []uint64) error {
	if o.curs.count.Load() > 0 {
		return fmt.Errorf("outbox: ack %d readings: %w", len(seqs), ErrCursors)
	}
	b, _, err := o.enqueue(ctx, nil, seqs)
	if err != nil {
		return fmt.Errorf("outbox: ack %d readings: %w", len(seqs), err)
	}
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return fmt.Errorf("outbox: ack %d readings: %w", len(seqs), ctx.Err())
	}
	if b.err != nil {
		return fmt.Errorf("outbox: ack %d readings: %w", len(seqs), b.err)
	}
	return nil
}

// Peek appends to dst[:0] up to n stored readings with Seq > after, oldest
// first, and returns it. A forwarder passes the highest seq it has sent, so
// each call is one seek and a sequential read. Peek does not block on
// writers. It returns only durable readings: none past the last seq whose
// commit returned successfully (Stats.Durable), even where bbolt already
// shows a later commit. Records that do not decode are skipped, logged and
// counted in Stats.Undecodable; the caps later delete them.
func (o *Outbox) Peek(after uint64, n int, dst []reading.Reading) (out []reading.Reading, err error) {
	dst = dst[:0]
	if o.isClosed.Load() {
		return dst, fmt.Errorf("outbox: peek after %d: %w", after, ErrClosed)
	}
	if n <= 0 || after == math.MaxUint64 {
		return dst, nil
	}
	o.peekMu.Lock()
	defer o.peekMu.Unlock()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			out, err = dst[:0], fmt.Errorf("outbox: peek after %d in %s: %w", after, o.cfg.Path, panicError(r))
		}
	}()
	durable := o.durable.Load() // before the read transaction: never past it
	if after >= durable {
		return dst, nil
	}
	var from, last [keyLen]byte
	binary.BigEndian.PutUint64(from[:], after+1)
	binary.BigEndian.PutUint64(last[:], durable)
	err = o.db.View(func(tx *bbolt.Tx) error {
		rb := tx.Bucket([]byte(bucketReadings))
		if rb == nil {
			return corruptf("bucket %q missing", bucketReadings)
		}
		c := rb.Cursor()
		for k, v := c.Seek(from[:]); k != nil && len(dst) < n && string(k) <= string(last[:]); k, v = c.Next() {
			dst = append(dst, reading.Reading{})
			r := &dst[len(dst)-1]
			if err := decodeKV(k, v, r, &o.intern); err != nil {
				dst = dst[:len(dst)-1]
				o.undecodable.Add(1)
				o.log.Error("outbox: skipping undecodable reading", "path", o.cfg.Path, "key", fmt.Sprintf("%x", k), "err", err)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) || o.isClosed.Load() {
			err = ErrClosed
		}
		return dst[:0], fmt.Errorf("outbox: peek after %d in %s: %w", after, o.cfg.Path, err)
	}
	return dst, nil
}

// decodeKV decodes one stored record into r, Seq included.
func decodeKV(k, v []byte, r *reading.Reading, in *interner) error {
	if len(k) != keyLen {
		return fmt.Errorf("key is %d bytes, want %d", len(k), keyLen)
	}
	if err := decode(v, r, in); err != nil {
		return err
	}
	r.Seq = binary.BigEndian.Uint64(k)
	return nil
}

// Changed returns a channel that is closed at the next commit that adds
// readings, and at Close. Every call after that returns a fresh channel.
// To wait without missing a commit, take the channel before calling Peek:
//
//	ch := o.Changed()
//	rs, err := o.Peek(sent, 500, rs)
//	if len(rs) == 0 { select { case <-ch: case <-ctx.Done(): } }
func (o *Outbox) Changed() <-chan struct{} {
	o.changedMu.Lock()
	defer o.changedMu.Unlock()
	return o.changed
}

// notifyChanged closes the current Changed channel and installs a fresh
// one, unless the Outbox is closed (its channel then stays closed).
func (o *Outbox) notifyChanged() {
	o.changedMu.Lock()
	defer o.changedMu.Unlock()
	if o.isClosed.Load() {
		return
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

// Stats returns counters and the state of the store. It does not block.
func (o *Outbox) Stats() Stats {
	s := Stats{
		Depth:         o.depth.Load(),
		Bytes:         o.bytes.Load(),
		NextSeq:       o.nextSeq.Load(),
		Dropped:       o.dropped.Load(),
		Appended:      o.appended.Load(),
		Acked:         o.acked.Load(),
		AppendErrors:  o.appendErrors.Load(),
		Undecodable:   o.undecodable.Load(),
		Commits:       o.commits.Load(),
		LastCommit:    time.Duration(o.lastCommit.Load()),
		CommitLatency: o.commitLatency.Snapshot(),
		LastBatch:     int(o.lastBatch.Load()),
		Epoch:         o.epoch,
		Durable:       o.durable.Load(),
	}
	if p := o.failure.Load(); p != nil {
		s.Failed = (*p).Error()
	}
	if t := o.oldest.Load(); s.Depth > 0 && t != zeroTime {
		s.Oldest = time.Unix(0, t).UTC()
	}
	return s
}

// Epoch is this file's stream identity (see Stats.Epoch).
func (o *Outbox) Epoch() string { return o.epoch }

// Recovery describes the damaged file Open moved aside before starting this
// one, or is nil.
func (o *Outbox) Recovery() *Recovery { return o.recovery }

// Failed returns a channel closed when a commit failed in a way that leaves
// the file untrustworthy (an fsync or write error after which bbolt may
// show the commit to readers, the page cache no longer matching the disk).
// The Outbox then refuses Append and Ack with an error wrapping ErrFailed,
// still hands out the readings durable before it, and must be closed and
// opened again (the daemon exits so its supervisor restarts it). A full
// disk (ENOSPC, EDQUOT while writing pages) does not fail the Outbox: that
// commit is refused and the next one may succeed.
func (o *Outbox) Failed() <-chan struct{} { return o.failedCh }

// Close commits the requests already queued, stops the writer and closes the
// file. Later Appends, Acks and Peeks return an error wrapping ErrClosed.
// Close is idempotent; every call returns the first call's result.
func (o *Outbox) Close() error {
	o.closeOnce.Do(func() {
		o.mu.Lock()
		o.closed = true
		o.mu.Unlock()
		close(o.stop)
		<-o.writerDone
		o.changedMu.Lock()
		o.isClosed.Store(true)
		close(o.changed)
		o.changedMu.Unlock()
		if err := o.db.Close(); err != nil {
			o.closeErr = fmt.Errorf("outbox: close %s: %w", o.cfg.Path, err)
		}
		o.log.Info("outbox: closed", "path", o.cfg.Path, "depth", o.depth.Load(), "next_seq", o.nextSeq.Load())
	})
	return o.closeErr
}

// SetLimits changes the caps (a plan's sync policy does): readings beyond
// maxBytes or older than maxAge are dropped, oldest first, at the next
// commit. Zero keeps a cap as it is.
func (o *Outbox) SetLimits(maxBytes int64, maxAge time.Duration) {
	if maxBytes > 0 {
		o.maxBytes.Store(maxBytes)
	}
	if maxAge > 0 {
		o.maxAge.Store(int64(maxAge))
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// WouldDrop counts the readings that caps of maxBytes and maxAge would drop
// now (0 keeps a cap as it is), without changing anything: a plan says it
// before its caps apply. It reads from the front only as far as the caps
// reach.
func (o *Outbox) WouldDrop(maxBytes int64, maxAge time.Duration) (n int64, err error) {
	if o.isClosed.Load() {
		return 0, fmt.Errorf("outbox: count readings over caps: %w", ErrClosed)
	}
	if maxBytes <= 0 {
		maxBytes = o.maxBytes.Load()
	}
	if maxAge <= 0 {
		maxAge = time.Duration(o.maxAge.Load())
	}
	cutoff := o.cfg.Now().Add(-maxAge).UnixNano()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("outbox: count readings over caps in %s: %w", o.cfg.Path, panicError(r))
		}
	}()
	err = o.db.View(func(tx *bbolt.Tx) error {
		rb, mb := tx.Bucket([]byte(bucketReadings)), tx.Bucket([]byte(bucketMeta))
		if rb == nil || mb == nil {
			return corruptf("bucket %q or %q missing", bucketReadings, bucketMeta)
		}
		var st state
		if v := mb.Get([]byte(keyState)); len(v) == stateLen {
			st.decode(v)
		}
		bytes := st.bytes
		c := rb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			t, terr := decodeTime(v)
			if terr == nil && bytes <= maxBytes && t >= cutoff {
				return nil
			}
			bytes -= int64(len(k) + len(v))
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: count readings over caps in %s: %w", o.cfg.Path, err)
	}
	return n, nil
}

// Limits are the caps in force.
func (o *Outbox) Limits() (maxBytes int64, maxAge time.Duration) {
	return o.maxBytes.Load(), time.Duration(o.maxAge.Load())
}
