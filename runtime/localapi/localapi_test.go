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

	"edged/runtime/commands"
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
	s := New(Config{Commands: commands.New(map[string]commands.Actuator{"lamp": l}, commands.Config{})})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tests := []struct {
		name, path, body string
		code             int
		want             commands.Result
		on               bool
	}{
		{"on", "/api/v1/devices/lamp/commands", `{"id":"a","action":"set","value":true}`, 200, commands.Result{ID: "a", OK: true}, true},
		{"repeat is not re-run", "/api/v1/devices/lamp/commands", `{"id":"a","action":"set","value":false}`, 200, commands.Result{ID: "a", OK: true}, true},
		{"out of range", "/api/v1/devices/lamp/commands", `{"id":"b","action":"set","value":3}`, 422, commands.Result{ID: "b", Error: "value 3 is not true or false"}, true},
		{"unknown device", "/api/v1/devices/fan/commands", `{"id":"c","action":"set","value":true}`, 422, commands.Result{ID: "c", Error: `device "fan" does not accept commands (devices that do: lamp)`}, true},
		{"too large", "/api/v1/devices/lamp/commands", `{"id":"` + strings.Repeat("x", 5000) + `"}`, 413, commands.Result{Error: "command is over 4096 bytes"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+tc.path, "application/json", strings.NewReader(tc.body))
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

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", "192.0.2.1:80", ":8080", "nonsense"} {
		if _, err := Listen(Config{Listen: addr}); err == nil {
			t.Fatalf("Listen(%q) succeeded", addr)
		}
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
