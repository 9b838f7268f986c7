package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/drivers/mqttsensor"
	"github.com/edged-gateway/edged/internal/logring"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/dataplane"
	"github.com/edged-gateway/edged/runtime/forwarder"
	"github.com/edged-gateway/edged/runtime/gauges"
	"github.com/edged-gateway/edged/runtime/hass"
	"github.com/edged-gateway/edged/runtime/history"
	"github.com/edged-gateway/edged/runtime/ingest"
	"github.com/edged-gateway/edged/runtime/localapi"
	"github.com/edged-gateway/edged/runtime/poller"
	"github.com/edged-gateway/edged/runtime/recent"
	"github.com/edged-gateway/edged/runtime/routes"
	"github.com/edged-gateway/edged/runtime/supervisor"
	"github.com/edged-gateway/edged/sync/broker"
	"github.com/edged-gateway/edged/sync/cmdstore"
	"github.com/edged-gateway/edged/sync/deadletter"
	"github.com/edged-gateway/edged/sync/outbox"
	"github.com/edged-gateway/edged/sync/routeout"
	"github.com/edged-gateway/edged/sync/uplink"
)

// statusEvery is how often the daemon logs its state at info level.
const statusEvery = 10 * time.Second

// shutdownDeadline bounds a clean stop; past it edged exits with an error.
const shutdownDeadline = 10 * time.Second

// daemon is the running gateway: its parts, wired.
type daemon struct {
	cfg        Config
	log        *slog.Logger
	outbox     *outbox.Outbox
	devs       *deviceHost        // the polled devices and their poller
	link       *uplink.Client     // nil when cloud.url is empty
	routes     *routes.Manager    // where readings go: the cloud route, mqtt and http routes (dataplane.go)
	cloudShare *forwarder.Shared  // the cloud link, shared by the routes to the cloud by priority; nil when cloud.url is empty
	dead       *deadletter.Store  // readings the cloud refused every time; nil when cloud.url is empty
	cmds       *cloudCommands     // nil when cloud.url is empty
	exec       *commands.Executor // commands for the devices that accept them
	cmdMem     *cmdstore.Store    // the executor's run-once memory (commands.db)
	api        *localapi.Server   // nil when http.listen is empty
	board      *board             // nil when no device needs hardware; a plan may open it (under boardMu)
	boardMu    sync.Mutex
	start      atomic.Int64 // unix ns when run began; read by status at any time
	// stopDeadline bounds stopping the stages; 0 means shutdownDeadline.
	stopDeadline time.Duration

	broker    *broker.Broker         // the embedded local broker; nil unless local_mqtt.mode is embedded
	local     *uplink.Client         // the external local broker; nil unless local_mqtt.mode is external
	ingest    *ingest.Ingest         // pushed readings (MQTT sensors) → outbox
	sensors   *sensorRouter          // local MQTT messages → readings
	sink      poller.Sink            // the outbox, wrapped: recent readings, history, gauges
	feeds     *dataplane.Feeds       // each service's cursor → the service; nil when no service is configured
	republish *dataplane.Republisher // the log's readings → the local broker; nil unless local_mqtt.republish

	ready     atomic.Bool            // sources running and the outbox open (/readyz)
	appends   appendHealth           // whether appends to the outbox fail now (/readyz)
	recent    *recent.Recent         // the latest readings per device, for the API
	history   *history.History       // downsampled history per device and metric, for the console's plots
	alerts    *history.Alerts        // the rules and anomaly services' latest outputs, for the console
	logs      *logring.Ring          // the latest log records, for the console's log tail
	sup       *supervisor.Supervisor // services; nil when none are configured
	emits     *ingest.Ingest         // readings services emit → outbox
	brokerOff string                 // why the embedded broker is off although configured (its default port was taken), or ""
	budgets   *budget.Manager        // nil when no service has a budget
	apiToken  string                 // the local API's bearer token

	policy atomic.Pointer[routes.Policy] // which readings go to the cloud
	plans  *planner                      // nil when plans are off
	reload *reloader                     // SIGHUP and `edged config reload` (reload.go)

	hass         *hass.Integration // nil unless integrations.home_assistant is on (hass.go)
	gauges       *gauges.Gauges    // nil unless metrics.device_gauges is on
	gaugeDevices map[string]bool   // the configured devices the gauges know
}

