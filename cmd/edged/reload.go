package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
)

// Reload states, as reloadResult.State says.
const (
	reloadApplied    = "applied"     // the file's changes run
	reloadUnchanged  = "unchanged"   // the file checks and changes nothing (the broker's users were read again)
	reloadRefused    = "refused"     // nothing changed: the file does not check, or changes what needs a restart
	reloadRolledBack = "rolled_back" // the switch failed; the previous config runs again
)

// liveKeys are the config keys a reload applies while edged runs: the
// ones a plan's workload covers (devices, services, the outbox caps and the
// cloud batch, and the routes, which the planner switches), and the local broker's ACL
// (read again with its password file). A change to any other key is
// refused: edged must restart to take it.
var liveKeys = []string{"devices", "services", "routes", "outbox.max_bytes", "outbox.max_age", "cloud.batch", "local_mqtt.acl"}

// isLiveKey reports whether the config key at path (as configChanges
// names it) may change at run time.
func isLiveKey(path string) bool {
	for _, k := range liveKeys {
		if path == k || strings.HasPrefix(path, k+".") || strings.HasPrefix(path, k+"[") {
			return true
		}
	}
	return false
}

// isWorkloadKey reports whether path is under devices or services, which
// a signed plan replaces.
func isWorkloadKey(path string) bool {
	for _, k := range []string{"devices", "services"} {
		if path == k || strings.HasPrefix(path, k+".") || strings.HasPrefix(path, k+"[") {
			return true
		}
	}
	return false
}

