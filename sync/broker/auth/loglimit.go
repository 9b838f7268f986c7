package auth

import (
	"sync"
	"time"
)

// Log limiting: a client that retries a refused login in a loop gets one log
// line per logEvery, and the next line says how many were held back.
const (
	logEvery = 10 * time.Second
	// logKeys bounds the limiter's memory; past it, idle keys are dropped
	// and, if that is not enough, new keys share one slot.
	logKeys = 1024
)

// overflowKey is the shared slot for keys past logKeys.
const overflowKey = "\x00overflow"

// logLimiter lets one log line per key through per logEvery and counts the
// rest.
type logLimiter struct {
	mu   sync.Mutex
	seen map[string]*logSlot
}

// logSlot is one key's state.
type logSlot struct {
	last       time.Time
	suppressed int
}

func newLogLimiter() *logLimiter {
	return &logLimiter{seen: make(map[string]*logSlot)}
}

// allow reports whether to log an event for key at now, and how many events
// for key were held back since the last one logged.
func (l *logLimiter) allow(key string, now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seen[key]
	if s == nil {
		if len(l.seen) >= logKeys {
			l.prune(now)
		}
		if len(l.seen) >= logKeys {
			key = overflowKey
			s = l.seen[key]
		}
		if s == nil {
			s = &logSlot{}
			l.seen[key] = s
		}
	}
	if !s.last.IsZero() && now.Sub(s.last) < logEvery {
		s.suppressed++
		return 0, false
	}
	n := s.suppressed
	s.last, s.suppressed = now, 0
	return n, true
}

// prune drops keys that have been quiet for logEvery; their held-back
// counts are lost with them.
func (l *logLimiter) prune(now time.Time) {
	for k, s := range l.seen {
		if now.Sub(s.last) >= logEvery {
			delete(l.seen, k)
		}
	}
}
