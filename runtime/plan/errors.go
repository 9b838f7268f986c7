package plan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

// Sentinels for the ways a plan is refused. Errors wrap them with %w next to
// the detail (which key, which version, which field), so callers test with
// errors.Is and show Error().
var (
	// ErrTooLarge: the plan is over MaxSize or the envelope over MaxEnvelopeSize.
	ErrTooLarge = errors.New("plan too large")
	// ErrMalformedEnvelope: the envelope is not the JSON DecodeEnvelope expects.
	ErrMalformedEnvelope = errors.New("malformed plan envelope")
	// ErrUnknownKey: the envelope's key id is not one the Trust holds.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrBadSignature: the signature does not match the plan bytes and key.
	ErrBadSignature = errors.New("bad signature")
	// ErrInvalid: the plan's YAML has problems; see InvalidError.
	ErrInvalid = errors.New("invalid plan")
	// ErrStale: the plan's version is not newer than the applied one.
	ErrStale = errors.New("replayed or stale")
)

// InvalidError is every problem Parse found in a plan, each with its field
// path and line. It matches ErrInvalid with errors.Is, and its Problems are
// reachable with errors.As into a yamlconf.Errors.
type InvalidError struct {
	// Problems in file order (by line); those without a line, such as a
	// missing key, come last.
	Problems yamlconf.Errors
}

// Error lists the problems one per line under a count.
func (e *InvalidError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid plan: %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap gives ErrInvalid and the problems.
func (e *InvalidError) Unwrap() []error { return []error{ErrInvalid, e.Problems} }
