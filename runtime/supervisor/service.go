package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// Status is one service as the API and `edged services` show it.
type Status struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Pid      int    `json:"pid,omitempty"`
	Restarts int    `json:"restarts"`
	Healthy  bool   `json:"healthy"`
	// HealthDetail is what the service said at its last health check.
	HealthDetail string `json:"health_detail,omitempty"`
	// HealthRestarts counts restarts for failing UnhealthyAfter checks in
	// a row (also counted in Restarts).
	HealthRestarts int       `json:"health_restarts"`
	Budget         BudgetDoc `json:"budget"`
	Enforcement    string    `json:"enforcement"`
	// Enforced says, per budget field set, what enforces it (cgroup2,
	// cgroup1, the rlimit mode's watchdog) or "not enforced".
	Enforced map[string]string `json:"enforced,omitempty"`
	// RSS and AnonBytes are the sums of VmRSS and RssAnon over the
	// service's process tree (from /proc), budget or not; Processes counts
	// that tree.
	RSS       int64 `json:"rss_bytes"`
	AnonBytes int64 `json:"anon_bytes"`
	Processes int   `json:"processes,omitempty"`
	// PeakRSS is the most memory seen: the highest RSS observed, or the
	// budget group's peak charge, whichever is higher.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// ChargedBytes is what the budget group is charged now (cgroup
	// memory, page cache included): what a memory budget is enforced
	// against. 0 without a group.
	ChargedBytes int64     `json:"charged_bytes"`
	CPUPercent   float64   `json:"cpu_percent"`
	OOMKills     uint64    `json:"oom_kills"`
	Dropped      uint64    `json:"dropped_batches"`   // Publish's batches lost to a full queue (never on Deliver's path)
	TooDeep      uint64    `json:"too_deep"`          // readings not handed to it: their service chain reached max_depth
	LogDropped   uint64    `json:"log_dropped_lines"` // output lines over the log rate
	LogDroppedB  uint64    `json:"log_dropped_bytes"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"` // State and Since say whether it has run since
	Stderr       []string  `json:"stderr,omitempty"`
	Since        time.Time `json:"since"`
	Subscribe    []string  `json:"subscribe"`
}

// BudgetDoc is a budget in the API's units.
type BudgetDoc struct {
	MemoryBytes int64   `json:"memory_bytes"`
	CPU         float64 `json:"cpu"`
	Pids        int64   `json:"pids"`
}

type service struct {
	sup     *Supervisor
	spec    Spec
	queue   chan []pluginapi.Reading
	deliver chan deliverReq // Deliver's batches, taken while running
	restart chan struct{}
	probe   chan chan<- probeResult // the health gate's checks, taken while running
	reconf  chan reconfReq          // Apply's live configs, taken while running
	done    chan struct{}           // closed when the loop started by start has returned
	tail    *tail
	logRate *logRate // kept across restarts: a crash loop does not reset it
	dropped atomic.Uint64
	tooDeep atomic.Uint64 // hand-offs refused for depth
	depth   atomic.Uint32 // the highest Hops handed to it: its emits are one deeper

	mu             sync.Mutex
	cancel         context.CancelFunc // ends the loop; nil until start
	state          string
	since          time.Time
	pid            int
	restarts       int
	healthy        bool
	detail         string
	healthRestarts int
	lastErr        string
	lastErrAt      time.Time
	crashes        []time.Time
	group          *budget.Group
	usage          budget.Stats // the budget group's, last read
	unenforced     []string     // the budget fields the group cannot enforce
	tree           treeUsage    // the process tree's, last read
	peakRSS        int64
	cpuPct         float64
	oomKills       uint64
}

func newService(s *Supervisor, sp Spec) *service {
	return &service{sup: s, spec: sp, queue: make(chan []pluginapi.Reading, s.cfg.Queue),
		deliver: make(chan deliverReq), restart: make(chan struct{}, 1), probe: make(chan chan<- probeResult), reconf: make(chan reconfReq), done: make(chan struct{}),
		tail: newTail(20), logRate: newLogRate(s.cfg.LogLinesPerSecond, s.cfg.LogBytesPerSecond), state: StateStopped, since: time.Now()}
}

// start runs the service's loop in a goroutine, counted in wg, until ctx
// ends or stop. A service starts at most once.
func (sv *service) start(ctx context.Context, wg *sync.WaitGroup) {
	ctx, cancel := context.WithCancel(ctx)
	sv.mu.Lock()
	sv.cancel = cancel
	sv.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(sv.done)
		defer cancel()
		sv.loop(ctx)
	}()
}

