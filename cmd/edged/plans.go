package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/drivers/mqttsensor"
	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/runtime/artifacts"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
	"github.com/edged-gateway/edged/runtime/routes"
	"github.com/edged-gateway/edged/runtime/supervisor"
	"github.com/edged-gateway/edged/sync/planstore"
)

// planner is the daemon's side of orchestration plans: the plan store,
// the artifact store, the orchestrator, and the Target it drives.
type planner struct {
	d      *daemon
	log    *slog.Logger
	store  *planstore.Store
	arts   *artifacts.Store
	orch   *orchestrator.Orchestrator
	trust  *plan.Trust
	kinds  map[string]deviceKind
	artDir string
	base   Config // the config file: plans replace its devices, services and sync policy

	cur        atomic.Pointer[workload]
	sensorKeys map[*mqttsensor.Sensor]string // the routed sensors' config keys (Switch only)
	status     atomic.Pointer[orchestrator.Status]
	kick       chan struct{}  // a new status to publish
	recovered  *storeRecovery // the damaged plans.db moved aside at start, if any
}

// storeRecovery is a damaged plan store moved aside at start.
type storeRecovery struct {
	At      time.Time `json:"at"`
	MovedTo string    `json:"moved_to"`
	Reason  string    `json:"reason"`
}

// openPlanner opens the plan and artifact stores in the data dir and, if a
// plan was applied before, returns its workload: the gateway comes back on
// its last good plan without the network.
func openPlanner(cfg Config, devs []device, kinds map[string]deviceKind, log *slog.Logger) (*planner, *workload, error) {
	log = log.With("component", "plans")
	trust, err := cfg.Plans.trust()
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(cfg.DataDir, "plans.db")
	store, err := planstore.Open(path, planstore.Config{Logger: log})
	var recovered *storeRecovery
	if errors.Is(err, planstore.ErrCorrupt) {
		// A damaged store must not keep the gateway down: keep the file
		// for a post-mortem and start with no plan (the cloud's retained
		// plan comes again; the watermark beside it keeps replays out).
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		log.Error("plan store damaged; moved aside, starting without a plan", "err", err, "moved_to", aside)
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, nil, errors.Join(err, rerr)
		}
		recovered = &storeRecovery{At: time.Now().UTC(), MovedTo: aside, Reason: err.Error()}
		store, err = planstore.Open(path, planstore.Config{Logger: log})
	}
	if err != nil {
		return nil, nil, err
	}
	artDir := filepath.Join(cfg.DataDir, "artifacts")
	arts, err := artifacts.Open(artDir, artifacts.Config{Logger: log})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	p := &planner{log: log, store: store, arts: arts, trust: trust, kinds: kinds, artDir: artDir, base: cfg, kick: make(chan struct{}, 1),
		recovered: recovered}
	w := fileWorkload(cfg, devs)
	if rec, ok, err := store.Applied(); err != nil {
		log.Error("stored plan unreadable; running the config file's devices and services", "err", err)
	} else if ok {
		if pw, err := p.restore(rec); err != nil {
			log.Error("stored plan cannot run; running the config file's devices and services", "version", rec.Version, "err", err)
		} else {
			w = pw
			log.Info("running the last applied plan", "version", rec.Version, "applied_at", rec.AppliedAt)
		}
	}
	p.cur.Store(w)
	return p, w, nil
}

// restore checks a stored plan again (keys may have been rotated) and
// finds its artifacts in the store.
func (p *planner) restore(rec planstore.Record) (*workload, error) {
	env, err := plan.DecodeEnvelope(rec.Envelope)
	if err != nil {
		return nil, err
	}
	pl, err := p.trust.Verify(env)
	if err != nil {
		return nil, err
	}
	w, err := planWorkload(p.base, pl, p.kinds, p.artDir)
	if err != nil {
		return nil, err
	}
	for _, a := range w.fetch {
		if _, ok := p.arts.Path(a.SHA256); !ok {
			return nil, fmt.Errorf("artifact of service %s (%s) is missing from %s", a.Service, a.SHA256, p.artDir)
		}
	}
	return w, nil
}

