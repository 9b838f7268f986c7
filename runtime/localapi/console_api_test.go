package localapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edged-gateway/edged/internal/logring"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/history"
)

func getJSON(t *testing.T, url string, code int, v any) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != code {
		t.Fatalf("GET %s: %d %s, want %d", url, res.StatusCode, body, code)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
	return string(body)
}

func TestConsoleEndpoints(t *testing.T) {
	h := history.New(history.Config{})
	now := time.Now()
	h.Add([]reading.Reading{{Device: "env", Metric: "temperature", Value: 21.5, Unit: "C", Time: now},
		{Device: "env", Metric: "humidity", Value: 40, Unit: "%", Time: now}})
	logs := logring.New(logring.Config{})
	log := slog.New(logs.Handler(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.Info("started")
	log.Warn("service output", "line", "<b>hot</b>")
	var alerts history.Alerts
	alerts.Add([]reading.Reading{{Device: "env", Metric: "alert_hot", Value: 1, Time: now, Source: "r"}}, func(reading.Reading) string { return "rules" })
	s := New(Config{Token: "t0k", ConsoleAPI: ConsoleAPI{
		History: func(d, m string, rg history.Range) ([]history.Series, bool) { return h.Query(d, m, rg, time.Now()) },
		Logs:    logs, Alerts: alerts.Newest,
	}})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	var hd struct {
		Device string  `json:"device"`
		Range  string  `json:"range"`
		StepS  float64 `json:"step_s"`
		Series []struct {
			Metric string `json:"metric"`
			Unit   string `json:"unit"`
			Points []struct {
				TS    time.Time `json:"ts"`
				Mean  float64   `json:"mean"`
				Count int       `json:"count"`
			} `json:"points"`
		} `json:"series"`
	}
	getJSON(t, srv.URL+"/api/v1/devices/env/history?range=1h&metric=temperature", 200, &hd)
	if hd.Range != "1h" || hd.StepS != 10 || len(hd.Series) != 1 || hd.Series[0].Unit != "C" || len(hd.Series[0].Points) != 1 ||
		hd.Series[0].Points[0].Mean != 21.5 {
		t.Fatalf("history: %+v", hd)
	}
	getJSON(t, srv.URL+"/api/v1/devices/env/history", 200, &hd)
	if hd.Range != "5m" || len(hd.Series) != 2 || hd.Series[0].Metric != "humidity" {
		t.Fatalf("history, all metrics: %+v", hd)
	}
	if body := getJSON(t, srv.URL+"/api/v1/devices/env/history?range=2h", 400, nil); !strings.Contains(body, "5m, 1h, 24h") {
		t.Errorf("bad range: %s", body)
	}
	if body := getJSON(t, srv.URL+"/api/v1/devices/door/history", 404, nil); !strings.Contains(body, `device \"door\"`) {
		t.Errorf("unknown device: %s", body)
	}

	var ld logring.Result
	getJSON(t, srv.URL+"/api/v1/logs?level=warn", 200, &ld)
	if len(ld.Records) != 1 || ld.Records[0].Attrs != "line=<b>hot</b>" || ld.Next != 2 {
		t.Fatalf("logs: %+v", ld)
	}
	getJSON(t, srv.URL+"/api/v1/logs?after=2", 200, &ld)
	if len(ld.Records) != 0 || ld.Next != 2 {
		t.Fatalf("logs after 2: %+v", ld)
	}
	for _, q := range []string{"level=loud", "after=-1", "limit=0", "limit=501", "q=" + strings.Repeat("x", 201)} {
		getJSON(t, srv.URL+"/api/v1/logs?"+q, 400, nil)
	}

	var ad struct {
		Alerts []history.Alert `json:"alerts"`
		Total  uint64          `json:"total"`
	}
	getJSON(t, srv.URL+"/api/v1/alerts?limit=5", 200, &ad)
	if ad.Total != 1 || len(ad.Alerts) != 1 || ad.Alerts[0].Kind != "rules" {
		t.Fatalf("alerts: %+v", ad)
	}
	getJSON(t, srv.URL+"/api/v1/alerts?limit=1000", 400, nil)
	if body := getJSON(t, srv.URL+"/api/v1/plan/history", 404, nil); !strings.Contains(body, "plans are off") {
		t.Errorf("plan history without plans: %s", body)
	}

	// From beyond loopback, reads need the token like every other endpoint.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/logs", nil)
	req.RemoteAddr = "192.0.2.7:5555"
	req.Host = "127.0.0.1:8080"
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("logs from 192.0.2.7 without a token: %d", rec.Code)
	}
}

func TestConsoleEndpointsWithoutSources(t *testing.T) {
	srv := httptest.NewServer(New(Config{}).Handler())
	defer srv.Close()
	getJSON(t, srv.URL+"/api/v1/devices/env/history", 404, nil)
	getJSON(t, srv.URL+"/api/v1/logs", 404, nil)
	var ad struct {
		Alerts []history.Alert `json:"alerts"`
	}
	if body := getJSON(t, srv.URL+"/api/v1/alerts", 200, &ad); ad.Alerts == nil {
		t.Errorf("alerts is not an empty list: %s", body)
	}
}

// FuzzConsoleQueries feeds any query string to the parsers of the
// console's endpoints: they answer or refuse, never panic, and a refusal
// names the parameter in valid UTF-8.
func FuzzConsoleQueries(f *testing.F) {
	for _, s := range []string{"", "after=3&level=warn&q=boom&limit=20", "level=WARN%2B2", "after=18446744073709551616",
		"range=24h&metric=temperature", "range=%ff%fe", "limit=-1", "q=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if q, err := parseLogQuery(v); err != nil {
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error not UTF-8: %q", err)
			}
		} else if q.Limit < 1 || q.Limit > logring.MaxLimit || len(q.Text) > maxQueryText {
			t.Fatalf("accepted out of bounds: %+v", q)
		}
		if rg, _, err := parseHistoryQuery(v); err == nil {
			if _, ok := history.RangeByName(rg.Name); !ok {
				t.Fatalf("accepted range %+v", rg)
			}
		}
		if _, err := intParam(v, "limit", 1, 1, 10); err != nil && !strings.Contains(err.Error(), "limit=") {
			t.Fatalf("error does not name limit: %v", err)
		}
	})
}
