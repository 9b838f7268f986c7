package planstore

import (
	"fmt"
	"log/slog"
	"time"
)

// DefaultTimeout is how long Open waits for another process to release the
// file lock before giving up.
const DefaultTimeout = time.Second

// Config configures a Store. The zero value selects every default.
type Config struct {
	// Timeout is how long Open waits for the file lock held by another
	// process (or another Store in this one). 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives open and close (info). nil discards.
	Logger *slog.Logger
}

// Validate reports a problem with c, naming the field.
func (c Config) Validate() error {
	if c.Timeout < 0 {
		return fmt.Errorf("planstore.timeout: must be > 0 (or 0 for the default %s), got %s", DefaultTimeout, c.Timeout)
	}
	return nil
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
