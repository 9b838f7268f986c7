package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/history"
	"github.com/edged-gateway/edged/runtime/localapi"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/poller"
	"github.com/edged-gateway/edged/runtime/recent"
)

// tokenFileName is the API token edged creates in data_dir when
// http.token_file is not set.
const tokenFileName = "api.token"

// apiToken reads http.token_file, or reads (creating it on first start)
// data_dir/api.token: 32 random bytes in hex, mode 0600.
func (c *Config) apiToken() (string, error) {
	if c.HTTP.TokenFile != "" {
		b, err := os.ReadFile(c.HTTP.TokenFile)
		if err != nil {
			return "", fmt.Errorf("http.token_file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if len(t) < 16 {
			return "", fmt.Errorf("http.token_file: %s holds %d characters: use at least 16 random ones, e.g. openssl rand -hex 32", c.HTTP.TokenFile, len(t))
		}
		return t, nil
	}
	path := filepath.Join(c.DataDir, tokenFileName)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("api token %s: %w", path, err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	t := hex.EncodeToString(raw)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	return t, nil
}

// apiConfig is the local API's configuration, wired to the daemon.
func (d *daemon) apiConfig() localapi.Config {
	c := localapi.Config{
		Listen: d.cfg.HTTP.Listen, Token: d.apiToken, CertFile: d.cfg.HTTP.TLS.CertFile, KeyFile: d.cfg.HTTP.TLS.KeyFile,
		Status: d.status, Devices: d.devicesDoc, Readings: d.readingsDoc, Services: d.servicesDoc, RestartService: d.restartService,
		Ready: d.ready.Load, NotReady: d.appends.reason, Hosts: apiHosts(d.cfg.HTTP.AllowedHosts), Commands: d.exec, Metrics: d.metricsHandler(), Console: consoleHandler(),
		Logger: d.log.With("component", "api"), ConsoleAPI: d.consoleAPI(),
	}
	c.DeadLetters = d.deadLetterAPI()
	c.ReloadConfig = func(ctx context.Context) (any, bool, error) { return d.reload.viaAPI(ctx) }
	if d.plans != nil {
		c.Plan = func() any { return d.plans.statusDoc() }
		c.ApplyPlan = func(ctx context.Context, env []byte) (any, bool, error) {
			st, err := d.plans.submit(ctx, env)
			return st, st.State == orchestrator.StateApplied, err
		}
	}
	return c
}

// recordingSink stores readings, then remembers the durable ones (with
// their seqs) for the API's recent readings and the console, and whether
// the last append failed.
type recordingSink struct {
	store  poller.Sink
	recent *recent.Recent
	health *appendHealth
	// history and alerts, when set, also get the durable readings (alertKind
	// picks the alerts).
	history   *history.History
	alerts    *history.Alerts
	alertKind func(reading.Reading) string
}

// appendHealth is the outcome of the latest append to the outbox: while
// appends fail (a full disk), /readyz says not ready, and why.
type appendHealth struct {
	failing atomic.Pointer[string]
}

func (h *appendHealth) record(err error) {
	if err == nil {
		if h.failing.Load() != nil {
			h.failing.Store(nil)
		}
		return
	}
	why := "outbox appends failing: " + err.Error()
	h.failing.Store(&why)
}

// reason is why the daemon cannot store readings now; "" when it can.
func (h *appendHealth) reason() string {
	if p := h.failing.Load(); p != nil {
		return *p
	}
	return ""
}

// apiHosts are the names the local API answers to besides IP addresses
// and localhost: http.allowed_hosts, this host's name and its mDNS name.
func apiHosts(configured []string) []string {
	hosts := slices.Clone(configured)
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h, h+".local")
	}
	return hosts
}

func (s recordingSink) Append(ctx context.Context, rs []reading.Reading) error {
	err := s.store.Append(ctx, rs)
	if s.health != nil && !errors.Is(err, context.Canceled) {
		s.health.record(err)
	}
	if err != nil {
		return err
	}
	s.recent.Add(rs)
	if s.history != nil {
		s.history.Add(rs)
	}
	if s.alerts != nil {
		s.alerts.Add(rs, s.alertKind)
	}
	return nil
}