// stop ends the service (gracefully, within its StopTimeout) and returns
// once its loop has returned. A service never started has nothing to stop.
func (sv *service) stop() {
	sv.mu.Lock()
	cancel := sv.cancel
	sv.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-sv.done
}

func (sv *service) set(state, lastErr string) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.setLocked(state, lastErr)
}

func (sv *service) setLocked(state, lastErr string) {
	if sv.state != state {
		sv.state, sv.since = state, time.Now()
	}
	if lastErr != "" {
		sv.lastErr, sv.lastErrAt = lastErr, time.Now()
	}
}

// offer queues the readings the service subscribes to, without waiting.
func (sv *service) offer(rs []reading.Reading) {
	batch := sv.filter(rs)
	if len(batch) == 0 {
		return
	}
	select {
	case sv.queue <- batch:
	default:
		sv.dropped.Add(1)
	}
}

// filter returns the readings of rs to hand to the service: those its
// subscriptions match, never its own emits (Source is its name), and not
// those whose chain reached MaxDepth (counted and logged). The deepest Hops
// it lets through raises the depth of the service's emits.
func (sv *service) filter(rs []reading.Reading) []pluginapi.Reading {
	var batch []pluginapi.Reading
	maxDepth := sv.sup.cfg.MaxDepth
	for _, r := range rs {
		if r.Source == sv.spec.Name || !sv.wants(r.Device+"/"+r.Metric) {
			continue // never its own emits
		}
		if int(r.Hops) >= maxDepth {
			sv.tooDeep.Add(1)
			sv.sup.refuseDeep(sv.spec.Name, r)
			continue
		}
		for d := sv.depth.Load(); uint32(r.Hops) > d && !sv.depth.CompareAndSwap(d, uint32(r.Hops)); d = sv.depth.Load() {
		}
		batch = append(batch, pluginapi.Reading{Device: r.Device, Metric: r.Metric, Value: r.Value, Unit: r.Unit, Time: r.Time, Seq: r.Seq})
	}
	return batch
}

func (sv *service) wants(t string) bool {
	for _, f := range sv.spec.Subscribe {
		if topic.Match(f, t) {
			return true
		}
	}
	return false
}

// loop starts the service again and again until ctx ends.
func (sv *service) loop(ctx context.Context) {
	log := sv.sup.cfg.Logger.With("service", sv.spec.Name)
	streak := 0 // crashes since the last run that stayed up a while
	for ctx.Err() == nil {
		if sv.breakerOpen() {
			sv.set(StateFailed, "")
			log.Error("service failed too often; not restarting until its config changes or `edged service restart`",
				"crashes", sv.sup.cfg.Crashes, "window", sv.sup.cfg.Window, "last_error", sv.status().LastError)
			select {
			case <-ctx.Done():
				sv.set(StateStopped, "")
				return
			case <-sv.restart:
				sv.mu.Lock()
				sv.crashes = nil
				sv.mu.Unlock()
				streak = 0
			}
		}
		started := time.Now()
		err := sv.runOnce(ctx, log)
		if ctx.Err() != nil {
			sv.set(StateStopped, "")
			return
		}
		if err == errRestart {
			continue
		}
		if time.Since(started) > sv.sup.cfg.BackoffMax {
			streak = 0
		}
		streak++
		wait := sv.sup.cfg.backoff(streak)
		sv.mu.Lock() // one step, so counts always come with their error
		sv.crashes = append(sv.crashes, time.Now())
		sv.restarts++
		if errors.Is(err, errOOM) {
			sv.oomKills++
		}
		if errors.Is(err, errUnhealthy) {
			sv.healthRestarts++
		}
		sv.setLocked(StateBackoff, err.Error())
		sv.mu.Unlock()
		log.Warn("service stopped; restarting", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			sv.set(StateStopped, "")
			return
		case <-time.After(wait):
		case <-sv.restart:
		}
	}
}

// breakerOpen reports whether Crashes crashes fell within Window.
func (sv *service) breakerOpen() bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	cut := time.Now().Add(-sv.sup.cfg.Window)
	kept := sv.crashes[:0]
	for _, t := range sv.crashes {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	sv.crashes = kept
	return len(kept) >= sv.sup.cfg.Crashes
}

