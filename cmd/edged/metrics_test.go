package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// scrape fetches /metrics and returns each sample's value by its name and
// labels as written ("edged_device_reads_total{device=\"boiler\"}").
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsNameTheWorkAndCountersMove(t *testing.T) {
	broker := mosquittotest.Start(t)
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-m}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
cloud: {url: %s}
devices:
  - {name: boiler, kind: sim, interval: 1ms}
`, dir, broker.URL())))
	defer stop()
	waitUntil(t, "deliveries", func() bool { return d.cloudStats().Delivered > 10 })
	first := scrape(t, d.api.Addr())
	// A sensor message on the local broker moves the local MQTT counters.
	if err := mosquittoPub(t, d.broker.Addr(), "", "-t", "anything/else", "-m", "1", "-q", "1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "more reads", func() bool {
		return d.devs.current().Poller().Stats()[0].Reads > int64(first[`edged_device_reads_total{device="boiler"}`])+20
	})
	second := scrape(t, d.api.Addr())

	for _, name := range []string{
		"edged_outbox_readings", "edged_outbox_bytes", "edged_outbox_oldest_age_seconds", "edged_outbox_dropped_total",
		"edged_outbox_appended_total", "edged_outbox_acked_total", "edged_outbox_append_errors_total", "edged_outbox_commits_total",
		"edged_outbox_last_commit_seconds", `edged_device_healthy{device="boiler"}`, `edged_device_read_errors_total{device="boiler"}`,
		`edged_device_readings_refused_total{device="boiler"}`, "edged_uplink_reconnects_total", "edged_uplink_publish_errors_total",
		"edged_forwarder_failures_total", `edged_commands_total{result="executed"}`, "go_goroutines", "process_resident_memory_bytes",
	} {
		if _, ok := second[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	for _, name := range []string{`edged_device_reads_total{device="boiler"}`, `edged_device_readings_stored_total{device="boiler"}`,
		"edged_outbox_appended_total", "edged_outbox_acked_total", "edged_uplink_published_total", "edged_forwarder_delivered_readings_total",
		"edged_outbox_commit_duration_seconds_count", "edged_uplink_publish_ack_duration_seconds_count",
		`edged_outbox_commit_duration_seconds_bucket{le="+Inf"}`, "edged_local_mqtt_received_total"} {
		if second[name] <= first[name] {
			t.Errorf("%s did not move: %v then %v", name, first[name], second[name])
		}
	}
	if second["edged_uplink_connected"] != 1 || second[`edged_device_healthy{device="boiler"}`] != 1 {
		t.Errorf("connected %v, healthy %v", second["edged_uplink_connected"], second[`edged_device_healthy{device="boiler"}`])
	}
}
