package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edged-gateway/edged/internal/browsertest"
	"github.com/edged-gateway/edged/runtime/localapi/console"
)

func TestHandlerServesThePageAndItsAssets(t *testing.T) {
	srv := httptest.NewServer(console.Handler())
	defer srv.Close()
	tests := []struct {
		method, path string
		code         int
		ctype        string
		contains     []string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", []string{`src="app.js"`, `href="style.css"`, `id="devices"`}},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", []string{`src="app.js"`}},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8", []string{"api/v1/status", "Authorization"}},
		{"GET", "/style.css", 200, "text/css; charset=utf-8", []string{"@media"}},
		{"HEAD", "/app.js", 200, "text/javascript; charset=utf-8", nil},
		{"GET", "/nope", 404, "", nil},
		{"GET", "/static/app.js", 404, "", nil},
		{"GET", "/app.js/", 404, "", nil},
		{"GET", "/api/v1/unknown", 404, "", nil},
		{"POST", "/", 405, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.code)
			}
			if tc.code != 200 {
				return
			}
			if got := res.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if tc.ctype == "text/html; charset=utf-8" && !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("no Content-Security-Policy on the page: %q", res.Header.Get("Content-Security-Policy"))
			}
			for _, s := range tc.contains {
				if !strings.Contains(string(body), s) {
					t.Errorf("body does not contain %q", s)
				}
			}
		})
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	h := console.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app.js", nil))
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" {
		t.Fatalf("status %d, ETag %q", rec.Code, etag)
	}
	req := httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation gave %d, want 304", rec.Code)
	}
}