// start builds the orchestrator once the daemon is wired.
func (p *planner) start(d *daemon) error {
	p.d = d
	o, err := orchestrator.New(orchestrator.Config{
		Trust: p.trust, GatewayID: d.cfg.Gateway.ID, Labels: d.cfg.Gateway.Labels,
		Target: p, Store: storeAdapter{p.store},
		OnStatus: p.setStatus, OnSettled: p.collect, Logger: p.log, MaxClockSkew: d.cfg.Plans.MaxClockSkew,
	})
	if err != nil {
		return err
	}
	p.orch = o
	st := o.Status()
	p.status.Store(&st)
	return nil
}

func (p *planner) setStatus(st orchestrator.Status) {
	p.status.Store(&st)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Committed applies w's outbox caps exactly, once w is the committed
// workload (after a commit or a roll back): shrinking caps drop readings.
func (p *planner) Committed(wl orchestrator.Workload) {
	w := wl.(*workload)
	p.d.outbox.SetLimits(int64(w.cfg.Outbox.MaxBytes), w.cfg.Outbox.MaxAge)
}

// Current is the running workload.
func (p *planner) Current() orchestrator.Workload { return p.cur.Load() }

// Prepare checks the plan's sections with the daemon's config code and
// fetches its artifacts.
func (p *planner) Prepare(ctx context.Context, pl *plan.Plan, r *orchestrator.Reporter) (orchestrator.Workload, error) {
	h := r.Step("check")
	w, err := planWorkload(p.base, pl, p.kinds, p.artDir)
	if err == nil && p.d.broker == nil && w.sensorKeys() != p.cur.Load().sensorKeys() {
		err = &plan.InvalidError{Problems: yamlconf.Errors{{Path: "devices",
			Msg: "the mqttsensor devices differ from the ones this edged started with: with local_mqtt.mode external the subscriptions are set at start, so change them in the config file and restart edged"}}}
	}
	if err != nil {
		h.Fail(err)
		return nil, err
	}
	h.OK(fmt.Sprintf("%d devices, %d services", len(w.devs), len(w.specs)))
	for _, a := range w.fetch {
		h := r.Step("fetch " + a.Service)
		if _, err := p.arts.Fetch(ctx, a.URL, a.SHA256, h.Progress); err != nil {
			h.Fail(err)
			return nil, orchestrator.Transient(fmt.Errorf("service %s: %w", a.Service, err))
		}
		h.OK(a.SHA256)
	}
	return w, nil
}

// Switch makes w run: the sync policy first (the new devices' readings
// follow it from their first), devices (services may command them), then
// services in dependency order, each health-gated.
func (p *planner) Switch(ctx context.Context, wl orchestrator.Workload, r *orchestrator.Reporter) error {
	w := wl.(*workload)
	d := p.d
	h := r.Step("sync")
	// Caps that grow apply now; caps that shrink would drop buffered
	// readings, so they wait for the commit (Committed) and a roll back
	// leaves the backlog as it was.
	curBytes, curAge := d.outbox.Limits()
	newBytes, newAge := int64(w.cfg.Outbox.MaxBytes), w.cfg.Outbox.MaxAge
	d.outbox.SetLimits(max(curBytes, newBytes), max(curAge, newAge))
	d.policy.Store(&routes.Policy{Local: localOnlyFilters(&w.cfg), Only: w.cfg.cloudMetrics})
	if err := d.setCursors(ctx, cursorSpecs(&w.cfg, w.specs), true); err != nil {
		h.Fail(err)
		return err
	}
	routesStarted, routesStopped, err := d.setRoutes(&w.cfg)
	if err != nil {
		h.Fail(err)
		return fmt.Errorf("routes: %w", err)
	}
	drops := "none"
	if n, err := d.outbox.WouldDrop(newBytes, newAge); err != nil {
		drops = "unknown (" + err.Error() + ")"
	} else if n > 0 {
		drops = fmt.Sprintf("%d readings, once committed", n)
	}
	h.OK(fmt.Sprintf("outbox %s/%s (caps drop: %s), batch %d, metrics %v%s", w.cfg.Outbox.MaxBytes, shortDuration(w.cfg.Outbox.MaxAge), drops, w.cfg.Cloud.Batch, orAll(w.cfg.cloudMetrics),
		routeChange(routesStarted, routesStopped)))
	h = r.Step("devices")
	added, changed, removed, err := d.devs.swap(ctx, w.devs)
	if err != nil {
		h.Fail(err)
		return fmt.Errorf("devices: %w", err)
	}
	if err := p.swapSensors(w); err != nil {
		h.Fail(err)
		return fmt.Errorf("devices: %w", err)
	}
	d.devicesChanged(w.devs)
	h.OK(changeText("added", added, "changed", changed, "removed", removed))
	h = r.Step("services")
	ch, err := d.sup.ApplyReport(ctx, w.specs, func(service, action string) func(error) {
		s := r.Step(action + " " + service) // start, restart, configure (live) or stop, with its health gate
		return func(err error) {
			if err != nil {
				s.Fail(err)
			} else {
				s.OK("")
			}
		}
	})
	if err != nil {
		if errors.Is(err, supervisor.ErrGate) { // its own step has the whole story
			h.Fail(fmt.Errorf("%s, then a health gate failed", changeText("started", ch.Started, "restarted", ch.Restarted, "configured", ch.Configured)))
		} else if errors.Is(err, supervisor.ErrRefused) { // its own step has the service's reason
			h.Fail(fmt.Errorf("%s, then a service refused its new config", changeText("started", ch.Started, "restarted", ch.Restarted, "configured", ch.Configured)))
		} else {
			h.Fail(err)
		}
		return err
	}
	h.OK(changeText("started", ch.Started, "restarted", ch.Restarted, "configured", ch.Configured, "stopped", ch.Stopped, "unchanged", ch.Unchanged))
	if err := d.setFeeds(&w.cfg, w.specs); err != nil {
		return fmt.Errorf("service feeds: %w", err)
	}
	// The consumers the new workload no longer has stop holding readings.
	if err := d.setCursors(ctx, cursorSpecs(&w.cfg, w.specs), false); err != nil {
		return err
	}
	p.cur.Store(w)
	return nil
}

// routeChange describes the routes a switch started and stopped, or "".
func routeChange(started, stopped []string) string {
	if len(started) == 0 && len(stopped) == 0 {
		return ""
	}
	return ", routes: " + changeText("started", started, "stopped", stopped)
}

// swapSensors makes w's mqttsensor devices the ones the local broker
// routes to (unchanged ones keep their counters).
func (p *planner) swapSensors(w *workload) error {
	d := p.d
	if d.sensors == nil || d.broker == nil {
		return nil
	}
	if p.sensorKeys == nil { // the sensors edged started with
		p.sensorKeys = map[*mqttsensor.Sensor]string{}
		for _, s := range d.sensors.list() {
			for _, spec := range p.cur.Load().devs {
				if spec.cfg.Name == s.Name() {
					p.sensorKeys[s] = deviceKey(spec.cfg)
				}
			}
		}
	}
	old := map[string]*mqttsensor.Sensor{}
	for _, s := range d.sensors.list() {
		old[s.Name()] = s
	}
	var sensors []*mqttsensor.Sensor
	keys := map[*mqttsensor.Sensor]string{}
	for _, spec := range w.devs {
		if spec.kind.sensor == nil {
			continue
		}
		key := deviceKey(spec.cfg)
		s, ok := old[spec.cfg.Name]
		if !ok || p.sensorKeys[s] != key {
			var err error
			if s, err = spec.kind.sensor(spec.cfg, spec.options); err != nil {
				return fmt.Errorf("device %s: %w", spec.cfg.Name, err)
			}
		}
		sensors = append(sensors, s)
		keys[s] = key
	}
	p.sensorKeys = keys
	d.sensors.set(sensors)
	return d.broker.SetRoutes(d.sensors.filters())
}

func orAll(fs []string) any {
	if len(fs) == 0 {
		return "all"
	}
	return fs
}

// changeText is "added [a b], removed [c]" for the lists that are not
// empty, or "no change".
func changeText(pairs ...any) string {
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if names := pairs[i+1].([]string); len(names) > 0 {
			parts = append(parts, fmt.Sprintf("%s %v", pairs[i], names))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// collect removes artifacts that neither of the last two plans uses.
func (p *planner) collect() {
	hist, err := p.store.History()
	if err != nil {
		p.log.Warn("artifacts not collected", "err", err)
		return
	}
	var keep []string
	for _, r := range hist {
		keep = append(keep, r.Artifacts...)
	}
	removed, err := p.arts.GC(keep)
	if err != nil {
		p.log.Warn("artifacts not collected", "err", err)
	}
	if len(removed) > 0 {
		p.log.Info("artifacts removed", "sha256", removed)
	}
}

// version is the applied plan's version (0: the config file).
func (p *planner) version() int64 {
	if p == nil {
		return 0
	}
	return p.cur.Load().version
}

// subscribe takes plans from <prefix>/<gateway>/plan on the cloud broker.
func (p *planner) subscribe() error {
	t := p.d.cfg.Cloud.TopicPrefix + "/" + p.d.cfg.Gateway.ID + "/plan"
	return p.d.link.Subscribe(t, 1, func(_ string, payload []byte) {
		p.orch.Submit(payload, orchestrator.SourceMQTT)
	})
}

// publishStatus publishes the plan status, retained, on
// <prefix>/<gateway>/plan/status: on every change and every (re)connect.
func (p *planner) publishStatus(ctx context.Context) error {
	t := p.d.cfg.Cloud.TopicPrefix + "/" + p.d.cfg.Gateway.ID + "/plan/status"
	link := p.d.link
	check := time.NewTicker(time.Second)
	defer check.Stop()
	var lastEpoch uint64
	var last *orchestrator.Status
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.kick:
		case <-check.C:
		}
		st := p.status.Load()
		if st == nil || st.Version == 0 && st.State == "" || !link.Connected() {
			continue
		}
		epoch := link.Stats().Epoch
		if st == last && epoch == lastEpoch {
			continue
		}
		b, _ := json.Marshal(st)
		if _, err := link.Publish(t, b, 1, true); err != nil {
			p.log.Debug("plan status not published", "err", err)
			continue
		}
		last, lastEpoch = st, epoch
	}
}

// submit applies an envelope from the local API and waits for the result.
func (p *planner) submit(ctx context.Context, env []byte) (orchestrator.Status, error) {
	select {
	case st := <-p.orch.Submit(env, orchestrator.SourceAPI):
		return st, nil
	case <-ctx.Done():
		return orchestrator.Status{}, ctx.Err()
	}
}

// statusDoc is the plan status for the API and `edged plan status`.
// statusDoc is the latest plan's status as the API gives it (GET
// /api/v1/plan, and "latest" in /api/v1/plan/history): state "none" and no
// steps before any plan.
func (p *planner) statusDoc() orchestrator.Status {
	var st orchestrator.Status
	if p != nil && p.orch != nil {
		st = p.orch.Status()
	}
	if st.State == "" {
		st.State = "none" // no plan handled yet
	}
	if st.Steps == nil {
		st.Steps = []orchestrator.Step{}
	}
	return st
}

func (p *planner) close() error {
	if p == nil {
		return nil
	}
	return p.store.Close()
}

// storeAdapter is the plan store as the orchestrator wants it.
type storeAdapter struct{ s *planstore.Store }

func (a storeAdapter) Applied() (int64, error) {
	r, ok, err := a.s.Applied()
	if err != nil || !ok {
		return 0, err
	}
	return r.Version, nil
}

func (a storeAdapter) Attempted() (int64, error)  { return a.s.Attempted() }
func (a storeAdapter) Issued() (time.Time, error) { return a.s.Issued() }
func (a storeAdapter) RaiseIssued(t time.Time) error {
	return a.s.RaiseIssued(t)
}
func (a storeAdapter) SetAttempted(v int64) error { return a.s.SetAttempted(v) }
func (a storeAdapter) Reset(v int64, issued time.Time) (int64, error) {
	return a.s.Reset(v, issued)
}
func (a storeAdapter) Status() ([]byte, error)    { return a.s.Status() }
func (a storeAdapter) SetStatus(doc []byte) error { return a.s.SetStatus(doc) }

func (a storeAdapter) Commit(version int64, env []byte, arts []string) error {
	return a.s.SetApplied(planstore.Record{Version: version, Envelope: env, Artifacts: arts, AppliedAt: time.Now()})
}
