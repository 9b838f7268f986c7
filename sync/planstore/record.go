package planstore

import (
	"encoding/json"
	"fmt"
	"time"
)

// Record is one applied plan as the store keeps it.
type Record struct {
	// Version is the plan's version, at least 1.
	Version int64 `json:"version"`
	// Envelope is the signed plan envelope, byte for byte as received.
	// The store does not look inside; the caller verifies it again on
	// load. Required.
	Envelope []byte `json:"envelope"`
	// Artifacts are the sha256s of the artifacts the plan uses, so that
	// artifact garbage collection keeps those of the plans in History.
	Artifacts []string `json:"artifacts"`
	// AppliedAt is when the plan was applied.
	AppliedAt time.Time `json:"applied_at"`
}

// Validate reports whether r can be stored: Version at least 1 and a
// non-empty Envelope. The error wraps ErrInvalid.
func (r Record) Validate() error {
	if r.Version < 1 {
		return fmt.Errorf("%w record: version %d, must be >= 1", ErrInvalid, r.Version)
	}
	if len(r.Envelope) == 0 {
		return fmt.Errorf("%w record: version %d has an empty envelope", ErrInvalid, r.Version)
	}
	return nil
}

// encodeRecord returns the stored form of r.
func encodeRecord(r Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%w record: version %d: %v", ErrInvalid, r.Version, err)
	}
	return b, nil
}

// decodeRecord parses a stored record (a *corruptError if it is not one).
// The result shares no memory with b.
func decodeRecord(key string, b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, corruptf("record %q: %w", key, err)
	}
	if err := r.Validate(); err != nil {
		return Record{}, corruptf("record %q: %v", key, err)
	}
	return r, nil
}