// closeDevices closes what the devices opened, each bounded by
// hardware.safe_timeout, and the board.
func (d *daemon) closeDevices() error {
	var errs []error
	if d.devs != nil {
		errs = append(errs, d.devs.CloseAll(d.cfg.Hardware.SafeTimeoutOrDefault()))
	}
	d.boardMu.Lock()
	b := d.board
	d.boardMu.Unlock()
	if err := b.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// openBoardOnce opens the hardware the first time a device needs it; a
// failure is that device's open error, and the next open tries again.
func (d *daemon) openBoardOnce() (*board, error) {
	d.boardMu.Lock()
	defer d.boardMu.Unlock()
	if d.board != nil {
		return d.board, nil
	}
	b, err := openBoard(d.cfg.Hardware, d.log.With("component", "hardware"))
	if err != nil {
		return nil, err
	}
	d.board = b
	return b, nil
}

// runDaemon builds the gateway from cfg and runs it until ctx ends.
func runDaemon(ctx context.Context, cfg Config, devs []device, log *slog.Logger, start time.Time) error {
	d, err := newDaemon(cfg, devs, log)
	if err != nil {
		return err
	}
	return d.run(ctx, start)
}

func newDaemon(cfg Config, devs []device, log *slog.Logger) (_ *daemon, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	logs := logring.New(logring.Config{}) // the console's log tail sees what the daemon logs
	log = slog.New(logs.Handler(log.Handler()))
	ob, err := outbox.Open(outbox.Config{
		Path:     filepath.Join(cfg.DataDir, "outbox.db"),
		MaxBytes: int64(cfg.Outbox.MaxBytes),
		MaxAge:   cfg.Outbox.MaxAge,
		Fsync:    &cfg.Outbox.Fsync,
		Logger:   log.With("component", "outbox"),
	})
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log, outbox: ob, logs: logs, history: history.New(history.Config{}), alerts: &history.Alerts{}}
	defer func() {
		if err != nil {
			d.abandon()
		}
	}()
	if cfg.Plans.enabled() {
		// The last applied plan decides devices, services and sync.
		p, w, err := openPlanner(cfg, devs, builtinKinds(), log)
		if err != nil {
			return nil, err
		}
		d.plans = p
		cfg, devs = w.cfg, w.devs
		cfg.specs = w.specs
		d.cfg = cfg
		ob.SetLimits(int64(cfg.Outbox.MaxBytes), cfg.Outbox.MaxAge)
	}
	// The log's consumers, each with its durable cursor (dataplane.go).
	if err := d.setCursors(context.Background(), cursorSpecs(&cfg, cfg.specs), false); err != nil {
		return nil, err
	}
	d.recent = recent.New(recent.Config{})
	d.sink = recordingSink{store: ob, recent: d.recent, health: &d.appends, history: d.history, alerts: d.alerts, alertKind: d.alertKind}
	if cfg.Metrics.DeviceGauges {
		d.gauges = gauges.New(cfg.Metrics.MaxSeries)
	}
	if obs := d.observers(); len(obs) > 0 {
		d.sink = observingSink{store: d.sink, observe: obs}
	}
	if l := cfg.LocalMQTT; l.Mode != localOff && l.Republish.Enabled {
		cur, err := ob.Cursor(republishCursor)
		if err != nil {
			return nil, err
		}
		d.republish = dataplane.NewRepublisher(cur, dataplane.RepublishConfig{Prefix: cfg.Cloud.TopicPrefix, Retain: l.Republish.Retain,
			Publish: d.publishLocal, Logger: log.With("component", "republish")})
	}
	if d.plans == nil {
		// Fingerprinted as a plan's are, so a reload tells a config-only
		// change (Configure) from one that restarts (reload.go).
		cfg.specs = versionedSpecs(&cfg)
		d.cfg.specs = cfg.specs
	}
	if err := d.wireServices(); err != nil {
		return nil, err
	}
	var sensors []*mqttsensor.Sensor
	for _, spec := range devs {
		if spec.kind.sensor != nil {
			s, err := spec.kind.sensor(spec.cfg, spec.options)
			if err != nil {
				return nil, fmt.Errorf("device %s: %w", spec.cfg.Name, err)
			}
			sensors = append(sensors, s)
		}
	}
	if d.cmdMem, err = cmdstore.Open(cmdstore.Config{Path: filepath.Join(cfg.DataDir, "commands.db"),
		MaxEntries: cfg.Commands.Remember, MaxAge: cfg.Commands.RememberFor, Logger: log.With("component", "commands")}); err != nil {
		return nil, err
	}
	d.exec = commands.New(nil, commands.Config{Remember: cfg.Commands.Remember, Timeout: cfg.Commands.Timeout, Memory: cmdMemory{d.cmdMem}})
	d.devs = newDeviceHost(d)
	set, err := d.devs.build(devs)
	if err != nil {
		return nil, err
	}
	d.devs.Install(set) // a device that does not open starts unhealthy and is retried
	if cfg.HTTP.Listen != "" {
		if d.apiToken, err = cfg.apiToken(); err != nil {
			return nil, err
		}
		if d.api, err = localapi.Listen(d.apiConfig()); err != nil {
			return nil, err
		}
	}
	if err := d.wireLocalMQTT(sensors); err != nil {
		return nil, err
	}
	if err := d.wireHass(devs); err != nil {
		return nil, err
	}
	d.devicesChanged(devs)
	if cfg.Cloud.URL != "" {
		if err := d.wireCloud(); err != nil {
			return nil, err
		}
	}
	if err := d.wireRoutes(); err != nil {
		return nil, err
	}
	if d.plans != nil {
		if err := d.plans.start(d); err != nil {
			return nil, err
		}
		if d.link != nil {
			if err := d.plans.subscribe(); err != nil {
				return nil, err
			}
		}
	}
	d.reload = newReloader(d)
	return d, nil
}

