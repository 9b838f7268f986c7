package outbox

import (
	"encoding/binary"
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
	keyFormat      = "format"
	keyState       = "state"
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
	db, st, err := openFile(cfg)
	if _, corrupt := errors.AsType[*corruptError](err); corrupt {
		aside, mvErr := moveAside(cfg.Path)
		if mvErr != nil {
			return nil, fmt.Errorf("%w; moving it aside failed: %v", err, mvErr)
		}
		if err := syncDir(filepath.Dir(cfg.Path)); err != nil {
			cfg.Logger.Warn("outbox: fsync of directory failed", "path", filepath.Dir(cfg.Path), "err", err)
		}
		cfg.Logger.Error("outbox: database file is corrupt; moved it aside and starting empty (readings in it are not sent)",
			"path", cfg.Path, "moved_to", aside, "err", err)
		db, st, err = openFile(cfg)
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
	}
	o.maxBytes.Store(cfg.MaxBytes)
	o.maxAge.Store(int64(cfg.MaxAge))
	o.w.st = st
	o.pending = o.newBatchLocked()
	o.publish(0, 0)
	if o.needsMaintenance() {
		o.commit(&batch{bufs: &bufs{}, done: make(chan struct{})})
	}
	go o.run()
	cfg.Logger.Info("outbox: opened", "path", cfg.Path, "depth", st.count, "bytes", st.bytes, "next_seq", st.nextSeq)
	return o, nil
}

// openFile opens the bbolt file and loads the state, creating the buckets in
// a new file. Damage is reported as a *corruptError.
func openFile(cfg Config) (db *bbolt.DB, st state, err error) {
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
		return nil, st, classifyOpenErr(cfg.Path, err)
	}
	if st, err = load(db); err != nil {
		closeQuietly(db)
		return nil, st, fmt.Errorf("outbox: open %s: %w", cfg.Path, err)
	}
	if created {
		// Make the new directory entry durable, or a power loss could
		// take the file with every reading in it.
		if err := syncDir(filepath.Dir(cfg.Path)); err != nil {
			cfg.Logger.Warn("outbox: fsync of directory failed", "path", filepath.Dir(cfg.Path), "err", err)
		}
	}
	return db, st, nil
}

// load reads the state in O(1), creating the buckets if the file is new.
func load(db *bbolt.DB) (st state, err error) {
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
		return checkState(rb, &st)
	})
	if err != nil || !fresh {
		return st, err
	}
	st = state{nextSeq: 1}
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
		var b [stateLen]byte
		st.encode(b[:])
		return mb.Put([]byte(keyState), b[:])
	})
	if err != nil {
		return st, fmt.Errorf("create buckets: %w", err)
	}
	return st, nil
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
		return nil
	}
	if len(fk) != keyLen || len(lk) != keyLen {
		return corruptf("key of %d or %d bytes, want %d", len(fk), len(lk), keyLen)
	}
	if last := binary.BigEndian.Uint64(lk); last >= st.nextSeq {
		st.nextSeq = last + 1 // never hand out a stored seq again
	}
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
