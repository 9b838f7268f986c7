package main

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edged-gateway/edged/drivers/mqttsensor"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// TestHealthDocumentIsBounded: the retained health document goes to the
// cloud broker, whose maximum packet size may be small (a 3.1.1 broker
// drops the connection on a bigger packet, and the readings wait): long
// error texts are cut and the per-sensor metric lists (up to 1024 each)
// left out, while edged status keeps them whole.
func TestHealthDocumentIsBounded(t *testing.T) {
	long := strings.Repeat("é", 5000) // 10 KB, 2-byte runes: the cut must not split one
	doc := statusDoc{Gateway: "gw", Plan: planStatus{Error: long}, Cloud: cloudStatus{LastError: long}}
	for range 50 {
		doc.Devices = append(doc.Devices, deviceStatus{Name: "d", LastError: long})
		doc.Services = append(doc.Services, supervisor.Status{Name: "s", LastError: long})
	}
	sensor := sensorStatus{Name: "lan", Topic: "sensors/+device/+metric"}
	for range 1024 {
		sensor.Metrics = append(sensor.Metrics, mqttsensor.MetricInfo{Device: "a-device-name", Metric: "a-metric-name", Unit: "C"})
	}
	doc.LocalMQTT.Sensors = []sensorStatus{sensor}
	full, _ := json.Marshal(doc)

	h := healthDoc(doc)
	b, _ := json.Marshal(h)
	// 50 devices and 50 services with a cut error each, and no metric list.
	if limit := 102 * (maxHealthError + 400); len(b) > limit {
		t.Fatalf("health document %d bytes (the status document is %d), want at most %d", len(b), len(full), limit)
	}
	for _, s := range []string{h.Plan.Error, h.Cloud.LastError, h.Devices[49].LastError, h.Services[0].LastError} {
		if len(s) > maxHealthError || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
			t.Fatalf("error cut to %d bytes, valid UTF-8 %v: %.20q…", len(s), utf8.ValidString(s), s)
		}
	}
	if h.LocalMQTT.Sensors[0].Metrics != nil || h.LocalMQTT.Sensors[0].Name != "lan" {
		t.Fatalf("sensor in the health document: %+v", h.LocalMQTT.Sensors[0].Name)
	}
	// The status document itself is untouched.
	if doc.Devices[0].LastError != long || len(doc.LocalMQTT.Sensors[0].Metrics) != 1024 || doc.Services[0].LastError != long {
		t.Fatal("healthDoc changed the status document it was given")
	}
	if short := "no ACK"; cutError(short) != short {
		t.Fatalf("a short error was changed: %q", cutError(short))
	}
}
