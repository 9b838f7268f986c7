package orchestrator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edged-gateway/edged/runtime/plan"
)

// Transient marks an error of Prepare that may pass (a download that
// failed): the plan is rejected, but the same envelope is tried again when
// it comes again instead of being answered with this status.
func Transient(err error) error { return transientError{err} }

type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// Sources of plans, as Status.Source says.
const (
	SourceMQTT = "mqtt" // the cloud's plan topic
	SourceAPI  = "api"  // the local API (edged plan apply)
)

// Workload is what a Target runs for one plan (devices, services, sync
// policy); the orchestrator only hands it back.
type Workload any

// Target is the gateway that plans change.
type Target interface {
	// Current is the workload running now, to roll back to.
	Current() Workload
	// Prepare checks p against the gateway and fetches what it needs,
	// changing nothing that runs. An error rejects the plan; a
	// plan.InvalidError's problems are listed one by one.
	Prepare(ctx context.Context, p *plan.Plan, r *Reporter) (Workload, error)
	// Switch makes w the running workload: start and reconfigure what
	// changed, health-gated. After an error the orchestrator switches
	// back to the previous workload.
	Switch(ctx context.Context, w Workload, r *Reporter) error
}

// Committer is a Target with changes that must wait until a workload is the
// committed one, because they cannot be undone (caps that drop buffered
// readings): Committed is called after the plan is committed, and with the
// previous workload after a roll back.
type Committer interface {
	Committed(w Workload)
}

// IssuedStore is a Store that also keeps the newest signature time
// (plan.Envelope.IssuedAt) of the plans it tried, so a plan signed before it
// is refused.
type IssuedStore interface {
	// Issued is the newest signature time recorded, zero if none.
	Issued() (time.Time, error)
	// RaiseIssued records t if it is newer.
	RaiseIssued(t time.Time) error
}

// Resetter is a Store that can lower the attempted version: reset plans
// (plan.Envelope.Reset) need it, and an IssuedStore.
type Resetter interface {
	// Reset sets the attempted version to v and raises the newest
	// signature time to issued; it returns the attempted version it
	// replaced.
	Reset(v int64, issued time.Time) (int64, error)
}

// DefaultMaxClockSkew is how far ahead of the gateway's clock a plan's
// signature time may be when Config.MaxClockSkew is 0.
const DefaultMaxClockSkew = 15 * time.Minute

// Store keeps what must survive a reboot.
type Store interface {
	// Applied is the version of the applied plan, 0 when none is.
	Applied() (int64, error)
	// Attempted is the highest version ever tried, 0 when none was.
	Attempted() (int64, error)
	// SetAttempted raises Attempted to v.
	SetAttempted(v int64) error
	// Commit records env as the applied plan.
	Commit(version int64, env []byte, artifacts []string) error
	// Status and SetStatus keep the last status document.
	Status() ([]byte, error)
	SetStatus(doc []byte) error
}

// Config wires an Orchestrator.
type Config struct {
	// Trust holds the keys plans must be signed with.
	Trust *plan.Trust
	// GatewayID and Labels decide which plans are for this gateway.
	GatewayID string
	Labels    map[string]string
	Target    Target
	Store     Store
	// OnStatus is called with every change of the status (it must not
	// block for long): the daemon publishes it.
	OnStatus func(Status)
	// OnSettled is called after every apply that got as far as switching,
	// applied or rolled back (the daemon collects unused artifacts).
	OnSettled func()
	Logger    *slog.Logger
	// MaxClockSkew refuses plans signed further in the future than this
	// (the signer's or the gateway's clock is wrong); default
	// DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Orchestrator applies plans one at a time.
type Orchestrator struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	pending []submission
	wake    chan struct{}
	last    Status        // the latest status
	cur     *Reporter     // the apply in progress, nil when idle
	turn    chan struct{} // held by the apply or Exclusive change in progress (exclusive.go)
}

type submission struct {
	env    []byte
	sum    string
	source string
	reply  chan Status // buffered, 1
}

// New checks cfg and loads the last status from the store.
func New(cfg Config) (*Orchestrator, error) {
	if cfg.Trust == nil || cfg.Target == nil || cfg.Store == nil {
		return nil, errors.New("orchestrator: Trust, Target and Store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	o := &Orchestrator{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), turn: make(chan struct{}, 1)}
	doc, err := cfg.Store.Status()
	if err != nil {
		return nil, fmt.Errorf("orchestrator: %w", err)
	}
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &o.last); err != nil {
			o.log.Warn("last plan status unreadable; starting without it", "err", err)
			o.last = Status{}
		}
	}
	if o.last.State == StateApplying { // the daemon died mid-apply
		applied, err := cfg.Store.Applied()
		if err != nil {
			return nil, fmt.Errorf("orchestrator: %w", err)
		}
		o.last.State, o.last.Applied, o.last.Finished = StateRolledBack, applied, time.Now()
		o.last.Error = fmt.Sprintf("edged stopped while applying plan %d; it came back on plan %d", o.last.Version, applied)
	}
	return o, nil
}

