package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/forwarder"
	"github.com/edged-gateway/edged/runtime/routes"
	"github.com/edged-gateway/edged/runtime/supervisor"
	"github.com/edged-gateway/edged/sync/outbox"
)

// The data plane: every durable reading is appended once to the log
// (sync/outbox); each consumer reads it through a named cursor of its own
// and acks its own progress, and the log deletes a reading once every
// cursor has passed it (or a cap drops it, counted per cursor):
//
//	route:<name>    each route (runtime/routes): the default cloud route, mqtt and http routes
//	service:<name>  each service's subscription (runtime/dataplane feeds)
//	republish       the local re-publish on the embedded broker
//
// A route starts at the oldest stored reading (a new historian gets what is
// buffered); a service and the re-publish start at the newest.

const (
	servicePrefix   = "service:"
	republishCursor = "republish"
)

// routeConfigs is every route of cfg: its routes, plus the default cloud
// route when none goes to the cloud and either cloud.url is set or no
// route is configured at all (readings then wait in the log for the
// cloud, as they always did).
func routeConfigs(cfg *Config) []RouteConfig {
	rs := slices.Clone(cfg.Routes)
	for _, r := range rs {
		if r.To == routeToCloud {
			return rs
		}
	}
	if cfg.Cloud.URL != "" || len(rs) == 0 {
		rs = append([]RouteConfig{{Name: defaultCloudRoute, To: routeToCloud}}, rs...)
	}
	return rs
}

// cursorSpecs are the log's cursors for cfg's routes, its services
// (specs) and the local re-publish.
func cursorSpecs(cfg *Config, specs []supervisor.Spec) []outbox.CursorSpec {
	var out []outbox.CursorSpec
	for _, r := range routeConfigs(cfg) {
		out = append(out, outbox.CursorSpec{Name: routeCursor(r.Name), Start: outbox.FromOldest})
	}
	for _, s := range specs {
		out = append(out, outbox.CursorSpec{Name: servicePrefix + s.Name, Start: outbox.FromNewest})
	}
	if l := cfg.LocalMQTT; l.Mode != localOff && l.Republish.Enabled {
		out = append(out, outbox.CursorSpec{Name: republishCursor, Start: outbox.FromNewest})
	}
	return out
}

// setCursors makes the log's cursors those of cfg; with keep, the ones
// there now are kept too (a plan adds first and removes once committed or
// rolled back).
func (d *daemon) setCursors(ctx context.Context, specs []outbox.CursorSpec, keep bool) error {
	if keep {
		have := map[string]bool{}
		for _, s := range specs {
			have[s.Name] = true
		}
		for _, cs := range d.outbox.Cursors() {
			if !have[cs.Name] {
				specs = append(specs, outbox.CursorSpec{Name: cs.Name, Start: outbox.FromNewest}) // exists: Start unused
			}
		}
	}
	if err := d.outbox.SetCursors(ctx, specs); err != nil {
		return fmt.Errorf("outbox cursors: %w", err)
	}
	return nil
}

// cloudWants applies the sync policy in force (a plan's sync.metrics, an
// aggregate's forward_raw: false) to a reading bound for the cloud.
func (d *daemon) cloudWants(r *reading.Reading) bool {
	return !d.policy.Load().Keeps(r)
}

