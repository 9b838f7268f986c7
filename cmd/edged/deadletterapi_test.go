package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/localapi"
	"github.com/edged-gateway/edged/sync/deadletter"
	"github.com/edged-gateway/edged/sync/outbox"
)

// deadLetterServer serves the API over a real store with n entries and a
// real outbox.
func deadLetterServer(t testing.TB, n int) (*httptest.Server, *deadletter.Store, *outbox.Outbox) {
	t.Helper()
	dir := t.TempDir()
	st, err := deadletter.Open(deadletter.Config{Path: filepath.Join(dir, "dl.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ob, err := outbox.Open(outbox.Config{Path: filepath.Join(dir, "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	for i := 1; i <= n; i++ {
		r := reading.Reading{Device: "d", Metric: fmt.Sprintf("m%d", i), Value: float64(i), Time: time.Now(), Seq: uint64(10 + i)}
		if err := st.Put(context.Background(), deadletter.Entry{Route: "cloud", Reason: "too large", Attempts: 3, Reading: r}); err != nil {
			t.Fatal(err)
		}
	}
	s := localapi.New(localapi.Config{Token: "t0k", DeadLetters: localapi.DeadLetterAPI{Store: func() localapi.DeadLetterStore { return newDLStore(st, ob.Append) }}})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, st, ob
}

func postDL(t testing.TB, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestDeadLettersAPI: paging with bounds, one entry, the token on the
// POSTs, a replay into a real outbox and a drop, with the ids not found
// named.
func TestDeadLettersAPI(t *testing.T) {
	srv, st, ob := deadLetterServer(t, 3)
	var page struct {
		DeadLetters []struct {
			ID       uint64    `json:"id"`
			Route    string    `json:"route"`
			Reason   string    `json:"reason"`
			Attempts int       `json:"attempts"`
			At       time.Time `json:"dead_lettered_at"`
			Reading  struct {
				Metric string `json:"metric"`
				Seq    uint64 `json:"seq"`
			} `json:"reading"`
		} `json:"dead_letters"`
		Next  uint64 `json:"next"`
		Count int    `json:"count"`
	}
	getJSON(t, srv.URL+"/api/v1/deadletters?limit=2", 200, &page)
	if len(page.DeadLetters) != 2 || page.Next != 2 || page.Count != 3 || page.DeadLetters[0].Reading.Seq != 11 || page.DeadLetters[0].Route != "cloud" || page.DeadLetters[0].At.IsZero() {
		t.Fatalf("page 1: %+v", page)
	}
	getJSON(t, srv.URL+"/api/v1/deadletters?after=2", 200, &page)
	if len(page.DeadLetters) != 1 || page.Next != 0 || page.DeadLetters[0].Reading.Metric != "m3" {
		t.Fatalf("page 2: %+v", page)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "after=-1", "after=x"} {
		if body := getJSON(t, srv.URL+"/api/v1/deadletters?"+q, 400, nil); !strings.Contains(body, strings.SplitN(q, "=", 2)[0]) {
			t.Errorf("%s: %s, want the parameter named", q, body)
		}
	}
	getJSON(t, srv.URL+"/api/v1/deadletters/2", 200, nil)
	getJSON(t, srv.URL+"/api/v1/deadletters/9", 404, nil)
	getJSON(t, srv.URL+"/api/v1/deadletters/0", 400, nil)
	getJSON(t, srv.URL+"/api/v1/deadletters/x", 400, nil)

	for _, p := range []string{"replay", "drop"} {
		for _, tok := range []string{"", "wrong"} {
			if code, _ := postDL(t, srv.URL+"/api/v1/deadletters/"+p, tok, `{"all":true}`); code != 401 {
				t.Errorf("%s with token %q: %d, want 401", p, tok, code)
			}
		}
	}
	code, body := postDL(t, srv.URL+"/api/v1/deadletters/replay", "t0k", `{"ids":[1,5]}`)
	var res struct {
		Replayed []localapi.DeadLetterReplayed `json:"replayed"`
		NotFound []uint64                      `json:"not_found"`
		Dropped  []uint64                      `json:"dropped"`
		Error    string                        `json:"error"`
	}
	json.Unmarshal([]byte(body), &res)
	if code != 404 || len(res.Replayed) != 1 || res.Replayed[0].OriginalSeq != 11 || res.Replayed[0].Seq != 1 || fmt.Sprint(res.NotFound) != "[5]" || res.Error == "" {
		t.Fatalf("replay 1, 5: %d %s; want 404, 1 replayed as seq 1, 5 not found", code, body)
	}
	if rs, _ := ob.Peek(0, 10, nil); len(rs) != 1 || rs[0].Metric != "m1" {
		t.Fatalf("outbox after the replay: %v", rs)
	}
	// Entries 2 and 3 were dead-lettered just now: none is an hour old.
	code, body = postDL(t, srv.URL+"/api/v1/deadletters/drop", "t0k", `{"all":true,"older_than":"1h"}`)
	if code != 200 || !strings.Contains(body, `"dropped": []`) || st.Stats().Count != 2 {
		t.Fatalf("drop all older than 1h: %d %s, want nothing dropped", code, body)
	}
	for _, bad := range []string{`{"all":true,"older_than":"soon"}`, `{"all":true,"older_than":"-1h"}`} {
		if code, body := postDL(t, srv.URL+"/api/v1/deadletters/drop", "t0k", bad); code != 400 || !strings.Contains(body, "older_than") {
			t.Errorf("%s: %d %s, want 400 naming older_than", bad, code, body)
		}
	}
	code, body = postDL(t, srv.URL+"/api/v1/deadletters/drop", "t0k", `{"all":true}`)
	res.Dropped = nil
	json.Unmarshal([]byte(body), &res)
	if code != 200 || fmt.Sprint(res.Dropped) != "[2 3]" || st.Stats().Count != 0 {
		t.Fatalf("drop all: %d %s", code, body)
	}
	off := httptest.NewServer(localapi.New(localapi.Config{}).Handler())
	defer off.Close()
	if body := getJSON(t, off.URL+"/api/v1/deadletters", 404, nil); !strings.Contains(body, "cloud.url is empty") {
		t.Errorf("without a store: %s", body)
	}
}

// FuzzDeadLetterSelection: any body to drop gets 200, 400 or 404 (never a
// 5xx or a panic), and a 400 names the body.
func FuzzDeadLetterSelection(f *testing.F) {
	for _, s := range []string{`{"ids":[1,2]}`, `{"all":true}`, `{}`, `{"ids":[1],"all":true}`, `{"ids":[0]}`, `{"ids":[18446744073709551615]}`, `{"ids":[-1]}`, `{"all":"yes"}`, `null`, `[`, `{"all":true} x`} {
		f.Add(s)
	}
	srv, _, _ := deadLetterServer(f, 0)
	f.Fuzz(func(t *testing.T, body string) {
		code, out := postDL(t, srv.URL+"/api/v1/deadletters/drop", "t0k", body)
		switch code {
		case 200, 404:
		case 400:
			if !strings.Contains(out, "body") {
				t.Errorf("400 without naming the body: %s", out)
			}
		default:
			t.Errorf("body %q: %d %s", body, code, out)
		}
	})
}

// getJSON GETs url, checks the status code and decodes the body into v.
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

// TestDeadLettersNewestFirst: order=newest pages from the newest entry
// with before=; by_route counts the entries kept per route; a mixed-up
// page parameter or an unknown order is refused, naming it.
func TestDeadLettersNewestFirst(t *testing.T) {
	srv, st, _ := deadLetterServer(t, 3)
	if err := st.Put(context.Background(), deadletter.Entry{Route: "historian", Reason: "HTTP 400", Attempts: 1, Reading: reading.Reading{Device: "d", Metric: "m4", Time: time.Now(), Seq: 14}}); err != nil {
		t.Fatal(err)
	}
	var page struct {
		DeadLetters []struct {
			ID    uint64 `json:"id"`
			Route string `json:"route"`
		} `json:"dead_letters"`
		Next    uint64         `json:"next"`
		Count   int            `json:"count"`
		ByRoute map[string]int `json:"by_route"`
	}
	getJSON(t, srv.URL+"/api/v1/deadletters?order=newest&limit=3", 200, &page)
	if len(page.DeadLetters) != 3 || page.DeadLetters[0].ID != 4 || page.DeadLetters[0].Route != "historian" || page.DeadLetters[2].ID != 2 ||
		page.Next != 2 || page.Count != 4 || fmt.Sprint(page.ByRoute) != "map[cloud:3 historian:1]" {
		t.Fatalf("newest page 1: %+v", page)
	}
	getJSON(t, srv.URL+fmt.Sprintf("/api/v1/deadletters?order=newest&before=%d", page.Next), 200, &page)
	if len(page.DeadLetters) != 1 || page.DeadLetters[0].ID != 1 || page.Next != 0 {
		t.Fatalf("newest page 2: %+v", page)
	}
	getJSON(t, srv.URL+"/api/v1/deadletters?order=oldest&limit=1", 200, &page)
	if len(page.DeadLetters) != 1 || page.DeadLetters[0].ID != 1 || page.Next != 1 {
		t.Fatalf("oldest page: %+v", page)
	}
	for q, name := range map[string]string{"order=newest&after=1": "after", "before=3": "before", "order=latest": "order", "order=newest&before=x": "before"} {
		if body := getJSON(t, srv.URL+"/api/v1/deadletters?"+q, 400, nil); !strings.Contains(body, name) {
			t.Errorf("%s: %s, want %s named", q, body, name)
		}
	}
	if _, err := st.Drop(deadletter.Selection{All: true}); err != nil {
		t.Fatal(err)
	}
	if body := getJSON(t, srv.URL+"/api/v1/deadletters", 200, nil); !strings.Contains(body, `"by_route": {}`) {
		t.Errorf("empty store: %s, want by_route {}", body)
	}
}
