package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatusAndDeviceSetTalkToTheRunningDaemon runs `edged status` and
// `edged device set` against an in-process daemon's local API.
func TestStatusAndDeviceSetTalkToTheRunningDaemon(t *testing.T) {
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, "gateway: {id: gw-api}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: "+dir+`
devices:
  - {name: boiler, kind: sim, interval: 1ms, options: {metric: temperature, unit: C, waveform: constant, min: 71.5}}
`))
	defer stop()
	waitUntil(t, "the API", func() bool { return d.api != nil })
	waitUntil(t, "readings", func() bool { return d.outbox.Stats().Depth > 5 })
	api := "--api=http://" + d.api.Addr()
	waitUntil(t, "ready", func() bool {
		resp, err := http.Get("http://" + d.api.Addr() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"status", api}, &out, &errb); code != 0 {
		t.Fatalf("edged status: exit %d: %s", code, errb.String())
	}
	if !strings.HasSuffix(out.String(), "}\n") {
		t.Fatalf("edged status output does not end with a newline: %q", out.String()[max(0, out.Len()-20):])
	}
	var doc statusDoc
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, out.String())
	}
	if doc.Gateway != "gw-api" || doc.Outbox.Readings == 0 || doc.Cloud.Enabled || len(doc.Devices) != 1 {
		t.Fatalf("status %+v", doc)
	}
	dev := doc.Devices[0]
	if dev.Name != "boiler" || !dev.Healthy || dev.LastValue == nil || dev.LastValue.Value != 71.5 || dev.LastValue.Unit != "C" || dev.LastValue.Seq == 0 {
		t.Fatalf("device status %+v last %+v", dev, dev.LastValue)
	}

	out.Reset()
	errb.Reset()
	// Commands need the API token, even on loopback.
	code := run(context.Background(), []string{"device", "set", api, "--token-file=/nonexistent", "boiler", "on"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "--token-file") {
		t.Fatalf("device set without a readable token: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	t.Setenv("EDGED_TOKEN_FILE", "")
	t.Chdir(t.TempDir()) // no ./data/api.token to find
	code = run(context.Background(), []string{"device", "set", api, "boiler", "on"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "not authorized") {
		t.Fatalf("device set with no token: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	tokenFile := "--token-file=" + filepath.Join(dir, "api.token")
	code = run(context.Background(), []string{"device", "set", api, tokenFile, "boiler", "on"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), `device "boiler" does not accept commands`) {
		t.Fatalf("device set on a sensor: exit %d, %q", code, errb.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "api.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the API token file: %v, mode %v; want it created with mode 0600", err, fi.Mode().Perm())
	}

	// edged devices: the device with its latest reading per metric.
	out.Reset()
	if code := run(context.Background(), []string{"devices", api}, &out, &errb); code != 0 {
		t.Fatalf("edged devices: exit %d: %s", code, errb.String())
	}
	var devs struct {
		Devices []deviceDoc `json:"devices"`
	}
	if err := json.Unmarshal(out.Bytes(), &devs); err != nil || len(devs.Devices) != 1 {
		t.Fatalf("devices: %v %s", err, out.String())
	}
	if d0 := devs.Devices[0]; d0.Name != "boiler" || d0.Kind != "sim" || d0.Actuator || len(d0.Last) != 1 || d0.Last[0].Value != 71.5 || d0.Last[0].Seq == 0 {
		t.Fatalf("device %+v", d0)
	}
	// Recent readings, oldest first, with seqs.
	var rs struct {
		Readings []apiReading `json:"readings"`
	}
	if _, err := callAPI(context.Background(), "GET", "http://"+d.api.Addr()+"/api/v1/devices/boiler/readings", "", nil, &rs, apiTimeout); err != nil || len(rs.Readings) < 5 {
		t.Fatalf("readings: %v, %d", err, len(rs.Readings))
	}
	for i := 1; i < len(rs.Readings); i++ {
		if rs.Readings[i].Seq <= rs.Readings[i-1].Seq {
			t.Fatalf("readings out of order: %+v then %+v", rs.Readings[i-1], rs.Readings[i])
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"services", api}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"services": []`) {
		t.Fatalf("edged services: exit %d: %s %s", code, out.String(), errb.String())
	}
	code = run(context.Background(), []string{"device", "set", "--api=http://127.0.0.1:1", "boiler", "on"}, &out, &errb)
	if code != exitUnreachable || !strings.Contains(errb.String(), "is edged running") {
		t.Fatalf("device set with no daemon: exit %d, %q", code, errb.String())
	}
}

// TestCLIReadsTheDaemonConfig: with --config (or $EDGED_CONFIG) the CLI
// takes the API address from http.listen and the token from
// http.token_file or data_dir/api.token; explicit flags still win.
func TestCLIReadsTheDaemonConfig(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "gwdata")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, tokenFileName), []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, "http: {listen: 0.0.0.0:18123, token_file: \"\"}\ndata_dir: "+data+"\ndevices: []\n")
	resolved := func(args ...string) (string, string, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		api := apiFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		err := api.resolve()
		return *api.base, *api.tokenFile, err
	}
	t.Setenv("EDGED_CONFIG", "")
	if base, tf, err := resolved("--config", cfg); err != nil || base != "http://127.0.0.1:18123" || tf != filepath.Join(data, tokenFileName) {
		t.Fatalf("--config: base %q token %q err %v", base, tf, err)
	}
	t.Setenv("EDGED_CONFIG", cfg)
	if base, tf, err := resolved("--api", "http://127.0.0.1:9"); err != nil || base != "http://127.0.0.1:9" || tf != filepath.Join(data, tokenFileName) {
		t.Fatalf("$EDGED_CONFIG with --api: base %q token %q err %v", base, tf, err)
	}
	if _, _, err := resolved("--config", filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("missing config: %v", err)
	}
	off := writeConfig(t, t.TempDir(), "http: {listen: \"\"}\ndevices: []\n")
	if _, _, err := resolved("--config", off); err == nil || !strings.Contains(err.Error(), "serves no local API") {
		t.Fatalf("http off: %v", err)
	}
}
