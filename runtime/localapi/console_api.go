package localapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/edged-gateway/edged/internal/logring"
	"github.com/edged-gateway/edged/runtime/history"
)

// ConsoleAPI are the sources of the endpoints the web console reads
// besides the core API: plot history, the log tail, alerts and the plans
// applied before. A nil source answers 404.
type ConsoleAPI struct {
	// History returns a device's series (metric's only, when set) over a
	// range; ok is false when the device has none.
	History func(device, metric string, rg history.Range) (series []history.Series, ok bool)
	// Logs is the daemon's recent log records.
	Logs *logring.Ring
	// Alerts returns up to limit alerts, newest first, and how many were
	// seen since start.
	Alerts func(limit int) (alerts []history.Alert, total uint64)
	// PlanHistory returns the plans applied, current first.
	PlanHistory func() (any, error)
}

// MaxHistorySeries is the most series one history answer holds.
const MaxHistorySeries = 16

// maxQueryText bounds the text filter of GET /api/v1/logs.
const maxQueryText = 200

func (s *Server) consoleRoutes(handle func(pattern string, h http.Handler)) {
	c := s.cfg.ConsoleAPI
	handle("GET /api/v1/devices/{name}/history", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		q := r.URL.Query()
		rg, metric, err := parseHistoryQuery(q)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		var series []history.Series
		ok := false
		if c.History != nil {
			series, ok = c.History(name, metric, rg)
		}
		if !ok {
			what := fmt.Sprintf("device %q", name)
			if metric != "" {
				what = fmt.Sprintf("metric %q of device %q", metric, name)
			}
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no history of " + what + ": it is not configured or has read nothing yet"})
			return
		}
		truncated := 0
		if len(series) > MaxHistorySeries {
			truncated = len(series) - MaxHistorySeries
			series = series[:MaxHistorySeries]
		}
		writeJSON(w, http.StatusOK, historyDoc{Device: name, Range: rg.Name, StepS: rg.Step.Seconds(), Series: series, Truncated: truncated})
	}))
	handle("GET /api/v1/logs", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.Logs == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "this daemon keeps no log records"})
			return
		}
		q, err := parseLogQuery(r.URL.Query())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, c.Logs.Query(q))
	}))
	handle("GET /api/v1/alerts", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, err := intParam(r.URL.Query(), "limit", 50, 1, history.MaxAlerts)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		doc := alertsDoc{Alerts: []history.Alert{}}
		if c.Alerts != nil {
			doc.Alerts, doc.Total = c.Alerts(limit)
		}
		writeJSON(w, http.StatusOK, doc)
	}))
	handle("GET /api/v1/plan/history", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if c.PlanHistory == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "plans are off on this gateway (plans.trusted_keys is empty)"})
			return
		}
		doc, err := c.PlanHistory()
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, doc)
	}))
}

// historyDoc is GET /api/v1/devices/{name}/history.
type historyDoc struct {
	Device    string           `json:"device"`
	Range     string           `json:"range"`
	StepS     float64          `json:"step_s"`
	Series    []history.Series `json:"series"`
	Truncated int              `json:"truncated,omitempty"` // series left out past MaxHistorySeries
}

// alertsDoc is GET /api/v1/alerts.
type alertsDoc struct {
	Alerts []history.Alert `json:"alerts"`
	Total  uint64          `json:"total"`
}

// parseHistoryQuery reads range (default 5m) and metric.
func parseHistoryQuery(q url.Values) (history.Range, string, error) {
	name := q.Get("range")
	if name == "" {
		name = history.Ranges[0].Name
	}
	rg, ok := history.RangeByName(name)
	if !ok {
		return history.Range{}, "", fmt.Errorf("range=%.20q: use one of %s", name, history.RangeNames())
	}
	metric := q.Get("metric")
	if len(metric) > 256 {
		return history.Range{}, "", fmt.Errorf("metric: %d bytes, over 256", len(metric))
	}
	return rg, metric, nil
}

// parseLogQuery reads after (a seq), level (debug|info|warn|error), q (text)
// and limit (1..500).
func parseLogQuery(v url.Values) (logring.Query, error) {
	var q logring.Query
	if s := v.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, fmt.Errorf("after=%.24q: give the next value of the previous answer (a whole number)", s)
		}
		q.After = n
	}
	if s := v.Get("level"); s != "" {
		if err := q.Level.UnmarshalText([]byte(s)); err != nil {
			return q, fmt.Errorf("level=%.24q: use debug, info, warn or error", s)
		}
	} else {
		q.Level = slog.LevelDebug
	}
	q.Text = v.Get("q")
	if len(q.Text) > maxQueryText {
		return q, fmt.Errorf("q: %d bytes, over %d", len(q.Text), maxQueryText)
	}
	limit, err := intParam(v, "limit", logring.MaxLimit, 1, logring.MaxLimit)
	q.Limit = limit
	return q, err
}

// intParam reads a whole number from lo to hi (def when absent).
func intParam(v url.Values, key string, def, lo, hi int) (int, error) {
	s := v.Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return def, fmt.Errorf("%s=%.24q: use a whole number from %d to %d", key, s, lo, hi)
	}
	return n, nil
}
