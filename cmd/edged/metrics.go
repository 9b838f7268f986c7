package main

import (
	"net/http"
	goruntime "runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edged-gateway/edged/runtime/gauges"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// MetricsConfig is the metrics block: what /metrics shows beyond edged's
// own counters.
type MetricsConfig struct {
	// DeviceGauges shows the last value of every device metric as
	// edged_device_value{device,metric,unit}; default false.
	DeviceGauges bool `yaml:"device_gauges"`
	// MaxSeries bounds those series; a reading of a series past it is
	// counted in edged_device_value_dropped_total. Default 1000.
	MaxSeries int `yaml:"max_series"`
}

func defaultMetrics() MetricsConfig { return MetricsConfig{MaxSeries: gauges.DefaultMaxSeries} }

// validateMetrics checks metrics.*.
func (c *Config) validateMetrics(errs interface {
	Add(path, format string, args ...any)
}) {
	if m := c.Metrics.MaxSeries; m < 0 || m > 100000 {
		errs.Add("metrics.max_series", "%d is out of range: use 1 to 100000 (default 1000); each series is one line of /metrics", m)
	}
}

// metricsHandler serves the daemon's metrics in the Prometheus format: the
// parts' own counters read at scrape time (nothing is added to hot paths),
// and the Go runtime and process collectors.
func (d *daemon) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), daemonCollector{d})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// daemonCollector turns the daemon's Stats into metrics.
type daemonCollector struct{ d *daemon }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("edged_"+name, help, labels, nil)
}

