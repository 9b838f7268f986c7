package outbox

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"go.etcd.io/bbolt"
)

// The file layout: two top-level buckets. Meta holds the format version and
// the state; readings holds seq -> encoded reading (see codec.go).
const (
	bucketReadings = "readings"
	bucketMeta     = "meta"
	bucketCursors  = "cursors"
	keyFormat      = "format"
	keyState       = "state"
	keyEpoch       = "epoch"
	formatVersion  = 1
	stateLen       = 32
)

// state is what the meta bucket persists (all but oldest), updated in the
// same transaction as the readings, so Open reads it instead of scanning.
type state struct {
	nextSeq uint64 // seq of the next appended reading; starts at 1
	count   int64  // readings stored
	bytes   int64  // key+value bytes stored
	dropped uint64 // readings dropped by the caps, ever
	oldest  int64  // unix-nano Time of the first reading (not persisted)
	first   uint64 // seq of the first stored reading, nextSeq when empty (not persisted)
}

func (s *state) encode(b []byte) {
	binary.BigEndian.PutUint64(b[0:], s.nextSeq)
	binary.BigEndian.PutUint64(b[8:], uint64(s.count))
	binary.BigEndian.PutUint64(b[16:], uint64(s.bytes))
	binary.BigEndian.PutUint64(b[24:], s.dropped)
}

func (s *state) decode(b []byte) {
	s.nextSeq = binary.BigEndian.Uint64(b[0:])
	s.count = int64(binary.BigEndian.Uint64(b[8:]))
	s.bytes = int64(binary.BigEndian.Uint64(b[16:]))
	s.dropped = binary.BigEndian.Uint64(b[24:])
}

// writerState is owned by the writer goroutine.
type writerState struct {
	st          state
	keys        []byte         // keys of the batch in flight; valid until commit
	stateBuf    [stateLen]byte // the meta value in flight; valid until commit
	drops       dropCounts     // drops not yet logged
	lastDropLog time.Time
	curs        []*Cursor         // the cursors, in name order
	curDrops    map[string]uint64 // per cursor, drops not yet logged
}

// Open opens or creates the outbox file at cfg.Path. It reads only the meta
// bucket and both ends of the readings bucket, so it takes the same time for
// an empty and a full file. A file that is damaged (bbolt rejects it, panics
// or faults reading it, or the outbox buckets are missing or malformed) is
// renamed to <path>.corrupt-<unix time>, logged at error, and replaced by an
// empty one. A lock held by another process (ErrLocked), a permission
// problem or another I/O error is returned as is.
func Open(cfg Config) (*Outbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("outbox: open %s: %w", cfg.Path, err)
	}
	cfg = cfg.withDefaults()
	db, st, epoch, lc, err := openFile(cfg)
	var rec *Recovery
	if _, corrupt := errors.AsType[*corruptError](err); corrupt {
		aside, mvErr := moveAside(cfg.Path)
		if mvErr != nil {
			return nil, fmt.Errorf("%w; moving it aside failed: %v", err, mvErr)
		}
		if err := syncDir(filepath.Dir(cfg.Path)); err != nil {
			cfg.Logger.Warn("outbox: fsync of directory failed", "path", filepath.Dir(cfg.Path), "err", err)
		}
		rec = salvage(aside)
		rec.At, rec.MovedTo, rec.Reason = cfg.Now().UTC(), aside, err.Error()
		db, st, epoch, lc, err = openFile(cfg)
		if err == nil {
			rec.NewEpoch = epoch
		}
		cfg.Logger.Error("outbox: database file is corrupt; moved it aside and started a new epoch (readings in it are not sent)",
			"path", cfg.Path, "moved_to", aside, "old_epoch", rec.OldEpoch, "old_last_seq", rec.LastSeq,
			"old_readings", rec.Readings, "new_epoch", rec.NewEpoch, "err", rec.Reason)
	}
	if err != nil {
		return nil, err
	}
	o := &Outbox{
		cfg:        cfg,
		db:         db,
		log:        cfg.Logger,
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		writerDone: make(chan struct{}),
		changed:    make(chan struct{}),
		epoch:      epoch,
		recovery:   rec,
		failedCh:   make(chan struct{}),
	}
	o.maxBytes.Store(cfg.MaxBytes)
	o.maxAge.Store(int64(cfg.MaxAge))
	o.w.st = st
	o.pending = o.newBatchLocked()
	o.installCursors(lc)
	o.publish(0, 0)
	if o.needsMaintenance() {
		o.commit(&batch{bufs: &bufs{}, done: make(chan struct{})})
	}
	go o.run()
	cfg.Logger.Info("outbox: opened", "path", cfg.Path, "epoch", epoch, "depth", st.count, "bytes", st.bytes, "next_seq", st.nextSeq,
		"cursors", len(o.w.curs))
	return o, nil
}

