package main

import (
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
)

// scrapeFamilies fetches /metrics and parses it with Prometheus' own text
// parser.
func scrapeFamilies(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// series maps each sample of a family by its labels, "k=v,k=v" in the
// order the family gives them.
func series(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		key := ""
		for i, l := range m.GetLabel() {
			if i > 0 {
				key += ","
			}
			key += l.GetName() + "=" + l.GetValue()
		}
		switch {
		case m.Gauge != nil:
			out[key] = m.GetGauge().GetValue()
		case m.Counter != nil:
			out[key] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestDeviceGaugesAndBuildInfo scrapes a running daemon: edged_build_info
// names the build; with metrics.device_gauges every device metric's last
// value is a gauge labelled device, metric and unit, up to
// metrics.max_series, past which readings are counted as dropped; a plan
// that removes a device removes its series; without the option there are
// none.
func TestDeviceGaugesAndBuildInfo(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := plan.GenerateKey()
	if err := plan.WritePublicKey(filepath.Join(dir, "ops.pub"), pub); err != nil {
		t.Fatal(err)
	}
	d, stop := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-prom}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s/data
plans: {trusted_keys: [%s/ops.pub]}
metrics: {device_gauges: true, max_series: 3}
devices:
  - {name: env, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: constant, min: 21.5, max: 21.5}}
  - {name: hum, kind: sim, interval: 20ms, options: {metric: humidity, unit: "%%", waveform: constant, min: 40, max: 40}}
  - {name: lan, kind: mqttsensor, options: {topic: sensors/+device/+metric, format: auto}}
`, dir, dir)))
	stop = sync.OnceValue(stop)
	defer stop()

	fams := scrapeFamilies(t, d.api.Addr())
	bi := fams["edged_build_info"]
	if bi.GetType() != dto.MetricType_GAUGE || len(bi.GetMetric()) != 1 {
		t.Fatalf("edged_build_info: %v", bi)
	}
	want := fmt.Sprintf("goarch=%s,goversion=%s,version=%s", runtime.GOARCH, runtime.Version(), version)
	if v, ok := series(bi)[want]; !ok || v != 1 {
		t.Fatalf("edged_build_info %v, want {%s} 1", series(bi), want)
	}

	var values map[string]float64
	waitUntil(t, "env and hum as gauges", func() bool {
		fams = scrapeFamilies(t, d.api.Addr())
		values = series(fams["edged_device_value"])
		return len(values) == 2
	})
	if fams["edged_device_value"].GetType() != dto.MetricType_GAUGE {
		t.Fatalf("edged_device_value is a %s", fams["edged_device_value"].GetType())
	}
	if values["device=env,metric=temperature,unit=C"] != 21.5 || values["device=hum,metric=humidity,unit=%"] != 40 {
		t.Fatalf("values %v", values)
	}

	// Two more series from the LAN: the third fits, the fourth is counted.
	for _, topic := range []string{"sensors/porch/temperature", "sensors/porch/pressure"} {
		if err := mosquittoPub(t, d.broker.Addr(), "", "-q", "1", "-t", topic, "-m", `{"value": 3, "unit": "hPa"}`); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "a dropped series counted", func() bool {
		fams = scrapeFamilies(t, d.api.Addr())
		return series(fams["edged_device_value_dropped_total"])[""] >= 1
	})
	if values = series(fams["edged_device_value"]); len(values) != 3 || values["device=porch,metric=temperature,unit=hPa"] != 3 {
		t.Fatalf("values at the cap: %v", values)
	}
	for k, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%s = %v", k, v)
		}
	}

	// A plan without hum: its series goes; the LAN's device stays.
	p := "version: 1\ngateway: {id: gw-prom}\ndevices:\n" +
		"  - {name: env, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: constant, min: 21.5, max: 21.5}}\n" +
		"  - {name: lan, kind: mqttsensor, options: {topic: sensors/+device/+metric, format: auto}}\n"
	if st := <-d.plans.orch.Submit(plan.Sign(priv, []byte(p)).Encode(), orchestrator.SourceAPI); st.State != orchestrator.StateApplied {
		t.Fatalf("plan: %s %s", st.State, st.Error)
	}
	values = series(scrapeFamilies(t, d.api.Addr())["edged_device_value"])
	if _, ok := values["device=hum,metric=humidity,unit=%"]; ok || len(values) != 2 {
		t.Fatalf("after the plan removed hum: %v", values)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Off by default: no device series, the build info still there.
	dir2 := t.TempDir()
	d, stop2 := startDaemon(t, writeConfig(t, dir2, fmt.Sprintf(`http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
data_dir: %s
devices: [{name: env, kind: sim, interval: 20ms}]
`, dir2)))
	defer stop2()
	waitUntil(t, "a reading", func() bool { return len(d.recent.Last("env")) > 0 })
	fams = scrapeFamilies(t, d.api.Addr())
	if _, ok := fams["edged_device_value"]; ok || fams["edged_build_info"] == nil {
		t.Fatalf("defaults: device_value %v, build_info %v", fams["edged_device_value"], fams["edged_build_info"])
	}
}
