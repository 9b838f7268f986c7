package cmdstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Defaults of Config.
const (
	DefaultMaxEntries = 4096
	DefaultMaxAge     = 24 * time.Hour
	DefaultTimeout    = time.Second
)

// Config configures a Store. Path is required; the rest have defaults.
type Config struct {
	// Path is the file, normally <data_dir>/commands.db.
	Path string
	// MaxEntries bounds the ids remembered; the oldest go first. Default
	// DefaultMaxEntries.
	MaxEntries int
	// MaxAge forgets ids older than this. Default DefaultMaxAge.
	MaxAge time.Duration
	// Timeout is how long Open waits for another process's lock.
	Timeout time.Duration
	// Logger receives the open and a file moved aside. nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Validate reports every problem with c, naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: empty"))
	}
	if c.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("max_entries: %d is negative, use a count such as 4096 (0 for the default)", c.MaxEntries))
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("max_age: %s is negative, use a duration such as 24h (0 for the default)", c.MaxAge))
	}
	return errors.Join(errs...)
}

// Stats counts what the store holds and dropped.
type Stats struct {
	Entries int   `json:"entries"` // ids remembered now
	Evicted int64 `json:"evicted"` // ids forgotten by the count or age bound since open
}

// Store is an open command store. It is safe for concurrent use.
type Store struct {
	cfg Config
	db  *bbolt.DB

	mu      sync.Mutex
	n       int // entries in the file
	evicted int64
}

// ErrClosed is what Load and Store return after Close.
var ErrClosed = errors.New("store closed")

var (
	bucketResults = []byte("results")
	bucketIndex   = []byte("index")
)

// Open opens or creates the store at cfg.Path. A file that is not a
// readable command store is moved aside and replaced by an empty one.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cmdstore: open: %w", err)
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Store{cfg: cfg}
	err := s.open()
	if err != nil && !errors.Is(err, bbolt.ErrTimeout) && !errors.Is(err, os.ErrPermission) {
		aside := fmt.Sprintf("%s.corrupt-%s", cfg.Path, cfg.Now().UTC().Format("20060102T150405Z"))
		if rerr := os.Rename(cfg.Path, aside); rerr != nil {
			return nil, fmt.Errorf("cmdstore: open %s: %w (and moving it aside: %v)", cfg.Path, err, rerr)
		}
		cfg.Logger.Warn("cmdstore: damaged file moved aside; commands from before it may run again if redelivered", "path", cfg.Path, "aside", aside, "err", err)
		err = s.open()
	}
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("cmdstore: open %s: locked by another process for %s", cfg.Path, cfg.Timeout)
		}
		return nil, fmt.Errorf("cmdstore: open %s: %v", cfg.Path, err)
	}
	cfg.Logger.Info("cmdstore: opened", "path", cfg.Path, "entries", s.n)
	return s, nil
}

// open opens the file, checks every record and counts them.
func (s *Store) open() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("damaged file: %v", p)
		}
		if err != nil && s.db != nil {
			closeQuietly(s.db)
			s.db = nil
		}
	}()
	if s.db, err = bbolt.Open(s.cfg.Path, 0o600, &bbolt.Options{Timeout: s.cfg.Timeout}); err != nil {
		s.db = nil
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		rb, err := tx.CreateBucketIfNotExists(bucketResults)
		if err != nil {
			return err
		}
		ib, err := tx.CreateBucketIfNotExists(bucketIndex)
		if err != nil {
			return err
		}
		n := 0
		if err := rb.ForEach(func(k, v []byte) error {
			key, _, _, err := decode(k, v)
			if err != nil {
				return err
			}
			if seq := ib.Get(key); len(seq) != 8 || string(seq) != string(k) {
				return fmt.Errorf("record %x: index does not point back", k)
			}
			n++
			return nil
		}); err != nil {
			return err
		}
		if ib.Stats().KeyN != n {
			return fmt.Errorf("index holds %d keys for %d records", ib.Stats().KeyN, n)
		}
		s.n = n
		return nil
	})
}

// decode splits a record.
func decode(k, v []byte) (key []byte, at time.Time, result []byte, err error) {
	if len(k) != 8 || len(v) < 9 {
		return nil, time.Time{}, nil, fmt.Errorf("record %x: too short", k)
	}
	at = time.Unix(0, int64(binary.BigEndian.Uint64(v[:8])))
	n, w := binary.Uvarint(v[8:])
	if w <= 0 || n > uint64(len(v)-8-w) {
		return nil, time.Time{}, nil, fmt.Errorf("record %x: bad key length", k)
	}
	key = v[8+w : 8+w+int(n)]
	return key, at, v[8+w+int(n):], nil
}

// Load returns the result stored for key, unless it is older than MaxAge.
func (s *Store) Load(key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil, false, fmt.Errorf("cmdstore: load %q: %w", key, ErrClosed)
	}
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		seq := tx.Bucket(bucketIndex).Get([]byte(key))
		if seq == nil {
			return nil
		}
		_, at, result, err := decode(seq, tx.Bucket(bucketResults).Get(seq))
		if err != nil {
			return err
		}
		if s.cfg.Now().Sub(at) > s.cfg.MaxAge {
			return nil
		}
		out = append([]byte{}, result...)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("cmdstore: load %q: %w", key, err)
	}
	return out, out != nil, nil
}

// Store records result for key, durably (fsync) when it returns; a key
// stored before keeps its place and first time. Then it forgets the
// oldest entries beyond MaxEntries and those past MaxAge.
func (s *Store) Store(key string, result []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return fmt.Errorf("cmdstore: store %q: %w", key, ErrClosed)
	}
	now := s.cfg.Now()
	n, evicted := s.n, int64(0)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		rb, ib := tx.Bucket(bucketResults), tx.Bucket(bucketIndex)
		seq := ib.Get([]byte(key))
		at := now
		if seq != nil {
			_, first, _, err := decode(seq, rb.Get(seq))
			if err != nil {
				return err
			}
			at = first
			seq = append([]byte{}, seq...)
		} else {
			next, err := rb.NextSequence()
			if err != nil {
				return err
			}
			seq = binary.BigEndian.AppendUint64(nil, next)
			n++
		}
		v := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
		v = binary.AppendUvarint(v, uint64(len(key)))
		v = append(append(v, key...), result...)
		if err := rb.Put(seq, v); err != nil {
			return err
		}
		if err := ib.Put([]byte(key), seq); err != nil {
			return err
		}
		c := rb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.First() {
			old, at, _, err := decode(k, v)
			if err != nil {
				return err
			}
			if n <= s.cfg.MaxEntries && now.Sub(at) <= s.cfg.MaxAge {
				break
			}
			if err := ib.Delete(old); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n--
			evicted++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cmdstore: store %q: %w", key, err)
	}
	s.n = n
	s.evicted += evicted
	return nil
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Entries: s.n, Evicted: s.evicted}
}

// Close closes the file; it may be called more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("cmdstore: close %s: %w", s.cfg.Path, err)
	}
	return nil
}

// closeQuietly closes a db we are abandoning; a damaged one may panic.
func closeQuietly(db *bbolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}
