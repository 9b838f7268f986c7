package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// blob returns n deterministic bytes that differ by seed, and their sum.
func blob(n int, seed byte) ([]byte, string) {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	h := sha256.Sum256(b)
	return b, hex.EncodeToString(h[:])
}

// newStore opens a Store in a fresh directory.
func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "artifacts"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeSource writes data to a file and returns its file:// url.
func writeSource(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "service.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// step serves one request of a testServer.
type step func(w http.ResponseWriter, r *http.Request)

// seen is what a testServer recorded of one request.
type seen struct {
	Range, IfRange, AcceptEncoding string
}

// testServer is a loopback HTTP server that serves request i with
// steps[i] (the last step repeats), records the requests and counts the
// body bytes it wrote.
type testServer struct {
	*httptest.Server
	quit  chan struct{} // closed before the server, to free blocked steps
	mu    sync.Mutex
	reqs  []seen
	sent  atomic.Int64
	steps []step
}

func newServer(t *testing.T, steps ...step) *testServer {
	t.Helper()
	ts := &testServer{quit: make(chan struct{}), steps: steps}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		i := len(ts.reqs)
		ts.reqs = append(ts.reqs, seen{r.Header.Get("Range"), r.Header.Get("If-Range"), r.Header.Get("Accept-Encoding")})
		ts.mu.Unlock()
		ts.steps[min(i, len(ts.steps)-1)](&countingWriter{ResponseWriter: w, n: &ts.sent}, r)
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(ts.quit) }) // runs first
	return ts
}

// requests returns what the server saw so far.
func (ts *testServer) requests() []seen {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.reqs)
}

// bodyBytes waits for the handlers to return (closing the server) and
// returns the body bytes they wrote.
func (ts *testServer) bodyBytes() int64 {
	ts.Close()
	return ts.sent.Load()
}

// countingWriter counts body bytes; Unwrap lets http.ResponseController
// reach Flush and Hijack.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "artifacts")
	if _, err := Open(dir, Config{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&^0o750 != 0 {
		t.Errorf("dir mode %v, want a directory with at most 0750", fi.Mode())
	}

	tests := []struct {
		name string
		dir  string
		cfg  Config
		want string
	}{
		{"negative max bytes", dir, Config{MaxBytes: -1}, "max_bytes"},
		{"negative stall timeout", dir, Config{StallTimeout: -1}, "stall_timeout"},
		{"dir is a file", writeSource(t, nil)[len("file://"):], Config{}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.dir, tt.cfg)
			if err == nil || !strings.HasPrefix(err.Error(), "artifacts: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v, want an error about %s", err, tt.want)
			}
		})
	}
}

func TestPathAndList(t *testing.T) {
	s := newStore(t, Config{})
	a, sumA := blob(100, 1)
	_, sumB := blob(100, 2)
	if _, err := s.Fetch(t.Context(), writeSource(t, a), sumA, nil); err != nil {
		t.Fatal(err)
	}
	// Parts, a directory named like a sum and other files are not artifacts.
	for _, name := range []string{sumB + ".part", sumB + ".part.meta", "README"} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, sumC := blob(1, 3)
	if err := os.Mkdir(filepath.Join(s.dir, sumC), 0o700); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		sum  string
		want bool
	}{
		{sumA, true},
		{sumB, false},
		{sumC, false},
		{strings.ToUpper(sumA), false},
		{"README", false},
		{"", false},
	}
	for _, tt := range tests {
		p, ok := s.Path(tt.sum)
		if ok != tt.want || (ok && p != filepath.Join(s.dir, tt.sum)) {
			t.Errorf("Path(%q) = %q, %v; want ok %v", tt.sum, p, ok, tt.want)
		}
	}
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{sumA}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}

func TestGC(t *testing.T) {
	s := newStore(t, Config{})
	var sums []string
	for i := range 3 {
		data, sum := blob(1000+i, byte(i))
		if _, err := s.Fetch(t.Context(), writeSource(t, data), sum, nil); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	slices.Sort(sums)
	a, b, c := sums[0], sums[1], sums[2]
	_, d := blob(10, 10) // an interrupted download nobody wants
	_, e := blob(10, 11) // an interrupted download that is kept
	for _, name := range []string{d + ".part", d + ".part.meta", a + ".part", e + ".part", e + ".part.meta", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A bad sum in keep removes nothing.
	if _, err := s.GC([]string{a, strings.ToUpper(e)}); !errors.Is(err, ErrInvalidSum) {
		t.Fatalf("GC with a bad sum: %v, want ErrInvalidSum", err)
	}
	if n := len(dirNames(t, s.dir)); n != 9 {
		t.Fatalf("GC with a bad sum left %d files, want all 9", n)
	}

	removed, err := s.GC([]string{a, e})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{b, c}; !slices.Equal(removed, want) {
		t.Errorf("GC removed %v, want %v", removed, want)
	}
	want := []string{a, e + ".part", e + ".part.meta", "notes.txt"}
	slices.Sort(want)
	if got := dirNames(t, s.dir); !slices.Equal(got, want) {
		t.Errorf("after GC the store holds %v, want %v", got, want)
	}
	if got, _ := s.List(); !slices.Equal(got, []string{a}) {
		t.Errorf("List = %v, want [%s]", got, a)
	}

	removed, err = s.GC(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{a}) {
		t.Errorf("GC(nil) removed %v, want [%s]", removed, a)
	}
	if got := dirNames(t, s.dir); !slices.Equal(got, []string{"notes.txt"}) {
		t.Errorf("after GC(nil) the store holds %v, want only notes.txt", got)
	}
}

// TestGCSkipsFetchInProgress runs GC while a download of an unkept sum is
// half way: GC leaves it, and the download completes.
func TestGCSkipsFetchInProgress(t *testing.T) {
	data, sum := blob(200_000, 4)
	started, release := make(chan struct{}), make(chan struct{})
	ts := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:len(data)/2])
		http.NewResponseController(w).Flush()
		close(started)
		<-release
		w.Write(data[len(data)/2:])
	})
	s := newStore(t, Config{})
	errc := make(chan error, 1)
	go func() {
		_, err := s.Fetch(t.Context(), ts.URL+"/svc", sum, nil)
		errc <- err
	}()
	<-started
	removed, err := s.GC(nil)
	if err != nil || len(removed) != 0 {
		t.Errorf("GC during a fetch = %v, %v; want nothing removed", removed, err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if got, _ := s.List(); !slices.Equal(got, []string{sum}) {
		t.Errorf("List = %v, want [%s]", got, sum)
	}
}