var (
	mOutboxReadings   = desc("outbox_readings", "Readings stored in the outbox, waiting for the cloud.")
	mOutboxBytes      = desc("outbox_bytes", "Bytes of readings stored in the outbox (counted against outbox.max_bytes).")
	mOutboxOldest     = desc("outbox_oldest_age_seconds", "Age of the oldest reading in the outbox; 0 when empty.")
	mOutboxDropped    = desc("outbox_dropped_total", "Readings dropped by the outbox caps (bytes or age), over the file's life.")
	mOutboxAppended   = desc("outbox_appended_total", "Readings made durable since start.")
	mOutboxAcked      = desc("outbox_acked_total", "Readings deleted after the cloud acknowledged them, since start.")
	mOutboxAppendErrs = desc("outbox_append_errors_total", "Appends that failed (e.g. disk full) since start.")
	mOutboxCommits    = desc("outbox_commits_total", "Outbox write transactions (each one fsync) since start.")
	mOutboxLastCommit = desc("outbox_last_commit_seconds", "Duration of the last outbox commit, fsync included.")
	mOutboxRecovered  = desc("outbox_recovered", "1 when the outbox file was damaged at start, moved aside and a new epoch started (see /api/v1/status outbox.recovered).")
	mPlanRecovered    = desc("plan_store_recovered", "1 when plans.db was damaged at start and moved aside (see /api/v1/status plan.recovered).")
	mOutboxFailed     = desc("outbox_failed", "1 when a commit failed and the outbox refuses appends until edged restarts.")

	mDeviceReads     = desc("device_reads_total", "Successful reads of a device.", "device")
	mDeviceReadErrs  = desc("device_read_errors_total", "Failed reads of a device (bus errors, CRC failures, timeouts).", "device")
	mDeviceStored    = desc("device_readings_stored_total", "Readings of a device made durable.", "device")
	mDeviceRefused   = desc("device_readings_refused_total", "Readings of a device the outbox refused (lost).", "device")
	mDeviceHealthy   = desc("device_healthy", "1 when the device's last read succeeded.", "device")
	mModbusRequests  = desc("modbus_requests_total", "Requests a modbus device sent (reads and writes).", "device")
	mModbusErrors    = desc("modbus_errors_total", "Failed modbus requests by kind: exception, timeout, crc, protocol, connection.", "device", "kind")
	mModbusSplits    = desc("modbus_read_splits_total", "Joined reads a modbus device refused (illegal data address) and the driver split.", "device")
	mUplinkConnected = desc("uplink_connected", "1 when connected to the cloud broker.")
	mUplinkReconn    = desc("uplink_reconnects_total", "Connections to the cloud broker after the first.")
	mUplinkPublished = desc("uplink_published_total", "Messages the cloud broker acknowledged.")
	mUplinkPubErrs   = desc("uplink_publish_errors_total", "Publishes that failed.")
	mFwdDelivered    = desc("forwarder_delivered_readings_total", "Readings delivered to the cloud (acknowledged).")
	mFwdFailures     = desc("forwarder_failures_total", "Delivery interruptions, each followed by a resend from the oldest reading.")
	mCommands        = desc("commands_total", "Actuator commands by outcome.", "result")

	mLocalClients     = desc("local_mqtt_clients", "Clients connected to the embedded broker.")
	mLocalReceived    = desc("local_mqtt_received_total", "Publishes the embedded broker received from clients.")
	mLocalRouted      = desc("local_mqtt_sensor_messages_total", "Publishes on sensor topics by outcome: stored (durable), declined (acknowledged with readings refused for good: malformed, a refused time; MQTT 5 acks carry the reason), refused (not stored, the client resends), busy (QoS 0 dropped, queue full).", "result")
	mLocalRateLimit   = desc("local_mqtt_rate_limit_per_second", "Publishes per second one client may make (local_mqtt.rate_limit); 0 is no limit.")
	mLocalRateLimited = desc("local_mqtt_rate_limited_total", "Publishes over a client's rate limit: dropped (QoS 0) or delayed (QoS 1/2).", "action")
	mLocalAuth        = desc("local_mqtt_connections_total", "Connection attempts by outcome.", "result")
	mLocalLimited     = desc("local_mqtt_limited_total", "Connections, packets and publishes refused by local_mqtt.limits, by limit: packet_too_large, max_connections, max_connections_per_address, connect_timeout, retained, subscriptions, queued, login_backoff.", "limit")
	mLocalRetained    = desc("local_mqtt_retained_messages", "Retained messages the embedded broker holds (local_mqtt.limits.retained.max_messages).")
	mLocalRetainedB   = desc("local_mqtt_retained_bytes", "Bytes of retained messages held (local_mqtt.limits.retained.max_bytes).")
	mLocalACLDenied   = desc("local_mqtt_acl_denied_total", "Publishes, subscriptions and deliveries the ACL denied.")
	mSensorMessages   = desc("sensor_messages_total", "Messages an mqttsensor device decoded or refused.", "device")
	mSensorReadings   = desc("sensor_readings_total", "Readings an mqttsensor device decoded.", "device")
	mSensorMalformed  = desc("sensor_malformed_total", "Messages an mqttsensor device refused for their payload or topic, by the device the topic names (_other past 256 names).", "device", "topic_device")
	mSensorMissing    = desc("sensor_missing_total", "Fields an mqttsensor device found absent or null and skipped (options.missing: skip), by metric (_other past 256 names).", "device", "metric")
	mSensorCollided   = desc("sensor_collided_total", "Readings an mqttsensor device decoded for a device name another sensor owns, refused.", "device")
	mIngestQueued     = desc("ingest_queued", "Pushed readings (MQTT sensors) waiting to be stored.")
	mIngestStored     = desc("ingest_readings_stored_total", "Pushed readings (MQTT sensors) made durable.")
	mIngestRestamped  = desc("ingest_restamped_time_total", "Pushed readings whose time would be refused, stored with the receive time instead (mqttsensor bad_time: receive), by device.", "device")
	mIngestRefused    = desc("ingest_refused_time_total", "Pushed readings refused for their time (unstorable, beyond outbox.max_future, older than outbox.max_age), by device.", "device")
	mOutboxCommitLat  = desc("outbox_commit_duration_seconds", "Outbox commit durations, fsync included.")
	mUplinkAckLat     = desc("uplink_publish_ack_duration_seconds", "Time from publish to the cloud broker's acknowledgement.")

	mServiceUp       = desc("service_up", "1 when the service is running.", "service")
	mServiceRestarts = desc("service_restarts_total", "Times the service was started again after it stopped.", "service")
	mServiceRSS      = desc("service_memory_bytes", "Memory the service holds (cgroup charge, or RSS under rlimits).", "service")
	mServiceBudget   = desc("service_memory_budget_bytes", "The service's memory budget; 0 is none.", "service")
	mServiceCPU      = desc("service_cpu_cores", "CPU the service used over the last sample, in cores.", "service")
	mServiceOOM      = desc("service_oom_kills_total", "Times the service was killed for exceeding its memory budget.", "service")
	mDeadLetters     = desc("deadletters_stored", "Dead letters kept now in data_dir/deadletters.db (read from the file at start: it survives restarts).")
	mDeadLettered    = desc("deadletters_added_total", "Readings a destination refused for good, moved to the dead letters since start, by route (at most 64 routes named, the rest under _other).", "route")
	mDeadLetterRepl  = desc("deadletters_replayed_total", "Dead letters replayed to the outbox (edged deadletters replay, the API, the console) since start.")
	mDeadLetterDrop  = desc("deadletters_dropped_total", "Dead letters deleted since start, by reason: operator (edged deadletters drop, the API, the console), cap (the oldest, past cloud.dead_letters).", "reason")
	mServiceTooDeep  = desc("service_chain_too_deep_total", "Readings not handed to the service because their service chain had reached service_chain.max_depth.", "service")
	mServiceDropped  = desc("service_dropped_batches_total", "Reading batches not delivered because the service was behind.", "service")
	mServiceLogDrop  = desc("service_log_dropped_lines_total", "Output lines of the service dropped: over log.services.lines_per_second or bytes_per_second.", "service")
	mRouteDelivered  = desc("route_delivered_readings_total", "Readings the route's destination acknowledged, since start.", "route", "to")
	mRouteFailures   = desc("route_failures_total", "Deliveries of the route that failed (each retried from its oldest unacknowledged reading, with back-off), since start.", "route", "to")
	mRouteExpired    = desc("route_expired_total", "Readings past the route's ttl, moved to the dead letters, since start.", "route", "to")
	mRouteLag        = desc("route_lag_readings", "Readings the route's cursor has not passed yet (its backlog).", "route", "to")
	mCursorLag       = desc("log_cursor_lag_readings", "Readings a consumer of the log (route:NAME, service:NAME, republish) has not passed yet.", "cursor")
	mCursorDropped   = desc("log_cursor_dropped_total", "Readings the outbox caps deleted before this consumer read them (persisted).", "cursor")
	mFeedDelivered   = desc("service_feed_delivered_readings_total", "Readings handed to the service from its cursor, since start.", "service")
	mFeedSkipped     = desc("service_feed_skipped_for_lag_total", "Readings the service never got because it lagged more than its max_lag, since start.", "service")
	mPlanVersion     = desc("plan_version", "Version of the plan running now; 0 is the config file's devices and services.")
	mPlanState       = desc("plan_state", "1 for the state of the latest plan handled (applying, applied, rejected, rolled_back), 0 for the others.", "state")
)

