package artifacts

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveAll serves data with http.ServeContent, which honours Range and
// If-Range; etag, if not empty, is its ETag.
func serveAll(data []byte, etag string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
}

// plain serves data with status 200 whatever the request asks.
func plain(data []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}
}

// chunked streams data without a Content-Length.
func chunked(data []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for b := data; len(b) > 0; {
			n := min(len(b), 4096)
			w.Write(b[:n])
			rc.Flush()
			b = b[n:]
		}
	}
}

// status answers with code and no body.
func status(code int) step {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

// readArtifact checks that path holds want and is executable.
func readArtifact(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %d bytes that differ from the %d served", path, len(got), len(want))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("%s has mode %v, want 0755", path, fi.Mode().Perm())
	}
}

func TestFetchAndReuse(t *testing.T) {
	data, sum := blob(300_000, 1)
	tests := []struct {
		name   string
		source func(t *testing.T) (url string, requests func() int, forget func())
	}{
		{"http", func(t *testing.T) (string, func() int, func()) {
			ts := newServer(t, serveAll(data, `"v1"`))
			return ts.URL + "/bin/svc", func() int { return len(ts.requests()) }, ts.Close
		}},
		{"file", func(t *testing.T) (string, func() int, func()) {
			u := writeSource(t, data)
			return u, func() int { return 0 }, func() { os.Remove(u[len("file://"):]) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, Config{})
			url, requests, forget := tt.source(t)
			p, err := s.Fetch(t.Context(), url, sum, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(s.dir, sum); p != want {
				t.Errorf("Fetch = %q, want %q", p, want)
			}
			readArtifact(t, p, data)
			if got := dirNames(t, s.dir); len(got) != 1 {
				t.Errorf("store holds %v, want only the artifact", got)
			}
			n := requests()
			forget() // the source is gone: a second Fetch must not need it
			p2, err := s.Fetch(t.Context(), url, sum, nil)
			if err != nil || p2 != p {
				t.Errorf("second Fetch = %q, %v; want %q", p2, err, p)
			}
			if got := requests(); got != n {
				t.Errorf("second Fetch made %d requests", got-n)
			}
			if tt.name == "http" && n != 1 {
				t.Errorf("first Fetch made %d requests, want 1", n)
			}
		})
	}
}

func TestFetchAsksForIdentity(t *testing.T) {
	data, sum := blob(1000, 2)
	ts := newServer(t, serveAll(data, ""))
	if _, err := newStore(t, Config{}).Fetch(t.Context(), ts.URL, sum, nil); err != nil {
		t.Fatal(err)
	}
	if got := ts.requests()[0].AcceptEncoding; got != "identity" {
		t.Errorf("Accept-Encoding %q, want identity", got)
	}
}

// TestFetchRejects covers downloads that fail and what they leave behind.
func TestFetchRejects(t *testing.T) {
	data, sum := blob(2000, 3)
	_, otherSum := blob(2000, 4)
	tests := []struct {
		name     string
		steps    []step // http source; nil means a file:// source of data
		sum      string
		maxBytes int64
		wantIs   error
		want     []string // in the message besides the url
	}{
		{name: "http wrong sha256", steps: []step{serveAll(data, "")}, sum: otherSum,
			wantIs: ErrChecksum, want: []string{"want " + otherSum, "got " + sum}},
		{name: "file wrong sha256", sum: otherSum,
			wantIs: ErrChecksum, want: []string{"want " + otherSum, "got " + sum}},
		{name: "http not found", steps: []step{status(http.StatusNotFound)}, sum: sum,
			wantIs: ErrHTTPStatus, want: []string{"404 Not Found"}},
		{name: "http server error", steps: []step{status(http.StatusServiceUnavailable)}, sum: sum,
			wantIs: ErrHTTPStatus, want: []string{"503"}},
		{name: "Content-Length over max_bytes", steps: []step{plain(data)}, sum: sum, maxBytes: 1000,
			wantIs: ErrTooLarge, want: []string{"limit of 1000 bytes"}},
		{name: "stream over max_bytes", steps: []step{chunked(data)}, sum: sum, maxBytes: 1000,
			wantIs: ErrTooLarge, want: []string{"limit of 1000 bytes"}},
		{name: "file over max_bytes", sum: sum, maxBytes: 1000,
			wantIs: ErrTooLarge, want: []string{"limit of 1000 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, Config{MaxBytes: tt.maxBytes})
			url := ""
			if tt.steps != nil {
				url = newServer(t, tt.steps...).URL + "/svc"
			} else {
				url = writeSource(t, data)
			}
			p, err := s.Fetch(t.Context(), url, tt.sum, nil)
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("Fetch = %q, %v; want %v", p, err, tt.wantIs)
			}
			msg := err.Error()
			for _, w := range append(tt.want, "artifacts: fetch "+url) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if got := dirNames(t, s.dir); len(got) != 0 {
				t.Errorf("store holds %v, want nothing", got)
			}
			if _, ok := s.Path(tt.sum); ok {
				t.Errorf("Path(%s) reports a rejected artifact", tt.sum)
			}
		})
	}
}

