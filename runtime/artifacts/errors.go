package artifacts

import "errors"

// Sentinel errors. Callers match them with errors.Is; the errors returned
// wrap them with the operation, the url and the details.
var (
	// ErrInvalidSum is returned for a sum that is not a sha256 in 64
	// lower-case hex digits.
	ErrInvalidSum = errors.New("sha256 must be 64 lower-case hex digits")
	// ErrInvalidURL is returned for a url that is not http://, https:// or
	// file:///absolute/path.
	ErrInvalidURL = errors.New("url must be http://host/..., https://host/... or file:///absolute/path")
	// ErrChecksum is returned when the downloaded content does not hash to
	// the expected sum. The partial download has been removed.
	ErrChecksum = errors.New("sha256 mismatch")
	// ErrTooLarge is returned when an artifact is larger than
	// Config.MaxBytes. The partial download has been removed.
	ErrTooLarge = errors.New("artifact too large")
	// ErrHTTPStatus is returned when the server answers with a status other
	// than 200 or 206 (416 is handled by starting over).
	ErrHTTPStatus = errors.New("unexpected HTTP status")
	// ErrStalled is returned when no data arrived for Config.StallTimeout.
	// The partial download is kept for the next Fetch to resume.
	ErrStalled = errors.New("download stalled")
)
