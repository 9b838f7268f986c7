package orchestrator

import (
	"sync"
	"time"
)

// Plan states, as Status.State reports them.
const (
	StateApplying   = "applying"
	StateApplied    = "applied"
	StateRejected   = "rejected"    // refused before anything changed
	StateRolledBack = "rolled_back" // failed while switching; the previous plan runs again
)

// Step states.
const (
	StepRunning = "running"
	StepOK      = "ok"
	StepFailed  = "failed"
)

// Status is the outcome (or progress) of the latest plan the gateway
// handled. It is what <prefix>/<gateway>/plan/status carries.
type Status struct {
	// Version is the plan's version (0 when it could not be read).
	Version int64 `json:"version"`
	// State is applying, applied, rejected or rolled_back.
	State string `json:"state"`
	// Steps are what the apply did, in order.
	Steps []Step `json:"steps"`
	// Error says why a plan was rejected or rolled back.
	Error string `json:"error,omitempty"`
	// Problems lists every problem of an invalid plan, each with its
	// field path.
	Problems []string `json:"problems,omitempty"`
	// Applied is the version running once this status was written (0:
	// the daemon's own config).
	Applied int64 `json:"applied_version"`
	// Reset is set for a reset plan that lowered the version watermark:
	// "watermark N → M".
	Reset string `json:"reset,omitempty"`
	// KeyID is the key that signed the plan.
	KeyID string `json:"key_id,omitempty"`
	// SHA256 is the sha256 of the envelope, to tell plans apart.
	SHA256 string `json:"sha256,omitempty"`
	// Retry says the plan failed for a reason that may pass (a download):
	// the same envelope is tried again when it comes again.
	Retry bool `json:"retry,omitempty"`
	// Source is where the plan came from: mqtt or api.
	Source   string    `json:"source,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// Terminal reports whether the plan is done with (applied, rejected or
// rolled back).
func (s Status) Terminal() bool { return s.State != StateApplying && s.State != "" }

// Step is one thing an apply did.
type Step struct {
	// Name says what: verify, prepare, fetch <service>, start <service>…
	Name   string `json:"name"`
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	// Done and Total are bytes for downloads (Total -1 when unknown).
	Done  int64   `json:"done_bytes,omitempty"`
	Total int64   `json:"total_bytes,omitempty"`
	MS    float64 `json:"ms"`
}

// Reporter records the steps of one apply and passes every change on.
type Reporter struct {
	mu       sync.Mutex
	st       Status
	onChange func(Status)
	lastSent time.Time
}

// StepHandle is one step in progress.
type StepHandle struct {
	r     *Reporter
	i     int
	start time.Time
}

func newReporter(st Status, onChange func(Status)) *Reporter {
	return &Reporter{st: st, onChange: onChange}
}

// Step starts a step.
func (r *Reporter) Step(name string) *StepHandle {
	r.mu.Lock()
	r.st.Steps = append(r.st.Steps, Step{Name: name, State: StepRunning})
	h := &StepHandle{r: r, i: len(r.st.Steps) - 1, start: time.Now()}
	r.mu.Unlock()
	r.changed(true)
	return h
}

// Progress records a download's bytes; changes are passed on at most
// every 200ms.
func (h *StepHandle) Progress(done, total int64) {
	h.r.mu.Lock()
	s := &h.r.st.Steps[h.i]
	s.Done, s.Total = done, total
	s.MS = ms(time.Since(h.start))
	h.r.mu.Unlock()
	h.r.changed(done == total)
}

// OK ends the step.
func (h *StepHandle) OK(detail string) { h.end(StepOK, detail) }

// Fail ends the step as failed.
func (h *StepHandle) Fail(err error) { h.end(StepFailed, err.Error()) }

func (h *StepHandle) end(state, detail string) {
	h.r.mu.Lock()
	s := &h.r.st.Steps[h.i]
	s.State, s.Detail, s.MS = state, detail, ms(time.Since(h.start))
	h.r.mu.Unlock()
	h.r.changed(true)
}

func (r *Reporter) set(f func(*Status)) Status {
	r.mu.Lock()
	f(&r.st)
	st := r.snapshot()
	r.mu.Unlock()
	r.changed(true)
	return st
}

func (r *Reporter) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshot()
}

func (r *Reporter) snapshot() Status {
	st := r.st
	st.Steps = append([]Step(nil), r.st.Steps...)
	return st
}

func (r *Reporter) changed(force bool) {
	r.mu.Lock()
	if !force && time.Since(r.lastSent) < 200*time.Millisecond {
		r.mu.Unlock()
		return
	}
	r.lastSent = time.Now()
	st := r.snapshot()
	r.mu.Unlock()
	if r.onChange != nil {
		r.onChange(st)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