var (
	mBuildInfo     = desc("build_info", "1, labelled with the build: edged's version, the Go version and the architecture.", "version", "goversion", "goarch")
	mDeviceValue   = desc("device_value", "The last value of a device metric (metrics.device_gauges), in its unit.", "device", "metric", "unit")
	mDeviceValueDr = desc("device_value_dropped_total", "Readings not shown as edged_device_value because metrics.max_series series exist already.")
	mHassDevices   = desc("home_assistant_devices", "Devices announced to Home Assistant.")
	mHassEntities  = desc("home_assistant_entities", "Sensors, switches and numbers announced to Home Assistant.")
	mHassCommands  = desc("home_assistant_commands_total", "Commands from Home Assistant by outcome: executed, failed (refused or failed), dropped (queue full or not a command).", "result")
	mHassDropped   = desc("home_assistant_not_announced_total", "Devices and metrics not announced, by reason: max_devices, max_entities, max_payload, invalid_name.", "reason")
)

// Describe sends every metric's description. It lists them rather than
// using prometheus.DescribeByCollect, which calls Collect at registration,
// before the daemon's parts exist.
func (daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mOutboxReadings, mOutboxBytes, mOutboxOldest, mOutboxDropped, mOutboxAppended,
		mOutboxAcked, mOutboxAppendErrs, mOutboxCommits, mOutboxLastCommit, mOutboxRecovered, mOutboxFailed, mPlanRecovered, mDeviceReads, mDeviceReadErrs, mDeviceStored,
		mDeviceRefused, mDeviceHealthy, mUplinkConnected, mUplinkReconn, mUplinkPublished, mUplinkPubErrs, mFwdDelivered,
		mFwdFailures, mCommands, mLocalClients, mLocalReceived, mLocalRouted, mLocalRateLimit, mLocalRateLimited, mLocalAuth,
		mLocalLimited, mLocalRetained, mLocalRetainedB, mLocalACLDenied, mSensorMessages, mSensorReadings, mSensorMalformed, mSensorMissing, mSensorCollided, mIngestQueued, mIngestStored, mIngestRefused, mIngestRestamped, mOutboxCommitLat,
		mUplinkAckLat, mServiceUp, mServiceRestarts, mServiceRSS, mServiceBudget, mServiceCPU, mServiceOOM, mServiceDropped, mServiceTooDeep, mDeadLetters, mDeadLettered, mDeadLetterRepl, mDeadLetterDrop, mServiceLogDrop, mPlanVersion, mPlanState,
		mRouteDelivered, mRouteFailures, mRouteExpired, mRouteLag, mCursorLag, mCursorDropped, mFeedDelivered, mFeedSkipped,
		mBuildInfo, mDeviceValue, mDeviceValueDr, mHassDevices, mHassEntities, mHassCommands, mHassDropped} {
		ch <- d
	}
}

