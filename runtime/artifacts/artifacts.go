package artifacts

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config tunes a Store. The zero value takes every default.
type Config struct {
	// MaxBytes is the largest artifact accepted; default DefaultMaxBytes
	// (512 MiB). A larger Content-Length, Content-Range total, file size or
	// streamed byte count fails the Fetch and removes the part.
	MaxBytes int64
	// Client makes the http(s) requests; default an http.Client with no
	// overall timeout (large downloads on slow links must finish) but 30s
	// limits on dialling, the TLS handshake and the response headers. It
	// should not transparently decompress: Fetch asks for identity encoding.
	Client *http.Client
	// StallTimeout fails a download when no bytes arrive for this long,
	// keeping the part to resume; default DefaultStallTimeout (60s).
	StallTimeout time.Duration
	// Logger receives downloads, resumes, restarts and removals; default
	// discards.
	Logger *slog.Logger
}

// Defaults for Config.
const (
	DefaultMaxBytes     = 512 << 20
	DefaultStallTimeout = 60 * time.Second
)

// connectTimeout bounds dialling, the TLS handshake and the wait for the
// response headers of the default client.
const connectTimeout = 30 * time.Second

// Validate reports a field that cannot work. Zero fields take their
// defaults and are valid.
func (c Config) Validate() error {
	if c.MaxBytes < 0 {
		return fmt.Errorf("artifacts: max_bytes %d must not be negative (0 means %d)", c.MaxBytes, DefaultMaxBytes)
	}
	if c.StallTimeout < 0 {
		return fmt.Errorf("artifacts: stall_timeout %v must not be negative (0 means %v)", c.StallTimeout, DefaultStallTimeout)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.Client == nil {
		c.Client = defaultClient()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// defaultClient is an http.Client without an overall timeout but with
// bounded connection set-up, so that a dead server fails fast while a slow
// download is left to StallTimeout.
func defaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   connectTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   connectTimeout,
		ResponseHeaderTimeout: connectTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
	}}
}

// Store is a directory of artifacts named by their sha256. It is safe for
// concurrent use.
type Store struct {
	dir   string
	cfg   Config
	log   *slog.Logger
	locks sumLocks
}

// Open returns the Store in dir, creating dir (mode 0750) if needed.
func Open(dir string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("artifacts: open %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("artifacts: open %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("artifacts: open %s: not a directory", dir)
	}
	return &Store{dir: dir, cfg: cfg, log: cfg.Logger}, nil
}

// Path returns the file path of artifact sum (64 lower-case hex) if it is in
// the store. An invalid sum is never in the store.
func (s *Store) Path(sum string) (string, bool) {
	if validSum(sum) != nil {
		return "", false
	}
	p := s.artifactPath(sum)
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return p, true
}

// List returns the sums in the store, sorted. Parts are not listed.
func (s *Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("artifacts: list %s: %w", s.dir, err)
	}
	var sums []string
	for _, e := range entries {
		if sum, kind := parseName(e.Name()); kind == kindArtifact && e.Type().IsRegular() {
			sums = append(sums, sum)
		}
	}
	slices.Sort(sums)
	return sums, nil
}

// GC removes every artifact (and every .part and .part.meta file) whose sum
// is not in keep, and the leftover parts of complete artifacts. It returns
// the sums of the artifacts removed, sorted. Sums that a Fetch holds at the
// moment are skipped. Every sum in keep must be valid, or nothing is
// removed: a mistyped sum would otherwise delete what it meant to keep. On
// a removal error GC goes on with the rest and returns what it removed with
// the errors joined.
func (s *Store) GC(keep []string) ([]string, error) {
	keepSet := make(map[string]bool, len(keep))
	for _, k := range keep {
		if err := validSum(k); err != nil {
			return nil, fmt.Errorf("artifacts: gc: keep %q: %w", k, err)
		}
		keepSet[k] = true
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("artifacts: gc %s: %w", s.dir, err)
	}
	var sums []string // every sum with a file of ours
	for _, e := range entries {
		if sum, kind := parseName(e.Name()); kind != kindOther {
			sums = append(sums, sum)
		}
	}
	slices.Sort(sums)
	sums = slices.Compact(sums)

	var removed []string
	var errs []error
	for _, sum := range sums {
		unlock, ok := s.locks.tryLock(sum)
		if !ok {
			s.log.Info("gc skips a sum being fetched", "sum", sum)
			continue
		}
		_, complete := s.Path(sum)
		if !keepSet[sum] && complete {
			if err := os.Remove(s.artifactPath(sum)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("artifacts: gc: %w", err))
			} else {
				removed = append(removed, sum)
				s.log.Info("removed artifact", "sum", sum)
			}
		}
		if !keepSet[sum] || complete {
			for _, p := range []string{s.partPath(sum), s.metaPath(sum)} {
				if err := os.Remove(p); err == nil {
					s.log.Info("removed partial download", "sum", sum, "path", p)
				} else if !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, fmt.Errorf("artifacts: gc: %w", err))
				}
			}
		}
		unlock()
	}
	return removed, errors.Join(errs...)
}

// Names of the files in the store.
const (
	partSuffix = ".part"
	metaSuffix = ".part.meta"
)

func (s *Store) artifactPath(sum string) string { return filepath.Join(s.dir, sum) }
func (s *Store) partPath(sum string) string     { return filepath.Join(s.dir, sum+partSuffix) }
func (s *Store) metaPath(sum string) string     { return filepath.Join(s.dir, sum+metaSuffix) }

// fileKind says which of the store's files a name is.
type fileKind int

const (
	kindOther fileKind = iota
	kindArtifact
	kindPart
	kindMeta
)

// parseName splits a file name of the store into its sum and kind.
func parseName(name string) (string, fileKind) {
	sum, kind := name, kindArtifact
	if s, ok := strings.CutSuffix(name, metaSuffix); ok {
		sum, kind = s, kindMeta
	} else if s, ok := strings.CutSuffix(name, partSuffix); ok {
		sum, kind = s, kindPart
	}
	if validSum(sum) != nil {
		return "", kindOther
	}
	return sum, kind
}

// validSum accepts a sha256 in 64 lower-case hex digits.
func validSum(sum string) error {
	if len(sum) != 64 {
		return ErrInvalidSum
	}
	for i := 0; i < len(sum); i++ {
		c := sum[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ErrInvalidSum
		}
	}
	return nil
}

// syncDir makes the renames and creations in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
