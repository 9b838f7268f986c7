package artifacts

import (
	"context"
	"sync"
)

// sumLocks is a set of mutexes keyed by sum, created on first use and
// dropped when nobody holds or waits for them. Waiting honours a context.
type sumLocks struct {
	mu sync.Mutex
	m  map[string]*sumLock
}

// sumLock is one sum's mutex: a token in a channel of capacity one.
type sumLock struct {
	ch   chan struct{}
	refs int // holders and waiters
}

// acquire returns the lock for sum with its reference taken.
func (l *sumLocks) acquire(sum string) *sumLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[string]*sumLock)
	}
	e := l.m[sum]
	if e == nil {
		e = &sumLock{ch: make(chan struct{}, 1)}
		l.m[sum] = e
	}
	e.refs++
	return e
}

// release drops a reference to sum's lock, forgetting it at zero.
func (l *sumLocks) release(sum string, e *sumLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.m, sum)
	}
}

// lock waits for sum's lock or for ctx to end. The returned func unlocks.
func (l *sumLocks) lock(ctx context.Context, sum string) (func(), error) {
	e := l.acquire(sum)
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; l.release(sum, e) }, nil
	case <-ctx.Done():
		l.release(sum, e)
		return nil, ctx.Err()
	}
}

// tryLock takes sum's lock if it is free. The returned func unlocks.
func (l *sumLocks) tryLock(sum string) (func(), bool) {
	e := l.acquire(sum)
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; l.release(sum, e) }, true
	default:
		l.release(sum, e)
		return nil, false
	}
}

// size is the number of sums with a lock held or awaited (for tests).
func (l *sumLocks) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
