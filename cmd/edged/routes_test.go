package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
	"github.com/edged-gateway/edged/sync/outbox"
)

// httpSink is an HTTP endpoint in the test standing in for a historian:
// it records every reading a route POSTs (JSON batches) and checks the
// order per device as they arrive.
type httpSink struct {
	t        *testing.T
	mu       sync.Mutex
	seen     map[uint64]int
	last     map[string]uint64
	problems []string
	wake     chan struct{}
	srv      *http.Server
	addr     string
}

func newHTTPSink(t *testing.T) *httpSink {
	t.Helper()
	s := &httpSink{t: t, seen: map[uint64]int{}, last: map[string]uint64{}, wake: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *httpSink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var rs []struct {
		Seq    uint64 `json:"seq"`
		Device string `json:"device"`
	}
	if err := json.Unmarshal(body, &rs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, x := range rs {
		if s.seen[x.Seq] == 0 {
			if x.Seq < s.last[x.Device] {
				s.problems = append(s.problems, fmt.Sprintf("device %s: seq %d first arrived after %d", x.Device, x.Seq, s.last[x.Device]))
			}
			s.last[x.Device] = max(s.last[x.Device], x.Seq)
		}
		s.seen[x.Seq]++
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitAll waits until every seq 1..n has arrived (hang guard 90 s).
func (s *httpSink) waitAll(n uint64) {
	s.t.Helper()
	deadline := time.Now().Add(cloudWait)
	for {
		s.mu.Lock()
		ok := true
		for q := uint64(1); q <= n && ok; q++ {
			ok = s.seen[q] > 0
		}
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("http sink: timed out waiting for seqs 1..%d", n)
		}
		select {
		case <-s.wake:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *httpSink) check() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.problems {
		s.t.Error(p)
	}
}

// maxSeq is the highest seq the cloud side has seen.
func (c *cloud) maxSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var m uint64
	for s := range c.seen {
		m = max(m, s)
	}
	return m
}

// TestThreeRoutesOneDownTheOthersUnaffected: the cloud, a second
// mosquitto (site SCADA) and an HTTP historian each get every reading.
// The SCADA broker goes down for a while: the cloud and the historian keep
// receiving (hundreds of readings appended after it went down reach them),
// the SCADA route's cursor lags, and once the broker is back the route
// catches up, every seq in order per device, nothing lost on any route.
func TestThreeRoutesOneDownTheOthersUnaffected(t *testing.T) {
	cloudBroker := mosquittotest.Start(t)
	scadaBroker := mosquittotest.Start(t, mosquittotest.WithPersistence())
	hist := newHTTPSink(t)
	dir := t.TempDir()
	const gw = "gw-routes"
	cfg := fmt.Sprintf(`gateway: {id: %s}
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
data_dir: %s
cloud: {url: %s}
devices:
  - {name: porch, kind: sim, interval: 5ms, options: {metric: temperature, unit: C}}
  - {name: boiler, kind: sim, interval: 7ms, options: {metric: pressure, unit: bar}}
routes:
  - {name: scada, to: mqtt, topic_prefix: site, mqtt: {url: %s, backoff_min: 50ms, backoff_max: 200ms}, retry: {initial: 50ms, max: 200ms}}
  - {name: historian, to: http, http: {url: "http://%s/write"}}
`, gw, dir, cloudBroker.URL(), scadaBroker.URL(), hist.addr)
	cl := newCloud(t, cloudBroker.Addr(), "edged", gw)
	scada := newCloud(t, scadaBroker.Addr(), "site", gw)
	d, stopDaemon := startDaemon(t, writeConfig(t, dir, cfg))
	stop := sync.OnceValue(stopDaemon)
	defer stop()

	cl.waitAll(50)
	scada.waitAll(50)
	hist.waitAll(50)

	scadaBroker.Stop() // down; its session (and the watcher's) kept on disk
	down := cl.maxSeq()
	cur, err := d.outbox.Cursor(routeCursor("scada"))
	if err != nil {
		t.Fatal(err)
	}
	// The other two go on: readings appended after the SCADA broker went
	// down reach both, while the SCADA route falls behind.
	cl.waitAll(down + 400)
	hist.waitAll(down + 400)
	if lag := cur.Lag(); lag == 0 {
		t.Fatalf("the scada route's cursor does not lag while its broker is down (cloud at seq %d)", cl.maxSeq())
	}

	scadaBroker.Restart()
	back := cl.maxSeq()
	scada.waitAll(back) // caught up: every seq up to where the cloud was
	hist.waitAll(back)
	// Status and /metrics name each route with what it did. The scada
	// watcher may have seen readings whose PUBACK the stopped broker never
	// sent: the route counts them once it has sent them again.
	byName := map[string]routeStatus{}
	waitUntil(t, "the scada route to count its deliveries", func() bool {
		for _, r := range d.statusDoc().Routes {
			byName[r.Name] = r
		}
		return byName["scada"].Delivered >= int64(back) && byName["historian"].Delivered >= int64(back)
	})
	if r := byName["scada"]; r.To != "mqtt" || r.Failures == 0 || r.Delivered < int64(back) {
		t.Errorf("status of route scada %+v: want to mqtt, failures while its broker was down, at least %d delivered", r, back)
	}
	if r := byName["cloud"]; r.To != "cloud" || r.Failures != 0 || r.Delivered < int64(back) {
		t.Errorf("status of the cloud route %+v: want no failure and at least %d delivered", r, back)
	}
	m := scrape(t, d.api.Addr())
	if v := m[`edged_route_delivered_readings_total{route="historian",to="http"}`]; v < float64(back) {
		t.Errorf("edged_route_delivered_readings_total of historian = %v, want at least %d", v, back)
	}
	if _, ok := m[`edged_log_cursor_lag_readings{cursor="route:scada"}`]; !ok {
		t.Error("no edged_log_cursor_lag_readings for route:scada")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*cloud{"cloud": cl, "scada": scada} {
		if distinct, _ := c.check(); distinct < int(back) {
			t.Errorf("%s: %d distinct readings, want at least %d", name, distinct, back)
		}
	}
	hist.check()
}

// TestReadmeRoutesExampleChecks: the routes block of README's "Routes"
// section is a valid config (with a cloud), and every route in it builds.
func TestReadmeRoutesExampleChecks(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## Routes: more destinations than the cloud")
	if start < 0 {
		t.Fatal(`README has no "## Routes" section`)
	}
	i := strings.Index(text[start:], "\n```yaml\nroutes:\n")
	if i < 0 {
		t.Fatal("no routes yaml block in README's Routes section")
	}
	block := text[start+i+len("\n```yaml\n"):]
	block = block[:strings.Index(block, "\n```")]
	dir := t.TempDir()
	token := filepath.Join(dir, "influx.token") // the example's file, made here
	os.WriteFile(token, []byte("secret\n"), 0o600)
	block = strings.ReplaceAll(block, "/etc/edged/influx.token", token)
	cfg := fmt.Sprintf("gateway: {id: readme}\ndata_dir: %s\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\ncloud: {url: mqtt://127.0.0.1:1884}\n%s\n", dir, block)
	c, _, err := loadConfig(writeConfig(t, dir, cfg), builtinKinds())
	if err != nil {
		t.Fatalf("README's routes do not check:\n%v", err)
	}
	got := map[string]string{}
	for _, r := range routeConfigs(&c) {
		got[r.Name] = r.To
	}
	want := map[string]string{"scada": "mqtt", "historian": "http", "alerts": "cloud"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("routes %v, want %v (a route to the cloud replaces the default one)", got, want)
	}
}

// TestRouteConfigErrorsNameTheField: every problem of a routes list is
// reported at once, each with its path.
func TestRouteConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway: {id: bad}
data_dir: %s
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
routes:
  - {name: a, to: ftp}
  - {name: a, to: http, http: {url: "ftp://x"}, priority: 12, filter: {match: ["a/#/b"], simulated: maybe}}
  - {name: up, to: cloud}
  - {name: m, to: mqtt, http: {url: "http://127.0.0.1:1/x"}}
`, dir)
	_, _, err := loadConfig(writeConfig(t, dir, cfg), builtinKinds())
	if err == nil {
		t.Fatal("a broken routes list was accepted")
	}
	for _, want := range []string{"routes[0].to", "routes[1].name", "routes[1].http.url", "routes[1].priority", "routes[1].filter.match[0]", "routes[1].filter.simulated",
		"routes[2].to", "routes[3].mqtt", "routes[3].http"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %s:\n%v", want, err)
		}
	}
}

// TestServiceNameFitsItsCursor: a service's name names its cursor in the
// log (service:<name>, at most outbox.MaxCursorName bytes), so a longer
// name is refused at check, naming the field, instead of failing the
// start.
func TestServiceNameFitsItsCursor(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("s", outbox.MaxCursorName)
	cfg := fmt.Sprintf("gateway: {id: long}\ndata_dir: %s\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\nservices:\n  - {name: %s, kind: aggregate, subscribe: [\"#\"], config: {window: 1m}}\n", dir, long)
	_, _, err := loadConfig(writeConfig(t, dir, cfg), builtinKinds())
	if err == nil || !strings.Contains(err.Error(), "services[0].name") || !strings.Contains(err.Error(), "at most 56") {
		t.Fatalf("a %d-character service name: %v, want services[0].name refused with the limit", len(long), err)
	}
}

// TestPlanAddsARoute: a plan's routes section starts a route (its step
// says so) that delivers from the oldest stored reading; the next plan,
// without the section, has the config file's routes (none here): the
// route stops and its cursor no longer holds readings back.
func TestPlanAddsARoute(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := plan.GenerateKey()
	if err := plan.WritePublicKey(filepath.Join(dir, "ops.pub"), pub); err != nil {
		t.Fatal(err)
	}
	hist := newHTTPSink(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-plan-route}
data_dir: %s/data
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
plans: {trusted_keys: [%s/ops.pub]}
devices:
  - {name: porch, kind: sim, interval: 10ms, options: {metric: temperature, unit: C}}
`, dir, dir))
	d, stopDaemon := startDaemon(t, cfg)
	stop := sync.OnceValue(stopDaemon)
	defer stop()
	waitUntil(t, "a backlog", func() bool { return d.outbox.Stats().NextSeq > 50 })
	devices := "gateway: {id: gw-plan-route}\ndevices:\n  - {name: porch, kind: sim, interval: 10ms, options: {metric: temperature, unit: C}}\n"
	route := fmt.Sprintf("routes:\n  - {name: historian, to: http, http: {url: \"http://%s/write\"}}\n", hist.addr)
	st := <-d.plans.orch.Submit(plan.Sign(priv, []byte("version: 1\n"+devices+route)).Encode(), orchestrator.SourceAPI)
	if st.State != orchestrator.StateApplied {
		t.Fatalf("plan 1: %s %s %+v", st.State, st.Error, st.Steps)
	}
	if !strings.Contains(stepDetail(st, "sync"), "routes: started [historian]") {
		t.Errorf("the sync step says %q, want the route started", stepDetail(st, "sync"))
	}
	hist.waitAll(50) // from the oldest stored reading on
	// A plan without a routes section has the config file's routes (none).
	st = <-d.plans.orch.Submit(plan.Sign(priv, []byte("version: 2\n"+devices)).Encode(), orchestrator.SourceAPI)
	if st.State != orchestrator.StateApplied || d.routes.Route("historian") != nil {
		t.Fatalf("plan 2 without a routes section: %s %s, historian running: %v", st.State, st.Error, d.routes.Route("historian") != nil)
	}
	if !strings.Contains(stepDetail(st, "sync"), "routes: stopped [historian]") {
		t.Errorf("the sync step says %q, want the route stopped", stepDetail(st, "sync"))
	}
	if _, err := d.outbox.Cursor(routeCursor("historian")); err == nil {
		t.Error("the removed route's cursor is still there, holding readings back")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	hist.check()
}

func stepDetail(st orchestrator.Status, name string) string {
	for _, s := range st.Steps {
		if s.Name == name {
			return s.Detail
		}
	}
	return ""
}
