package main

import (
	"runtime"
	"time"

	"github.com/edged-gateway/edged/drivers/mqttsensor"
	"github.com/edged-gateway/edged/internal/lasterr"
	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/dataplane"
	"github.com/edged-gateway/edged/runtime/ingest"
	"github.com/edged-gateway/edged/runtime/supervisor"
	"github.com/edged-gateway/edged/sync/broker"
	"github.com/edged-gateway/edged/sync/cmdstore"
	"github.com/edged-gateway/edged/sync/outbox"
)

// statusDoc is what /api/v1/status and `edged status` show.
type statusDoc struct {
	Gateway string `json:"gateway"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
	// Board is the hardware the devices use: host, sim, or none.
	Board string `json:"board"`
	// Plan is the orchestration plan applied; version 0 and state none
	// until plans land.
	Plan    planStatus     `json:"plan"`
	UptimeS float64        `json:"uptime_s"`
	Cloud   cloudStatus    `json:"cloud"`
	Outbox  outboxStatus   `json:"outbox"`
	Devices []deviceStatus `json:"devices"`
	// SafeStateFailures counts actuator safe states that failed or
	// overran hardware.safe_timeout (plan handovers; stops are logged).
	SafeStateFailures int64         `json:"safe_state_failures"`
	Commands          commandStatus `json:"commands"`
	// Services are the plugin services with state, budget and use.
	Services []supervisor.Status `json:"services"`
	// LocalMQTT is the local broker and the sensors that publish to it.
	LocalMQTT localMQTTStatus `json:"local_mqtt"`
	// Routes are where readings go (the cloud route and routes[]).
	Routes []routeStatus `json:"routes"`
	// ServiceFeeds are the services' cursors on the log: delivered,
	// lag, and readings skipped because the service lagged past max_lag.
	ServiceFeeds []dataplane.FeedStats `json:"service_feeds"`
	// ConfigReload is the latest reload of the config file (SIGHUP,
	// edged config reload), if any since start.
	ConfigReload *reloadResult `json:"config_reload,omitempty"`
}

type localMQTTStatus struct {
	Mode      string         `json:"mode"`
	Off       string         `json:"off,omitempty"` // why the embedded broker is not running although mode is embedded
	Addr      string         `json:"addr,omitempty"`
	TLSAddr   string         `json:"tls_addr,omitempty"`
	URL       string         `json:"url,omitempty"`
	Connected bool           `json:"connected"`
	Broker    *broker.Stats  `json:"broker,omitempty"`
	Ingest    *ingest.Stats  `json:"ingest,omitempty"`
	Sensors   []sensorStatus `json:"sensors"`
}

type sensorStatus struct {
	Name      string            `json:"name"`
	Topic     string            `json:"topic"`
	Messages  uint64            `json:"messages"`
	Readings  uint64            `json:"readings"`
	Malformed uint64            `json:"malformed"`
	ByDevice  map[string]uint64 `json:"malformed_by_device,omitempty"`
	// Missing counts, by metric, fields that were absent or null and
	// skipped (options.missing: skip); Collided, readings refused because
	// another sensor owns their device name; Metrics, each device and
	// metric decoded with its unit (and Homie $name).
	Missing    map[string]uint64       `json:"missing,omitempty"`
	Skipped    uint64                  `json:"skipped,omitempty"`
	Attributes uint64                  `json:"attributes,omitempty"`
	Collided   uint64                  `json:"collided,omitempty"`
	Metrics    []mqttsensor.MetricInfo `json:"metrics,omitempty"`
}

type planStatus struct {
	// Version is the plan running now (0: the config file's workload).
	Version int64 `json:"version"`
	// State is off (no trusted keys), none (no plan yet), or the state of
	// the latest plan handled: applying, applied, rejected, rolled_back.
	State string `json:"state"`
	// Latest is the version of the latest plan handled, when it is not
	// the one running (rejected or rolled back), and Error says why.
	Latest int64  `json:"latest,omitempty"`
	Error  string `json:"error,omitempty"`
	// Recovered is the damaged plans.db moved aside at start, if any.
	Recovered *storeRecovery `json:"recovered,omitempty"`
}

func (d *daemon) planStatus() planStatus {
	if d.plans == nil {
		return planStatus{State: "off"}
	}
	ps := planStatus{Version: d.plans.version(), State: "none", Recovered: d.plans.recovered}
	if st := d.plans.statusDoc(); st.State != "" {
		ps.State, ps.Error = st.State, st.Error
		if st.Version != ps.Version {
			ps.Latest = st.Version
		}
	}
	return ps
}

type cloudStatus struct {
	URL       string `json:"url,omitempty"`
	Enabled   bool   `json:"enabled"`
	Connected bool   `json:"connected"`
	Delivered int64  `json:"delivered"`
	// DeadLetters is how many readings the cloud refused every time are
	// kept in data_dir/deadletters.db now; DeadLettered counts those moved
	// there since start, DeadLettersDropped those its cap dropped.
	DeadLetters        int    `json:"dead_letters"`
	DeadLettered       int64  `json:"dead_lettered"`
	DeadLettersDropped uint64 `json:"dead_letters_dropped"`
	// LastError is the last delivery failure (the forwarder's) or, when
	// none, the link's last connection error; each with its time, and the
	// time the cloud part worked again after it.
	LastError            string    `json:"last_error,omitempty"`
	LastErrorAt          time.Time `json:"last_error_at,omitzero"`
	LastErrorRecoveredAt time.Time `json:"last_error_recovered_at,omitzero"`
}

// cloudLastError is the newer of the forwarder's and the link's last error.
func cloudLastError(fwd, link lasterr.Error) lasterr.Error {
	if link.At.After(fwd.At) {
		return link
	}
	return fwd
}

type outboxStatus struct {
	Readings     int64   `json:"readings"`
	Bytes        int64   `json:"bytes"`
	OldestAgeS   float64 `json:"oldest_age_s"`
	Dropped      uint64  `json:"dropped"`
	AppendErrors uint64  `json:"append_errors"`
	NextSeq      uint64  `json:"next_seq"`
	// Epoch names the outbox file's stream; the cloud dedups on
	// (epoch, seq).
	Epoch string `json:"epoch"`
	// Recovered is the damaged outbox file moved aside at start, if any.
	Recovered *outbox.Recovery `json:"recovered,omitempty"`
	// Failed is the commit error that stopped the outbox (edged exits).
	Failed string `json:"failed,omitempty"`
	// Cursors are the log's consumers (route:<name>, service:<name>,
	// republish): position, lag, acked, and readings a cap dropped before
	// the consumer read them.
	Cursors []outbox.CursorStats `json:"cursors"`
}

// routeStatus is one route: where it goes and what it delivered.
type routeStatus struct {
	Name         string    `json:"name"`
	To           string    `json:"to"`
	Priority     int       `json:"priority"`
	Delivered    int64     `json:"delivered"`
	Failures     int64     `json:"failures"`
	DeadLettered int64     `json:"dead_lettered"`
	Expired      int64     `json:"expired"`
	Passed       uint64    `json:"passed"` // readings its filter or the sync policy left out
	Lag          uint64    `json:"lag"`    // readings its cursor has not passed yet
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
}

type deviceStatus struct {
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	// Simulated: the device's readings come from a simulated chip or
	// source, never from hardware.
	Simulated   bool         `json:"simulated,omitempty"`
	Reads       int64        `json:"reads"`
	Errors      int64        `json:"errors"`
	Stored      int64        `json:"stored"`
	LastError   string       `json:"last_error,omitempty"`
	LastErrorAt time.Time    `json:"last_error_at,omitzero"`
	LastValue   *lastReading `json:"last,omitempty"`
}

type lastReading struct {
	Metric string    `json:"metric"`
	Value  float64   `json:"value"`
	Unit   string    `json:"unit"`
	Time   time.Time `json:"ts"`
	Seq    uint64    `json:"seq"`
	// Simulated marks a reading from a simulated chip or source.
	Simulated bool `json:"simulated,omitempty"`
}

// status builds the status document from the parts' counters.
func (d *daemon) status() any { return d.statusDoc() }

func (d *daemon) statusDoc() statusDoc {
	st := d.outbox.Stats()
	doc := statusDoc{Gateway: d.cfg.Gateway.ID, Version: version, Arch: runtime.GOOS + "/" + runtime.GOARCH,
		UptimeS: time.Since(time.Unix(0, d.start.Load())).Round(time.Millisecond).Seconds(),
		Outbox: outboxStatus{Readings: st.Depth, Bytes: st.Bytes, Dropped: st.Dropped, AppendErrors: st.AppendErrors, NextSeq: st.NextSeq,
			Epoch: st.Epoch, Recovered: d.outbox.Recovery(), Failed: st.Failed, Cursors: append([]outbox.CursorStats{}, d.outbox.Cursors()...)},
		Devices: []deviceStatus{}, Commands: d.commandStatus(), SafeStateFailures: d.devs.SafeFailures(), Board: d.boardName(), Plan: d.planStatus()}
	if d.reload != nil {
		doc.ConfigReload = d.reload.last.Load()
	}
	if !st.Oldest.IsZero() {
		doc.Outbox.OldestAgeS = time.Since(st.Oldest).Round(time.Millisecond).Seconds()
	}
	if d.link != nil {
		fs := d.cloudStats()
		le := cloudLastError(fs.LastError, d.link.Stats().LastError)
		ds := d.dead.Stats()
		doc.Cloud = cloudStatus{URL: d.cfg.Cloud.URL, Enabled: true, Connected: d.link.Connected(), Delivered: fs.Delivered,
			DeadLetters: ds.Count, DeadLettered: fs.DeadLettered, DeadLettersDropped: ds.Dropped,
			LastError: le.Message, LastErrorAt: le.At, LastErrorRecoveredAt: le.RecoveredAt}
	}
	doc.Routes = d.routeStatus()
	doc.ServiceFeeds = []dataplane.FeedStats{}
	if d.feeds != nil {
		doc.ServiceFeeds = d.feeds.Stats()
	}
	doc.LocalMQTT = d.localStatus()
	doc.Services = []supervisor.Status{}
	if d.sup != nil {
		doc.Services = d.sup.Status()
	}
	for _, ds := range d.devs.current().Poller().Stats() {
		s := deviceStatus{Name: ds.Name, Healthy: ds.Healthy, Simulated: ds.Simulated, Reads: ds.Reads, Errors: ds.ReadErrors + ds.AppendErrors, Stored: ds.Stored, LastError: ds.LastError, LastErrorAt: ds.LastErrorAt}
		if ds.Last.Device != "" {
			s.LastValue = &lastReading{Metric: ds.Last.Metric, Value: ds.Last.Value, Unit: ds.Last.Unit, Time: ds.Last.Time, Seq: ds.Last.Seq, Simulated: ds.Last.Simulated}
		}
		doc.Devices = append(doc.Devices, s)
	}
	return doc
}

func (d *daemon) localStatus() localMQTTStatus {
	ls := localMQTTStatus{Mode: d.cfg.LocalMQTT.Mode, Off: d.brokerOff, Sensors: []sensorStatus{}}
	if d.broker != nil {
		st := d.broker.Stats()
		if st.OverLimit == nil {
			st.OverLimit = []broker.ClientLimit{}
		}
		ls.Addr, ls.TLSAddr, ls.Connected, ls.Broker = d.broker.Addr(), d.broker.TLSAddr(), true, &st
	}
	if d.local != nil {
		ls.URL, ls.Connected = d.cfg.LocalMQTT.URL, d.local.Connected()
	}
	if d.ingest != nil {
		st := d.ingest.Stats()
		ls.Ingest = &st
	}
	for _, s := range d.sensorList() {
		st := s.Stats()
		ls.Sensors = append(ls.Sensors, sensorStatus{Name: s.Name(), Topic: s.Filter(), Messages: st.Messages,
			Readings: st.Readings, Malformed: st.Malformed, ByDevice: st.MalformedByDevice, Missing: st.Missing,
			Skipped: st.Skipped, Attributes: st.Attributes, Collided: d.sensors.collisions(s.Name()), Metrics: st.Metrics})
	}
	return ls
}

// commandStatus is the executor's counters (TimedOut, Expired and
// MemoryErrors among them) and what the run-once memory holds and forgot.
type commandStatus struct {
	commands.Stats
	Memory *cmdstore.Stats `json:"memory,omitempty"`
}

func (d *daemon) commandStatus() commandStatus {
	st := commandStatus{Stats: d.exec.Stats()}
	if d.cmdMem != nil {
		ms := d.cmdMem.Stats()
		st.Memory = &ms
	}
	return st
}

// boardName says which hardware the devices use.
func (d *daemon) boardName() string {
	d.boardMu.Lock() // a plan may open the board while the API reads
	b := d.board
	d.boardMu.Unlock()
	switch {
	case b == nil:
		return "none"
	case b.Simulated() != nil:
		return "sim"
	}
	return "host"
}
