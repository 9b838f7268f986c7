package auth

import (
	"sync"
	"time"
)

// Backoff slows password guessing. After FreeAttempts wrong passwords from
// one source address, or for one username, further logins from that
// address or as that user are refused without checking the password for
// Initial, then twice as long after each further failure, up to Max. A
// right password clears both. A zero Initial turns back-off off.
type Backoff struct {
	FreeAttempts int
	Initial, Max time.Duration
}

// maxBackoffKeys bounds the addresses and users remembered; past it the
// ones whose back-off is over are forgotten first.
const maxBackoffKeys = 4096

type failures struct {
	n     int
	last  time.Time
	until time.Time
}

// backoffs tracks failures per key ("addr:…", "user:…"). Safe for
// concurrent use.
type backoffs struct {
	cfg Backoff
	mu  sync.Mutex
	m   map[string]*failures
}

func newBackoffs(cfg Backoff) *backoffs {
	if cfg.Max < cfg.Initial {
		cfg.Max = cfg.Initial
	}
	return &backoffs{cfg: cfg, m: map[string]*failures{}}
}

// wait is how long the longest back-off among keys has to run; 0 lets the
// login be checked.
func (b *backoffs) wait(now time.Time, keys ...string) time.Duration {
	if b.cfg.Initial <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var w time.Duration
	for _, k := range keys {
		if f := b.m[k]; f != nil && f.until.After(now) {
			w = max(w, f.until.Sub(now))
		}
	}
	return w
}

// fail records a wrong password for keys.
func (b *backoffs) fail(now time.Time, keys ...string) {
	if b.cfg.Initial <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		f := b.m[k]
		if f == nil {
			b.pruneLocked(now)
			f = &failures{}
			b.m[k] = f
		}
		f.n++
		f.last = now
		if over := f.n - b.cfg.FreeAttempts + 1; over > 0 {
			d := b.cfg.Max
			if over <= 32 {
				d = min(b.cfg.Initial<<(over-1), b.cfg.Max)
				if d <= 0 { // overflowed
					d = b.cfg.Max
				}
			}
			f.until = now.Add(d)
		}
	}
}

// succeed clears keys after a right password.
func (b *backoffs) succeed(keys ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		delete(b.m, k)
	}
}

// pruneLocked makes room for one more key: it forgets keys quiet for
// longer than Max whose back-off is over, then, if still full, any.
func (b *backoffs) pruneLocked(now time.Time) {
	if len(b.m) < maxBackoffKeys {
		return
	}
	for k, f := range b.m {
		if !f.until.After(now) && now.Sub(f.last) > b.cfg.Max {
			delete(b.m, k)
		}
	}
	for k := range b.m {
		if len(b.m) < maxBackoffKeys {
			break
		}
		delete(b.m, k)
	}
}
