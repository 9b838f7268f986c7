package outbox

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults used when the corresponding Config field is zero.
const (
	// DefaultMaxBytes is the default cap on stored reading bytes (256 MiB).
	DefaultMaxBytes int64 = 256 << 20
	// DefaultMaxAge is the default age beyond which readings are dropped.
	DefaultMaxAge = 168 * time.Hour
	// DefaultMaxBatch is the default number of readings grouped into one
	// commit.
	DefaultMaxBatch = 8192
	// DefaultLockTimeout is how long Open waits for another process to
	// release the file lock before giving up.
	DefaultLockTimeout = time.Second
)

const (
	// maxQueued is how many full batches may wait behind the one being
	// committed before Append blocks (back-pressure).
	maxQueued = 4
	// minMmap and maxMmap bound the initial memory map, which is sized
	// from MaxBytes so that growing the file rarely remaps (a remap waits
	// for every open read transaction).
	minMmap = 16 << 20
	maxMmap = 1 << 30
)

// Config configures an Outbox. The zero value of every field except Path
// selects its documented default.
type Config struct {
	// Path is the bbolt file, e.g. <data_dir>/outbox.db. Required. The
	// directory must exist.
	Path string
	// MaxBytes caps the stored readings, counted as encoded key plus
	// value bytes. When an append would exceed it the oldest readings are
	// deleted in the same transaction and counted in Stats.Dropped.
	// 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxAge drops readings whose Reading.Time is older than Now()-MaxAge,
	// from the front of the queue, in every write transaction, at Open and
	// once a minute while idle. 0 means DefaultMaxAge.
	MaxAge time.Duration
	// Fsync makes every commit wait for fsync. nil means true, which is
	// what the durability guarantee needs; set it to new(false) only for
	// tests or throw-away data (a power loss may then lose recent commits
	// or corrupt the file, which Open then moves aside).
	Fsync *bool
	// MaxBatch is the number of readings (and acked seqs) from concurrent
	// callers grouped into one transaction. One Append call is never split,
	// so a larger call is committed alone. 0 means DefaultMaxBatch.
	MaxBatch int
	// LockTimeout is how long Open waits for the file lock held by another
	// process. 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// Logger receives drops (warn, rate-limited), corrupt files (error) and
	// open/close (info). nil discards.
	Logger *slog.Logger
	// Now is the clock for the age cap and for stamping readings without a
	// Time. nil means time.Now.
	Now func() time.Time

	// afterCommit, when set (tests only), runs after every successful
	// bbolt commit; an error it returns is treated as that commit's
	// failure, as if the fdatasync had failed after the meta page was
	// written.
	afterCommit func() error
}

// Validate reports every problem with c, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("outbox.path: required"))
	}
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("outbox.max_bytes: must be > 0 (or 0 for the default %d), got %d", DefaultMaxBytes, c.MaxBytes))
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("outbox.max_age: must be > 0 (or 0 for the default %s), got %s", DefaultMaxAge, c.MaxAge))
	}
	if c.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("outbox.max_batch: must be > 0 (or 0 for the default %d), got %d", DefaultMaxBatch, c.MaxBatch))
	}
	if c.LockTimeout < 0 {
		errs = append(errs, fmt.Errorf("outbox.lock_timeout: must be > 0 (or 0 for the default %s), got %s", DefaultLockTimeout, c.LockTimeout))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Fsync == nil {
		c.Fsync = new(true)
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// mmapSize is the initial memory map: room for the capped data and the
// pages bbolt needs besides it, within [minMmap, maxMmap].
func (c Config) mmapSize() int {
	sz := 2 * c.MaxBytes
	if sz < minMmap {
		sz = minMmap
	}
	if sz > maxMmap {
		sz = maxMmap
	}
	return int(sz)
}
