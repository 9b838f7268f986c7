package lasterr

import (
	"sync"
	"time"
)

// Error is one recorded error: what happened, when, and when the part that
// reported it was seen working again (zero while the error is current).
type Error struct {
	Message     string    `json:"error,omitempty"`
	At          time.Time `json:"at,omitzero"`
	RecoveredAt time.Time `json:"recovered_at,omitzero"`
}

// Current reports whether there is an error and the part has not recovered
// from it.
func (e Error) Current() bool { return e.Message != "" && e.RecoveredAt.IsZero() }

// String is the message with its time, and its recovery if any:
// "connection refused (at 2026-12-06T08:00:00Z, recovered at 2026-12-06T08:00:03Z)".
// It is "" for the zero Error.
func (e Error) String() string {
	if e.Message == "" {
		return ""
	}
	s := e.Message + " (at " + e.At.UTC().Format(time.RFC3339)
	if !e.RecoveredAt.IsZero() {
		s += ", recovered at " + e.RecoveredAt.UTC().Format(time.RFC3339)
	}
	return s + ")"
}

// Record holds the most recent Error of one part. The zero Record is ready
// to use and safe for concurrent use.
type Record struct {
	mu  sync.Mutex
	err Error
}

// Set records msg as the current error, happened at at.
func (r *Record) Set(msg string, at time.Time) {
	r.mu.Lock()
	r.err = Error{Message: msg, At: at}
	r.mu.Unlock()
}

// Recovered marks the current error as past, at at. It does nothing when
// there is no current error, so calling it on every success is cheap.
func (r *Record) Recovered(at time.Time) {
	r.mu.Lock()
	if r.err.Current() {
		r.err.RecoveredAt = at
	}
	r.mu.Unlock()
}

// Get returns the recorded error; the zero Error if there was none.
func (r *Record) Get() Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
