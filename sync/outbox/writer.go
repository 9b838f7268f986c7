package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edged-gateway/edged/reading"
)

const (
	// maintainEvery is how often the idle writer checks the age cap.
	maintainEvery = time.Minute
	// dropLogEvery rate-limits the warning about dropped readings.
	dropLogEvery = 10 * time.Second
	// maxGather bounds how long gather delays a commit, for slow disks.
	maxGather = 5 * time.Millisecond
)

// batch is one group commit: the requests that joined it while it was
// pending, and, once done is closed, the outcome every waiter reads.
type batch struct {
	*bufs     // requests; touched under Outbox.mu until the writer takes the batch
	n     int // readings in buf
	calls int // Append and Outbox.Ack calls waiting on done (gather waits for them)
	done  chan struct{}
	first uint64 // seq of the first reading, set before done is closed
	err   error  // commit error, set before done is closed
}

// bufs holds a batch's encoded requests. It outlives the batch: the writer
// recycles it after the commit, since waiters read only first and err.
type bufs struct {
	buf      []byte      // encoded values, back to back
	ends     []int       // end offset in buf of each value
	acks     []uint64    // seqs to delete (Outbox.Ack)
	cacks    []cursorAck // seqs acked through cursors
	specs    []CursorSpec
	setSpecs bool // SetCursors: make the cursors exactly specs (the last call in the batch wins)
}

func (b *batch) size() int {
	n := b.n + len(b.acks) + len(b.cacks)
	if b.setSpecs {
		n++
	}
	return n
}

// request is what one call adds to a batch.
type request struct {
	rs       []reading.Reading
	acks     []uint64
	cacks    []cursorAck
	specs    []CursorSpec
	setSpecs bool
}

func (r *request) size() int {
	n := len(r.rs) + len(r.acks) + len(r.cacks)
	if r.setSpecs {
		n++
	}
	return n
}

// newBatchLocked returns an empty batch, reusing recycled buffers. o.mu held.
func (o *Outbox) newBatchLocked() *batch {
	b := &batch{done: make(chan struct{})}
	if i := len(o.free) - 1; i >= 0 {
		b.bufs, o.free[i] = o.free[i], nil
		o.free = o.free[:i]
	} else {
		b.bufs = &bufs{}
	}
	return b
}

// enqueue adds rs (encoded) and seqs to the pending batch and wakes the
// writer. It returns the batch and the index of rs[0] in it, or a nil batch
// if there is nothing to do. When maxQueued full batches are already
// waiting it blocks until the oldest is committed (back-pressure).
func (o *Outbox) enqueue(ctx context.Context, rs []reading.Reading, seqs []uint64) (*batch, int, error) {
	return o.enqueueStart(ctx, request{rs: rs, acks: seqs})
}

// enqueueReq is enqueue for any request, when the caller needs only the
// batch.
func (o *Outbox) enqueueReq(ctx context.Context, req request) (*batch, error) {
	b, _, err := o.enqueueStart(ctx, req)
	return b, err
}

func (o *Outbox) enqueueStart(ctx context.Context, req request) (*batch, int, error) {
	rs := req.rs
	size := req.size()
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	o.mu.Lock()
	for {
		if o.closed {
			o.mu.Unlock()
			return nil, 0, ErrClosed
		}
		if err := o.failedErr(); err != nil {
			o.mu.Unlock()
			return nil, 0, err
		}
		if size == 0 {
			o.mu.Unlock()
			return nil, 0, nil
		}
		b := o.pending
		if b.size() == 0 || b.size()+size <= o.cfg.MaxBatch {
			break
		}
		if len(o.queue) < maxQueued {
			o.queue = append(o.queue, b)
			o.pending = o.newBatchLocked()
			break
		}
		head := o.queue[0]
		o.mu.Unlock()
		select {
		case <-head.done:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		o.mu.Lock()
	}
	b := o.pending
	start := b.n
	for i := range rs {
		b.buf = appendEncoded(b.buf, &rs[i])
		b.ends = append(b.ends, len(b.buf))
	}
	b.n += len(rs)
	b.acks = append(b.acks, req.acks...)
	b.cacks = append(b.cacks, req.cacks...)
	if req.setSpecs {
		b.specs, b.setSpecs = req.specs, true
	}
	if len(rs)+len(req.acks) > 0 {
		// Consumers acking through cursors come back only after the
		// next Changed; gather does not wait for them.
		b.calls++
	}
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return b, start, nil
}

// take removes the next batch to commit: the oldest full one, else the
// pending one if it holds anything. It returns nil if there is nothing.
func (o *Outbox) take() *batch {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) > 0 {
		b := o.queue[0]
		copy(o.queue, o.queue[1:])
		o.queue[len(o.queue)-1] = nil
		o.queue = o.queue[:len(o.queue)-1]
		return b
	}
	if o.pending.size() == 0 {
		return nil
	}
	b := o.pending
	o.pending = o.newBatchLocked()
	return b
}

