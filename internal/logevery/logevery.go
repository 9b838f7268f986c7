// Package logevery keeps repeated warnings from flooding the log: one line
// per key per interval, and the next line says how many were held back.
package logevery

import (
	"sync"
	"time"
)

// Every is the interval unless New is given another.
const Every = 10 * time.Second

// MaxKeys bounds a Limiter's memory; past it, idle keys are dropped and, if
// that is not enough, new keys share one slot.
const MaxKeys = 1024

// overflowKey is the shared slot for keys past MaxKeys.
const overflowKey = "\x00overflow"

// Limiter lets one log line per key through per interval and counts the
// rest. It is safe for concurrent use.
type Limiter struct {
	every time.Duration
	mu    sync.Mutex
	seen  map[string]*logSlot
}

// logSlot is one key's state.
type logSlot struct {
	last       time.Time
	suppressed int
}

// New returns a Limiter with the given interval (0 means Every).
func New(every time.Duration) *Limiter {
	if every <= 0 {
		every = Every
	}
	return &Limiter{every: every, seen: make(map[string]*logSlot)}
}

// Allow reports whether to log an event for key at now, and how many events
// for key were held back since the last one logged.
func (l *Limiter) Allow(key string, now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seen[key]
	if s == nil {
		if len(l.seen) >= MaxKeys {
			l.prune(now)
		}
		if len(l.seen) >= MaxKeys {
			key = overflowKey
			s = l.seen[key]
		}
		if s == nil {
			s = &logSlot{}
			l.seen[key] = s
		}
	}
	if !s.last.IsZero() && now.Sub(s.last) < l.every {
		s.suppressed++
		return 0, false
	}
	n := s.suppressed
	s.last, s.suppressed = now, 0
	return n, true
}

// prune drops keys that have been quiet for an interval; their held-back
// counts are lost with them.
func (l *Limiter) prune(now time.Time) {
	for k, s := range l.seen {
		if now.Sub(s.last) >= l.every {
			delete(l.seen, k)
		}
	}
}