// buildRoute makes a route of rc; its link, for mqtt and http, is its own.
func (d *daemon) buildRoute(rc RouteConfig, cfg *Config) (*routes.Route, error) {
	cur, err := d.outbox.Cursor(routeCursor(rc.Name))
	if err != nil {
		return nil, err
	}
	c := cfg.Cloud
	fc := forwarder.Config{
		Route: rc.Name, TopicPrefix: c.TopicPrefix, GatewayID: cfg.Gateway.ID, Epoch: d.outbox.Epoch(),
		Batch: orInt(rc.Batch, c.Batch), Inflight: orInt(rc.Inflight, c.Inflight),
		DeadLetters: deadLetters{d.dead, rc.Name}, MaxAttempts: orInt(rc.MaxAttempts, c.MaxAttempts),
		TTL: rc.TTL, Backoff: forwarder.Backoff{Initial: rc.Retry.Initial, Max: rc.Retry.Max},
		Logger: d.log.With("component", "route", "route", rc.Name),
	}
	filter := rc.Filter
	keep := routes.Keep(func(r *reading.Reading) bool { return filter.Wants(r) })
	var link forwarder.Link
	var also []func(context.Context) error
	switch rc.To {
	case routeToCloud:
		if d.link == nil {
			return nil, fmt.Errorf("route %s goes to the cloud, but cloud.url is not set", rc.Name)
		}
		keep = func(r *reading.Reading) bool { return d.cloudWants(r) && filter.Wants(r) }
		link = d.cloudShare.Route(rc.priority())
	default:
		l, err := d.routeLink(rc, &fc)
		if err != nil {
			return nil, err
		}
		link, also = l.link, l.also // run by the route: a link never started needs no close
	}
	store := routes.NewStore(cur, keep)
	fwd, err := forwarder.New(fc, store, link)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", rc.Name, err)
	}
	key, _ := json.Marshal(rc)
	return &routes.Route{Name: rc.Name, To: rc.To, Key: string(key), Priority: rc.priority(), Store: store, Forwarder: fwd, Also: also}, nil
}

func orInt(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

// setRoutes makes the routes those of cfg (at start, and at a plan's
// switch): unchanged ones keep running. The cloud routes' batch follows
// cloud.batch (a plan's sync.batch) where the route sets none.
func (d *daemon) setRoutes(cfg *Config) (started, stopped []string, err error) {
	var rs []*routes.Route
	for _, rc := range routeConfigs(cfg) {
		if rc.To == routeToCloud && d.link == nil {
			continue // only its cursor, holding readings for a cloud to come
		}
		r, err := d.buildRoute(rc, cfg)
		if err != nil {
			return nil, nil, err // nothing built so far was started
		}
		rs = append(rs, r)
	}
	started, stopped, err = d.routes.Set(rs)
	if err != nil {
		return nil, nil, err
	}
	for _, rc := range routeConfigs(cfg) {
		if rc.To == routeToCloud && rc.Batch == 0 {
			if r := d.routes.Route(rc.Name); r != nil {
				r.Forwarder.SetBatch(cfg.Cloud.Batch)
			}
		}
	}
	return started, stopped, nil
}

// cloudForwarder is the forwarder of the first route to the cloud (the
// default route), or nil.
func (d *daemon) cloudForwarder() *forwarder.Forwarder {
	if d.routes == nil {
		return nil
	}
	for _, r := range d.routes.Routes() {
		if r.To == routeToCloud {
			return r.Forwarder
		}
	}
	return nil
}

// cloudStats are the cloud forwarder's counters (zero without one).
func (d *daemon) cloudStats() forwarder.Stats {
	if f := d.cloudForwarder(); f != nil {
		return f.Stats()
	}
	return forwarder.Stats{}
}

// routeStatus reports every running route, in priority and name order.
func (d *daemon) routeStatus() []routeStatus {
	out := []routeStatus{}
	if d.routes == nil {
		return out
	}
	for _, r := range d.routes.Routes() {
		fs := r.Forwarder.Stats()
		rs := routeStatus{Name: r.Name, To: r.To, Priority: r.Priority, Delivered: fs.Delivered, Failures: fs.Failures,
			DeadLettered: fs.DeadLettered, Expired: fs.Expired, Passed: r.Store.Passed()}
		if cur, err := d.outbox.Cursor(routeCursor(r.Name)); err == nil {
			rs.Lag = cur.Lag()
		}
		if le := fs.LastError; le.Current() {
			rs.LastError, rs.LastErrorAt = le.Message, le.At
		}
		out = append(out, rs)
	}
	return out
}
