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
	"regexp"
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

	mu    sync.Mutex
	relay float64
	duty  float64
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
	srv := httptest.NewServer(f.handler()) // 127.0.0.1
	defer srv.Close()
	ctx := browsertest.Start(t, 60*time.Second)

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
	if stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem('edged.apiToken')`)); err != nil || stored != f.token {
		t.Errorf("token in localStorage: %q, %v", stored, err)
	}

	speed := `tr[data-device="fan-speed"] `
	browsertest.Do(t, ctx, "set duty 1.5",
		chromedp.SendKeys(chromedp.CSS(speed+`input[data-command-input]`), "1.5"),
		chromedp.Click(chromedp.CSS(speed+`button[data-command="set"]`)))
	browsertest.Wait(t, ctx, "the range error", `document.querySelector('`+speed+`.result').textContent.includes('out of range') &&
		document.querySelector('`+speed+`.result').classList.contains('err')`)

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