// run is the writer goroutine. It commits one batch after another, starting
// the next as soon as the last is durable with whatever queued meanwhile, so
// the batch size follows the load. After stop it drains the queue and exits.
func (o *Outbox) run() {
	defer close(o.writerDone)
	// A damaged file can fault on mmap access; turn that into a panic
	// that commit recovers instead of a crash of the daemon.
	debug.SetPanicOnFault(true)
	tick := time.NewTicker(maintainEvery)
	defer tick.Stop()
	gatherTimer := time.NewTimer(time.Hour)
	gatherTimer.Stop()
	stopping := false
	for {
		if b := o.take(); b != nil {
			o.commit(b)
			if !stopping {
				stopping = o.gather(b.calls, gatherTimer)
			}
			continue
		}
		if stopping {
			o.flushDropLog(true)
			return
		}
		select {
		case <-o.kick:
		case <-tick.C:
			if o.needsMaintenance() {
				o.commit(&batch{bufs: &bufs{}, done: make(chan struct{})})
			}
			o.flushDropLog(false)
		case <-o.stop:
			stopping = true
		}
	}
}

// gather waits, after a commit that released released callers, until they
// have come back with their next request (so the next commit carries all of
// them instead of only those that queued during the fsync), at most half the
// last commit's duration and maxGather. Without it the batch size settles at half the
// number of callers. It reports whether Close was called meanwhile.
func (o *Outbox) gather(released int, t *time.Timer) (stopping bool) {
	o.mu.Lock()
	target := o.pending.calls + released
	ready := len(o.queue) > 0
	o.mu.Unlock()
	if ready || released <= 1 {
		// Full batches are waiting, or only one caller was released
		// and its next request starts a commit.
		return false
	}
	t.Reset(min(time.Duration(o.lastCommit.Load())/2, maxGather))
	defer t.Stop()
	for {
		select {
		case <-o.kick:
		case <-t.C:
			return false
		case <-o.stop:
			return true
		}
		o.mu.Lock()
		ready = o.pending.calls >= target || o.pending.size() >= o.cfg.MaxBatch || len(o.queue) > 0
		o.mu.Unlock()
		if ready {
			return false
		}
	}
}

// commit writes b in one transaction, publishes the new state and releases
// b's waiters.
func (o *Outbox) commit(b *batch) {
	if err := o.failedErr(); err != nil {
		// A batch queued before a commit failed: nothing more is
		// written to this file handle.
		b.err = err
		close(b.done)
		return
	}
	start := time.Now()
	st, acked, fatal, err := o.write(b)
	dur := time.Since(start)
	o.commits.Add(1)
	o.lastCommit.Store(int64(dur))
	o.commitLatency.Observe(dur)
	o.lastBatch.Store(int64(b.size()))
	if err != nil {
		b.err = err
		o.log.Error("outbox: commit failed", "path", o.cfg.Path, "readings", b.n, "acks", len(b.acks), "err", err)
		if fatal {
			o.fail(err)
		}
	} else {
		b.first = o.w.st.nextSeq
		o.w.st = st
		o.publish(uint64(b.n), acked)
	}
	close(b.done)
	if err == nil && b.n > 0 {
		o.notifyChanged()
	}
	o.flushDropLog(false)
	bf := b.bufs
	clear(bf.cacks)
	bf.buf, bf.ends, bf.acks, bf.cacks = bf.buf[:0], bf.ends[:0], bf.acks[:0], bf.cacks[:0]
	bf.specs, bf.setSpecs = nil, false
	o.mu.Lock()
	if len(o.free) < maxQueued+2 {
		o.free = append(o.free, bf)
	}
	o.mu.Unlock()
}

// fail stops the Outbox after a commit that failed once bbolt may have
// written it (see Failed): the seqs it held are never handed out, and no
// later commit may reuse them on this handle.
func (o *Outbox) fail(err error) {
	if !o.failure.CompareAndSwap(nil, &err) {
		return
	}
	close(o.failedCh)
	o.log.Error("outbox: a commit failed after it may have reached the file; refusing appends until the outbox is opened again (restart edged)",
		"path", o.cfg.Path, "durable_seq", o.durable.Load(), "err", err)
}

// failedErr is the error Append and Ack return once the Outbox failed, or
// nil.
func (o *Outbox) failedErr() error {
	if p := o.failure.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrFailed, *p)
	}
	return nil
}

