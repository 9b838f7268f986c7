package forwarder

import (
	"errors"
	"math/rand/v2"
	"time"
)

// permanentError marks a failure the destination will repeat for the same
// message every time (too large, refused, malformed).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a refusal that retrying the same message cannot
// cure (HTTP 4xx but 408/429, an MQTT 5 reason code such as 0x95 packet
// too large). A Link's Delivery fails with it; the forwarder then splits a
// batch down to single readings and moves a single reading so refused to
// the dead letters at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or an error it wraps) was made by
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError carries the destination's hint of how long to wait
// (HTTP Retry-After on 429 or 503).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks a transient err with the destination's wish to be
// retried no sooner than d. The forwarder waits at least that long before
// the next attempt, but never longer than Backoff.Max. RetryAfter(nil, d)
// is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

// RetryAfterHint returns the wait RetryAfter put in err (or an error it
// wraps), or 0.
func RetryAfterHint(err error) time.Duration {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}

func retryAfter(err error) time.Duration { return RetryAfterHint(err) }

// Backoff is the wait between delivery attempts after a failure: it starts
// at Initial and doubles with each failure in a row up to Max, each wait
// drawn at random from its upper half (so routes cut off together do not
// retry in lockstep). A delivery that succeeds starts it again at Initial.
type Backoff struct {
	Initial time.Duration // default 200ms (or Config.RetryDelay when set)
	Max     time.Duration // default 30s (at least Initial)
}

// backoff is the running state of a Backoff.
type backoff struct {
	cfg  Backoff
	next time.Duration // the upper bound of the next wait
}

func (b *backoff) reset() { b.next = 0 }

// wait returns the next wait, hinted by the destination's retry-after
// (honoured up to Max).
func (b *backoff) wait(hint time.Duration) time.Duration {
	if b.next == 0 {
		b.next = b.cfg.Initial
	}
	hi := b.next
	b.next = min(2*b.next, b.cfg.Max)
	if b.next <= 0 { // overflow
		b.next = b.cfg.Max
	}
	d := hi/2 + time.Duration(rand.Int64N(int64(hi/2)+1))
	if hint > d {
		d = min(hint, b.cfg.Max)
	}
	return d
}