// TestPageNeedsNothingFromTheNetwork keeps the page working offline: no
// file names another origin (the SVG namespace is a name, not a fetch).
func TestPageNeedsNothingFromTheNetwork(t *testing.T) {
	url := regexp.MustCompile(`(https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(console.FS, ".", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(console.FS, name)
		if err != nil {
			return err
		}
		for _, m := range url.FindAllString(string(b), -1) {
			if m != "http://www.w3.org" {
				t.Errorf("%s refers to %s", name, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		if _, err := fs.Stat(console.FS, name); err != nil {
			t.Errorf("FS: %v", err)
		}
	}
}

// fakeAPI serves canned answers in the shapes of the local API, so the page
// can be driven in a browser without a daemon.
type fakeAPI struct {
	token   string
	start   time.Time
	down    atomic.Bool // when set, connections are dropped: the daemon "stopped"
	authGet atomic.Bool // a GET carried the token

	mu        sync.Mutex
	relay     float64
	duty      float64
	doorGone  bool     // a plan removed door: it is no longer listed
	restarted []string // services restarted through the API
	dead      []int    // ids of the dead letters kept, oldest first
	dlAsked   []string // the dead-letter list queries the page made
	dlActs    []string // replays and drops: "replay [60]", "drop all"
}

// deadLetter is entry id of fakeAPI's dead letters: 60 of them, the
// cloud's but one, and one whose reason and device hold markup.
func deadLetter(id int, at time.Time) map[string]any {
	route, device, reason := "cloud", "porch", "publish: disconnected due to oversize packet"
	switch id {
	case 58:
		route, reason = "historian", "HTTP 400: field type conflict"
	case 59:
		device = `<img src=x onerror="document.body.dataset.pwned=1">`
		reason = `<script>document.body.dataset.pwned=1</script>`
	}
	return map[string]any{"id": id, "route": route, "reason": reason, "attempts": 3,
		"dead_lettered_at": at.Add(time.Duration(id) * time.Second).UTC().Format(time.RFC3339Nano),
		"reading": map[string]any{"device": device, "metric": fmt.Sprintf("m%d", id), "value": 21.5, "unit": "C",
			"time": at.UTC().Format(time.RFC3339Nano), "seq": 100 + id}}
}

type fakeReading struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	TS     string  `json:"ts"`
	Seq    int     `json:"seq"`
}

// readings synthesizes a device's readings every 500 ms from start, newer
// than since.
func (f *fakeAPI) readings(device string, since time.Time) []fakeReading {
	f.mu.Lock()
	relay, duty := f.relay, f.duty
	f.mu.Unlock()
	var out []fakeReading
	n := int(time.Since(f.start) / (500 * time.Millisecond))
	for k := max(0, n-600); k <= n; k++ {
		ts := f.start.Add(time.Duration(k) * 500 * time.Millisecond)
		if !ts.After(since) {
			continue
		}
		at := func(metric, unit string, i int, v float64) {
			out = append(out, fakeReading{metric, v, unit, ts.UTC().Format(time.RFC3339Nano), k*10 + i})
		}
		ph := float64(k) / 40
		switch device {
		case "env":
			at("temperature", "C", 0, 21.5+2*math.Sin(ph))
			at("pressure", "hPa", 1, 1013.2+math.Cos(ph))
			at("humidity", "%", 2, 45+5*math.Sin(ph/2))
		case "fan-relay":
			at("state", "", 3, relay)
		case "fan-speed":
			at("duty", "", 4, duty)
		}
	}
	return out
}

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /", console.Handler())
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, 200, map[string]any{
			"gateway": "sim-board", "version": "dev", "arch": "linux/amd64", "board": "sim",
			"uptime_s": time.Since(f.start).Seconds(),
			"cloud":    map[string]any{"url": "mqtts://cloud.example:8883", "enabled": true, "connected": false, "delivered": 0, "last_error": "dial: connection refused"},
			"outbox":   map[string]any{"readings": 1200, "bytes": 50000, "oldest_age_s": 183.2, "dropped": 3, "append_errors": 0, "next_seq": 1201},
			"plan":     map[string]any{"version": 0, "state": "none"},
			"local_mqtt": map[string]any{"mode": "embedded", "addr": "127.0.0.1:1883",
				"sensors": []any{map[string]any{"name": "kitchen"}, map[string]any{"name": "garage"}}},
		})
	})
	mux.HandleFunc("GET /api/v1/devices", func(w http.ResponseWriter, _ *http.Request) {
		var devs []map[string]any
		for _, d := range []struct {
			name, kind string
			actuator   bool
		}{{"env", "bme280", false}, {"fan-relay", "gpio-out", true}, {"fan-speed", "pwm", true}, {"door", "gpio-in", false}} {
			f.mu.Lock()
			gone := f.doorGone
			f.mu.Unlock()
			if d.name == "door" && gone {
				continue
			}
			rs := f.readings(d.name, time.Now().Add(-2*time.Second))
			last := map[string]fakeReading{}
			for _, r := range rs {
				last[r.Metric] = r
			}
			var lastList []fakeReading
			for _, r := range rs {
				if last[r.Metric] == r {
					lastList = append(lastList, r)
				}
			}
			dev := map[string]any{"name": d.name, "kind": d.kind, "healthy": d.name != "door", "reads": 120, "errors": 0,
				"stored": 120, "actuator": d.actuator, "last": lastList}
			if d.name == "door" {
				dev["errors"], dev["last_error"] = 4, "read GPIO17: pin is not exported"
			}
			devs = append(devs, dev)
		}
		now := time.Now().UTC().Format(time.RFC3339Nano)
		devs = append(devs, map[string]any{"name": "sim-board", "kind": "gateway", "healthy": true, "actuator": false, "last": []fakeReading{
			{Metric: "aggregate_cpu_percent", Value: 1.25, Unit: "%", TS: now}, {Metric: "aggregate_memory_bytes", Value: 851968, Unit: "B", TS: now}}})
		reply(w, 200, map[string]any{"devices": devs})
	})
	mux.HandleFunc("GET /api/v1/devices/{name}/readings", func(w http.ResponseWriter, r *http.Request) {
		var since time.Time
		if s := r.URL.Query().Get("since"); s != "" {
			var err error
			if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
				reply(w, 400, map[string]any{"error": err.Error()})
				return
			}
		}
		reply(w, 200, map[string]any{"device": r.PathValue("name"), "readings": f.readings(r.PathValue("name"), since)})
	})
	mux.HandleFunc("GET /api/v1/services", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, 200, map[string]any{"services": []any{
			map[string]any{"name": "aggregate", "state": "running", "pid": 4242, "restarts": 0,
				"budget":      map[string]any{"memory_bytes": 64 << 20, "cpu": 0.5, "pids": 64},
				"enforcement": "cgroup-v2", "rss_bytes": 12 << 20, "cpu_percent": 1.5},
			map[string]any{"name": "anomaly", "state": "backoff", "pid": 0, "restarts": 3,
				"budget":      map[string]any{"memory_bytes": 32 << 20, "cpu": 0.25, "pids": 16},
				"enforcement": "rlimit", "rss_bytes": 31 << 20, "cpu_percent": 0,
				"last_error": "exit status 2"},
		}})
	})
	mux.HandleFunc("GET /api/v1/devices/{name}/history", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		step := map[string]time.Duration{"5m": time.Second, "1h": 10 * time.Second, "24h": 5 * time.Minute}[q.Get("range")]
		if step == 0 || r.PathValue("name") != "env" || q.Get("metric") != "temperature" {
			reply(w, 404, map[string]any{"error": "no history"})
			return
		}
		var pts []map[string]any
		end := time.Now().Truncate(step)
		for i := 59; i >= 0; i-- { // 60 buckets, a gap in the middle
			if i >= 28 && i < 32 {
				continue
			}
			v := 21.5 + 2*math.Sin(float64(i)/8)
			pts = append(pts, map[string]any{"ts": end.Add(-time.Duration(i) * step).UTC().Format(time.RFC3339), "mean": v, "min": v - 0.25, "max": v + 0.25, "count": 10})
		}
		reply(w, 200, map[string]any{"device": "env", "range": q.Get("range"), "step_s": step.Seconds(),
			"series": []any{map[string]any{"metric": "temperature", "unit": "C", "points": pts}}})
	})
	mux.HandleFunc("GET /api/v1/logs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		recs := []map[string]any{
			{"seq": 1, "ts": f.start.Format(time.RFC3339Nano), "level": "INFO", "msg": "edged started", "attrs": "console=http://127.0.0.1/"},
			{"seq": 2, "ts": f.start.Format(time.RFC3339Nano), "level": "WARN", "msg": "service output", "attrs": `service=anomaly line=<script>document.body.dataset.pwned=1</script><img src=x onerror="document.body.dataset.pwned=1">`},
			{"seq": 3, "ts": f.start.Format(time.RFC3339Nano), "level": "ERROR", "msg": "read failed", "attrs": "device=door"},
		}
		var out []map[string]any
		after, _ := strconv.Atoi(q.Get("after"))
		for _, rec := range recs {
			lvl := map[string]int{"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3}[rec["level"].(string)]
			want := map[string]int{"debug": 0, "info": 1, "warn": 2, "error": 3}[q.Get("level")]
			if rec["seq"].(int) <= after || lvl < want || !strings.Contains(strings.ToLower(fmt.Sprint(rec["msg"], rec["attrs"])), strings.ToLower(q.Get("q"))) {
				continue
			}
			out = append(out, rec)
		}
		reply(w, 200, map[string]any{"records": append([]map[string]any{}, out...), "next": 3, "evicted": 0})
	})
	mux.HandleFunc("GET /api/v1/alerts", func(w http.ResponseWriter, _ *http.Request) {
		ts := time.Now().UTC().Format(time.RFC3339Nano)
		reply(w, 200, map[string]any{"total": 2, "alerts": []any{
			map[string]any{"device": "env", "metric": "alert_hot", "value": 1, "ts": ts, "source": "porch-rules", "kind": "rules", "seq": 9},
			map[string]any{"device": "env", "metric": "temperature_anomaly_score", "value": 4.2, "ts": ts, "source": "anomaly", "kind": "anomaly", "seq": 8},
		}})
	})
	mux.HandleFunc("GET /api/v1/plan", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, 200, map[string]any{"version": 10, "state": "rolled_back", "applied_version": 7, "source": "mqtt",
			"error": "service anomaly: health gate: not healthy within 10s", "started": f.start.Format(time.RFC3339), "finished": f.start.Format(time.RFC3339),
			"steps": []any{
				map[string]any{"name": "verify", "state": "ok", "detail": "signed by key ops", "ms": 1},
				map[string]any{"name": "services", "state": "failed", "detail": "started 1, then a health gate failed", "ms": 10012},
				map[string]any{"name": "start anomaly", "state": "failed", "detail": "not healthy within 10s", "ms": 10010},
				map[string]any{"name": "roll back", "state": "ok", "detail": "back to v7", "ms": 40},
			}})
	})
	mux.HandleFunc("GET /api/v1/plan/history", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, 200, map[string]any{"applied": []any{
			map[string]any{"version": 7, "applied_at": f.start.Format(time.RFC3339), "current": true, "artifacts": 1},
			map[string]any{"version": 6, "applied_at": f.start.Add(-time.Hour).Format(time.RFC3339), "current": false, "artifacts": 1},
		}})
	})
	mux.HandleFunc("GET /api/v1/deadletters", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, err := strconv.Atoi(q.Get("limit"))
		if err != nil || limit < 1 || limit > 500 || q.Get("order") != "newest" {
			reply(w, 400, map[string]any{"error": "the console asks for the newest page, limit 1..500"})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.dlAsked = append(f.dlAsked, r.URL.RawQuery)
		es := []any{}
		byRoute := map[string]int{}
		for i := len(f.dead) - 1; i >= 0; i-- {
			e := deadLetter(f.dead[i], f.start)
			byRoute[e["route"].(string)]++
			if len(es) < limit {
				es = append(es, e)
			}
		}
		reply(w, 200, map[string]any{"dead_letters": es, "next": 0, "count": len(f.dead), "by_route": byRoute})
	})
	mux.HandleFunc("POST /api/v1/deadletters/{what}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			reply(w, 401, map[string]any{"error": "missing or wrong API token"})
			return
		}
		var sel struct {
			IDs []int `json:"ids"`
			All bool  `json:"all"`
		}
		if err := json.NewDecoder(r.Body).Decode(&sel); err != nil || sel.All == (len(sel.IDs) > 0) {
			reply(w, 400, map[string]any{"error": fmt.Sprintf("body %+v: %v", sel, err)})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		what := r.PathValue("what")
		if sel.All {
			sel.IDs = append([]int(nil), f.dead...)
			f.dlActs = append(f.dlActs, what+" all")
		} else {
			f.dlActs = append(f.dlActs, fmt.Sprint(what, " ", sel.IDs))
		}
		done, kept := []any{}, f.dead[:0]
		for _, id := range f.dead {
			if slices.Contains(sel.IDs, id) {
				if what == "replay" {
					done = append(done, map[string]any{"id": id, "original_seq": 100 + id, "seq": 5000 + id})
				} else {
					done = append(done, id)
				}
				continue
			}
			kept = append(kept, id)
		}
		f.dead = kept
		key := map[string]string{"replay": "replayed", "drop": "dropped"}[what]
		reply(w, 200, map[string]any{key: done, "not_found": []any{}})
	})
	mux.HandleFunc("POST /api/v1/services/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			reply(w, 401, map[string]any{"error": "missing or wrong API token"})
			return
		}
		f.mu.Lock()
		f.restarted = append(f.restarted, r.PathValue("name"))
		f.mu.Unlock()
		reply(w, 200, map[string]any{"service": r.PathValue("name"), "state": "restarting"})
	})
	mux.HandleFunc("POST /api/v1/devices/{name}/commands", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			reply(w, 401, map[string]any{"error": "missing or wrong API token"})
			return
		}
		var cmd struct {
			ID     string `json:"id"`
			Action string `json:"action"`
			Value  any    `json:"value"`
		}
		if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil || cmd.ID == "" || cmd.Action != "set" {
			reply(w, 422, map[string]any{"id": cmd.ID, "ok": false, "error": fmt.Sprintf("bad command %+v: %v", cmd, err)})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		switch v := cmd.Value; r.PathValue("name") {
		case "fan-relay":
			switch v {
			case "on", true:
				f.relay = 1
			case "off", false:
				f.relay = 0
			default:
				reply(w, 422, map[string]any{"id": cmd.ID, "ok": false, "error": fmt.Sprintf("value %v not allowed", v)})
				return
			}
		case "fan-speed":
			d, ok := v.(float64)
			if !ok || d < 0 || d > 1 {
				reply(w, 422, map[string]any{"id": cmd.ID, "ok": false, "error": fmt.Sprintf("value %v out of range: duty is 0..1", v)})
				return
			}
			f.duty = d
		default:
			reply(w, 422, map[string]any{"id": cmd.ID, "ok": false, "error": "device does not accept commands"})
			return
		}
		reply(w, 200, map[string]any{"id": cmd.ID, "ok": true})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		if r.Method == "GET" && r.Header.Get("Authorization") == "Bearer "+f.token {
			f.authGet.Store(true)
		}
		mux.ServeHTTP(w, r)
	})
}

// TestPageAgainstFakeAPI drives the page in a browser against fakeAPI:
// values and sparklines, services, commands with and without the token,
// the disconnected banner, and the phone layout.
func TestPageAgainstFakeAPI(t *testing.T) {
	f := &fakeAPI{token: "s3cret", start: time.Now().Add(-3 * time.Minute)}
	for id := 1; id <= 60; id++ {
		f.dead = append(f.dead, id)
	}
	srv := httptest.NewServer(f.handler()) // 127.0.0.1
	defer srv.Close()
	ctx := browsertest.Start(t, 90*time.Second)
	shotOnFailure(t, ctx)

	browsertest.Do(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/"))
	browsertest.Wait(t, ctx, "env's temperature", `(() => {
		const v = document.querySelector('tr[data-device="env"] .value[data-metric="temperature"]');
		return v && isFinite(parseFloat(v.textContent)); })()`)
	browsertest.Wait(t, ctx, "env's sparkline", `document.querySelector('tr[data-device="env"] svg.spark[data-metric="temperature"]').dataset.points >= 2`)
	browsertest.Wait(t, ctx, "the services table", `(() => {
		const fill = document.querySelector('tr[data-service="aggregate"] .bar .fill');
		return fill && fill.style.width === '18.8%'; })()`)
	browsertest.Wait(t, ctx, "header and MQTT line", `document.querySelector('#cloud').dataset.state === 'down' &&
		!document.querySelector('#dropped').hidden && document.querySelector('#mqtt-sensors').textContent === '2' &&
		document.querySelector('tr[data-device="door"] .dot').classList.contains('bad')`)

	// Without a token a command is refused, and the page says where the token is.
	relay := `tr[data-device="fan-relay"] `
	browsertest.Do(t, ctx, "click On", chromedp.Click(chromedp.CSS(relay+`button[data-command="on"]`)))
	browsertest.Wait(t, ctx, "the unauthorized result", `document.querySelector('`+relay+`.result').textContent.includes('unauthorized') &&
		!document.querySelector('#auth').hidden && document.querySelector('#auth').textContent.includes('api.token')`)
	browsertest.Do(t, ctx, "enter the token",
		chromedp.SendKeys(chromedp.ID("token"), f.token),
		chromedp.Click(chromedp.ID("token-save")),
		chromedp.Click(chromedp.CSS(relay+`button[data-command="on"]`)))
	browsertest.Wait(t, ctx, "ok and state 1", `document.querySelector('`+relay+`.result').textContent === 'ok' &&
		document.querySelector('`+relay+`.value[data-metric="state"]').textContent === '1' &&
		document.querySelector('#auth').hidden`)
	if !f.authGet.Load() {
		t.Error("GETs do not carry the token once the page has one")
	}
	if stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem('edged.apiToken')`)); err != nil || stored != f.token {
		t.Errorf("token in sessionStorage: %q, %v", stored, err)
	}

	speed := `tr[data-device="fan-speed"] `
	browsertest.Do(t, ctx, "set duty 1.5",
		chromedp.SendKeys(chromedp.CSS(speed+`input[data-command-input]`), "1.5"),
		chromedp.Click(chromedp.CSS(speed+`button[data-command="set"]`)))
	browsertest.Wait(t, ctx, "the range error", `document.querySelector('`+speed+`.result').textContent.includes('out of range') &&
		document.querySelector('`+speed+`.result').classList.contains('err')`)

	consolePanels(t, ctx, f)

	f.down.Store(true)
	browsertest.Wait(t, ctx, "the disconnected banner", `!document.querySelector('#banner').hidden &&
		document.querySelector('#banner').textContent.includes('Disconnected')`)
	f.down.Store(false)
	browsertest.Wait(t, ctx, "the banner to clear", `document.querySelector('#banner').hidden`)

	shot(t, ctx, "console-fake.png")
	browsertest.Do(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	browsertest.Wait(t, ctx, "a phone layout without horizontal overflow", `document.querySelector('tr[data-device="env"]') &&
		document.body.scrollWidth <= window.innerWidth + 1`)
	shot(t, ctx, "console-fake-phone.png")
}