// abandon releases what a newDaemon that failed half-way had opened.
func (d *daemon) abandon() {
	if d.api != nil {
		d.api.Close()
	}
	if d.broker != nil {
		d.broker.Close()
	}
	if d.devs != nil {
		d.devs.SafeAll(d.cfg.Hardware.SafeTimeoutOrDefault(), "start failed")
	}
	d.closeDevices()
	d.plans.close()
	if d.cmdMem != nil {
		d.cmdMem.Close()
	}
	if d.dead != nil {
		d.dead.Close()
	}
	d.outbox.Close()
}

// wireCloud builds the uplink from cloud.* (the cloud routes share it)
// and the cloud's commands.
func (d *daemon) wireCloud() error {
	c := d.cfg.Cloud
	uc, err := d.cfg.uplinkConfig()
	if err != nil {
		return err
	}
	uc.Logger = d.log.With("component", "uplink")
	link, err := uplink.New(uc)
	if err != nil {
		return err
	}
	d.link = link
	d.cloudShare = forwarder.NewShared(routeout.Link(link), c.Inflight)
	d.cmds = newCloudCommands(d.exec, link, c.TopicPrefix, d.cfg.Gateway.ID, d.log.With("component", "commands"))
	return d.cmds.subscribe()
}

// wireRoutes opens the dead letters and builds the routes (dataplane.go),
// when readings go anywhere: the cloud or a route of routes[].
func (d *daemon) wireRoutes() error {
	d.routes = routes.NewManager(d.log.With("component", "routes"))
	p := &routes.Policy{Local: localOnlyFilters(&d.cfg), Only: d.cfg.cloudMetrics}
	d.policy.Store(p)
	if len(p.Local) > 0 && d.link != nil {
		d.log.Info("raw readings kept on the gateway (aggregates go to the cloud)", "series", p.Local)
	}
	if d.link == nil && len(d.cfg.Routes) == 0 && !d.cfg.Plans.enabled() {
		return nil // readings wait in the log for a cloud (the cloud route's cursor holds them)
	}
	dead, err := deadletter.Open(deadletter.Config{Path: filepath.Join(d.cfg.DataDir, deadLettersFile), MaxEntries: d.cfg.Cloud.DeadLetters})
	if err != nil {
		return err
	}
	d.warnUnfinishedReplays(dead)
	d.dead = dead
	_, _, err = d.setRoutes(&d.cfg)
	return err
}

// deadLettersFile is the dead-letter store, in data_dir.
const deadLettersFile = "deadletters.db"

// deadLetters lets the dead-letter store serve a route of the forwarder.
type deadLetters struct {
	s     *deadletter.Store
	route string
}

func (a deadLetters) DeadLetter(ctx context.Context, r reading.Reading, reason string, attempts int) error {
	return a.s.Put(ctx, deadletter.Entry{Route: a.route, Reason: reason, Attempts: attempts, Reading: r})
}

// stage is one part of the daemon with its own stop, so parts stop in order.
type stage struct {
	name   string
	cancel context.CancelFunc
	done   chan error
}

// startStage runs run in a goroutine of its own; a panic in it ends the
// stage with an error (so the daemon stops and applies the safe states)
// instead of the process.
func startStage(name string, run func(context.Context) error) *stage {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stage{name: name, cancel: cancel, done: make(chan error, 1)}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.done <- fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		s.done <- run(ctx)
	}()
	return s
}

