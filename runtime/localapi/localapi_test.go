package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/runtime/commands"
)

// lamp is an actuator for the handler tests.
type lamp struct{ on bool }

func (l *lamp) Check(action string, v any) error {
	if action != "set" {
		return fmt.Errorf("action %q not supported, use set", action)
	}
	if _, ok := v.(bool); !ok {
		return fmt.Errorf("value %v is not true or false", v)
	}
	return nil
}

func (l *lamp) Do(_ context.Context, action string, v any) error {
	if err := l.Check(action, v); err != nil {
		return err
	}
	l.on = v.(bool)
	return nil
}

func TestCommandEndpoint(t *testing.T) {
	l := &lamp{}
	s := New(Config{Token: "t0k", Commands: commands.New(map[string]commands.Actuator{"lamp": l}, commands.Config{})})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tests := []struct {
		name, path, body string
		code             int
		want             commands.Result
		on               bool
	}{
		{"on", "/api/v1/devices/lamp/commands", `{"id":"a","action":"set","value":true}`, 200, commands.Result{ID: "a", OK: true}, true},
		{"repeat is not re-run", "/api/v1/devices/lamp/commands", `{"id":"a","action":"set","value":false}`, 200, commands.Result{ID: "a", OK: true, Duplicate: true}, true},
		{"out of range", "/api/v1/devices/lamp/commands", `{"id":"b","action":"set","value":3}`, 422, commands.Result{ID: "b", Error: "value 3 is not true or false"}, true},
		{"unknown device", "/api/v1/devices/fan/commands", `{"id":"c","action":"set","value":true}`, 422, commands.Result{ID: "c", Error: `device "fan" does not accept commands (devices that do: lamp)`}, true},
		{"too large", "/api/v1/devices/lamp/commands", `{"id":"` + strings.Repeat("x", 5000) + `"}`, 413, commands.Result{Error: "command is over 4096 bytes"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer t0k")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got commands.Result
			json.NewDecoder(resp.Body).Decode(&got)
			if resp.StatusCode != tc.code || got != tc.want || l.on != tc.on {
				t.Fatalf("HTTP %d %+v lamp=%v; want %d %+v lamp=%v", resp.StatusCode, got, l.on, tc.code, tc.want, tc.on)
			}
		})
	}
	resp, _ := http.Get(srv.URL + "/api/v1/devices/lamp/commands")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET on the command route: HTTP %d", resp.StatusCode)
	}
}

func TestHealthReadyStatus(t *testing.T) {
	ready := false
	s := New(Config{Status: func() any { return map[string]int{"outbox_readings": 7} }, Ready: func() bool { return ready }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("readyz before ready: %d", code)
	}
	ready = true
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz when ready: %d", code)
	}
	if code, body := get("/api/v1/status"); code != 200 || !strings.Contains(body, `"outbox_readings": 7`) {
		t.Fatalf("status %d %s", code, body)
	}
}

func TestListenBeyondLoopbackNeedsAToken(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", "192.0.2.1:80", ":8080", "nonsense"} {
		err := Config{Listen: addr}.Validate()
		if err == nil || !strings.Contains(err.Error(), "http.listen") {
			t.Fatalf("Listen(%q) without a token: %v, want an error naming http.listen", addr, err)
		}
	}
	if err := (Config{Listen: "0.0.0.0:8080", Token: "x"}).Validate(); err != nil {
		t.Fatalf("all interfaces with a token: %v", err)
	}
	if err := (Config{Listen: "127.0.0.1:8080", CertFile: "c"}).Validate(); err == nil {
		t.Fatal("a cert without a key was accepted")
	}
	s, err := Listen(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz on %s: %v", s.Addr(), err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTokenRules checks who needs the token: every non-GET, and every
// request from beyond loopback. Requests are served in-process with their
// remote address set, so no traffic leaves the machine.
func TestTokenRules(t *testing.T) {
	l := &lamp{}
	h := New(Config{Token: "s3cret", Status: func() any { return map[string]int{"ok": 1} },
		Commands: commands.New(map[string]commands.Actuator{"lamp": l}, commands.Config{})}).Handler()
	tests := []struct {
		name, method, path, remote, auth string
		code                             int
	}{
		{"GET from loopback", "GET", "/api/v1/status", "127.0.0.1:5000", "", 200},
		{"GET from ::1", "GET", "/api/v1/status", "[::1]:5000", "", 200},
		{"GET from the LAN without token", "GET", "/api/v1/status", "192.0.2.7:5000", "", 401},
		{"GET from the LAN with token", "GET", "/api/v1/status", "192.0.2.7:5000", "Bearer s3cret", 200},
		{"GET from the LAN, wrong token", "GET", "/api/v1/status", "192.0.2.7:5000", "Bearer nope", 401},
		{"POST from loopback without token", "POST", "/api/v1/devices/lamp/commands", "127.0.0.1:5000", "", 401},
		{"POST from loopback, wrong token", "POST", "/api/v1/devices/lamp/commands", "127.0.0.1:5000", "Bearer s3cre", 401},
		{"POST from loopback with token", "POST", "/api/v1/devices/lamp/commands", "127.0.0.1:5000", "Bearer s3cret", 200},
		{"POST from the LAN with token", "POST", "/api/v1/devices/lamp/commands", "192.0.2.7:5000", "Bearer s3cret", 200},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"id":"c%d","action":"set","value":true}`, i)
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(body))
			req.RemoteAddr, req.Host = tc.remote, "127.0.0.1:8080"
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("HTTP %d %s, want %d", rec.Code, rec.Body.String(), tc.code)
			}
			if tc.code == 401 && !strings.Contains(rec.Body.String(), "token") {
				t.Errorf("a refusal should say what is missing: %s", rec.Body.String())
			}
		})
	}
	if (New(Config{}).Handler()) == nil {
		t.Fatal("no handler")
	}
	// With no token configured, nothing that needs one gets through.
	req := httptest.NewRequest("POST", "/api/v1/devices/lamp/commands", strings.NewReader(`{}`))
	req.RemoteAddr, req.Host = "127.0.0.1:1", "127.0.0.1:8080"
	req.Header.Set("Authorization", "Bearer ")
	rec := httptest.NewRecorder()
	New(Config{}).Handler().ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("an empty token was accepted: %d", rec.Code)
	}
}

func TestDevicesReadingsServices(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var gotSince time.Time
	s := New(Config{
		Devices: func() any { return map[string]any{"devices": []string{"env"}} },
		Readings: func(device string, since time.Time) (any, bool) {
			if device == "env" {
				gotSince = since
			}
			return map[string]any{"device": device}, device == "env"
		},
	})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/api/v1/devices", 200, `"env"`},
		{"/api/v1/devices/env/readings?since=" + t0.Format(time.RFC3339), 200, `"device": "env"`},
		{"/api/v1/devices/env/readings?since=yesterday", 400, `since=\"yesterday\" is not an RFC 3339 time`},
		{"/api/v1/devices/ghost/readings", 404, `no readings of device \"ghost\"`},
		{"/api/v1/services", 200, `"services": []`},
	} {
		code, body := get(tc.path)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %s, want %d with %s", tc.path, code, body, tc.code, tc.want)
		}
	}
	if !gotSince.Equal(t0) {
		t.Errorf("since passed as %v, want %v", gotSince, t0)
	}
}