// openFile opens the bbolt file and loads the state and the epoch, creating
// the buckets and a new epoch in a new file. Damage is reported as a
// *corruptError.
func openFile(cfg Config) (db *bbolt.DB, st state, epoch string, curs []loadedCursor, err error) {
	_, statErr := os.Stat(cfg.Path)
	created := errors.Is(statErr, fs.ErrNotExist)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				closeQuietly(db)
			}
			db, err = nil, fmt.Errorf("outbox: open %s: %w", cfg.Path, panicError(r))
		}
	}()
	db, err = bbolt.Open(cfg.Path, 0o600, &bbolt.Options{
		Timeout:         cfg.LockTimeout,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: cfg.mmapSize(),
		NoSync:          !*cfg.Fsync,
	})
	if err != nil {
		return nil, st, "", nil, classifyOpenErr(cfg.Path, err)
	}
	if st, epoch, curs, err = load(db); err != nil {
		closeQuietly(db)
		return nil, st, "", nil, fmt.Errorf("outbox: open %s: %w", cfg.Path, err)
	}
	if created {
		// Make the new directory entry durable, or a power loss could
		// take the file with every reading in it.
		if err := syncDir(filepath.Dir(cfg.Path)); err != nil {
			cfg.Logger.Warn("outbox: fsync of directory failed", "path", filepath.Dir(cfg.Path), "err", err)
		}
	}
	return db, st, epoch, curs, nil
}

// load reads the state and the epoch in O(1), creating the buckets and the
// epoch if the file is new. A file written before epochs existed gets one
// here (its seqs go on).
func load(db *bbolt.DB) (st state, epoch string, curs []loadedCursor, err error) {
	fresh := false
	err = db.View(func(tx *bbolt.Tx) error {
		rb, mb := tx.Bucket([]byte(bucketReadings)), tx.Bucket([]byte(bucketMeta))
		if rb == nil && mb == nil {
			if k, _ := tx.Cursor().First(); k != nil {
				return corruptf("no outbox buckets but a bucket %q: not an outbox file", k)
			}
			fresh = true
			return nil
		}
		if rb == nil || mb == nil {
			return corruptf("bucket %q or %q missing", bucketReadings, bucketMeta)
		}
		if f := mb.Get([]byte(keyFormat)); len(f) != 1 || f[0] != formatVersion {
			return corruptf("format %x, this build reads %d", f, formatVersion)
		}
		v := mb.Get([]byte(keyState))
		if len(v) != stateLen {
			return corruptf("state is %d bytes, want %d", len(v), stateLen)
		}
		st.decode(v)
		if e := mb.Get([]byte(keyEpoch)); e != nil {
			if !validEpoch(e) {
				return corruptf("epoch %q malformed", e)
			}
			epoch = string(e)
		}
		if err := checkState(rb, &st); err != nil {
			return err
		}
		curs, err = readCursors(tx)
		return err
	})
	if err != nil {
		return st, "", nil, err
	}
	if !fresh {
		if epoch != "" {
			return st, epoch, curs, nil
		}
		epoch = newEpoch()
		err = db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyEpoch), []byte(epoch))
		})
		if err != nil {
			return st, "", nil, fmt.Errorf("store epoch: %w", err)
		}
		return st, epoch, curs, nil
	}
	st = state{nextSeq: 1}
	epoch = newEpoch()
	err = db.Update(func(tx *bbolt.Tx) error {
		rb, err := tx.CreateBucket([]byte(bucketReadings))
		if err != nil {
			return err
		}
		rb.FillPercent = 1
		mb, err := tx.CreateBucket([]byte(bucketMeta))
		if err != nil {
			return err
		}
		if err := mb.Put([]byte(keyFormat), []byte{formatVersion}); err != nil {
			return err
		}
		if err := mb.Put([]byte(keyEpoch), []byte(epoch)); err != nil {
			return err
		}
		var b [stateLen]byte
		st.encode(b[:])
		return mb.Put([]byte(keyState), b[:])
	})
	if err != nil {
		return st, "", nil, fmt.Errorf("create buckets: %w", err)
	}
	st.first = st.nextSeq
	return st, epoch, nil, nil
}

