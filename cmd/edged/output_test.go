package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/runtime/dataplane"
	"github.com/edged-gateway/edged/runtime/localapi"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/supervisor"
	"github.com/edged-gateway/edged/sync/broker"
	"github.com/edged-gateway/edged/sync/outbox"
)

// cannedNow is the time the canned documents are read at.
var cannedNow = time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)

// cannedAPI serves canned documents (the daemon's own types) through the
// real local API handler on a loopback port, and returns its URL.
func cannedAPI(t *testing.T) string {
	t.Helper()
	ago := func(d time.Duration) time.Time { return cannedNow.Add(-d) }
	services := []supervisor.Status{
		{Name: "stats", State: "running", Pid: 4242, Restarts: 1, Healthy: true, Budget: supervisor.BudgetDoc{MemoryBytes: 64 << 20, CPU: 0.5, Pids: 32},
			Enforcement: "cgroup2", RSS: 11_534_336, PeakRSS: 12_582_912, CPUPercent: 1.6500000000000001, Since: ago(3*time.Hour + 25*time.Minute), Subscribe: []string{"*"}},
		{Name: "rules", State: "failed", Restarts: 5, HealthDetail: "no answer", LastError: "exit status 2", LastErrorAt: ago(90 * time.Second),
			Since: ago(80 * time.Second), Subscribe: []string{"boiler/temperature"}},
	}
	status := statusDoc{Gateway: "gw-porch", Version: "v1.4.0", Arch: "linux/arm64", Board: "sim", Plan: planStatus{Version: 7, State: "rolled_back", Latest: 10, Error: "start rules: exit status 2"},
		UptimeS: 93784.5,
		Cloud: cloudStatus{URL: "mqtts://cloud.example:8883", Enabled: true, Connected: true, Delivered: 123456, DeadLetters: 2,
			LastError: "connection reset by peer", LastErrorAt: ago(5 * time.Minute), LastErrorRecoveredAt: ago(4*time.Minute + 50*time.Second)},
		Outbox: outboxStatus{Readings: 1520, Bytes: 851968, OldestAgeS: 12.345, NextSeq: 99, Epoch: "e1",
			Cursors: []outbox.CursorStats{{Name: "route:cloud", Next: 99, Acked: 97}, {Name: "route:historian", Next: 1, Lag: 98}, {Name: "service:stats", Next: 90, Lag: 9, Acked: 89}}},
		Routes: []routeStatus{{Name: "cloud", To: "cloud", Priority: 5, Delivered: 123456},
			{Name: "historian", To: "http", Priority: 5, Lag: 98, Failures: 4, LastError: "post 812 bytes to http://127.0.0.1:8086/api/v2/write: dial tcp 127.0.0.1:8086: connection refused", LastErrorAt: ago(10 * time.Second)}},
		ServiceFeeds: []dataplane.FeedStats{{Service: "stats", Delivered: 89, Acked: 89, Lag: 9, MaxLag: 10000}},
		Devices: []deviceStatus{
			{Name: "boiler", Healthy: true, Simulated: true, Reads: 5000, Stored: 5000, LastValue: &lastReading{Metric: "temperature", Value: 19.950983468089202, Unit: "C", Time: ago(1500 * time.Millisecond), Seq: 98}},
			{Name: "porch", Healthy: false, Reads: 40, Errors: 3, LastError: "read: i2c1 0x76: no answer", LastErrorAt: ago(20 * time.Second)},
		},
		Commands: commandStatus{}, Services: services,
		LocalMQTT: localMQTTStatus{Mode: "embedded", Addr: "127.0.0.1:1883", Connected: true, Broker: &broker.Stats{Clients: 3, Received: 812},
			Sensors: []sensorStatus{{Name: "sensors", Topic: "sensors/+device/+metric", Messages: 812, Readings: 810, Malformed: 2}}},
	}
	devices := devicesList{Devices: []deviceDoc{
		{Name: "boiler", Kind: "sim", Healthy: true, Simulated: true, Reads: 5000, Stored: 5000, Last: []apiReading{
			{Metric: "temperature", Value: 19.950983468089202, Unit: "C", Time: ago(1500 * time.Millisecond), Seq: 98},
			{Metric: "voltage", Value: 1.6500000000000001, Unit: "V", Time: ago(1500 * time.Millisecond), Seq: 97}}},
		{Name: "fan", Kind: "relay", Healthy: true, Actuator: true, Last: []apiReading{}},
		{Name: "porch", Kind: "bme280", Healthy: false, Reads: 40, Errors: 3, LastError: "read: i2c1 0x76: no answer", LastErrorAt: ago(20 * time.Second), Last: []apiReading{}},
	}}
	plan := orchestrator.Status{Version: 10, State: "rolled_back", Applied: 7, KeyID: "k1a2b3", Source: "api", Error: "start rules: exit status 2",
		Steps:   []orchestrator.Step{{Name: "verify", State: "ok", MS: 1.25}, {Name: "fetch rules", State: "ok", MS: 310, Detail: "2.0 MiB"}, {Name: "start rules", State: "failed", MS: 5012.5, Detail: "exit status 2"}},
		Started: ago(time.Hour)}
	srv := httptest.NewServer(localapi.New(localapi.Config{
		Status: func() any { return status }, Devices: func() any { return devices },
		Services: func() any { return servicesList{Services: services} }, Plan: func() any { return plan },
		Ready: func() bool { return true },
	}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestReadCommandsOutput runs each read command against the canned API:
// -o table and -o yaml match their goldens (testdata/cli, -update rewrites
// them), -o json and the default for a pipe are the API's JSON unchanged.
func TestReadCommandsOutput(t *testing.T) {
	url := cannedAPI(t)
	defer func(f func() time.Time) { cliNow = f }(cliNow)
	cliNow = func() time.Time { return cannedNow }
	for _, c := range []struct {
		name string
		args []string
		path string
	}{
		{"status", []string{"status"}, "/api/v1/status"},
		{"devices", []string{"devices"}, "/api/v1/devices"},
		{"services", []string{"services"}, "/api/v1/services"},
		{"plan-status", []string{"plan", "status"}, "/api/v1/plan"},
	} {
		t.Run(c.name, func(t *testing.T) {
			edged := func(extra ...string) string {
				t.Helper()
				var out, errb bytes.Buffer
				args := append(append(append([]string{}, c.args...), "--api", url), extra...)
				if code := run(context.Background(), args, &out, &errb); code != 0 {
					t.Fatalf("edged %v: exit %d: %s", args, code, errb.String())
				}
				return out.String()
			}
			matchGolden(t, filepath.Join("testdata", "cli", c.name+".table.golden"), []byte(edged("-o", "table")))
			y := edged("--output", "yaml")
			matchGolden(t, filepath.Join("testdata", "cli", c.name+".yaml.golden"), []byte(y))

			resp, err := http.Get(url + c.path)
			if err != nil {
				t.Fatal(err)
			}
			api, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.HasSuffix(api, []byte("\n")) {
				api = append(api, '\n')
			}
			if got := edged("-o", "json"); got != string(api) {
				t.Fatalf("-o json is not the API's answer:\n%s\nwant\n%s", got, api)
			}
			if got := edged(); got != string(api) {
				t.Fatalf("without -o, on a pipe: not the API's JSON:\n%s", got)
			}
			// The YAML holds the same document as the JSON.
			var fromJSON, fromYAML any
			json.Unmarshal(api, &fromJSON)
			if err := yaml.Unmarshal([]byte(y), &fromYAML); err != nil {
				t.Fatalf("-o yaml does not parse: %v", err)
			}
			if !sameDoc(fromJSON, fromYAML) {
				t.Fatalf("-o yaml differs from the JSON:\n%s", y)
			}
		})
	}
}

// sameDoc compares a JSON-decoded and a YAML-decoded document, numbers as
// float64.
func sameDoc(j, y any) bool {
	b, err := json.Marshal(y)
	if err != nil {
		return false
	}
	var y2 any
	json.Unmarshal(b, &y2)
	return reflect.DeepEqual(j, y2)
}

// TestHardwareOutput: edged hardware's table and YAML for a canned report
// match their goldens, and -o json is its document.
func TestHardwareOutput(t *testing.T) {
	doc := hardwareDoc{Board: "Raspberry Pi 4 Model B", Loaded: []string{"bcm283x-gpio", "sysfs-i2c"},
		Failed:  []driverIssue{{Name: "sysfs-spi", Reason: "open /dev/spidev0.0: permission denied"}},
		Skipped: []driverIssue{{Name: "sysfs-led", Reason: "no LED found"}},
		I2C:     []string{"/dev/i2c-1"}, SPI: []string{}, GPIO: []string{"GPIO2", "GPIO3", "GPIO17"},
		Uses: boardChoice{Board: "sim", Reason: "hardware.board is sim", Chips: []simChip{{Kind: "bme280", Bus: "i2c1", Address: 0x76}, {Kind: "mcp3008", Bus: "spi0.0"}}, Pins: []string{"GPIO17"}}}
	raw, _ := json.MarshalIndent(doc, "", "  ")
	for _, f := range []string{outTable, outYAML} {
		var out bytes.Buffer
		if err := writeDoc(&out, f, raw, hardwareTable); err != nil {
			t.Fatal(err)
		}
		matchGolden(t, filepath.Join("testdata", "cli", "hardware."+f+".golden"), out.Bytes())
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"hardware", "--config", "../../examples/sim-board.yaml", "-o", "json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got hardwareDoc
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Uses.Board != "sim" || len(got.Uses.Chips) == 0 {
		t.Fatalf("hardware -o json: %v %s", err, out.String())
	}
}

// TestExitCodes: one command per documented exit code class.
func TestExitCodes(t *testing.T) {
	url := cannedAPI(t)
	dir := t.TempDir()
	bad := writeConfig(t, dir, "devices: [{name: x, kind: bme28}]\n")
	t.Setenv("EDGED_CONFIG", "")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "--api", url, "-o", "json"}, exitOK, ""},
		{[]string{"config", "check", bad}, exitFailure, "bme280"},
		{[]string{"status", "--config", bad}, exitFailure, "--config"},
		{[]string{"plan", "status", "--api", url + "/nothing-here"}, exitFailure, "HTTP 404"},
		{[]string{"statsu"}, exitUsage, `did you mean "status"?`},
		{[]string{"status", "--confg", "x.yaml"}, exitUsage, "unknown flag --confg (did you mean --config?)"},
		{[]string{"devices", "-o", "jsn"}, exitUsage, `want table, json or yaml (did you mean "json"?)`},
		{[]string{"plan", "stauts"}, exitUsage, `did you mean "status"?`},
		{[]string{"plan", "apply", "--tiemout", "1s", "x"}, exitUsage, "did you mean --timeout?"},
		{[]string{"device", "sett", "fan", "on"}, exitUsage, `did you mean "set"?`},
		{[]string{"service", "restat", "x"}, exitUsage, `did you mean "restart"?`},
		{[]string{"hardware", "--cnfig", "x"}, exitUsage, "did you mean --config?"},
		{[]string{"run", "--confi", "x"}, exitUsage, "did you mean --config?"},
		{[]string{"completion", "bsh"}, exitUsage, `did you mean "bash"?`},
		{[]string{"status", "--api", "http://127.0.0.1:1"}, exitUnreachable, "is edged running"},
		{[]string{"devices", "--api", "http://127.0.0.1:1"}, exitUnreachable, "is edged running"},
		{[]string{"plan", "status", "--api", "http://127.0.0.1:1"}, exitUnreachable, "is edged running"},
		{[]string{"device", "set", "--api", "http://127.0.0.1:1", "fan", "on"}, exitUnreachable, "is edged running"},
		{[]string{"service", "restart", "--api", "http://127.0.0.1:1", "stats"}, exitUnreachable, "is edged running"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Fatalf("exit %d (want %d): %s%s\nwant it to contain %q", code, tc.code, out.String(), errb.String(), tc.want)
			}
			if tc.code == exitUsage && strings.Count(errb.String(), "\n") > 3 {
				t.Fatalf("a usage error printed %d lines; want a short hint:\n%s", strings.Count(errb.String(), "\n"), errb.String())
			}
		})
	}
	// edged help documents every code.
	var out bytes.Buffer
	run(context.Background(), []string{"help"}, &out, &out)
	for _, c := range []string{"0  ok", "1  failure", "2  bad usage", "3  the daemon could not be reached"} {
		if !strings.Contains(out.String(), c) {
			t.Errorf("edged help does not document exit code %q", c)
		}
	}
}