// Collect reads the parts' counters.
func (c daemonCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	gauge(mBuildInfo, 1, version, goruntime.Version(), goruntime.GOARCH)
	if d.gauges != nil {
		for _, s := range d.gauges.Series() {
			gauge(mDeviceValue, s.Value, s.Device, s.Metric, s.Unit)
		}
		counter(mDeviceValueDr, float64(d.gauges.Dropped()))
	}
	if d.hass != nil {
		hs := d.hass.Stats()
		gauge(mHassDevices, float64(hs.Devices))
		gauge(mHassEntities, float64(hs.Entities))
		counter(mHassCommands, float64(hs.Commands-hs.CommandErrors), "executed")
		counter(mHassCommands, float64(hs.CommandErrors), "failed")
		counter(mHassCommands, float64(hs.CommandsDropped), "dropped")
		counter(mHassDropped, float64(hs.DroppedDevices), "max_devices")
		counter(mHassDropped, float64(hs.DroppedEntities), "max_entities")
		counter(mHassDropped, float64(hs.Oversized), "max_payload")
		counter(mHassDropped, float64(hs.Invalid), "invalid_name")
	}
	st := d.outbox.Stats()
	gauge(mOutboxReadings, float64(st.Depth))
	gauge(mOutboxBytes, float64(st.Bytes))
	oldest := 0.0
	if !st.Oldest.IsZero() {
		oldest = time.Since(st.Oldest).Seconds()
	}
	gauge(mOutboxOldest, oldest)
	counter(mOutboxDropped, float64(st.Dropped))
	counter(mOutboxAppended, float64(st.Appended))
	counter(mOutboxAcked, float64(st.Acked))
	counter(mOutboxAppendErrs, float64(st.AppendErrors))
	counter(mOutboxCommits, float64(st.Commits))
	gauge(mOutboxLastCommit, st.LastCommit.Seconds())
	gauge(mOutboxRecovered, boolFloat(d.outbox.Recovery() != nil))
	gauge(mOutboxFailed, boolFloat(st.Failed != ""))
	gauge(mPlanRecovered, boolFloat(d.plans != nil && d.plans.recovered != nil))
	ch <- prometheus.MustNewConstHistogram(mOutboxCommitLat, st.CommitLatency.Count, st.CommitLatency.Sum, st.CommitLatency.Cumulative)
	for _, ds := range d.devs.current().Poller().Stats() {
		counter(mDeviceReads, float64(ds.Reads), ds.Name)
		counter(mDeviceReadErrs, float64(ds.ReadErrors), ds.Name)
		counter(mDeviceStored, float64(ds.Stored), ds.Name)
		counter(mDeviceRefused, float64(ds.AppendErrors), ds.Name)
		gauge(mDeviceHealthy, boolFloat(ds.Healthy), ds.Name)
	}
	for _, dev := range d.devs.current().Devices() {
		if m, ok := dev.Driver().(modbusStatser); ok { // nil (not opened yet) is no modbusStatser
			ms := m.Stats()
			counter(mModbusRequests, float64(ms.Requests), dev.Name())
			for kind, v := range map[string]int64{"exception": ms.Exceptions, "timeout": ms.Timeouts, "crc": ms.CRCErrors,
				"protocol": ms.ProtocolErrors, "connection": ms.ConnectionErrors} {
				counter(mModbusErrors, float64(v), dev.Name(), kind)
			}
			counter(mModbusSplits, float64(ms.Splits), dev.Name())
		}
	}
	if d.link != nil {
		ls := d.link.Stats()
		gauge(mUplinkConnected, boolFloat(ls.Connected))
		counter(mUplinkReconn, float64(ls.Reconnects))
		counter(mUplinkPublished, float64(ls.Published))
		counter(mUplinkPubErrs, float64(ls.PublishErrors))
		ch <- prometheus.MustNewConstHistogram(mUplinkAckLat, ls.AckLatency.Count, ls.AckLatency.Sum, ls.AckLatency.Cumulative)
		fs := d.cloudStats()
		counter(mFwdDelivered, float64(fs.Delivered))
		counter(mFwdFailures, float64(fs.Failures))
		dls := d.dead.Stats()
		gauge(mDeadLetters, float64(dls.Count))
		if _, ok := dls.AddedByRoute["cloud"]; !ok {
			dls.AddedByRoute["cloud"] = 0 // the cloud route is always there: its series starts at 0
		}
		for route, n := range dls.AddedByRoute {
			counter(mDeadLettered, float64(n), route)
		}
		counter(mDeadLetterRepl, float64(dls.Replayed))
		counter(mDeadLetterDrop, float64(dls.Removed), "operator")
		counter(mDeadLetterDrop, float64(dls.Dropped), "cap")
	}
	for _, r := range d.routeStatus() {
		counter(mRouteDelivered, float64(r.Delivered), r.Name, r.To)
		counter(mRouteFailures, float64(r.Failures), r.Name, r.To)
		counter(mRouteExpired, float64(r.Expired), r.Name, r.To)
		gauge(mRouteLag, float64(r.Lag), r.Name, r.To)
	}
	for _, cs := range d.outbox.Cursors() {
		gauge(mCursorLag, float64(cs.Lag), cs.Name)
		counter(mCursorDropped, float64(cs.Dropped), cs.Name)
	}
	if d.feeds != nil {
		for _, fs := range d.feeds.Stats() {
			counter(mFeedDelivered, float64(fs.Delivered), fs.Service)
			counter(mFeedSkipped, float64(fs.SkippedForLag), fs.Service)
		}
	}
	cs := d.exec.Stats()
	counter(mCommands, float64(cs.Executed), "executed")
	counter(mCommands, float64(cs.Failed), "failed")
	counter(mCommands, float64(cs.Rejected), "rejected")
	counter(mCommands, float64(cs.Duplicates), "duplicate")
	if b := d.broker; b != nil {
		bs := b.Stats()
		gauge(mLocalClients, float64(bs.Clients))
		counter(mLocalReceived, float64(bs.Received))
		counter(mLocalRouted, float64(bs.Durable), "stored")
		counter(mLocalRouted, float64(bs.Refused), "refused")
		counter(mLocalRouted, float64(bs.Declined), "declined")
		counter(mLocalRouted, float64(bs.Busy), "busy")
		gauge(mLocalRateLimit, bs.RateLimit)
		counter(mLocalRateLimited, float64(bs.RateDropped), "dropped")
		counter(mLocalRateLimited, float64(bs.RateDelayed), "delayed")
		counter(mLocalAuth, float64(bs.Auth.AuthOK), "accepted")
		counter(mLocalAuth, float64(bs.Auth.AuthRefused), "refused")
		counter(mLocalACLDenied, float64(bs.Auth.ACLDenied))
		lim := bs.Limits
		counter(mLocalLimited, float64(lim.PacketTooLarge), "packet_too_large")
		counter(mLocalLimited, float64(lim.OverMaxConnections), "max_connections")
		counter(mLocalLimited, float64(lim.OverConnectionsPerAddr), "max_connections_per_address")
		counter(mLocalLimited, float64(lim.ConnectTimeouts), "connect_timeout")
		counter(mLocalLimited, float64(lim.RetainedRefused), "retained")
		counter(mLocalLimited, float64(lim.SubscriptionsRefused), "subscriptions")
		counter(mLocalLimited, float64(lim.QueuedDropped), "queued")
		counter(mLocalLimited, float64(lim.OverReceiveMaximum), "receive_maximum")
		counter(mLocalLimited, float64(bs.Auth.BackoffRefused), "login_backoff")
		gauge(mLocalRetained, float64(bs.Retained))
		gauge(mLocalRetainedB, float64(lim.RetainedBytes))
	}
	if d.ingest != nil {
		is := d.ingest.Stats()
		gauge(mIngestQueued, float64(is.Queued))
		counter(mIngestStored, float64(is.Stored))
		for dev, r := range is.Refused {
			counter(mIngestRefused, float64(r.Readings), dev)
			counter(mIngestRestamped, float64(r.Restamped), dev)
		}
	}
	if d.sup != nil {
		for _, st := range d.sup.Status() {
			up := 0.0
			if st.State == supervisor.StateRunning {
				up = 1
			}
			gauge(mServiceUp, up, st.Name)
			counter(mServiceRestarts, float64(st.Restarts), st.Name)
			gauge(mServiceRSS, float64(st.RSS), st.Name)
			gauge(mServiceBudget, float64(st.Budget.MemoryBytes), st.Name)
			gauge(mServiceCPU, st.CPUPercent/100, st.Name)
			counter(mServiceOOM, float64(st.OOMKills), st.Name)
			counter(mServiceDropped, float64(st.Dropped), st.Name)
			counter(mServiceTooDeep, float64(st.TooDeep), st.Name)
			counter(mServiceLogDrop, float64(st.LogDropped), st.Name)
		}
	}
	if d.plans != nil {
		gauge(mPlanVersion, float64(d.plans.version()))
		latest := d.plans.statusDoc().State
		for _, state := range []string{orchestrator.StateApplying, orchestrator.StateApplied, orchestrator.StateRejected, orchestrator.StateRolledBack} {
			gauge(mPlanState, boolFloat(latest == state), state)
		}
	}
	for _, s := range d.sensorList() {
		st := s.Stats()
		counter(mSensorMessages, float64(st.Messages), s.Name())
		counter(mSensorReadings, float64(st.Readings), s.Name())
		for dev, n := range st.MalformedByDevice {
			counter(mSensorMalformed, float64(n), s.Name(), dev)
		}
		if st.MalformedOther > 0 {
			counter(mSensorMalformed, float64(st.MalformedOther), s.Name(), "_other")
		}
		for metric, n := range st.Missing {
			counter(mSensorMissing, float64(n), s.Name(), metric)
		}
		if st.MissingOther > 0 {
			counter(mSensorMissing, float64(st.MissingOther), s.Name(), "_other")
		}
		if d.sensors != nil {
			counter(mSensorCollided, float64(d.sensors.collisions(s.Name())), s.Name())
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