// reloadResult is what a reload did: the answer of POST
// /api/v1/config/reload and what `edged config reload` prints.
type reloadResult struct {
	State  string `json:"state"`
	Source string `json:"source"` // sighup or api
	File   string `json:"file"`
	// Changed are the keys whose values differ from the config in force
	// (an entry of a list is named by its index: devices[1]).
	Changed []string `json:"changed"`
	// Error says why the reload was refused or rolled back; Problems
	// list every problem, each with its field path.
	Error    string              `json:"error,omitempty"`
	Problems []string            `json:"problems,omitempty"`
	Steps    []orchestrator.Step `json:"steps"`
	// PlanVersion is the signed plan in force (0: none): its devices and
	// services run instead of the file's.
	PlanVersion int64     `json:"plan_version,omitempty"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
}

// ok reports whether the file's config is the one in force now.
func (r reloadResult) ok() bool { return r.State == reloadApplied || r.State == reloadUnchanged }

// reloader re-reads the config file edged started with and applies it the
// way a plan switch does: the same checks, the same Switch of the planner
// (devices, services, outbox caps, batch, cloud filter), the same roll
// back. SIGHUP, `edged config reload` and POST /api/v1/config/reload come
// here; a file that does not check changes nothing.
type reloader struct {
	d       *daemon
	log     *slog.Logger
	path    string   // the file edged started with ("" for none)
	environ []string // the EDGED_ environment, as at start
	kinds   map[string]deviceKind

	// mu makes reloads one at a time; with plans on, each also holds the
	// orchestrator's turn, so no plan switches meanwhile.
	mu    sync.Mutex
	file  Config   // the file's config in force: the one edged started with, or the last applied reload's
	local *planner // with plans off: the Target the switch goes through (no store, no orchestrator)

	last atomic.Pointer[reloadResult]
	hup  chan os.Signal // SIGHUP, caught from newReloader on (a SIGHUP before run must not end the process)
}

// newReloader is called at the end of newDaemon: the file's config is
// the planner's base with plans on (a plan may have replaced d.cfg's
// devices and services), else d.cfg.
func newReloader(d *daemon) *reloader {
	r := &reloader{d: d, log: d.log.With("component", "reload"), path: d.cfg.path, environ: os.Environ(), kinds: builtinKinds(), file: d.cfg,
		hup: make(chan os.Signal, 1)}
	signal.Notify(r.hup, syscall.SIGHUP)
	if d.plans != nil {
		r.file, r.kinds, r.path = d.plans.base, d.plans.kinds, d.plans.base.path
	} else {
		r.local = &planner{d: d, log: r.log, base: d.cfg, kinds: r.kinds}
		r.local.cur.Store(fileWorkload(d.cfg, d.devs.current().specs))
	}
	return r
}

// run reloads on every SIGHUP until ctx ends: the daemon's "config reload"
// stage. The outcome is logged; a refused reload logs every problem and
// the running config stays.
func (r *reloader) run(ctx context.Context) error {
	defer signal.Stop(r.hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.hup:
			r.reload(ctx, "sighup")
		}
	}
}

// reload reads the file again and applies it; it never stops the daemon.
func (r *reloader) reload(ctx context.Context, source string) (res reloadResult) {
	res = reloadResult{Source: source, File: r.path, Changed: []string{}, Steps: []orchestrator.Step{}, Started: time.Now().UTC()}
	defer func() {
		res.Finished = time.Now().UTC()
		r.last.Store(&res)
		r.logResult(res)
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.d.plans != nil && r.d.plans.orch != nil {
		if err := r.d.plans.orch.Exclusive(ctx, func() { r.reloadLocked(ctx, &res) }); err != nil {
			res.State, res.Error = reloadRefused, "not started while waiting for the plan being applied: "+err.Error()
		}
		return res
	}
	r.reloadLocked(ctx, &res)
	return res
}

func (r *reloader) reloadLocked(ctx context.Context, res *reloadResult) {
	if r.path == "" {
		res.State, res.Error = reloadRefused, "edged was started without --config: there is no file to read again"
		r.reloadBroker(res, r.file) // SIGHUP still reads the broker's password file again
		return
	}
	cfg, devs, err := loadConfigEnv(r.path, r.kinds, r.environ)
	if err != nil {
		res.State = reloadRefused
		r.problems(res, err, "the config file does not check")
		return
	}
	changed, err := configChanges(r.file, cfg)
	if err != nil {
		res.State, res.Error = reloadRefused, err.Error()
		return
	}
	res.Changed = changed
	var probs yamlconf.Errors
	for _, k := range changed {
		if !isLiveKey(k) {
			probs.Add(k, "cannot change while edged runs: restart edged to change it (or put the old value back)")
		}
	}
	if len(probs) > 0 {
		res.State = reloadRefused
		r.problems(res, probs, fmt.Sprintf("%d key(s) cannot change while edged runs: restart edged to change them", len(probs)))
		return
	}
	target := r.local
	var w *workload
	if r.d.plans != nil {
		target = r.d.plans
		res.PlanVersion = target.version()
	}
	if res.PlanVersion > 0 {
		// A signed plan's devices and services run instead of the file's:
		// a change to them would do nothing until the plan goes, so it is
		// refused; the other live keys apply under the plan.
		for _, k := range changed {
			if isWorkloadKey(k) {
				probs.Add(k, "plan %d is in force and runs its own devices and services: change them with a new plan (the file's apply again only without one)", res.PlanVersion)
			}
		}
		if len(probs) == 0 {
			w, err = r.planWorkload(target, cfg)
		}
	} else {
		w = fileWorkload(cfg, devs)
	}
	if err != nil {
		res.State = reloadRefused
		r.problems(res, err, "the config file does not check with the plan in force")
		return
	}
	if w != nil {
		probs = append(probs, r.check(target, w)...)
	}
	if len(probs) > 0 {
		res.State = reloadRefused
		r.problems(res, probs, "the config file cannot apply while edged runs")
		return
	}
	if len(changed) == 0 {
		res.State = reloadUnchanged
		r.reloadBroker(res, cfg)
		return
	}
	// The same switch and roll back as a plan's (orchestrator.apply).
	rep := orchestrator.NewReporter(nil)
	prev := target.Current()
	if err := target.Switch(context.WithoutCancel(ctx), w, rep); err != nil {
		h := rep.Step("roll back")
		rerr := target.Switch(context.WithoutCancel(ctx), prev, rep)
		res.State, res.Error = reloadRolledBack, err.Error()
		if rerr != nil {
			h.Fail(rerr)
			res.Error += "; and the roll back failed: " + rerr.Error()
		} else {
			h.OK("the previous config runs again")
			target.Committed(prev)
		}
		res.Steps = rep.Status().Steps
		return
	}
	target.Committed(w)
	target.base, r.file = cfg, cfg
	res.State = reloadApplied
	res.Steps = rep.Status().Steps
	r.reloadBroker(res, cfg)
}

// planWorkload is the plan in force built again on the new file (its
// sync section keeps overriding the file's outbox caps and batch).
func (r *reloader) planWorkload(p *planner, cfg Config) (*workload, error) {
	rec, ok, err := p.store.Applied()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("the plan in force is not in the plan store")
	}
	saved := p.base
	p.base = cfg
	defer func() { p.base = saved }()
	return p.restore(rec)
}

// check is what a plan's Prepare checks beyond the config, and what a
// daemon started without some part cannot take at run time.
func (r *reloader) check(p *planner, w *workload) yamlconf.Errors {
	var probs yamlconf.Errors
	d := r.d
	if d.broker == nil && w.sensorKeys() != p.cur.Load().sensorKeys() {
		probs.Add("devices", "the mqttsensor devices differ from the ones this edged started with: with local_mqtt.mode external the subscriptions are set at start: restart edged to change them")
	}
	if d.sup == nil && len(w.specs) > 0 {
		probs.Add("services", "edged started without services, so it runs no supervisor: restart edged to add the first one")
	}
	if d.dead == nil && len(w.cfg.Routes) > 0 {
		probs.Add("routes", "edged started without routes and without a cloud, so it keeps no dead letters: restart edged to add the first route")
	}
	return probs
}

// reloadBroker reads the local broker's password file and cfg's ACL
// again, as SIGHUP always did.
func (r *reloader) reloadBroker(res *reloadResult, cfg Config) {
	if r.d.broker == nil {
		return
	}
	h := orchestrator.NewReporter(nil)
	step := h.Step("local broker users and ACL")
	if err := r.d.broker.Reload(cfg.LocalMQTT.ACL); err != nil {
		step.Fail(err)
	} else {
		step.OK(fmt.Sprintf("%d ACL rules", len(cfg.LocalMQTT.ACL)))
	}
	res.Steps = append(res.Steps, h.Status().Steps...)
}

// problems records err on res: every problem of a yamlconf.Errors, else
// the error itself.
func (r *reloader) problems(res *reloadResult, err error, summary string) {
	var errs yamlconf.Errors
	var inv *plan.InvalidError
	if errors.As(err, &inv) {
		errs = inv.Problems
	} else if !errors.As(err, &errs) {
		res.Error = err.Error()
		return
	}
	res.Error = summary
	for _, e := range errs {
		res.Problems = append(res.Problems, e.Error())
	}
}

// logResult logs a reload's outcome, with every problem of a refused one.
func (r *reloader) logResult(res reloadResult) {
	switch res.State {
	case reloadApplied:
		r.log.Info("config reloaded", "file", res.File, "source", res.Source, "changed", res.Changed, "steps", stepText(res.Steps))
	case reloadUnchanged:
		r.log.Info("config reloaded: nothing changed", "file", res.File, "source", res.Source)
	default:
		r.log.Error("config NOT reloaded; the running config stays", "file", res.File, "source", res.Source, "state", res.State,
			"err", res.Error, "problems", len(res.Problems))
		for _, p := range res.Problems {
			r.log.Error("config reload problem", "file", res.File, "problem", p)
		}
	}
}

// stepText is "devices: ok (changed [fan (kept open)]); …".
func stepText(steps []orchestrator.Step) string {
	var parts []string
	for _, s := range steps {
		p := s.Name + ": " + s.State
		if s.Detail != "" {
			p += " (" + s.Detail + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// configChanges lists the keys whose values differ between a and b, as
// field paths; an entry of a list is named by its index (devices[1]).
func configChanges(a, b Config) ([]string, error) {
	fa, err := flatConfig(a)
	if err != nil {
		return nil, err
	}
	fb, err := flatConfig(b)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	add := func(path string) {
		if i := strings.Index(path, "]"); i >= 0 {
			path = path[:i+1]
		}
		seen[path] = true
	}
	for k, v := range fa {
		if w, ok := fb[k]; !ok || w != v {
			add(k)
		}
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			add(k)
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// flatConfig is c as YAML, flattened to field path → value.
func flatConfig(c Config) (map[string]string, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("compare the configs: %w", err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("compare the configs: %w", err)
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch t := v.(type) {
		case map[string]any:
			if len(t) == 0 {
				out[path] = "{}"
			}
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, t[k])
			}
		case []any:
			if len(t) == 0 {
				out[path] = "[]"
			}
			for i, e := range t {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		default:
			out[path] = fmt.Sprint(t)
		}
	}
	walk("", v)
	return out, nil
}

// viaAPI is POST /api/v1/config/reload.
func (r *reloader) viaAPI(ctx context.Context) (any, bool, error) {
	res := r.reload(ctx, "api")
	return res, res.ok(), nil
}

// printReload prints a reload's result for `edged config reload`.
func printReload(w io.Writer, res reloadResult) {
	fmt.Fprintf(w, "%s: %s\n", res.File, strings.ReplaceAll(res.State, "_", " "))
	if res.Error != "" {
		fmt.Fprintf(w, "  %s\n", res.Error)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(w, "    %s\n", p)
	}
	if len(res.Changed) > 0 {
		fmt.Fprintf(w, "  changed: %s\n", strings.Join(res.Changed, ", "))
	}
	for _, s := range res.Steps {
		line := fmt.Sprintf("  %-28s %s", s.Name, s.State)
		if s.Detail != "" {
			line += "  " + s.Detail
		}
		fmt.Fprintln(w, line)
	}
}

// reloadTimeout bounds `edged config reload`: a switch waits for the
// services' health gates, as a plan's does.
const reloadTimeout = 5 * time.Minute

// cmdConfigReload implements `edged config reload`: POST
// /api/v1/config/reload, then print what changed, or every reason the
// reload was refused (exit 1).
func cmdConfigReload(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edged config reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	out := outputFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: edged config reload [-o json|yaml] [--config FILE | --api URL --token-file F]

Has the running daemon read the config file it was started with again (with
the EDGED_ environment it started with) and apply it, as SIGHUP does: the
checks of 'edged config check', then devices, services, outbox caps and
cloud batch switched the way a plan switches them, rolled back if that
fails. Keys that cannot change while edged runs (data_dir, http.listen,
local_mqtt listeners, cloud url and credentials, gateway.id, ...) are
refused, each named. Prints what changed; exit 0 when the file is in force,
1 when the reload was refused or rolled back (the running config stays),
3 when the daemon could not be reached.

Flags:
`)
		fs.PrintDefaults()
	}
	if c := parseFlags(fs, args, stdout); c >= 0 {
		return c
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edged config reload: unexpected argument %q: the daemon reads the file it was started with\n", fs.Arg(0))
		return exitUsage
	}
	var raw json.RawMessage
	code, err := api.callTimeout(ctx, http.MethodPost, "/api/v1/config/reload", nil, &raw, reloadTimeout)
	if err != nil {
		fmt.Fprintf(stderr, "edged config reload: %v\n", err)
		return apiExit(err)
	}
	var res reloadResult
	if err := json.Unmarshal(raw, &res); err != nil || res.State == "" {
		var e struct{ Error, Hint string }
		json.Unmarshal(raw, &e)
		fmt.Fprintf(stderr, "edged config reload: HTTP %d: %s %s\n", code, e.Error, e.Hint)
		return exitFailure
	}
	w := stdout
	if !res.ok() {
		w = stderr
	}
	if out.v != "" && out.v != outTable { // the text below by default, even in a pipe
		if err := writeDoc(w, out.v, raw, nil); err != nil {
			fmt.Fprintf(stderr, "edged config reload: %v\n", err)
			return exitFailure
		}
	} else {
		printReload(w, res)
	}
	if !res.ok() {
		return exitFailure
	}
	return exitOK
}