// apiReading is one reading in API answers.
type apiReading struct {
	Metric string    `json:"metric"`
	Value  float64   `json:"value"`
	Unit   string    `json:"unit"`
	Time   time.Time `json:"ts"`
	Seq    uint64    `json:"seq"`
	// Simulated marks a reading from a simulated chip or source.
	Simulated bool `json:"simulated,omitempty"`
}

func apiReadings(rs []reading.Reading) []apiReading {
	out := make([]apiReading, len(rs))
	for i, r := range rs {
		out[i] = apiReading{Metric: r.Metric, Value: r.Value, Unit: r.Unit, Time: r.Time, Seq: r.Seq, Simulated: r.Simulated}
	}
	return out
}

// deviceDoc is one device in /api/v1/devices.
type deviceDoc struct {
	Name        string       `json:"name"`
	Kind        string       `json:"kind"`
	Healthy     bool         `json:"healthy"`
	Simulated   bool         `json:"simulated,omitempty"`
	Reads       int64        `json:"reads"`
	Errors      int64        `json:"errors"`
	Stored      int64        `json:"stored"`
	LastError   string       `json:"last_error,omitempty"`
	LastErrorAt time.Time    `json:"last_error_at,omitzero"`
	Actuator    bool         `json:"actuator"`
	Last        []apiReading `json:"last"`
}

// devicesDoc lists the configured devices that are polled, then the
// devices MQTT sensors have published for, each with its latest readings.
func (d *daemon) devicesDoc() any {
	kinds := map[string]string{}
	for _, spec := range d.devs.current().specs {
		kinds[spec.cfg.Name] = spec.cfg.Kind
	}
	actuators := map[string]bool{}
	for _, name := range d.exec.Devices() {
		actuators[name] = true
	}
	docs := []deviceDoc{}
	seen := map[string]bool{}
	for _, ds := range d.devs.current().Poller().Stats() {
		seen[ds.Name] = true
		docs = append(docs, deviceDoc{Name: ds.Name, Kind: kinds[ds.Name], Healthy: ds.Healthy, Simulated: ds.Simulated, Reads: ds.Reads,
			Errors: ds.ReadErrors + ds.AppendErrors, Stored: ds.Stored, LastError: ds.LastError, LastErrorAt: ds.LastErrorAt,
			Actuator: actuators[ds.Name], Last: apiReadings(d.recent.Last(ds.Name))})
	}
	for _, name := range d.recent.Devices() {
		if seen[name] {
			continue
		}
		last := d.recent.Last(name)
		// A device an MQTT sensor publishes for: healthy while it publishes;
		// or the gateway itself, with its services' usage (service_usage).
		kind := "mqttsensor"
		if name == d.cfg.Gateway.ID && d.cfg.ServiceUsage.Every > 0 {
			kind = "gateway"
		}
		docs = append(docs, deviceDoc{Name: name, Kind: kind, Healthy: true, Last: apiReadings(last)})
	}
	return map[string]any{"devices": docs}
}

// readingsDoc is a device's recent readings since a time.
func (d *daemon) readingsDoc(device string, since time.Time) (any, bool) {
	rs, ok := d.recent.Since(device, since, time.Now())
	if !ok {
		return nil, false
	}
	return map[string]any{"device": device, "readings": apiReadings(rs)}, true
}

// servicesDoc lists the services with their state, budget and use.
func (d *daemon) servicesDoc() any {
	if d.sup == nil {
		return map[string]any{"services": []any{}}
	}
	return map[string]any{"services": d.sup.Status()}
}

// restartService restarts a service now (its breaker closes).
func (d *daemon) restartService(name string) error {
	if d.sup == nil {
		return fmt.Errorf("no service %q: this gateway runs no services", name)
	}
	return d.sup.Restart(name)
}

// consoleURL is where a browser on the gateway opens the web console.
func (d *daemon) consoleURL() string {
	scheme := "http"
	if d.cfg.HTTP.TLS.CertFile != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(d.api.Addr())
	if err != nil {
		return scheme + "://" + d.api.Addr() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}
