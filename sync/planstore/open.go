package planstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	"go.etcd.io/bbolt"
)

// The file layout; see the package documentation.
const (
	bucketPlans   = "plans"
	bucketMeta    = "meta"
	keyCurrent    = "current"
	keyPrevious   = "previous"
	keyFormat     = "format"
	keyAttempted  = "attempted"
	keyStatus     = "status"
	keyIssued     = "issued"
	formatVersion = 1
	attemptedLen  = 8
)

// Open opens or creates the plan store file at path (normally
// <data_dir>/plans.db; the directory must exist) and reads all of it, so a
// damaged file fails here, with an error wrapping ErrCorrupt, rather than on
// a later read. The file is left as it is; moving it aside is the caller's
// choice. If another process, or another Store in this one, has the file
// open, Open waits cfg.Timeout and then fails with ErrLocked. Permission
// and other I/O errors are returned wrapped as they are.
func Open(path string, cfg Config) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("planstore: open: %w path: empty", ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("planstore: open %s: %w", path, err)
	}
	cfg = cfg.withDefaults()
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)

	var db *bbolt.DB
	var sum summary
	err := guard(func() error {
		var err error
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: cfg.Timeout})
		if err != nil {
			db = nil
			return classifyOpenErr(err, cfg.Timeout)
		}
		sum, err = load(db)
		return err
	})
	if err != nil {
		if db != nil {
			closeQuietly(db)
		}
		return nil, fmt.Errorf("planstore: open %s: %w", path, err)
	}
	if created {
		// Make the new directory entry durable, or a power loss could
		// take the file and the plan in it.
		if err := syncDir(filepath.Dir(path)); err != nil {
			cfg.Logger.Warn("planstore: fsync of directory failed", "path", filepath.Dir(path), "err", err)
		}
	}
	st := &Store{path: path, log: cfg.Logger, db: db}
	wm := WatermarkPath(path)
	m, err := readWatermark(wm)
	if err != nil {
		cfg.Logger.Error("planstore: plan watermark unreadable; using the versions in the plan store and writing it again", "path", wm, "err", err)
	}
	st.mark = m
	if m.version < sum.attempted || m.issued < sum.issued {
		// A store from before the watermark, or a damaged watermark.
		if err := st.raiseMark(mark{version: sum.attempted, issued: sum.issued}); err != nil {
			closeQuietly(db)
			return nil, fmt.Errorf("planstore: open %s: %w", path, err)
		}
	}
	if m.version > sum.attempted {
		cfg.Logger.Warn("planstore: the plan watermark is above the plan store's attempted version (the store was started afresh?); plans up to it are refused as replays",
			"path", path, "watermark", m.version, "attempted_version", sum.attempted)
	}
	cfg.Logger.Info("planstore: opened", "path", path, "applied_version", sum.applied, "attempted_version", max(sum.attempted, m.version))
	return st, nil
}

// summary is what Open logs.
type summary struct {
	applied   int64 // version of the current record, 0 if none
	attempted int64
	issued    int64 // newest signature time, Unix seconds
}

// load checks every bucket and record in the file and creates the buckets
// in a new one. Damage is reported as a *corruptError.
func load(db *bbolt.DB) (sum summary, err error) {
	fresh := false
	err = db.View(func(tx *bbolt.Tx) error {
		pb, mb := tx.Bucket([]byte(bucketPlans)), tx.Bucket([]byte(bucketMeta))
		if pb == nil && mb == nil {
			if k, _ := tx.Cursor().First(); k != nil {
				return corruptf("no plan store buckets but a bucket %q: not a plan store file", k)
			}
			fresh = true
			return nil
		}
		if pb == nil || mb == nil {
			return corruptf("bucket %q or %q missing", bucketPlans, bucketMeta)
		}
		if f := mb.Get([]byte(keyFormat)); len(f) != 1 || f[0] != formatVersion {
			return corruptf("format %x, this build reads %d", f, formatVersion)
		}
		var err error
		if sum.attempted, err = readAttempted(mb); err != nil {
			return err
		}
		if sum.issued, err = readInt(mb, keyIssued); err != nil {
			return err
		}
		cur, prev := pb.Get([]byte(keyCurrent)), pb.Get([]byte(keyPrevious))
		if cur == nil && prev != nil {
			return corruptf("record %q without record %q", keyPrevious, keyCurrent)
		}
		for _, k := range []string{keyCurrent, keyPrevious} {
			if v := pb.Get([]byte(k)); v != nil {
				r, err := decodeRecord(k, v)
				if err != nil {
					return err
				}
				if k == keyCurrent {
					sum.applied = r.Version
				}
			}
		}
		return nil
	})
	if err != nil || !fresh {
		return sum, err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucket([]byte(bucketPlans)); err != nil {
			return err
		}
		mb, err := tx.CreateBucket([]byte(bucketMeta))
		if err != nil {
			return err
		}
		return mb.Put([]byte(keyFormat), []byte{formatVersion})
	})
	if err != nil {
		return sum, fmt.Errorf("create buckets: %w", hide(err))
	}
	return sum, nil
}

// readInt decodes a non-negative 8-byte counter in the meta bucket; absent
// is 0.
func readInt(mb *bbolt.Bucket, key string) (int64, error) {
	v := mb.Get([]byte(key))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 || v[0]&0x80 != 0 {
		return 0, corruptf("meta %q is malformed (%d bytes)", key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// readAttempted decodes the attempted version; absent is 0.
func readAttempted(mb *bbolt.Bucket) (int64, error) {
	v := mb.Get([]byte(keyAttempted))
	if v == nil {
		return 0, nil
	}
	if len(v) != attemptedLen {
		return 0, corruptf("attempted version is %d bytes, want %d", len(v), attemptedLen)
	}
	n := int64(binary.BigEndian.Uint64(v))
	if n < 0 {
		return 0, corruptf("attempted version %d", n)
	}
	return n, nil
}

// guard runs fn, turning a panic or a memory fault (bbolt reading a
// damaged or truncated file) into a *corruptError.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	return fn()
}

// syncDir fsyncs a directory so a created entry survives power loss.
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
