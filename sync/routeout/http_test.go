package routeout

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/testpki"
	"github.com/edged-gateway/edged/runtime/forwarder"
)

type wire struct {
	Seq    uint64  `json:"seq"`
	Epoch  string  `json:"epoch"`
	Device string  `json:"device"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	TS     string  `json:"ts"`
}

// jsonServer records the readings of every 2xx POST; status decides each
// request's answer from its readings (nil: 204).
func jsonServer(t *testing.T, got *arrivals, status func(rs []wire) (int, string)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(jsonHandler(t, got, status))
	t.Cleanup(srv.Close)
	return srv
}

func jsonHandler(t *testing.T, got *arrivals, status func(rs []wire) (int, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		var rs []wire
		if err := json.NewDecoder(r.Body).Decode(&rs); err != nil {
			t.Errorf("body is not the telemetry JSON: %v", err)
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		if status != nil {
			if code, msg := status(rs); code != 0 {
				http.Error(w, msg, code)
				return
			}
		}
		for _, x := range rs {
			got.add(x.Device, x.Seq)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func newHTTP(t *testing.T, cfg HTTPConfig) *HTTP {
	t.Helper()
	h, err := NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHTTPRouteJSON: every reading arrives as the forwarder's JSON, with
// the configured header, each device in order.
func TestHTTPRouteJSON(t *testing.T) {
	ob := newOutbox(t)
	fill(t, ob, 60, "boiler", "pump")
	var got arrivals
	var badAuth atomic.Int64
	var epochs sync.Map
	srv := jsonServer(t, &got, func(rs []wire) (int, string) {
		for _, r := range rs {
			epochs.Store(r.Epoch, true)
			if r.Metric != "temperature" || r.Unit != "C" || r.TS == "" {
				return http.StatusUnprocessableEntity, "fields"
			}
		}
		return 0, ""
	})
	srv.Config.Handler = authCheck("Bearer s3cret", &badAuth, srv.Config.Handler)
	cfg := HTTPConfig{URL: srv.URL + "/ingest", Headers: map[string]string{"Authorization": "Bearer s3cret"}}
	link := newHTTP(t, cfg)
	route(t, forwarder.Config{Route: "hist", Batch: 8, Inflight: 8, Encode: cfg.Encoder(), ClassifyFailures: true}, ob, link)
	waitFor(t, "the outbox to drain", drained(ob))
	got.check(t, 120, nil)
	if badAuth.Load() != 0 {
		t.Fatalf("%d requests without the configured Authorization header", badAuth.Load())
	}
	epochs.Range(func(k, _ any) bool {
		if k != ob.Epoch() {
			t.Errorf("epoch %q, want %q", k, ob.Epoch())
		}
		return true
	})
}

func authCheck(want string, bad *atomic.Int64, next http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			bad.Add(1)
		}
		next.ServeHTTP(w, r)
	}
}

// TestHTTPRouteInflux: format influx posts line protocol to the InfluxDB v2
// write path, with the token from authorization_file; each line parses
// back to its reading.
func TestHTTPRouteInflux(t *testing.T) {
	ob := newOutbox(t)
	fill(t, ob, 25, "boiler room", "pump,1")
	var mu sync.Mutex
	var lines []influxPoint
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/write" || r.URL.Query().Get("bucket") != "edged" || r.Header.Get("Authorization") != "Token abc" ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			http.Error(w, "unexpected request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		ps, err := parseInflux(string(body))
		if err != nil {
			t.Errorf("body %q: %v", body, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		lines = append(lines, ps...)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("Token abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := HTTPConfig{URL: srv.URL + "/api/v2/write?org=site&bucket=edged&precision=ns", Format: "influx", AuthorizationFile: tokenFile}
	dead := &deadBox{}
	route(t, forwarder.Config{Batch: 10, Encode: cfg.Encoder(), DeadLetters: dead, ClassifyFailures: true}, ob, newHTTP(t, cfg))
	waitFor(t, "the outbox to drain", drained(ob))
	if d := dead.get(); len(d) != 0 {
		t.Fatalf("dead letters %v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for _, p := range lines {
		if p.measurement != "temperature" || (p.tags["device"] != "boiler room" && p.tags["device"] != "pump,1") || p.tags["unit"] != "C" || len(p.tags) != 2 {
			t.Fatalf("line parsed to %+v", p)
		}
		if p.ns < time.Now().Add(-time.Hour).UnixNano() {
			t.Fatalf("timestamp %d is not the reading's time in ns", p.ns)
		}
	}
}

// TestHTTPRoute500ThenRecovery: a destination that answers 500 for a while
// loses nothing to the dead letters (MaxAttempts 1 does not count
// transient failures) and gets everything, each device in order, once it
// recovers.
func TestHTTPRoute500ThenRecovery(t *testing.T) {
	ob := newOutbox(t)
	fill(t, ob, 40, "a", "b", "c")
	var got arrivals
	var n atomic.Int64
	srv := jsonServer(t, &got, func([]wire) (int, string) {
		if n.Add(1) <= 6 {
			return http.StatusInternalServerError, "database is locked"
		}
		return 0, ""
	})
	dead := &deadBox{}
	cfg := HTTPConfig{URL: srv.URL, Concurrency: 3}
	f := route(t, forwarder.Config{Batch: 5, Inflight: 6, Encode: cfg.Encoder(), DeadLetters: dead, MaxAttempts: 1, ClassifyFailures: true}, ob, newHTTP(t, cfg))
	waitFor(t, "the outbox to drain", drained(ob))
	if d := dead.get(); len(d) != 0 {
		t.Fatalf("transient 500s dead-lettered %v", d)
	}
	got.check(t, 120, nil)
	st := f.Stats()
	if st.Failures == 0 || !strings.Contains(st.LastError.Message, "500 Internal Server Error: database is locked") || st.LastError.Current() {
		t.Fatalf("stats %+v: want failures with the 500 and its body text, recovered", st)
	}
}

// TestHTTPRoute413DeadLettersOnlyThatReading: the destination refuses any
// message carrying seq 17 with 413; the batch is split, seq 17 alone goes
// to the dead letters with the status in its reason, every other reading
// arrives, each device in order.
func TestHTTPRoute413DeadLettersOnlyThatReading(t *testing.T) {
	const poison = 17
	ob := newOutbox(t)
	fill(t, ob, 30, "a", "b")
	var got arrivals
	srv := jsonServer(t, &got, func(rs []wire) (int, string) {
		for _, r := range rs {
			if r.Seq == poison {
				return http.StatusRequestEntityTooLarge, "body exceeds 1 KiB"
			}
		}
		return 0, ""
	})
	dead := &deadBox{}
	cfg := HTTPConfig{URL: srv.URL}
	f := route(t, forwarder.Config{Batch: 6, Inflight: 4, Encode: cfg.Encoder(), DeadLetters: dead, MaxAttempts: 1000, ClassifyFailures: true}, ob, newHTTP(t, cfg))
	waitFor(t, "the outbox to drain", drained(ob))
	d := dead.get()
	if len(d) != 1 || !strings.Contains(d[poison], "413 Request Entity Too Large: body exceeds 1 KiB") || !strings.HasPrefix(d[poison], "permanent: ") {
		t.Fatalf("dead letters %v, want only seq %d, refused with 413", d, poison)
	}
	got.check(t, 60, map[uint64]bool{poison: true})
	if st := f.Stats(); st.DeadLettered != 1 {
		t.Fatalf("DeadLettered %d", st.DeadLettered)
	}
}

// TestHTTPRouteServerDownThenUp: nothing listens at the url for a while
// (connection refused); nothing is dead-lettered, and once the server is
// up everything arrives, each device in order.
func TestHTTPRouteServerDownThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down
	ob := newOutbox(t)
	fill(t, ob, 50, "a", "b")
	dead := &deadBox{}
	cfg := HTTPConfig{URL: "http://" + addr + "/in", Timeout: 5 * time.Second}
	link := newHTTP(t, cfg)
	route(t, forwarder.Config{Batch: 8, Inflight: 4, Encode: cfg.Encoder(), DeadLetters: dead, MaxAttempts: 1, ClassifyFailures: true}, ob, link)
	waitFor(t, "three refused connections", func() bool { return link.Stats().Failures >= 3 })
	if d := dead.get(); len(d) != 0 {
		t.Fatalf("an unreachable server dead-lettered %v", d)
	}
	ln, err = net.Listen("tcp", addr) // up again, same address
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	var got arrivals
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: jsonHandler(t, &got, nil)}}
	srv.Start()
	t.Cleanup(srv.Close)
	waitFor(t, "the outbox to drain", drained(ob))
	if d := dead.get(); len(d) != 0 {
		t.Fatalf("dead letters %v", d)
	}
	got.check(t, 100, nil)
}

// TestHTTPRouteMutualTLS: an https destination that requires a client
// certificate gets the readings with tls.ca_file, cert_file and key_file;
// without the client certificate the request fails, transiently.
func TestHTTPRouteMutualTLS(t *testing.T) {
	p := testpki.New(t, t.TempDir())
	var got arrivals
	srv := httptest.NewUnstartedServer(jsonHandler(t, &got, nil))
	cert, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)

	ob := newOutbox(t)
	fill(t, ob, 10, "a")
	cfg := HTTPConfig{URL: srv.URL, TLS: TLSConfig{CAFile: p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey}}
	route(t, forwarder.Config{Encode: cfg.Encoder(), ClassifyFailures: true}, ob, newHTTP(t, cfg))
	waitFor(t, "the outbox to drain", drained(ob))
	got.check(t, 10, nil)

	noCert := newHTTP(t, HTTPConfig{URL: srv.URL, TLS: TLSConfig{CAFile: p.CAFile}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go noCert.Run(ctx)
	d, err := noCert.Publish("a", []byte("[]"))
	if err != nil {
		t.Fatal(err)
	}
	<-d.Done()
	if d.Err() == nil || forwarder.IsPermanent(d.Err()) {
		t.Fatalf("without a client certificate: %v, want a transient failure", d.Err())
	}
}

// TestClassify: which answers are permanent, which transient, and the
// Retry-After hint.
func TestClassify(t *testing.T) {
	tests := []struct {
		code       int
		retryAfter string
		permanent  bool
		hint       time.Duration
	}{
		{400, "", true, 0}, {401, "", false, 0}, {403, "", false, 0}, {404, "", false, 0}, {413, "", true, 0}, {422, "", true, 0},
		{408, "", false, 0}, {429, "7", false, 7 * time.Second}, {500, "", false, 0}, {502, "", false, 0},
		{503, time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), false, 89 * time.Second},
		{307, "", false, 0}, {429, "soon", false, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", tc.code, tc.retryAfter), func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.code, Status: fmt.Sprintf("%d %s", tc.code, http.StatusText(tc.code)),
				Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("x\n"), 10000)))}
			if tc.retryAfter != "" {
				resp.Header.Set("Retry-After", tc.retryAfter)
			}
			err := classify(resp, 10, "http://x")
			if err == nil || forwarder.IsPermanent(err) != tc.permanent {
				t.Fatalf("classify = %v, want permanent %v", err, tc.permanent)
			}
			if h := forwarder.RetryAfterHint(err); h < tc.hint || h > tc.hint+2*time.Second {
				t.Fatalf("retry-after hint %s, want %s", h, tc.hint)
			}
			if len(err.Error()) > 700 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error text not bounded to one short line: %d bytes", len(err.Error()))
			}
		})
	}
}

func TestHTTPConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  HTTPConfig
		want string
	}{
		{HTTPConfig{}, "url: required"},
		{HTTPConfig{URL: "ftp://x"}, "url: scheme must be http or https"},
		{HTTPConfig{URL: "http://u:p@x"}, "url: credentials"},
		{HTTPConfig{URL: "http://x", Format: "csv"}, `format: "csv" unknown`},
		{HTTPConfig{URL: "http://x", Measurement: "m"}, "measurement: set but format"},
		{HTTPConfig{URL: "http://x", Headers: map[string]string{"Bad Name": "v"}}, `headers: "Bad Name" is not a valid header name`},
		{HTTPConfig{URL: "http://x", Headers: map[string]string{"content-type": "x"}}, "headers: Content-Type is set by edged"},
		{HTTPConfig{URL: "http://x", Headers: map[string]string{"X-A": "a\nb"}}, "headers: value of X-A must be one line"},
		{HTTPConfig{URL: "http://x", Timeout: -1}, "timeout: must be > 0"},
		{HTTPConfig{URL: "http://x", Concurrency: 100}, "concurrency: 100 must be between 1 and 64"},
		{HTTPConfig{URL: "http://x", TLS: TLSConfig{CAFile: "/ca.pem"}}, "tls.ca_file: set but url is not TLS, use https://"},
		{HTTPConfig{URL: "https://x", TLS: TLSConfig{CertFile: "/nonexistent"}}, "tls.cert_file and tls.key_file go together"},
		{HTTPConfig{URL: "https://x", TLS: TLSConfig{CAFile: "/nonexistent/ca.pem"}}, "tls.ca_file: stat /nonexistent/ca.pem"},
		{HTTPConfig{URL: "http://x", AuthorizationFile: "/nonexistent/token"}, "authorization_file: stat /nonexistent/token"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	if err := (HTTPConfig{URL: "https://127.0.0.1:8086/api/v2/write?bucket=b", Format: "influx", Measurement: "edged"}).Validate(); err != nil {
		t.Fatalf("a good config: %v", err)
	}
}

// TestHTTPRunEndFailsWaitingDeliveries: every Delivery completes, also
// the ones still queued when Run ends.
func TestHTTPRunEndFailsWaitingDeliveries(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	h := newHTTP(t, HTTPConfig{URL: srv.URL, Concurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	var ds []forwarder.Delivery
	for i := range 3 {
		d, err := h.Publish("a", []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	waitFor(t, "the first request", func() bool { return h.Stats().Requests == 1 })
	cancel()
	<-done
	for i, d := range ds {
		<-d.Done()
		if !errors.Is(d.Err(), ErrClosed) {
			t.Fatalf("delivery %d: %v, want ErrClosed", i, d.Err())
		}
	}
	if _, err := h.Publish("a", []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Run: %v", err)
	}
}

// TestHTTPRoute429HonoursRetryAfter: a 429 with Retry-After: 1 makes the
// route wait at least that second (its back-off alone would retry within
// milliseconds) and dead-letters nothing.
func TestHTTPRoute429HonoursRetryAfter(t *testing.T) {
	ob := newOutbox(t)
	fill(t, ob, 5, "a")
	var mu sync.Mutex
	var times []time.Time
	var got arrivals
	h := jsonHandler(t, &got, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	dead := &deadBox{}
	cfg := HTTPConfig{URL: srv.URL}
	route(t, forwarder.Config{Encode: cfg.Encoder(), DeadLetters: dead, MaxAttempts: 1, ClassifyFailures: true,
		Backoff: forwarder.Backoff{Initial: time.Millisecond, Max: 10 * time.Second}}, ob, newHTTP(t, cfg))
	waitFor(t, "the outbox to drain", drained(ob))
	got.check(t, 5, nil)
	mu.Lock()
	defer mu.Unlock()
	if gap := times[1].Sub(times[0]); gap < time.Second {
		t.Fatalf("retried %s after a 429 with Retry-After: 1", gap)
	}
	if d := dead.get(); len(d) != 0 {
		t.Fatalf("a 429 dead-lettered %v", d)
	}
}