func TestFetchBadInput(t *testing.T) {
	_, sum := blob(10, 5)
	ts := newServer(t, status(http.StatusOK))
	tests := []struct {
		name, url, sum string
		wantIs         error
	}{
		{"empty sum", ts.URL, "", ErrInvalidSum},
		{"upper-case sum", ts.URL, strings.ToUpper(sum), ErrInvalidSum},
		{"short sum", ts.URL, sum[:63], ErrInvalidSum},
		{"non-hex sum", ts.URL, "g" + sum[1:], ErrInvalidSum},
		{"sha256: prefix", ts.URL, "sha256:" + sum, ErrInvalidSum},
		{"ftp", "ftp://127.0.0.1/svc", sum, ErrInvalidURL},
		{"no scheme", "/opt/svc", sum, ErrInvalidURL},
		{"http without host", "http:///svc", sum, ErrInvalidURL},
		{"file with host", "file://example/opt/svc", sum, ErrInvalidURL},
		{"relative file", "file:opt/svc", sum, ErrInvalidURL},
		{"unparsable", "http://127.0.0.1:bad/", sum, ErrInvalidURL},
		{"control character", "http://127.0.0.1/\x7f", sum, ErrInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, Config{})
			_, err := s.Fetch(t.Context(), tt.url, tt.sum, nil)
			if !errors.Is(err, tt.wantIs) || !strings.HasPrefix(err.Error(), "artifacts: ") {
				t.Fatalf("Fetch: %v, want an artifacts: error wrapping %v", err, tt.wantIs)
			}
			if tt.wantIs == ErrInvalidSum && !strings.Contains(err.Error(), "64 lower-case hex") {
				t.Errorf("error %q does not say what a sum looks like", err)
			}
			if got := dirNames(t, s.dir); len(got) != 0 {
				t.Errorf("store holds %v after bad input", got)
			}
		})
	}
	if n := len(ts.requests()); n != 0 {
		t.Errorf("bad input made %d requests", n)
	}
}

// call is one progress report.
type call struct{ done, total int64 }

// checkProgress wants done never to go down and the last call to be
// (size, size).
func checkProgress(t *testing.T, calls []call, size int64) {
	t.Helper()
	if len(calls) == 0 {
		t.Fatal("progress never called")
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].done < calls[i-1].done {
			t.Errorf("progress went down: call %d %+v after %+v", i, calls[i], calls[i-1])
		}
	}
	if last := calls[len(calls)-1]; last != (call{size, size}) {
		t.Errorf("last progress call %+v, want {%d %d}", last, size, size)
	}
}

func TestFetchProgress(t *testing.T) {
	data, sum := blob(1<<20, 6)
	tests := []struct {
		name      string
		url       func(t *testing.T) string
		wantTotal int64 // of the first call
	}{
		{"http with length", func(t *testing.T) string { return newServer(t, serveAll(data, "")).URL }, int64(len(data))},
		{"http chunked", func(t *testing.T) string { return newServer(t, chunked(data)).URL }, -1},
		{"file", func(t *testing.T) string { return writeSource(t, data) }, int64(len(data))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []call
			_, err := newStore(t, Config{}).Fetch(t.Context(), tt.url(t), sum, func(done, total int64) {
				calls = append(calls, call{done, total})
			})
			if err != nil {
				t.Fatal(err)
			}
			checkProgress(t, calls, int64(len(data)))
			if calls[0].total != tt.wantTotal {
				t.Errorf("first progress call %+v, want total %d", calls[0], tt.wantTotal)
			}
		})
	}
}

// TestFetchConcurrent fetches one sum from many goroutines while the
// server holds the first response until all of them are in Fetch: one
// download, one file.
func TestFetchConcurrent(t *testing.T) {
	const n = 8
	data, sum := blob(500_000, 7)
	gate := make(chan struct{})
	ts := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		serveAll(data, "")(w, r)
	})
	s := newStore(t, Config{})
	var wg sync.WaitGroup
	paths := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { paths[i], errs[i] = s.Fetch(t.Context(), ts.URL, sum, nil) })
	}
	for s.lockRefs(sum) < n { // all n hold or wait for the sum's lock
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || paths[i] != filepath.Join(s.dir, sum) {
			t.Errorf("Fetch %d = %q, %v", i, paths[i], errs[i])
		}
	}
	if got := len(ts.requests()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
	readArtifact(t, filepath.Join(s.dir, sum), data)
	if got := s.locks.size(); got != 0 {
		t.Errorf("%d locks left in the map", got)
	}
}

// TestFetchCancelWhileWaiting ends the context of a Fetch that waits for
// another Fetch of the same sum.
func TestFetchCancelWhileWaiting(t *testing.T) {
	_, sum := blob(10, 8)
	s := newStore(t, Config{})
	unlock, err := s.locks.lock(t.Context(), sum)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Fetch(ctx, "http://127.0.0.1:1/svc", sum, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch = %v, want context.Canceled", err)
	}
}

// lockRefs counts the holders and waiters of sum's lock.
func (s *Store) lockRefs(sum string) int {
	s.locks.mu.Lock()
	defer s.locks.mu.Unlock()
	if e := s.locks.m[sum]; e != nil {
		return e.refs
	}
	return 0
}
