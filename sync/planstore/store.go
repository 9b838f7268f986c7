package planstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Store is an open plan store file. Its methods are safe for concurrent
// use; each but Close is one bbolt transaction.
type Store struct {
	path string
	log  *slog.Logger

	wmMu sync.Mutex // serialises watermark writes; guards mark
	mark mark       // what the watermark file holds (see watermark.go)

	mu sync.RWMutex // held for reading by operations, for writing by Close
	db *bbolt.DB    // nil once closed
}

// Applied returns the current good plan, the record of the last successful
// SetApplied, and false if there is none.
func (s *Store) Applied() (Record, bool, error) {
	var r Record
	var ok bool
	err := s.view("read applied plan", func(tx *bbolt.Tx) error {
		var err error
		r, ok, err = getRecord(tx, keyCurrent)
		return err
	})
	return r, ok, err
}

// History returns the last two applied plans, current first: none, the
// current one, or the current one and the one it replaced. Artifact garbage
// collection keeps the artifacts they name.
func (s *Store) History() ([]Record, error) {
	var out []Record
	err := s.view("read plan history", func(tx *bbolt.Tx) error {
		for _, k := range []string{keyCurrent, keyPrevious} {
			r, ok, err := getRecord(tx, k)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// SetApplied makes r the current plan and keeps the one it replaces as
// history; the plan before that is overwritten. If the current plan has
// r's version, r replaces it and the history stays as it is, so applying
// one plan twice does not push out the previous one. Versions are not
// required to rise (the caller refuses replays with Attempted), but
// Attempted is raised to r.Version if it is lower. It is one transaction,
// fsynced before SetApplied returns. A Record that fails Validate is
// refused with an error wrapping ErrInvalid.
func (s *Store) SetApplied(r Record) error {
	op := fmt.Sprintf("set applied version %d", r.Version)
	enc, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("planstore: %s in %s: %w", op, s.path, err)
	}
	if err := s.raiseMark(mark{version: r.Version}); err != nil {
		return fmt.Errorf("planstore: %s: %w", op, err)
	}
	return s.update(op, func(tx *bbolt.Tx) error {
		pb, mb, err := buckets(tx)
		if err != nil {
			return err
		}
		if cur := pb.Get([]byte(keyCurrent)); cur != nil {
			old, err := decodeRecord(keyCurrent, cur)
			if err != nil {
				return err
			}
			if old.Version != r.Version {
				if err := pb.Put([]byte(keyPrevious), bytes.Clone(cur)); err != nil {
					return err
				}
			}
		}
		if err := pb.Put([]byte(keyCurrent), enc); err != nil {
			return err
		}
		_, err = raiseAttempted(mb, r.Version)
		return err
	})
}

// Attempted returns the highest plan version ever attempted, applied or
// failed, or 0 if none: the larger of the value in the file and the one in
// the watermark file beside it, so a damaged plans.db that was moved aside
// does not reopen the door to replayed plans.
func (s *Store) Attempted() (int64, error) {
	var n int64
	err := s.view("read attempted version", func(tx *bbolt.Tx) error {
		_, mb, err := buckets(tx)
		if err != nil {
			return err
		}
		n, err = readAttempted(mb)
		return err
	})
	s.wmMu.Lock()
	n = max(n, s.mark.version)
	s.wmMu.Unlock()
	return n, err
}

// Issued returns the newest plan signature time recorded with RaiseIssued,
// zero if none: the larger of the copies in the file and in the watermark.
func (s *Store) Issued() (time.Time, error) {
	var sec int64
	err := s.view("read newest signature time", func(tx *bbolt.Tx) error {
		_, mb, err := buckets(tx)
		if err != nil {
			return err
		}
		sec, err = readInt(mb, keyIssued)
		return err
	})
	s.wmMu.Lock()
	sec = max(sec, s.mark.issued)
	s.wmMu.Unlock()
	if sec == 0 {
		return time.Time{}, err
	}
	return time.Unix(sec, 0).UTC(), err
}

// RaiseIssued records t (to the second) as the newest plan signature time
// if it is newer than the recorded one, in the watermark file and then in
// the store, fsynced before it returns.
func (s *Store) RaiseIssued(t time.Time) error {
	sec := t.Unix()
	op := fmt.Sprintf("set newest signature time %s", t.UTC().Format(time.RFC3339))
	if sec <= 0 {
		return fmt.Errorf("planstore: %s in %s: %w time: must be after 1970", op, s.path, ErrInvalid)
	}
	if err := s.raiseMark(mark{issued: sec}); err != nil {
		return fmt.Errorf("planstore: %s: %w", op, err)
	}
	err := s.update(op, func(tx *bbolt.Tx) error {
		_, mb, err := buckets(tx)
		if err != nil {
			return err
		}
		cur, err := readInt(mb, keyIssued)
		if err != nil {
			return err
		}
		if sec <= cur {
			return errUnchanged
		}
		var b [attemptedLen]byte
		binary.BigEndian.PutUint64(b[:], uint64(sec))
		return mb.Put([]byte(keyIssued), b[:])
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// raiseMark raises the watermark file to m, field by field, before the
// bbolt file is changed; it writes only when something rises.
func (s *Store) raiseMark(m mark) error {
	s.wmMu.Lock()
	defer s.wmMu.Unlock()
	next := mark{version: max(s.mark.version, m.version), issued: max(s.mark.issued, m.issued)}
	if next == s.mark {
		return nil
	}
	if err := writeWatermark(WatermarkPath(s.path), next); err != nil {
		return err
	}
	s.mark = next
	return nil
}

// Reset sets the attempted version to v, lower or higher than it is, and
// raises the newest signature time to issued: the way out of a version
// pushed too high, for a reset plan the caller has verified (signed by a
// reset key after the newest signature time). Like every write it changes
// the watermark file first (fsynced), then the bbolt file, and returns the
// attempted version it replaced. v below 1 or a zero issued is refused
// with an error wrapping ErrInvalid.
func (s *Store) Reset(v int64, issued time.Time) (int64, error) {
	op := fmt.Sprintf("reset attempted version to %d", v)
	sec := issued.Unix()
	if v < 1 || issued.IsZero() || sec <= 0 {
		return 0, fmt.Errorf("planstore: %s in %s: %w: version must be >= 1 and the signature time after 1970", op, s.path, ErrInvalid)
	}
	old, err := s.Attempted()
	if err != nil {
		return 0, fmt.Errorf("planstore: %s: %w", op, err)
	}
	s.wmMu.Lock()
	next := mark{version: v, issued: max(s.mark.issued, sec)}
	if err := writeWatermark(WatermarkPath(s.path), next); err != nil {
		s.wmMu.Unlock()
		return 0, fmt.Errorf("planstore: %s: %w", op, err)
	}
	s.mark = next
	s.wmMu.Unlock()
	err = s.update(op, func(tx *bbolt.Tx) error {
		_, mb, err := buckets(tx)
		if err != nil {
			return err
		}
		var b [attemptedLen]byte
		binary.BigEndian.PutUint64(b[:], uint64(v))
		if err := mb.Put([]byte(keyAttempted), b[:]); err != nil {
			return err
		}
		cur, err := readInt(mb, keyIssued)
		if err != nil || sec <= cur {
			return err
		}
		var is [attemptedLen]byte // bbolt keeps the slice until the commit: not b
		binary.BigEndian.PutUint64(is[:], uint64(sec))
		return mb.Put([]byte(keyIssued), is[:])
	})
	return old, err
}

// SetAttempted records that version v was attempted. It only raises the
// stored value: a v at or below it is ignored (and nothing is written). A v
// below 1 is refused with an error wrapping ErrInvalid. A raise is fsynced
// before SetAttempted returns.
func (s *Store) SetAttempted(v int64) error {
	op := fmt.Sprintf("set attempted version %d", v)
	if v < 1 {
		return fmt.Errorf("planstore: %s in %s: %w version: must be >= 1", op, s.path, ErrInvalid)
	}
	if err := s.raiseMark(mark{version: v}); err != nil {
		return fmt.Errorf("planstore: %s: %w", op, err)
	}
	err := s.update(op, func(tx *bbolt.Tx) error {
		_, mb, err := buckets(tx)
		if err != nil {
			return err
		}
		raised, err := raiseAttempted(mb, v)
		if err == nil && !raised {
			return errUnchanged
		}
		return err
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// Status returns a copy of the last plan status document given to
// SetStatus, or nil if there is none.
func (s *Store) Status() ([]byte, error) {
	var doc []byte
	err := s.view("read plan status", func(tx *bbolt.Tx) error {
		_, mb, err := buckets(tx)
		if err != nil {
			return err
		}
		doc = bytes.Clone(mb.Get([]byte(keyStatus)))
		return nil
	})
	return doc, err
}

// SetStatus stores doc, the plan status document (JSON; the store does not
// look inside), replacing the previous one. An empty or nil doc removes it,
// so Status returns nil. It is fsynced before SetStatus returns.
func (s *Store) SetStatus(doc []byte) error {
	op := fmt.Sprintf("set plan status (%d bytes)", len(doc))
	return s.update(op, func(tx *bbolt.Tx) error {
		_, mb, err := buckets(tx)
		if err != nil {
			return err
		}
		if len(doc) == 0 {
			return mb.Delete([]byte(keyStatus))
		}
		return mb.Put([]byte(keyStatus), bytes.Clone(doc))
	})
}

// Close closes the file, releasing its lock. It waits for operations in
// progress; later ones fail with ErrClosed. Close is idempotent: calls
// after the first return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	db := s.db
	s.db = nil
	if err := guard(db.Close); err != nil {
		return fmt.Errorf("planstore: close %s: %w", s.path, hide(err))
	}
	s.log.Info("planstore: closed", "path", s.path)
	return nil
}

// view runs fn in a read-only transaction.
func (s *Store) view(op string, fn func(*bbolt.Tx) error) error {
	return s.run(op, false, fn)
}

// update runs fn in a write transaction, committed and fsynced.
func (s *Store) update(op string, fn func(*bbolt.Tx) error) error {
	return s.run(op, true, fn)
}

// run runs fn in a transaction under the read lock, turning panics into
// corruption, hiding bbolt's errors and naming op and the file.
func (s *Store) run(op string, write bool, fn func(*bbolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return fmt.Errorf("planstore: %s in %s: %w", op, s.path, ErrClosed)
	}
	err := guard(func() error {
		if write {
			return s.db.Update(fn)
		}
		return s.db.View(fn)
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errUnchanged):
		return err
	default:
		return fmt.Errorf("planstore: %s in %s: %w", op, s.path, hide(err))
	}
}

// buckets returns the plans and meta buckets, which Open made sure exist.
func buckets(tx *bbolt.Tx) (plans, meta *bbolt.Bucket, err error) {
	plans, meta = tx.Bucket([]byte(bucketPlans)), tx.Bucket([]byte(bucketMeta))
	if plans == nil || meta == nil {
		return nil, nil, corruptf("bucket %q or %q missing", bucketPlans, bucketMeta)
	}
	return plans, meta, nil
}

// getRecord decodes the record under key, if there is one.
func getRecord(tx *bbolt.Tx, key string) (Record, bool, error) {
	pb, _, err := buckets(tx)
	if err != nil {
		return Record{}, false, err
	}
	v := pb.Get([]byte(key))
	if v == nil {
		return Record{}, false, nil
	}
	r, err := decodeRecord(key, v)
	if err != nil {
		return Record{}, false, err
	}
	return r, true, nil
}

// raiseAttempted stores v as the attempted version if it is higher than the
// stored one and reports whether it was.
func raiseAttempted(mb *bbolt.Bucket, v int64) (bool, error) {
	cur, err := readAttempted(mb)
	if err != nil || v <= cur {
		return false, err
	}
	var b [attemptedLen]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return true, mb.Put([]byte(keyAttempted), b[:])
}