// fatalCommitErr reports whether err, returned by a bbolt commit (not by our
// transaction function), leaves the file untrustworthy: everything but a
// full disk while bbolt wrote the data pages, which happens before the meta
// page that would make the commit visible.
func fatalCommitErr(err error) bool {
	return !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT)
}

// publish copies the writer's state into the atomics Stats reads. nextSeq
// goes first and durable (which lets Peek hand readings out) after it, so
// anyone who saw a reading through Peek then sees NextSeq past it.
func (o *Outbox) publish(appended, acked uint64) {
	st := &o.w.st
	o.nextSeq.Store(st.nextSeq)
	o.durable.Store(st.nextSeq - 1)
	o.first.Store(st.first)
	o.depth.Store(st.count)
	o.bytes.Store(st.bytes)
	o.oldest.Store(st.oldest)
	o.dropped.Store(st.dropped)
	o.appended.Add(appended)
	o.acked.Add(acked)
}

// write runs the transaction for b and returns the state after it and the
// number of readings acked. Nothing is published here. An error from the
// transaction function leaves the file as it was; an error from bbolt's
// commit (fatal) may not: bbolt writes the meta page, which shows the
// commit to new readers, before its fdatasync returns.
func (o *Outbox) write(b *batch) (st state, acked uint64, fatal bool, err error) {
	st = o.w.st
	drops := o.w.drops
	o.mergeCursorAcks(b.cacks, st.nextSeq)
	curs, removed := o.w.curs, []*Cursor(nil)
	if b.setSpecs {
		curs, removed = o.planCursors(b.specs)
	}
	for _, c := range curs {
		c.t = c.w
	}
	built := false // the transaction function returned nil: bbolt is committing
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
		if err != nil {
			fatal = built && fatalCommitErr(err)
			err = describeWriteErr(o.cfg.Path, err)
			return
		}
		o.w.drops = drops
		o.commitCursors(curs, removed, b.setSpecs)
	}()
	defer func() {
		if err == nil && o.cfg.afterCommit != nil {
			err = o.cfg.afterCommit()
		}
	}()
	err = o.db.Update(func(tx *bbolt.Tx) error {
		rb, mb := tx.Bucket([]byte(bucketReadings)), tx.Bucket([]byte(bucketMeta))
		if rb == nil || mb == nil {
			return corruptf("buckets %q and %q missing", bucketReadings, bucketMeta)
		}
		rb.FillPercent = 1 // keys only ever grow: fill pages completely
		c := rb.Cursor()
		if b.setSpecs {
			if err := o.applyCursorSpecs(tx, c, &st, b.specs, curs, removed); err != nil {
				return err
			}
		}
		if len(b.acks) > 0 {
			slices.Sort(b.acks)
			var key [keyLen]byte
			for i, s := range b.acks {
				if i > 0 && s == b.acks[i-1] {
					continue
				}
				binary.BigEndian.PutUint64(key[:], s)
				if k, v := c.Seek(key[:]); k != nil && string(k) == string(key[:]) {
					size := int64(len(k) + len(v))
					if err := c.Delete(); err != nil {
						return fmt.Errorf("delete seq %d: %w", s, err)
					}
					st.count--
					st.bytes -= size
					acked++
				}
			}
		}
		if n := b.n; n > 0 {
			if cap(o.w.keys) < n*keyLen {
				o.w.keys = make([]byte, n*keyLen)
			}
			keys := o.w.keys[:n*keyLen]
			off := 0
			for i, end := range b.ends {
				k, v := keys[i*keyLen:(i+1)*keyLen], b.buf[off:end]
				off = end
				binary.BigEndian.PutUint64(k, st.nextSeq+uint64(i))
				if err := rb.Put(k, v); err != nil {
					return fmt.Errorf("put seq %d: %w", st.nextSeq+uint64(i), err)
				}
				st.bytes += int64(keyLen + len(v))
			}
			st.nextSeq += uint64(n)
			st.count += int64(n)
		}
		for _, cu := range curs {
			if cu.touched || cu.fresh {
				cu.advance(c, st.nextSeq)
			}
		}
		passed, err := o.trim(c, &st, &drops, curs)
		if err != nil {
			return err
		}
		acked += passed
		if err := o.putCursors(tx, curs); err != nil {
			return err
		}
		st.encode(o.w.stateBuf[:])
		if err := mb.Put([]byte(keyState), o.w.stateBuf[:]); err != nil {
			return err
		}
		built = true
		return nil
	})
	return st, acked, false, err
}

