package uplink

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff computes waits between connection attempts with "decorrelated
// jitter": each wait is drawn uniformly from [min, 3×previous], capped at
// max. Waits grow roughly exponentially while attempts keep failing, never
// fall below min, and are spread out so that gateways cut off together do
// not reconnect in lockstep. A zero backoff is not usable; use newBackoff.
type backoff struct {
	min, max time.Duration
	prev     time.Duration
	// int64n returns a uniform value in [0, n); rand.Int64N unless a
	// test replaces it.
	int64n func(n int64) int64
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, int64n: rand.Int64N}
}

// next returns the wait before the next attempt.
func (b *backoff) next() time.Duration {
	hi := max(b.prev, b.min) * 3
	if hi > b.max || hi <= 0 { // hi <= 0: overflow
		hi = b.max
	}
	d := b.min
	if hi > b.min {
		d += time.Duration(b.int64n(int64(hi-b.min) + 1))
	}
	b.prev = d
	return d
}

// reset starts the sequence again from min.
func (b *backoff) reset() { b.prev = 0 }

// sleepCtx waits for d or until ctx is done, returning ctx's error then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