// healthTimeoutMin is the least a health check waits for an answer.
const healthTimeoutMin = 2 * time.Second

var (
	errRestart   = errors.New("restart requested")
	errUnhealthy = errors.New("unhealthy")
)

// runOnce starts the process, runs it until it exits or ctx ends, and
// returns why it stopped.
func (sv *service) runOnce(ctx context.Context, log *slog.Logger) error {
	sv.set(StateStarting, "")
	cfg := sv.sup.cfg
	// Command ids are unique per session in the service; across restarts
	// they repeat, so they are prefixed with this run.
	run := fmt.Sprintf("%s@%d", sv.spec.Name, time.Now().UnixNano())
	budgets := sv.sup.cfg.Budgets != nil && sv.spec.Budget != (budget.Budget{})
	var g *budget.Group
	if budgets && sv.sup.cfg.Sandbox.Shim != "" {
		// The group comes first: the shim joins it before the service runs.
		var err error
		if g, err = sv.sup.cfg.Budgets.Prepare(sv.spec.Name, sv.spec.Budget); err != nil {
			return fmt.Errorf("budget %s: %w", sv.spec.Budget, err)
		}
		defer sv.useGroup(g)()
	}
	var join budget.Join
	if g != nil {
		join = g.Join()
	}
	l, err := sv.sup.cfg.Sandbox.prepare(sv.spec, join)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	conn, err := pluginapi.Launch(ctx, pluginapi.LaunchConfig{
		Name: sv.spec.Name, Cmd: l.cmd, SecureChecksum: l.checksum, RunAs: l.runAs,
		Logger: slog.New(teeHandler{rateHandler{log.Handler(), sv.logRate}, sv.tail}), StartTimeout: sv.spec.StartTimeout,
		OnEmit: func(rs []pluginapi.Reading) {
			if cfg.OnEmit != nil {
				cfg.OnEmit(sv.spec.Name, fromPlugin(sv.spec.Name, sv.emitHops(), rs))
			}
		},
		OnCommand: func(ctx context.Context, c pluginapi.Command) pluginapi.Result {
			if cfg.OnCommand == nil {
				return pluginapi.Result{Error: "this gateway takes no commands from services"}
			}
			c.ID = run + "/" + c.ID
			return cfg.OnCommand(ctx, sv.spec.Name, c)
		},
		OnHealth: func(ok bool, detail string) {
			sv.mu.Lock()
			sv.healthy, sv.detail = ok, detail
			sv.mu.Unlock()
			if !ok {
				log.Warn("service unhealthy", "detail", detail)
			}
		},
	})
	l.done()
	if err != nil {
		if g != nil && g.OOMKilled() {
			// Killed over its budget before the handshake.
			return sv.oomError(g)
		}
		return err
	}
	defer func() {
		conn.Kill()
		killGroup(conn.Pid())
	}()
	sv.mu.Lock()
	sv.pid, sv.healthy, sv.detail = conn.Pid(), false, "starting"
	sv.peakRSS, sv.cpuPct, sv.tree = 0, 0, treeUsage{}
	sv.mu.Unlock()
	defer func() {
		sv.mu.Lock()
		sv.pid = 0
		sv.mu.Unlock()
	}()
	switch {
	case g != nil:
		if err := g.Attach(conn.Pid()); err != nil {
			return fmt.Errorf("budget %s: %w", sv.spec.Budget, err)
		}
	case budgets:
		g, err := sv.sup.cfg.Budgets.Apply(sv.spec.Name, conn.Pid(), sv.spec.Budget)
		if err != nil {
			return fmt.Errorf("budget %s: %w", sv.spec.Budget, err)
		}
		defer sv.useGroup(g)()
	}
	cctx, cancel := context.WithTimeout(ctx, sv.spec.StartTimeout)
	err = conn.Configure(cctx, pluginapi.Config{Name: sv.spec.Name, JSON: sv.spec.Config, Subscriptions: sv.spec.Subscribe})
	cancel()
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	sv.set(StateRunning, "")
	ok, detail := sv.checkHealth(ctx, conn) // status shows health checked, never assumed
	log.Info("service running", "pid", conn.Pid(), "budget", sv.spec.Budget.String(), "healthy", ok, "health_detail", detail)

	health := time.NewTicker(sv.spec.HealthEvery)
	defer health.Stop()
	sample := time.NewTicker(5 * time.Second)
	defer sample.Stop()
	lastCPU, lastAt := 0.0, time.Now()
	failed := 0 // health checks failed in a row
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), sv.spec.StopTimeout)
			err := conn.Close(sctx)
			cancel()
			if err != nil {
				log.Warn("service did not stop in time; killed", "err", err)
			}
			return nil
		case <-sv.restart:
			sctx, cancel := context.WithTimeout(context.Background(), sv.spec.StopTimeout)
			conn.Close(sctx)
			cancel()
			return errRestart
		case <-conn.Exited():
			return sv.exitReason(conn)
		case req := <-sv.deliver:
			if err := sv.send(ctx, conn, req); err != nil {
				return err
			}
		case batch := <-sv.queue:
			if err := conn.Send(ctx, batch); err != nil && ctx.Err() == nil {
				select {
				case <-conn.Exited():
					return sv.exitReason(conn)
				default:
				}
				log.Warn("batch not delivered", "err", err)
			}
		case req := <-sv.reconf:
			if err := sv.liveConfigure(ctx, conn, req, log); err != nil {
				return err
			}
		case reply := <-sv.probe:
			hctx, cancel := context.WithTimeout(ctx, sv.spec.StartTimeout)
			ok, detail, err := conn.Health(hctx)
			cancel()
			sv.mu.Lock()
			sv.healthy, sv.detail = err == nil && ok, detail
			sv.mu.Unlock()
			reply <- probeResult{ok: ok, detail: detail, err: err}
		case <-health.C:
			ok, detail := sv.checkHealth(ctx, conn)
			if ok {
				failed = 0
				continue
			}
			failed++
			log.Warn("service unhealthy", "detail", detail, "checks_in_a_row", failed, "restart_after", sv.spec.UnhealthyAfter)
			if failed >= sv.spec.UnhealthyAfter {
				sctx, cancel := context.WithTimeout(context.Background(), sv.spec.StopTimeout)
				conn.Close(sctx)
				cancel()
				return fmt.Errorf("%w for %d health checks in a row (every %s): %s", errUnhealthy, failed, sv.spec.HealthEvery, detail)
			}
		case now := <-sample.C:
			lastCPU, lastAt = sv.sampleUsage(lastCPU, lastAt, now)
		}
	}
}