// Status is the latest plan status.
func (o *Orchestrator) Status() Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur != nil {
		return o.cur.status()
	}
	st := o.last
	st.Steps = append([]Step(nil), st.Steps...)
	return st
}

// Submit queues a signed envelope. The returned channel receives the
// plan's final status (applied, rejected or rolled_back) once.
func (o *Orchestrator) Submit(env []byte, source string) <-chan Status {
	sum := sha256.Sum256(env)
	s := submission{env: env, sum: hex.EncodeToString(sum[:]), source: source, reply: make(chan Status, 1)}
	o.mu.Lock()
	o.pending = append(o.pending, s)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return s.reply
}

// Run applies submitted plans until ctx ends.
func (o *Orchestrator) Run(ctx context.Context) error {
	if o.last.Version != 0 {
		o.publish(o.last)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-o.wake:
		}
		for {
			o.mu.Lock()
			batch := o.pending
			o.pending = nil
			o.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			o.handle(ctx, batch)
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

// verified is a submission that passed the checks that need no Target.
type verified struct {
	submission
	plan   *plan.Plan
	key    string
	issued time.Time // the envelope's IssuedAt; zero for an old envelope
	reset  bool      // a reset plan (signed by a reset key)
}

// better reports whether a should be applied rather than b: a reset plan
// before a normal one (newest signature first), else the higher version.
func better(a, b *verified) bool {
	if a.reset != b.reset {
		return a.reset
	}
	if a.reset {
		return a.issued.After(b.issued)
	}
	return a.plan.Version > b.plan.Version
}

// handle verifies every waiting submission, rejects the bad ones and
// applies the newest good one; older good ones are superseded.
func (o *Orchestrator) handle(ctx context.Context, batch []submission) {
	var best *verified
	var good []verified
	for _, s := range batch {
		if o.seen(s) {
			continue
		}
		v, st := o.verify(s)
		if st != nil {
			o.finish(s, *st, true)
			continue
		}
		good = append(good, v)
	}
	for i := range good {
		if best == nil || better(&good[i], best) {
			best = &good[i]
		}
	}
	for _, v := range good {
		if v.sum != best.sum {
			o.finish(v.submission, o.rejected(v.submission, v.plan.Version,
				fmt.Sprintf("superseded by plan %d, which arrived while it waited", best.plan.Version), nil), true)
		}
	}
	if best != nil {
		o.apply(ctx, *best)
	}
}

// seen reports whether s is the plan the last status is about (a retained
// plan comes again on every reconnect): it is answered, not redone.
func (o *Orchestrator) seen(s submission) bool {
	o.mu.Lock()
	last := o.last
	o.mu.Unlock()
	if last.SHA256 != s.sum || !last.Terminal() || last.Retry {
		return false
	}
	o.log.Debug("plan already handled", "version", last.Version, "state", last.State)
	s.reply <- last
	return true
}

// verify checks the envelope, the signature, the gateway and the version.
func (o *Orchestrator) verify(s submission) (verified, *Status) {
	env, err := plan.DecodeEnvelope(s.env)
	if err != nil {
		st := o.rejected(s, 0, err.Error(), nil)
		return verified{}, &st
	}
	p, err := o.cfg.Trust.Verify(env)
	if err != nil {
		var inv *plan.InvalidError
		if errors.As(err, &inv) {
			st := o.rejected(s, 0, "invalid plan", problems(inv))
			st.KeyID = env.KeyID
			return verified{}, &st
		}
		st := o.rejected(s, 0, err.Error(), nil)
		st.KeyID = env.KeyID
		return verified{}, &st
	}
	reject := func(msg string) (verified, *Status) {
		st := o.rejected(s, p.Version, msg, nil)
		st.KeyID = env.KeyID
		return verified{}, &st
	}
	if !p.Gateway.Matches(o.cfg.GatewayID, o.cfg.Labels) {
		return reject(fmt.Sprintf("the plan is for gateway %s, not this one (id %s, labels %v)", p.Gateway, o.cfg.GatewayID, o.cfg.Labels))
	}
	if env.Reset {
		return o.verifyReset(s, env, p, reject)
	}
	applied, err := o.cfg.Store.Applied()
	if err != nil {
		return reject(err.Error())
	}
	attempted, err := o.cfg.Store.Attempted()
	if err != nil {
		return reject(err.Error())
	}
	if err := plan.CheckVersion(applied, p); err != nil {
		return reject(fmt.Sprintf("replay or stale plan: version %d is not newer than the applied version %d", p.Version, applied))
	}
	if p.Version <= attempted {
		return reject(fmt.Sprintf("replay: version %d is not above version %d, already tried on this gateway (applied before, or failed); sign the next plan as version %d or later", p.Version, attempted, attempted+1))
	}
	if at := env.IssuedAt; !at.IsZero() {
		now := o.cfg.Now()
		if ahead := at.Sub(now); ahead > o.cfg.MaxClockSkew {
			return reject(fmt.Sprintf("signed at %s, %s ahead of this gateway's clock (more than %s): check the signer's and the gateway's clocks", at.Format(time.RFC3339), ahead.Round(time.Second), o.cfg.MaxClockSkew))
		}
		if is, ok := o.cfg.Store.(IssuedStore); ok {
			newest, err := is.Issued()
			if err != nil {
				return reject(err.Error())
			}
			if at.Before(newest) {
				return reject(fmt.Sprintf("replay: signed at %s, before %s, the newest signature this gateway has seen; sign the plan again", at.Format(time.RFC3339), newest.Format(time.RFC3339)))
			}
		}
	}
	return verified{submission: s, plan: p, key: env.KeyID, issued: env.IssuedAt}, nil
}

// verifyReset checks what a reset plan needs beyond its reset key's
// signature (Trust.Verify checked that): a store that can reset, and a
// signature time within MaxClockSkew of the gateway's clock, either side,
// and after the newest signature time the gateway has seen, so a reset is
// good once, right after it was signed.
func (o *Orchestrator) verifyReset(s submission, env plan.Envelope, p *plan.Plan, reject func(string) (verified, *Status)) (verified, *Status) {
	_, canReset := o.cfg.Store.(Resetter)
	is, hasIssued := o.cfg.Store.(IssuedStore)
	if !canReset || !hasIssued {
		return reject("reset plan: this gateway's plan store cannot lower its version watermark")
	}
	at, now, skew := env.IssuedAt, o.cfg.Now(), o.cfg.MaxClockSkew
	if ahead := at.Sub(now); ahead > skew {
		return reject(fmt.Sprintf("reset plan signed at %s, %s ahead of this gateway's clock (more than plans.max_clock_skew %s): check the signer's and the gateway's clocks", at.Format(time.RFC3339), ahead.Round(time.Second), skew))
	}
	if behind := now.Sub(at); behind > skew {
		return reject(fmt.Sprintf("reset plan signed at %s, %s before this gateway's clock (more than plans.max_clock_skew %s): a reset is good only right after signing; sign it again (edged plan sign --reset) and push it at once", at.Format(time.RFC3339), behind.Round(time.Second), skew))
	}
	newest, err := is.Issued()
	if err != nil {
		return reject(err.Error())
	}
	if !at.After(newest) {
		return reject(fmt.Sprintf("replay: reset plan signed at %s, not after %s, the newest signature this gateway has seen; a reset is applied once: sign a new one (edged plan sign --reset)", at.Format(time.RFC3339), newest.Format(time.RFC3339)))
	}
	return verified{submission: s, plan: p, key: env.KeyID, issued: at, reset: true}, nil
}

func (o *Orchestrator) rejected(s submission, version int64, msg string, probs []string) Status {
	applied, _ := o.cfg.Store.Applied()
	now := time.Now()
	return Status{Version: version, State: StateRejected, Steps: []Step{}, Error: msg, Problems: probs,
		Applied: applied, SHA256: s.sum, Source: s.source, Started: now, Finished: now}
}

func problems(inv *plan.InvalidError) []string {
	out := make([]string, len(inv.Problems))
	for i, p := range inv.Problems {
		out[i] = p.Error()
	}
	return out
}

// apply prepares, switches and commits one verified plan, rolling back on
// failure.
func (o *Orchestrator) apply(ctx context.Context, v verified) {
	select {
	case o.turn <- struct{}{}: // no Exclusive change runs meanwhile
	case <-ctx.Done():
		return
	}
	defer func() { <-o.turn }()
	applied, _ := o.cfg.Store.Applied()
	r := newReporter(Status{Version: v.plan.Version, State: StateApplying, Steps: []Step{}, Applied: applied,
		KeyID: v.key, SHA256: v.sum, Source: v.source, Started: time.Now()}, o.publish)
	o.mu.Lock()
	o.cur = r
	o.mu.Unlock()
	log := o.log.With("version", v.plan.Version, "source", v.source)
	log.Info("plan applying", "key_id", v.key)
	if v.reset {
		r.Step("verify").OK("reset plan signed by reset key " + v.key)
	} else {
		r.Step("verify").OK("signed by key " + v.key)
	}

	prev := o.cfg.Target.Current()
	w, err := o.cfg.Target.Prepare(ctx, v.plan, r)
	if err != nil {
		var inv *plan.InvalidError
		var tr transientError
		st := r.set(func(s *Status) {
			s.State, s.Finished, s.Error, s.Retry = StateRejected, time.Now(), err.Error(), errors.As(err, &tr)
			if errors.As(err, &inv) {
				s.Error, s.Problems = "invalid plan", problems(inv)
			}
		})
		log.Warn("plan rejected", "err", err)
		o.finish(v.submission, st, false)
		return
	}
	if v.reset {
		// Lower (or set) the watermark before anything switches, as
		// SetAttempted does for a normal plan.
		var old int64
		if old, err = o.cfg.Store.(Resetter).Reset(v.plan.Version, v.issued); err == nil {
			detail := fmt.Sprintf("watermark %d → %d", old, v.plan.Version)
			r.Step("reset").OK(detail)
			r.set(func(s *Status) { s.Reset = detail })
			log.Warn("plan reset: version watermark set by a reset plan", "from", old, "to", v.plan.Version, "key_id", v.key,
				"issued_at", v.issued.Format(time.RFC3339))
		}
	} else {
		err = o.cfg.Store.SetAttempted(v.plan.Version)
		if is, ok := o.cfg.Store.(IssuedStore); ok && err == nil && !v.issued.IsZero() {
			err = is.RaiseIssued(v.issued)
		}
	}
	if err != nil {
		st := r.set(func(s *Status) { s.State, s.Finished, s.Error = StateRejected, time.Now(), err.Error() })
		o.finish(v.submission, st, false)
		return
	}
	// If edged dies while switching, the next start finds this "applying"
	// status, reports the plan rolled back, and runs the last good plan.
	if doc, err := json.Marshal(r.status()); err == nil {
		if err := o.cfg.Store.SetStatus(doc); err != nil {
			log.Warn("plan status not stored", "err", err)
		}
	}
	if err := o.cfg.Target.Switch(ctx, w, r); err != nil {
		log.Error("plan failed; rolling back", "err", err)
		h := r.Step("roll back")
		rerr := o.cfg.Target.Switch(context.WithoutCancel(ctx), prev, r)
		if rerr != nil {
			h.Fail(rerr)
			log.Error("roll back failed", "err", rerr)
		} else {
			h.OK(fmt.Sprintf("plan %d runs again", applied))
			o.committed(prev)
		}
		st := r.set(func(s *Status) {
			s.State, s.Finished, s.Error = StateRolledBack, time.Now(), err.Error()
			if rerr != nil {
				s.Error += "; and the roll back failed: " + rerr.Error()
			}
		})
		o.settled()
		o.finish(v.submission, st, false)
		return
	}
	h := r.Step("commit")
	if err := o.cfg.Store.Commit(v.plan.Version, v.env, sums(v.plan.Artifacts())); err != nil {
		// It runs, but would not come back after a reboot: say so, and
		// go back to what would.
		h.Fail(err)
		rerr := o.cfg.Target.Switch(context.WithoutCancel(ctx), prev, r)
		if rerr == nil {
			o.committed(prev)
		}
		st := r.set(func(s *Status) {
			s.State, s.Finished, s.Error = StateRolledBack, time.Now(), "cannot store the plan: "+err.Error()
			if rerr != nil {
				s.Error += "; and the roll back failed: " + rerr.Error()
			}
		})
		o.finish(v.submission, st, false)
		return
	}
	h.OK("")
	o.committed(w)
	st := r.set(func(s *Status) { s.State, s.Finished, s.Applied = StateApplied, time.Now(), v.plan.Version })
	log.Info("plan applied", "steps", len(st.Steps), "took", st.Finished.Sub(st.Started).Round(time.Millisecond))
	o.settled()
	o.finish(v.submission, st, false)
}

// committed tells a Committer Target that w is the committed workload.
func (o *Orchestrator) committed(w Workload) {
	if c, ok := o.cfg.Target.(Committer); ok {
		c.Committed(w)
	}
}

func (o *Orchestrator) settled() {
	if o.cfg.OnSettled != nil {
		o.cfg.OnSettled()
	}
}

func sums(as []plan.Artifact) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.SHA256
	}
	return out
}

// finish records st as the latest status, stores and publishes it, and
// answers the submitter.
func (o *Orchestrator) finish(s submission, st Status, publish bool) {
	o.mu.Lock()
	o.last, o.cur = st, nil
	o.mu.Unlock()
	if st.State == StateRejected {
		o.log.Warn("plan rejected", "version", st.Version, "err", st.Error, "problems", len(st.Problems), "source", s.source)
	}
	if doc, err := json.Marshal(st); err == nil {
		if err := o.cfg.Store.SetStatus(doc); err != nil {
			o.log.Error("plan status not stored", "err", err)
		}
	}
	if publish {
		o.publish(st)
	}
	s.reply <- st
}

func (o *Orchestrator) publish(st Status) {
	if o.cfg.OnStatus != nil {
		o.cfg.OnStatus(st)
	}
}
