package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/reading"
)

// TestDeadLetterMetrics scrapes a running daemon (cloud on a real
// mosquitto, cloud.dead_letters 2) and parses /metrics with Prometheus'
// own parser: before anything, every dead-letter series is 0; three
// readings dead-lettered through the forwarder's route adapter (two on the
// cloud route, one on a second route) leave 2 stored, added 2 and 1 by
// route, and the oldest dropped by the cap; a replay and a drop through
// the API (with the token, as the CLI and the console send them) count as
// replayed and dropped by the operator, and the stored gauge follows.
func TestDeadLetterMetrics(t *testing.T) {
	cloudBroker := mosquittotest.Start(t)
	dir := t.TempDir()
	d, stopDaemon := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-dlmetrics}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
cloud: {url: %s, dead_letters: 2}
`, dir, cloudBroker.URL())))
	stop := sync.OnceValue(stopDaemon)
	defer stop()

	type want struct {
		stored                 float64
		cloud, historian       float64 // added, by route
		replayed, oper, capped float64
	}
	check := func(step string, w want) {
		t.Helper()
		fams := scrapeFamilies(t, d.api.Addr())
		for name, typ := range map[string]dto.MetricType{"edged_deadletters_stored": dto.MetricType_GAUGE, "edged_deadletters_added_total": dto.MetricType_COUNTER,
			"edged_deadletters_replayed_total": dto.MetricType_COUNTER, "edged_deadletters_dropped_total": dto.MetricType_COUNTER} {
			if f := fams[name]; f == nil || f.GetType() != typ || f.GetHelp() == "" {
				t.Fatalf("%s: %s is %v, want a %s with help", step, name, f, typ)
			}
		}
		added := series(fams["edged_deadletters_added_total"])
		dropped := series(fams["edged_deadletters_dropped_total"])
		got := want{stored: series(fams["edged_deadletters_stored"])[""], cloud: added["route=cloud"], historian: added["route=historian"],
			replayed: series(fams["edged_deadletters_replayed_total"])[""], oper: dropped["reason=operator"], capped: dropped["reason=cap"]}
		if got != w {
			t.Errorf("%s: metrics %+v, want %+v (added %v, dropped %v)", step, got, w, added, dropped)
		}
		if w.historian == 0 && len(added) != 1 {
			t.Errorf("%s: added by route %v, want only cloud", step, added)
		}
	}
	check("at start", want{})

	deadLetter := func(route, metric string) {
		t.Helper()
		r := reading.Reading{Device: "porch", Metric: metric, Value: 1, Time: time.Now(), Seq: 7}
		if err := (deadLetters{d.dead, route}).DeadLetter(context.Background(), r, "refused: packet too large", 3); err != nil {
			t.Fatal(err)
		}
	}
	deadLetter("cloud", "a")     // id 1: dropped by the cap at the third
	deadLetter("cloud", "b")     // id 2
	deadLetter("historian", "c") // id 3
	check("after three dead letters with a cap of 2", want{stored: 2, cloud: 2, historian: 1, capped: 1})

	base := "http://" + d.api.Addr() + "/api/v1/deadletters/"
	if code, body := postDL(t, base+"replay", d.apiToken, `{"ids":[2]}`); code != 200 {
		t.Fatalf("replay 2: %d %s", code, body)
	}
	check("after a replay", want{stored: 1, cloud: 2, historian: 1, replayed: 1, capped: 1})
	if code, body := postDL(t, base+"drop", d.apiToken, `{"ids":[3]}`); code != 200 {
		t.Fatalf("drop 3: %d %s", code, body)
	}
	check("after a drop", want{stored: 0, cloud: 2, historian: 1, replayed: 1, oper: 1, capped: 1})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