func (d *daemon) run(ctx context.Context, start time.Time) error {
	d.start.Store(start.UnixNano())
	sd := newSDNotifier(d.log.With("component", "systemd")) // before any service starts: they must not inherit it
	cloud := "off (readings stay in the outbox until cloud.url is set)"
	if d.link != nil {
		cloud = d.cfg.Cloud.URL
	}
	d.log.Info("edged starting", "version", version, "gateway", d.cfg.Gateway.ID, "data_dir", d.cfg.DataDir,
		"devices", len(d.devs.current().Devices()), "cloud", cloud, "backlog", d.outbox.Stats().Depth)

	// Start order: the link first so the forwarder finds it, then the
	// forwarder, then the sources. Stop order is the reverse.
	var stages []*stage
	if d.link != nil {
		stages = append(stages, startStage("uplink", d.link.Run))
	}
	stages = append(stages, startStage("routes", d.routes.Run))
	if d.link != nil {
		health := &healthPublisher{link: d.link, topic: d.cfg.Cloud.TopicPrefix + "/" + d.cfg.Gateway.ID + "/health",
			status: d.statusDoc, log: d.log.With("component", "health")}
		stages = append(stages, startStage("commands", d.cmds.Run), startStage("health", health.Run))
	}
	if d.ingest != nil {
		stages = append(stages, startStage("ingest", d.ingest.Run))
	}
	if d.sup != nil {
		stages = append(stages, startStage("service emits", d.emits.Run), startStage("services", d.sup.Run),
			startStage("service feeds", d.runFeeds), startStage("service usage", d.publishUsage))
	}

	if d.plans != nil {
		stages = append(stages, startStage("plans", d.plans.orch.Run))
		if d.link != nil {
			stages = append(stages, startStage("plan status", d.plans.publishStatus))
		}
	}
	if d.broker != nil {
		stages = append(stages, startStage("broker", d.runBroker))
		d.log.Info("local MQTT broker listening", "addr", d.broker.Addr(), "tls_addr", d.broker.TLSAddr(),
			"sensors", len(d.sensorList()), "anonymous_loopback", d.cfg.LocalMQTT.AllowAnonymous)
	}
	if d.local != nil {
		stages = append(stages, startStage("local mqtt", d.local.Run))
	}
	if d.republish != nil {
		stages = append(stages, startStage("republish", d.republish.Run))
	}
	if d.hass != nil {
		stages = append(stages, startStage("home assistant", d.runHass))
	}
	stages = append(stages, startStage("devices", d.devs.Run), startStage("config reload", d.reload.run))
	if d.api != nil {
		stages = append(stages, startStage("api", d.api.Run))
		d.log.Info("local API listening", "addr", d.api.Addr(), "console", d.consoleURL())
	}

	d.ready.Store(true)
	// The outbox is open, the broker and the API listen (both bound in
	// newDaemon): systemd may start what comes After=edged.
	sd.notify("READY=1", sdStatus(d.sdReadyStatus()))
	var watchdog <-chan time.Time
	if every := sd.watchdogEvery(); every > 0 {
		// From this loop only: a wedged loop stops the pings and systemd
		// restarts edged (WatchdogSec=).
		wd := time.NewTicker(every)
		defer wd.Stop()
		watchdog = wd.C
		sd.notify("WATCHDOG=1")
	}
	firstDurable := d.outbox.Changed()
	var runErr error
	tick := time.NewTicker(statusEvery)
	defer tick.Stop()
	failed := make(chan error, len(stages))
	for _, s := range stages {
		go func() {
			// A stage that ends on its own before shutdown is a failure.
			err := <-s.done
			s.done <- err
			if ctx.Err() == nil {
				failed <- fmt.Errorf("%s stopped unexpectedly: %v", s.name, err)
			}
		}()
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case runErr = <-failed:
			break loop
		case <-d.outbox.Failed():
			// The file handle is no longer trusted: exit non-zero so
			// the supervisor (systemd Restart=) reopens and re-verifies it.
			runErr = fmt.Errorf("outbox failed, restart to reopen it: %s", d.outbox.Stats().Failed)
			break loop
		case <-firstDurable:
			firstDurable = nil
			d.log.Info("first reading durable", "since_start", time.Since(start).Round(time.Microsecond))
		case <-tick.C:
			d.logStatus()
			sd.notify(sdStatus(d.sdRunningStatus()))
		case <-watchdog:
			sd.notify("WATCHDOG=1")
		}
	}
	d.ready.Store(false)
	sd.notify("STOPPING=1", sdStatus("stopping: "+stopReason(ctx, runErr)))
	d.log.Info("edged stopping", "reason", stopReason(ctx, runErr))
	if err := d.stop(stages); err != nil {
		return errors.Join(runErr, err)
	}
	d.logStatus()
	d.log.Info("edged stopped", "uptime", time.Since(start).Round(time.Millisecond))
	return runErr
}

