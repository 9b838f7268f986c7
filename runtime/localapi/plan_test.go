package localapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPlanEndpoints(t *testing.T) {
	var got []byte
	s := New(Config{Token: "t0k",
		Plan: func() any { return map[string]any{"version": 3, "state": "applied"} },
		ApplyPlan: func(_ context.Context, env []byte) (any, bool, error) {
			got = env
			ok := strings.Contains(string(env), "good")
			state := "rejected"
			if ok {
				state = "applied"
			}
			return map[string]string{"state": state}, ok, nil
		}})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	off := httptest.NewServer(New(Config{Token: "t0k"}).Handler())
	defer off.Close()
	tests := []struct {
		name, base, method, body, token string
		code                            int
		has                             string
	}{
		{"status", srv.URL, "GET", "", "", 200, `"state": "applied"`},
		{"apply", srv.URL, "POST", `{"plan":"good"}`, "t0k", 200, `"state": "applied"`},
		{"rejected is 422", srv.URL, "POST", `{"plan":"bad"}`, "t0k", 422, `"state": "rejected"`},
		{"apply needs the token", srv.URL, "POST", `{"plan":"good"}`, "", 401, ""},
		{"oversized", srv.URL, "POST", strings.Repeat("x", MaxPlanBody+1), "t0k", 413, "over 2097152 bytes"},
		{"plans off: status", off.URL, "GET", "", "", 404, "plans are off"},
		{"plans off: apply", off.URL, "POST", `{}`, "t0k", 404, "plans.trusted_keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			req, _ := http.NewRequest(tc.method, tc.base+"/api/v1/plan", strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.has) {
				t.Fatalf("HTTP %d %s, want %d with %q", resp.StatusCode, body, tc.code, tc.has)
			}
			if tc.code == 401 && got != nil {
				t.Error("a plan without the token reached the daemon")
			}
			if tc.code == 200 && tc.method == "POST" && string(got) != tc.body {
				t.Errorf("the daemon got %q, want the body as sent", got)
			}
			if resp.StatusCode < 300 && !json.Valid(body) {
				t.Errorf("not JSON: %s", body)
			}
		})
	}
}