// shot writes a full-page screenshot to $CONSOLE_SCREENSHOT_DIR, if set.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if dir := os.Getenv("CONSOLE_SCREENSHOT_DIR"); dir != "" {
		browsertest.Shot(t, ctx, dir, name)
	}
}

// consolePanels checks the gateway, plot, alerts, plan, services and log
// panels (#18) against fakeAPI, with the token already entered.
func consolePanels(t *testing.T, ctx context.Context, f *fakeAPI) {
	t.Helper()
	// The gateway's own readings are resources with units, not a device.
	browsertest.Wait(t, ctx, "the gateway panel in MiB and %", `!document.querySelector('#gateway-section').hidden &&
		document.querySelector('#gateway-usage .value[data-metric="aggregate_memory_bytes"]').textContent === '832 KiB' &&
		document.querySelector('#gateway-usage .value[data-metric="aggregate_cpu_percent"]').textContent === '1.3 %' &&
		document.querySelector('tr[data-device="sim-board"]') === null && !document.body.innerText.includes('851968')`)

	// A device a plan removed leaves the table.
	browsertest.Wait(t, ctx, "door listed", `document.querySelector('tr[data-device="door"]') !== null`)
	f.mu.Lock()
	f.doorGone = true
	f.mu.Unlock()
	browsertest.Wait(t, ctx, "door gone", `document.querySelector('tr[data-device="door"]') === null &&
		![...document.querySelectorAll('#chart-series option')].some((o) => o.dataset.device === 'door')`)

	// The plot: time axis, y axis, a gap, values on hover; 1 h on request.
	browsertest.Do(t, ctx, "pick env temperature", chromedp.Click(chromedp.CSS(`tr[data-device="env"] .metric[data-metric="temperature"] .mname`)))
	browsertest.Wait(t, ctx, "the 5 min plot with axes", `(() => {
		const c = document.querySelector('#chart');
		return c.dataset.device === 'env' && c.dataset.metric === 'temperature' && c.dataset.points === '56' &&
			c.querySelectorAll('.x-tick').length >= 4 && /^\d\d:\d\d$/.test(c.querySelector('.x-tick').textContent) &&
			c.querySelectorAll('.y-tick').length >= 3 && c.querySelectorAll('polyline.line').length === 2 &&
			c.querySelector('.unit-label').textContent === 'C'; })()`)
	browsertest.Do(t, ctx, "hover the plot near its end", chromedp.Evaluate[chromedp.Void](`(() => {
		const c = document.querySelector('#chart'), r = c.getBoundingClientRect();
		c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width * 0.9, clientY: r.top + r.height / 2, bubbles: true}));
	})()`))
	browsertest.Wait(t, ctx, "the hover value", `(() => {
		const tip = document.querySelector('#chart-tip').textContent;
		return /^\d\d:\d\d:\d\d · \d+\.\d+ C \(.* … .*, 10 readings\)$/.test(tip) &&
			document.querySelector('#chart .cursor').getAttribute('visibility') === 'visible'; })()`)
	browsertest.Do(t, ctx, "choose 1 h", chromedp.Click(chromedp.CSS(`#chart-ranges button[data-range="1h"]`)))
	browsertest.Wait(t, ctx, "the 1 h plot", `document.querySelector('#chart').dataset.range === '1h' &&
		document.querySelector('#chart').dataset.points === '56' &&
		document.querySelector('#chart-ranges button[data-range="1h"]').getAttribute('aria-pressed') === 'true'`)

	// Alerts: one rule firing, one anomaly score.
	browsertest.Wait(t, ctx, "the alerts", `(() => {
		const rows = document.querySelectorAll('#alerts tbody tr[data-alert]');
		return rows.length === 2 && rows[0].dataset.alert === 'env/alert_hot' && rows[0].dataset.kind === 'rules' &&
			rows[1].querySelector('.value').textContent === '4.20' && rows[1].textContent.includes('anomaly'); })()`)

	// The plan: steps, the failed health gate, the error, the versions.
	browsertest.Wait(t, ctx, "the plan panel", `(() => {
		const gate = document.querySelector('#plan-steps tr[data-step="start anomaly"]');
		return document.querySelector('#plan-summary').textContent.startsWith('v10 · rolled_back · running v7') &&
			document.querySelector('#plan-error').textContent.includes('health gate') &&
			document.querySelectorAll('#plan-steps tbody tr').length === 4 &&
			gate && gate.classList.contains('gate') && gate.dataset.state === 'failed' &&
			document.querySelector('#plan-history').textContent.includes('v7 (running)') &&
			document.querySelector('#plan-history').textContent.includes('v6'); })()`)

	// Restart a service with the token.
	browsertest.Do(t, ctx, "restart aggregate", chromedp.Click(chromedp.CSS(`tr[data-service="aggregate"] button[data-action="restart"]`)))
	browsertest.Wait(t, ctx, "the restart result", `document.querySelector('tr[data-service="aggregate"] .result').textContent === 'restarted: restarting'`)
	f.mu.Lock()
	restarted := strings.Join(f.restarted, ",")
	f.mu.Unlock()
	if restarted != "aggregate" {
		t.Errorf("restarted %q, want aggregate", restarted)
	}

	deadLetterPanel(t, ctx, f)

	// The log tail: levels, filter, and markup shown as text.
	browsertest.Wait(t, ctx, "the log lines at info", `document.querySelectorAll('#log-lines .logline').length === 3 &&
		document.querySelector('#log-lines .logline[data-level="warn"] .attrs').textContent.includes('<script>')`)
	browsertest.Do(t, ctx, "level error", chromedp.SetValue(chromedp.ID("log-level"), "error"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#log-level').dispatchEvent(new Event('change'))`))
	browsertest.Wait(t, ctx, "only the error", `document.querySelectorAll('#log-lines .logline').length === 1 &&
		document.querySelector('#log-lines .logline').dataset.level === 'error'`)
	browsertest.Do(t, ctx, "level debug, filter script", chromedp.SetValue(chromedp.ID("log-level"), "debug"),
		chromedp.SendKeys(chromedp.ID("log-filter"), "SCRIPT"))
	browsertest.Wait(t, ctx, "only the service output", `document.querySelectorAll('#log-lines .logline').length === 1 &&
		document.querySelector('#log-lines .logline').dataset.level === 'warn'`)
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.dataset.pwned === undefined &&
		document.querySelector('#log-lines script, #log-lines img') === null`)); err != nil || !v {
		t.Errorf("a log line ran as markup (%v)", err)
	}
}

// deadLetterPanel checks the dead-letter panel against fakeAPI's 60
// entries, with the token entered: the count and the count per route, the
// newest 50 only, markup in a reason or device name shown as text, Replay
// and Drop (two clicks) of one entry, and Replay all.
func deadLetterPanel(t *testing.T, ctx context.Context, f *fakeAPI) {
	t.Helper()
	browsertest.Wait(t, ctx, "the dead-letter panel: 60, by route, the newest 50", `(() => {
		const rows = document.querySelectorAll('#deadletters tbody tr[data-dead-letter]');
		return !document.querySelector('#deadletters-section').hidden &&
			document.querySelector('#dl-summary').textContent === '60 dead letters' &&
			document.querySelector('#dl-routes .route-count[data-route="cloud"]').textContent === 'cloud 59' &&
			document.querySelector('#dl-routes .route-count[data-route="historian"]').textContent === 'historian 1' &&
			rows.length === 50 && rows[0].dataset.deadLetter === '60' && rows[49].dataset.deadLetter === '11' &&
			rows[0].querySelector('.reason').textContent.includes('oversize packet') &&
			rows[0].querySelector('.attempts').textContent === '3' &&
			rows[0].querySelector('.dl-dev').textContent === 'porch · m60 = 21.50 C' &&
			document.querySelector('#deadletters tr[data-dead-letter="58"]').dataset.route === 'historian' &&
			document.querySelector('#dl-more').textContent.includes('newest 50 of 60'); })()`)
	browsertest.Wait(t, ctx, "markup in a dead letter shown as text", `(() => {
		const r = document.querySelector('#deadletters tr[data-dead-letter="59"]');
		return r.querySelector('.reason').textContent.startsWith('<script>') && r.querySelector('.dl-dev').textContent.startsWith('<img') &&
			document.querySelector('#deadletters script, #deadletters img') === null && document.body.dataset.pwned === undefined; })()`)

	browsertest.Do(t, ctx, "show the panel", chromedp.ScrollIntoView(chromedp.ID("deadletters-section")))
	shot(t, ctx, "console-fake-deadletters.png")
	browsertest.Do(t, ctx, "replay 60", chromedp.Click(chromedp.CSS(`#deadletters tr[data-dead-letter="60"] button[data-action="replay"]`)))
	browsertest.Wait(t, ctx, "60 replayed and gone", `document.querySelector('#dl-result').textContent === 'replayed 1 (new seq 5060)' &&
		document.querySelector('#dl-result').classList.contains('ok') &&
		document.querySelector('#deadletters tr[data-dead-letter="60"]') === null &&
		document.querySelector('#dl-summary').textContent === '59 dead letters'`)

	drop := `#deadletters tr[data-dead-letter="59"] button[data-action="drop"]`
	browsertest.Do(t, ctx, "drop 59, first click", chromedp.Click(chromedp.CSS(drop)))
	browsertest.Wait(t, ctx, "the drop to ask again", `document.querySelector('`+drop+`').textContent === 'Confirm drop'`)
	f.mu.Lock()
	acts := fmt.Sprint(f.dlActs)
	f.mu.Unlock()
	if acts != "[replay [60]]" {
		t.Fatalf("after one Drop click the page sent %s, want only the replay", acts)
	}
	browsertest.Do(t, ctx, "drop 59, second click", chromedp.Click(chromedp.CSS(drop)))
	browsertest.Wait(t, ctx, "59 dropped and gone", `document.querySelector('#dl-result').textContent === 'dropped 1' &&
		document.querySelector('#deadletters tr[data-dead-letter="59"]') === null &&
		document.querySelector('#dl-summary').textContent === '58 dead letters'`)

	browsertest.Do(t, ctx, "replay all", chromedp.Click(chromedp.ID("dl-replay-all")))
	browsertest.Wait(t, ctx, "none left", `document.querySelector('#dl-result').textContent === 'replayed 58' &&
		document.querySelector('#dl-summary').textContent === '0 dead letters' &&
		document.querySelector('#deadletters tbody tr.empty') !== null && document.querySelector('#dl-replay-all').disabled &&
		document.querySelector('#dl-more').hidden`)
	f.mu.Lock()
	defer f.mu.Unlock()
	if acts := fmt.Sprint(f.dlActs); acts != "[replay [60] drop [59] replay all]" {
		t.Errorf("the page sent %s, want replay [60], drop [59], replay all", acts)
	}
	for _, q := range f.dlAsked {
		if q != "order=newest&limit=50" {
			t.Errorf("the page asked for dead letters with %q, want the newest 50", q)
			break
		}
	}
}

// shotOnFailure saves a screenshot of the page when the test fails, into
// a directory it names (kept after the test).
func shotOnFailure(t *testing.T, ctx context.Context) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir, err := os.MkdirTemp("", "edged-console-")
		if err != nil {
			t.Log(err)
			return
		}
		browsertest.Shot(t, ctx, dir, "failure.png")
		t.Logf("screenshot of the failure: %s", filepath.Join(dir, "failure.png"))
	})
}