// trim deletes readings from the front that every cursor has passed (when
// there are cursors), and while the byte cap is exceeded, they are older
// than MaxAge, or they do not decode; it sets st.oldest and st.first and
// returns the number deleted because every cursor had passed them. A cursor
// that had not passed a reading the caps drop counts it in its dropped and
// moves past it.
func (o *Outbox) trim(c *bbolt.Cursor, st *state, d *dropCounts, curs []*Cursor) (passed uint64, err error) {
	cutoff := o.cfg.Now().Add(-time.Duration(o.maxAge.Load())).UnixNano()
	minNext := minCursorNext(curs)
	for {
		k, v := c.First()
		if k == nil {
			st.oldest, st.count, st.bytes, st.first = 0, 0, 0, st.nextSeq
			return passed, nil
		}
		var seq uint64
		t, err := decodeTime(v)
		if len(k) == keyLen {
			seq = binary.BigEndian.Uint64(k)
		} else if err == nil {
			err = fmt.Errorf("key is %d bytes, want %d", len(k), keyLen)
		}
		done := len(curs) > 0 && seq < minNext
		switch {
		case done:
		case err != nil:
			d.corrupt++
			o.log.Error("outbox: dropping undecodable reading", "path", o.cfg.Path, "key", fmt.Sprintf("%x", k), "err", err)
		case st.bytes > o.maxBytes.Load():
			d.bytes++
			d.device(v)
		case t < cutoff:
			d.age++
			d.device(v)
		default:
			st.oldest, st.first = t, seq
			return passed, nil
		}
		size := int64(len(k) + len(v))
		if err := c.Delete(); err != nil {
			return passed, fmt.Errorf("drop oldest reading: %w", err)
		}
		st.count--
		st.bytes -= size
		if done {
			passed++
			continue
		}
		st.dropped++
		moved := false
		for _, cu := range curs {
			if seq >= cu.t.next {
				cu.t.dropped++
				cu.t.next = seq + 1
				cu.advance(c, st.nextSeq)
				moved = true
			}
		}
		if moved {
			minNext = minCursorNext(curs)
		}
	}
}

// needsMaintenance reports whether a commit without requests would drop
// readings (the caps changed, or readings aged past MaxAge).
func (o *Outbox) needsMaintenance() bool {
	st := &o.w.st
	if st.count == 0 {
		return false
	}
	if len(o.w.curs) > 0 && st.first < minCommittedNext(o.w.curs) {
		return true // readings every cursor passed (a cursor was removed, or the file just opened)
	}
	return st.bytes > o.maxBytes.Load() || st.oldest < o.cfg.Now().Add(-time.Duration(o.maxAge.Load())).UnixNano()
}

// dropCounts counts readings dropped since the last warning, by cause, and
// names the first few devices they were from.
type dropCounts struct {
	bytes, age, corrupt uint64
	devices             [4]string // the first distinct devices dropped
	more                bool      // readings of further devices were dropped
}

// device notes the device of the dropped record v.
func (d *dropCounts) device(v []byte) {
	dev := ""
	if len(v) > headerLen {
		if n, w := binary.Uvarint(v[headerLen:]); w > 0 && n <= uint64(len(v)-headerLen-w) {
			dev = string(v[headerLen+w : headerLen+w+int(n)])
		}
	}
	for i, have := range d.devices {
		if have == dev {
			return
		}
		if have == "" {
			d.devices[i] = dev
			return
		}
	}
	d.more = true
}

// deviceList is the devices noted, for the log.
func (d *dropCounts) deviceList() string {
	var b strings.Builder
	for _, dev := range d.devices {
		if dev == "" {
			break
		}
		if b.Len() > 0 {
			b.WriteString(",")
		}
		b.WriteString(dev)
	}
	if d.more {
		b.WriteString(",…")
	}
	return b.String()
}

// flushDropLog logs the drops counted since the last warning, at most once
// per dropLogEvery unless force is set.
func (o *Outbox) flushDropLog(force bool) {
	d := &o.w.drops
	if *d == (dropCounts{}) && len(o.w.curDrops) == 0 {
		return
	}
	now := time.Now()
	if !force && now.Sub(o.w.lastDropLog) < dropLogEvery {
		return
	}
	o.log.Warn("outbox: dropped readings to stay within caps",
		"path", o.cfg.Path, "by_bytes", d.bytes, "by_age", d.age, "undecodable", d.corrupt, "devices", d.deviceList(),
		"max_bytes", o.maxBytes.Load(), "max_age", time.Duration(o.maxAge.Load()).String(), "dropped_total", o.w.st.dropped,
		"cursors", o.cursorDropList())
	*d = dropCounts{}
	clear(o.w.curDrops)
	o.w.lastDropLog = now
}

// describeWriteErr keeps an error that already names the file (a
// *fs.PathError such as "write /data/outbox.db: no space left on device")
// and prefixes any other with the operation and the file.
func describeWriteErr(path string, err error) error {
	if _, ok := errors.AsType[*fs.PathError](err); ok {
		return err
	}
	return fmt.Errorf("commit %s: %w", path, err)
}