// checkHealth asks the service for its health and records the answer; no
// answer within half of HealthEvery (at least healthTimeoutMin) is unhealthy.
func (sv *service) checkHealth(ctx context.Context, conn *pluginapi.Conn) (bool, string) {
	hctx, cancel := context.WithTimeout(ctx, max(sv.spec.HealthEvery/2, healthTimeoutMin))
	ok, detail, err := conn.Health(hctx)
	cancel()
	if err != nil {
		ok, detail = false, "health check failed: "+err.Error()
	}
	sv.mu.Lock()
	sv.healthy, sv.detail = ok, detail
	sv.mu.Unlock()
	return ok, detail
}

// exitReason says why the process ended: oom (over its memory budget,
// with its peak) or its exit error.
func (sv *service) exitReason(conn *pluginapi.Conn) error {
	sv.mu.Lock()
	g := sv.group
	sv.mu.Unlock()
	if g != nil && g.OOMKilled() {
		return sv.oomError(g)
	}
	if err := conn.ExitErr(); err != nil {
		return err
	}
	return errors.New("exited")
}

// oomError records the group's last figures and says the service was
// killed over its memory budget.
func (sv *service) oomError(g *budget.Group) error {
	st := g.Stats()
	sv.mu.Lock()
	sv.usage = st
	sv.mu.Unlock()
	return fmt.Errorf("%w: killed for exceeding its memory budget of %s (peak %s)", errOOM,
		sizeString(sv.spec.Budget.Memory), sizeString(st.PeakRSS))
}

// sampleUsage reads the service's CPU use (its process tree's, from
// /proc) since the last sample, as a percentage of one core.
func (sv *service) sampleUsage(lastCPU float64, lastAt, now time.Time) (float64, time.Time) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.pid == 0 {
		return lastCPU, now
	}
	u, ok := readTree(sv.pid)
	if !ok {
		return lastCPU, now
	}
	if dt := now.Sub(lastAt).Seconds(); dt > 0 && u.CPU >= lastCPU {
		sv.cpuPct = 100 * (u.CPU - lastCPU) / dt
	}
	sv.noteMemLocked(u)
	return u.CPU, now
}

