package localapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edged-gateway/edged/internal/openapicheck"
	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/localapi/console"
)

// fullServer is a server with every part set, so every route is
// registered: a real command executor, Prometheus handler and console.
func fullServer() *Server {
	return New(Config{Token: "t0k",
		Status:   func() any { return map[string]any{} },
		Devices:  func() any { return map[string]any{"devices": []any{}} },
		Readings: func(string, time.Time) (any, bool) { return nil, false },
		Services: func() any { return map[string]any{"services": []any{}} },
		RestartService: func(name string) error {
			if name != "stats" {
				return errors.New(`no service "` + name + `"`)
			}
			return nil
		},
		Plan:      func() any { return map[string]any{} },
		ApplyPlan: func(context.Context, []byte) (any, bool, error) { return nil, false, errors.New("stopping") },
		Commands:  commands.New(map[string]commands.Actuator{"lamp": &lamp{}}, commands.Config{}),
		Metrics:   promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{}),
		Console:   console.Handler(),
	})
}

func parseOpenAPI(t *testing.T) *openapicheck.Doc {
	t.Helper()
	doc, err := openapicheck.Parse(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOpenAPICoversEveryRoute: every pattern registered on the mux is an
// operation of the document, and every operation of the document is served
// (it answers with one of its documented codes, not the mux's 404 or 405).
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := parseOpenAPI(t)
	s := fullServer()
	h := s.Handler()
	var documented []string
	for _, op := range doc.Operations() {
		documented = append(documented, op.Method+" "+op.Path)
	}
	for _, p := range s.patterns {
		if !slices.Contains(documented, p) {
			t.Errorf("route %q is served but not in openapi.json", p)
		}
	}
	for _, op := range doc.Operations() {
		if !slices.Contains(s.patterns, op.Method+" "+op.Path) {
			t.Errorf("openapi.json describes %s %s, which is not registered", op.Method, op.Path)
		}
		path := strings.ReplaceAll(op.Path, "{name}", "lamp")
		body := ""
		switch {
		case strings.HasSuffix(op.Path, "/commands"):
			body = `{"id":"c1","action":"set","value":true}`
		case strings.HasSuffix(op.Path, "/restart"):
			path = strings.ReplaceAll(op.Path, "{name}", "stats")
		}
		req := httptest.NewRequest(op.Method, path, strings.NewReader(body))
		req.RemoteAddr, req.Host = "127.0.0.1:5000", "127.0.0.1"
		req.Header.Set("Authorization", "Bearer t0k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if _, _, err := doc.Response(op, rec.Code); err != nil {
			t.Errorf("%s %s: %v (body %.200s)", op.Method, path, err, rec.Body)
		}
	}
	// The document itself is served, and is what OpenAPI returns.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/openapi.json", nil)
	req.RemoteAddr, req.Host = "127.0.0.1:5000", "127.0.0.1"
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != string(OpenAPI()) || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/openapi.json: %d %s, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
}

// TestErrorBodiesHaveOneShape: every error answer is {"error", "hint"}
// as documented for its code, and is not HTML-escaped (the 401 body shows
// "Bearer <token>", not "Bearer \u003ctoken\u003e").
func TestErrorBodiesHaveOneShape(t *testing.T) {
	doc := parseOpenAPI(t)
	full := fullServer().Handler()
	bare := New(Config{Token: "t0k"}).Handler() // no services, no plans, no commands
	tests := []struct {
		name                string
		h                   http.Handler
		method, path, token string
		remote, host, body  string
		op                  string // the documented operation
		code                int
		has                 string
	}{
		{"no token", full, "POST", "/api/v1/plan", "", "", "", "{}", "/api/v1/plan", 401, "Authorization: Bearer <token>"},
		{"wrong token", full, "POST", "/api/v1/plan", "nope", "", "", "{}", "/api/v1/plan", 401, "wrong API token"},
		{"GET from the LAN without token", full, "GET", "/api/v1/status", "", "192.0.2.7:5000", "", "", "/api/v1/status", 401, "Bearer <token>"},
		{"rebinding Host", full, "GET", "/api/v1/status", "", "", "evil.example:8080", "", "/api/v1/status", 421, "http.allowed_hosts"},
		{"bad since", full, "GET", "/api/v1/devices/lamp/readings?since=%3Cb%3E", "", "", "", "", "/api/v1/devices/{name}/readings", 400, `since=\"<b>\"`},
		{"unknown device", full, "GET", "/api/v1/devices/ghost/readings", "", "", "", "", "/api/v1/devices/{name}/readings", 404, "ghost"},
		{"unknown service", full, "POST", "/api/v1/services/ghost/restart", "t0k", "", "", "", "/api/v1/services/{name}/restart", 404, "ghost"},
		{"no services", bare, "POST", "/api/v1/services/stats/restart", "t0k", "", "", "", "/api/v1/services/{name}/restart", 404, "runs no services"},
		{"plans off", bare, "GET", "/api/v1/plan", "", "", "", "", "/api/v1/plan", 404, "plans.trusted_keys"},
		{"plans off: apply", bare, "POST", "/api/v1/plan", "t0k", "", "", "{}", "/api/v1/plan", 404, "plans.trusted_keys"},
		{"plan too large", full, "POST", "/api/v1/plan", "t0k", "", "", strings.Repeat("x", MaxPlanBody+1), "/api/v1/plan", 413, "over 2097152 bytes"},
		{"plan apply cut short", full, "POST", "/api/v1/plan", "t0k", "", "", "{}", "/api/v1/plan", 503, "stopping"},
		{"no actuators", bare, "POST", "/api/v1/devices/lamp/commands", "t0k", "", "", "{}", "/api/v1/devices/{name}/commands", 404, "no devices that accept commands"},
		{"command too large", full, "POST", "/api/v1/devices/lamp/commands", "t0k", "", "", strings.Repeat("x", 5000), "/api/v1/devices/{name}/commands", 413, "over 4096 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			req.RemoteAddr, req.Host = "127.0.0.1:5000", "127.0.0.1"
			if tc.remote != "" {
				req.RemoteAddr = tc.remote
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tc.code || !strings.Contains(body, tc.has) {
				t.Fatalf("%d %s, want %d with %q", rec.Code, body, tc.code, tc.has)
			}
			if strings.Contains(body, `\u00`) {
				t.Errorf("HTML-escaped body: %s", body)
			}
			op := openapicheck.Operation{Method: tc.method, Path: tc.op}
			if err := doc.ValidateResponse(op, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()); err != nil {
				t.Errorf("%s", err)
			}
			if err := doc.Validate(doc.Schema("Error"), rec.Body.Bytes()); err != nil {
				t.Errorf("not the error shape: %v", err)
			}
		})
	}
}

// TestListenInUseNamesTheField: a taken API port fails with the field to
// change and a free address to use, as the broker's 1883 clash does.
func TestListenInUseNamesTheField(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Listen(Config{Listen: l.Addr().String()})
	if err == nil {
		t.Fatal("Listen on a taken port succeeded")
	}
	for _, want := range []string{"http.listen: " + l.Addr().String() + " is in use", "set http.listen to a free port", "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
