package main

import (
	"strings"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/history"
	"github.com/edged-gateway/edged/runtime/localapi"
	"github.com/edged-gateway/edged/services/anomaly"
)

// consoleAPI wires the web console's endpoints (history, logs, alerts,
// plan history) to the daemon.
func (d *daemon) consoleAPI() localapi.ConsoleAPI {
	c := localapi.ConsoleAPI{
		History: func(device, metric string, rg history.Range) ([]history.Series, bool) {
			return d.history.Query(device, metric, rg, time.Now())
		},
		Logs:   d.logs,
		Alerts: d.alerts.Newest,
	}
	if d.plans != nil {
		c.PlanHistory = d.plans.historyDoc
	}
	return c
}

// alertKind says whether a reading is an alert: the output of a service of
// kind rules or anomaly (configured at start), or, for a service a plan
// added, a metric named like theirs (alert_<rule>, <metric>_anomaly_score).
func (d *daemon) alertKind(r reading.Reading) string {
	if r.Source == "" {
		return ""
	}
	for _, s := range d.cfg.Services {
		if s.Name == r.Source && (s.Kind == "rules" || s.Kind == "anomaly") {
			return s.Kind
		}
	}
	switch {
	case strings.HasPrefix(r.Metric, "alert_"):
		return "rules"
	case strings.HasSuffix(r.Metric, anomaly.Suffix):
		return "anomaly"
	}
	return ""
}

// forgetDevices drops what the console shows of devices a plan removed.
func (d *daemon) forgetDevices(names []string) {
	for _, n := range names {
		d.recent.Forget(n)
		d.history.Forget(n)
	}
}

// planHistoryEntry is one applied plan in GET /api/v1/plan/history.
type planHistoryEntry struct {
	Version   int64     `json:"version"`
	AppliedAt time.Time `json:"applied_at"`
	Current   bool      `json:"current"`
	Artifacts int       `json:"artifacts"`
}

// historyDoc lists the plans the store keeps (the current one and the one
// it replaced), and the latest plan's status (which may be a rejected or
// rolled-back one).
func (p *planner) historyDoc() (any, error) {
	recs, err := p.store.History()
	if err != nil {
		return nil, err
	}
	out := []planHistoryEntry{}
	for i, r := range recs {
		out = append(out, planHistoryEntry{Version: r.Version, AppliedAt: r.AppliedAt, Current: i == 0, Artifacts: len(r.Artifacts)})
	}
	return map[string]any{"applied": out, "latest": p.statusDoc()}, nil
}