// noteMemLocked records the process tree's memory; the caller holds sv.mu.
func (sv *service) noteMemLocked(u treeUsage) {
	sv.tree = u
	sv.peakRSS = max(sv.peakRSS, u.RSS)
}

func (sv *service) status() Status {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	enf := "none"
	budgets := sv.sup.cfg.Budgets != nil && sv.spec.Budget != (budget.Budget{})
	if budgets {
		enf = string(sv.sup.cfg.Budgets.Mode())
	}
	if sv.group != nil {
		sv.usage = sv.group.Stats()
		sv.unenforced = sv.group.Unenforced()
	}
	if sv.pid != 0 {
		if u, ok := readTree(sv.pid); ok {
			sv.noteMemLocked(u)
		}
	} else {
		sv.tree = treeUsage{}
	}
	st := Status{Name: sv.spec.Name, State: sv.state, Pid: sv.pid, Restarts: sv.restarts, Healthy: sv.healthy && sv.state == StateRunning,
		HealthDetail: sv.detail, HealthRestarts: sv.healthRestarts,
		Budget:      BudgetDoc{MemoryBytes: sv.spec.Budget.Memory, CPU: sv.spec.Budget.CPU, Pids: sv.spec.Budget.Pids},
		Enforcement: enf, RSS: sv.tree.RSS, AnonBytes: sv.tree.Anon, Processes: sv.tree.Procs,
		PeakRSS: max(sv.peakRSS, sv.usage.PeakRSS), ChargedBytes: sv.usage.RSS, CPUPercent: sv.cpuPct, OOMKills: sv.oomKills,
		Dropped: sv.dropped.Load(), TooDeep: sv.tooDeep.Load(), LogDropped: sv.logRate.dropped.Load(), LogDroppedB: sv.logRate.droppedBytes.Load(), LastError: sv.lastErr, LastErrorAt: sv.lastErrAt, Since: sv.since, Subscribe: append([]string{}, sv.spec.Subscribe...)}
	if budgets {
		st.Enforced = enforced(sv.spec.Budget, enf, sv.unenforced)
	}
	if sv.group == nil {
		st.ChargedBytes = 0
	}
	if sv.state == StateFailed || sv.state == StateBackoff {
		st.Stderr = sv.tail.lines()
	}
	return st
}

// enforced says, per budget field set, what enforces it in mode: the
// cgroup version, the rlimit mode's RSS watchdog, or "not enforced".
func enforced(b budget.Budget, mode string, unenforced []string) map[string]string {
	out := map[string]string{}
	how := func(field string, set bool, rlimit string) {
		switch {
		case !set:
		case slices.Contains(unenforced, field) || mode == string(budget.ModeNone):
			out[field] = "not enforced"
		case mode == string(budget.ModeRlimit):
			out[field] = rlimit
		default:
			out[field] = mode
		}
	}
	how("memory", b.Memory > 0, "rlimit: RSS watchdog and RLIMIT_DATA backstop")
	how("cpu", b.CPU > 0, "not enforced")
	how("pids", b.Pids > 0, "not enforced")
	return out
}

// emitHops is the chain depth of the service's emits: one more than the
// deepest reading handed to it.
func (sv *service) emitHops() uint8 {
	return uint8(min(sv.depth.Load()+1, 255))
}

// fromPlugin converts emitted readings, tagged with the service instance
// as their source (whatever the service put there).
func fromPlugin(service string, hops uint8, rs []pluginapi.Reading) []reading.Reading {
	out := make([]reading.Reading, len(rs))
	for i, r := range rs {
		out[i] = reading.Reading{Device: r.Device, Metric: r.Metric, Value: r.Value, Unit: r.Unit, Time: r.Time, Source: service, Hops: hops}
	}
	return out
}

// sizeString writes bytes the way budgets are configured: 64Mi, 1.5Gi.
func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGi", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMi", n>>20)
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGi", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMi", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%dKi", n>>10)
}

// useGroup makes g the service's budget group (for status and OOM checks)
// until the returned function closes it.
func (sv *service) useGroup(g *budget.Group) (release func()) {
	sv.mu.Lock()
	sv.group = g
	sv.mu.Unlock()
	return func() {
		g.Close()
		sv.mu.Lock()
		sv.group = nil
		sv.mu.Unlock()
	}
}