// epochLen is the length of an epoch: 16 lower-case hex digits (64 random
// bits).
const epochLen = 16

// newEpoch returns a random epoch id. crypto/rand does not fail on Linux.
func newEpoch() string {
	var b [epochLen / 2]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validEpoch(b []byte) bool {
	if len(b) != epochLen {
		return false
	}
	_, err := hex.DecodeString(string(b))
	return err == nil
}

// Recovery describes a damaged outbox file that Open moved aside.
type Recovery struct {
	// At is when Open moved the file aside, MovedTo where to.
	At      time.Time `json:"at"`
	MovedTo string    `json:"moved_to"`
	// Reason is why the file was judged damaged.
	Reason string `json:"reason"`
	// OldEpoch is the damaged file's epoch, "" when it could not be read
	// (or the file predates epochs).
	OldEpoch string `json:"old_epoch,omitempty"`
	// LastSeq is the last seq the damaged file handed out, 0 when its
	// state could not be read; Readings how many it held then (-1:
	// unknown). Readings in it were not sent.
	LastSeq  uint64 `json:"old_last_seq,omitempty"`
	Readings int64  `json:"old_readings"`
	// NewEpoch is the epoch of the fresh file; its seqs start at 1.
	NewEpoch string `json:"new_epoch"`
}

// salvage reads what it can of a damaged file's meta bucket (read-only,
// panics and faults recovered): its epoch, last seq and reading count.
func salvage(path string) (rec *Recovery) {
	rec = &Recovery{Readings: -1}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { _ = recover() }()
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return rec
	}
	defer closeQuietly(db)
	_ = db.View(func(tx *bbolt.Tx) error {
		mb := tx.Bucket([]byte(bucketMeta))
		if mb == nil {
			return nil
		}
		if e := mb.Get([]byte(keyEpoch)); validEpoch(e) {
			rec.OldEpoch = string(e)
		}
		if v := mb.Get([]byte(keyState)); len(v) == stateLen {
			var st state
			st.decode(v)
			if st.nextSeq > 0 {
				rec.LastSeq = st.nextSeq - 1
			}
			rec.Readings = st.count
		}
		return nil
	})
	return rec
}

// checkState compares st with both ends of the readings bucket and repairs
// what it can (the repair is persisted by the next commit). Only when the
// counters contradict the bucket does it count the readings, which scans.
func checkState(rb *bbolt.Bucket, st *state) error {
	c := rb.Cursor()
	fk, fv := c.First()
	lk, _ := c.Last()
	if fk == nil {
		st.count, st.bytes, st.oldest = 0, 0, 0
		if st.nextSeq == 0 {
			st.nextSeq = 1
		}
		st.first = st.nextSeq
		return nil
	}
	if len(fk) != keyLen || len(lk) != keyLen {
		return corruptf("key of %d or %d bytes, want %d", len(fk), len(lk), keyLen)
	}
	if last := binary.BigEndian.Uint64(lk); last >= st.nextSeq {
		st.nextSeq = last + 1 // never hand out a stored seq again
	}
	st.first = binary.BigEndian.Uint64(fk)
	if st.count <= 0 || st.bytes <= 0 {
		st.count, st.bytes = 0, 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			st.count++
			st.bytes += int64(len(k) + len(v))
		}
	}
	st.oldest = zeroTime // undecodable: the next trim drops it
	if t, err := decodeTime(fv); err == nil {
		st.oldest = t
	}
	return nil
}

// moveAside renames a damaged file to <path>.corrupt-<unix time> (with a
// counter if that exists) and returns the new name.
func moveAside(path string) (string, error) {
	base := path + ".corrupt-" + strconv.FormatInt(time.Now().Unix(), 10)
	aside := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	return aside, nil
}

// syncDir fsyncs a directory so a created or renamed entry survives power
// loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// closeQuietly closes a db we are abandoning; a damaged one may panic.
func closeQuietly(db *bbolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}
