package main

import (
	"bytes"
	"context"
	"encoding/json"
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

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"status", api}, &out, &errb); code != 0 {
		t.Fatalf("edged status: exit %d: %s", code, errb.String())
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
	code := run(context.Background(), []string{"device", "set", api, "boiler", "on"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), `device "boiler" does not accept commands`) {
		t.Fatalf("device set on a sensor: exit %d, %q", code, errb.String())
	}
	code = run(context.Background(), []string{"device", "set", "--api=http://127.0.0.1:1", "boiler", "on"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "is edged running") {
		t.Fatalf("device set with no daemon: exit %d, %q", code, errb.String())
	}
}