func stopReason(ctx context.Context, err error) string {
	if err != nil {
		return err.Error()
	}
	return context.Cause(ctx).Error()
}

// stop stops the stages in reverse start order, puts the actuators in
// their safe states and closes the devices, then the rest. The safe states
// are applied whatever happened before: a stage that overran the
// shutdown deadline (a wedged driver, a plan rolling back) or failed with
// a panic; each is bounded by hardware.safe_timeout and reported.
func (d *daemon) stop(stages []*stage) error {
	limit := d.stopDeadline
	if limit <= 0 {
		limit = shutdownDeadline
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	var overran error
	for i := len(stages) - 1; i >= 0; i-- {
		s := stages[i]
		s.cancel()
		if overran != nil {
			continue // past the deadline: ask the rest to stop, wait for none
		}
		select {
		case <-s.done:
		case <-deadline.C:
			overran = fmt.Errorf("shutdown: %s did not stop within %s", s.name, limit)
			d.log.Error("shutdown deadline passed; applying the safe states anyway", "stage", s.name, "deadline", limit)
		}
	}
	errs := []error{overran}
	if err := d.devs.SafeAll(d.cfg.Hardware.SafeTimeoutOrDefault(), "shutdown"); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	if err := d.closeDevices(); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	if overran != nil {
		// A stage still runs and may use what follows: leave it to the
		// process exit (the outbox survives that by design).
		return errors.Join(errs...)
	}
	if d.budgets != nil {
		if err := d.budgets.Close(); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: budgets: %w", err))
		}
	}
	if err := d.plans.close(); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	if err := d.cmdMem.Close(); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	if d.dead != nil {
		if err := d.dead.Close(); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	if err := d.outbox.Close(); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	return errors.Join(errs...)
}

// logStatus logs one line about the buffer and the link, and one per device.
func (d *daemon) logStatus() {
	st := d.outbox.Stats()
	attrs := []any{"outbox_readings", st.Depth, "outbox_bytes", st.Bytes, "dropped", st.Dropped, "append_errors", st.AppendErrors}
	if !st.Oldest.IsZero() {
		attrs = append(attrs, "oldest_age", time.Since(st.Oldest).Round(time.Second))
	}
	if fwd := d.cloudForwarder(); d.link != nil && fwd != nil {
		fs := fwd.Stats()
		attrs = append(attrs, "cloud_connected", d.link.Connected(), "delivered", fs.Delivered)
		// A past error is not repeated on every line: only one the cloud
		// part has not recovered from, with its time.
		if le := cloudLastError(fs.LastError, d.link.Stats().LastError); le.Current() {
			attrs = append(attrs, "last_delivery_error", le.Message, "last_delivery_error_at", le.At.UTC().Format(time.RFC3339))
		}
	} else {
		attrs = append(attrs, "cloud", "off")
	}
	d.log.Info("status", attrs...)
	for _, attrs := range d.deviceLogLines() {
		d.log.Info("device", attrs...)
	}
}

// deviceLogLines are the attributes of the status tick's line per device
// that has read something: the last value rounded to the device's
// precision (or its unit's resolution).
func (d *daemon) deviceLogLines() [][]any {
	set := d.devs.current()
	precision := make(map[string]*int, len(set.specs))
	for _, spec := range set.specs {
		precision[spec.cfg.Name] = spec.cfg.Precision
	}
	var lines [][]any
	for _, ds := range set.Poller().Stats() {
		if ds.Reads == 0 && ds.ReadErrors == 0 {
			continue
		}
		value := roundTo(ds.Last.Value, precisionFor(precision[ds.Name], ds.Last.Unit))
		lines = append(lines, []any{"device", ds.Name, "healthy", ds.Healthy, "metric", ds.Last.Metric, "value", value, "unit", ds.Last.Unit,
			"seq", ds.Last.Seq, "stored", ds.Stored, "errors", ds.ReadErrors + ds.AppendErrors})
	}
	return lines
}
