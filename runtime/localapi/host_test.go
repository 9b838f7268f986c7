package localapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHostHeaderIsChecked: a page under another domain that a browser
// resolves to 127.0.0.1 (DNS rebinding) sends its own name in Host; the
// API refuses it, also for the GETs that need no token from loopback.
func TestHostHeaderIsChecked(t *testing.T) {
	s := New(Config{Status: func() any { return map[string]string{"gateway": "gw-1"} }, Hosts: []string{"gateway.lan"}})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tests := []struct {
		host string
		code int
	}{
		{"evil.example", http.StatusMisdirectedRequest},
		{"evil.example:8080", http.StatusMisdirectedRequest},
		{"127.0.0.1.evil.example", http.StatusMisdirectedRequest},
		{"localhost.evil.example", http.StatusMisdirectedRequest},
		{"127.0.0.1:8080", http.StatusOK},
		{"[::1]:8080", http.StatusOK},
		{"192.168.1.20:8080", http.StatusOK},
		{"localhost:8080", http.StatusOK},
		{"LOCALHOST", http.StatusOK},
		{"gateway.lan:8080", http.StatusOK},
		{"gateway.lan.", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/api/v1/status", nil)
			req.Host = tt.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("Host %s: HTTP %d %s, want %d", tt.host, resp.StatusCode, body, tt.code)
			}
			if tt.code != http.StatusOK && (strings.Contains(string(body), "gw-1") || !strings.Contains(string(body), "http.allowed_hosts")) {
				t.Fatalf("refusal body %s: must hold no data and name http.allowed_hosts", body)
			}
		})
	}
}

func TestReadyzSaysWhyItIsNotReady(t *testing.T) {
	why := ""
	s := New(Config{Ready: func() bool { return true }, NotReady: func() string { return why }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	why = "outbox appends failing: no space left on device"
	if code, body := get(); code != 503 || !strings.Contains(body, "no space left") {
		t.Fatalf("readyz while appends fail: %d %q", code, body)
	}
}