// TestHumanUnits: durations, ages, bytes and values for people.
func TestHumanUnits(t *testing.T) {
	for d, want := range map[time.Duration]string{
		503 * time.Millisecond: "503ms", 4230 * time.Millisecond: "4.2s", 5*time.Minute + 3*time.Second: "5m3s",
		3*time.Hour + 5*time.Minute + 10*time.Second: "3h5m", 50 * time.Hour: "2d2h",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{512: "512 B", 851968: "832 KiB", 1536: "1.5 KiB", 64 << 20: "64 MiB", 3 << 30: "3 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{19.950983468089202: "19.951", 1.6500000000000001: "1.65", 71.5: "71.5", 1e6: "1000000", -0.0004: "-0"} {
		if got := humanNumber(v); got != want {
			t.Errorf("humanNumber(%v) = %q, want %q", v, got, want)
		}
	}
	if got := humanAge(time.Time{}, cannedNow); got != "-" {
		t.Errorf("no time: %q", got)
	}
}

// FuzzJSONToYAML: any JSON document converts to YAML that holds the same
// document; anything else is an error, never a panic.
func FuzzJSONToYAML(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5,"x",true,null,{}],"b":"on","c":"123","d":"a: b\nc"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		y, err := jsonToYAML(data)
		var j any
		if json.Unmarshal(data, &j) != nil {
			return // not JSON (or numbers beyond float64): an error or some output, no panic
		}
		if err != nil {
			if strings.Contains(err.Error(), "nested deeper") {
				return
			}
			t.Fatalf("valid JSON %q: %v", data, err)
		}
		var back any
		if err := yaml.Unmarshal(y, &back); err != nil {
			t.Fatalf("YAML of %q does not parse: %v\n%s", data, err, y)
		}
		if !sameDoc(j, back) {
			t.Fatalf("YAML of %q holds another document:\n%s", data, y)
		}
	})
}
