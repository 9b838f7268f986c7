package artifacts

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// halfThenDie announces all of data, sends the first half and kills the
// connection.
func halfThenDie(data []byte, etag string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:len(data)/2])
		rc := http.NewResponseController(w)
		rc.Flush()
		conn, _, err := rc.Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
	}
}

// wrongRange answers any request with a 206 for the first 10 bytes.
func wrongRange(data []byte) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-9/%d", len(data)))
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[:10])
	}
}

// TestFetchResume interrupts a download half way and fetches again; the
// server answers the resume in each of the ways the protocol allows.
func TestFetchResume(t *testing.T) {
	data, sum := blob(400_000, 1)
	size, half := int64(len(data)), int64(len(data)/2)
	resume := fmt.Sprintf("bytes=%d-", half)
	tests := []struct {
		name       string
		steps      []step
		wantRange  []string // the Range header of each request
		wantIf     []string // its If-Range header
		wantSent   int64    // body bytes the server wrote in all
		wantResume bool     // the second Fetch appended to the part
	}{
		{
			name:      "206 appends",
			steps:     []step{halfThenDie(data, `"v1"`), serveAll(data, `"v1"`)},
			wantRange: []string{"", resume}, wantIf: []string{"", `"v1"`},
			wantSent: size, wantResume: true,
		},
		{
			name:      "206 appends without a validator",
			steps:     []step{halfThenDie(data, ""), serveAll(data, "")},
			wantRange: []string{"", resume}, wantIf: []string{"", ""},
			wantSent: size, wantResume: true,
		},
		{
			name:      "weak ETag is not sent in If-Range",
			steps:     []step{halfThenDie(data, `W/"v1"`), serveAll(data, "")},
			wantRange: []string{"", resume}, wantIf: []string{"", ""},
			wantSent: size, wantResume: true,
		},
		{
			name:      "200 (range ignored) restarts",
			steps:     []step{halfThenDie(data, `"v1"`), plain(data)},
			wantRange: []string{"", resume}, wantIf: []string{"", `"v1"`},
			wantSent: half + size,
		},
		{
			name:      "changed ETag gets 200 and restarts",
			steps:     []step{halfThenDie(data, `"v1"`), serveAll(data, `"v2"`)},
			wantRange: []string{"", resume}, wantIf: []string{"", `"v1"`},
			wantSent: half + size,
		},
		{
			name:      "416 restarts",
			steps:     []step{halfThenDie(data, `"v1"`), status(http.StatusRequestedRangeNotSatisfiable), plain(data)},
			wantRange: []string{"", resume, ""}, wantIf: []string{"", `"v1"`, ""},
			wantSent: half + size,
		},
		{
			name:      "206 for other bytes restarts",
			steps:     []step{halfThenDie(data, `"v1"`), wrongRange(data), plain(data)},
			wantRange: []string{"", resume, ""}, wantIf: []string{"", `"v1"`, ""},
			wantSent: half + 10 + size,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, tt.steps...)
			s := newStore(t, Config{})
			url := ts.URL + "/svc"
			if _, err := s.Fetch(t.Context(), url, sum, nil); err == nil || errors.Is(err, ErrChecksum) {
				t.Fatalf("interrupted Fetch: %v, want a transfer error", err)
			}
			fi, err := os.Stat(filepath.Join(s.dir, sum+".part"))
			if err != nil || fi.Size() != half {
				t.Fatalf("after the interruption the part is %v, %v; want %d bytes", fi, err, half)
			}
			if _, err := os.Stat(filepath.Join(s.dir, sum+".part.meta")); err != nil {
				t.Errorf("no meta beside the part: %v", err)
			}

			var calls []call
			p, err := s.Fetch(t.Context(), url, sum, func(done, total int64) { calls = append(calls, call{done, total}) })
			if err != nil {
				t.Fatalf("second Fetch: %v", err)
			}
			readArtifact(t, p, data)
			if got := dirNames(t, s.dir); !slices.Equal(got, []string{sum}) {
				t.Errorf("store holds %v, want only the artifact", got)
			}
			reqs := ts.requests()
			var gotRange, gotIf []string
			for _, r := range reqs {
				gotRange, gotIf = append(gotRange, r.Range), append(gotIf, r.IfRange)
			}
			if !slices.Equal(gotRange, tt.wantRange) || !slices.Equal(gotIf, tt.wantIf) {
				t.Errorf("requests had Range %q and If-Range %q, want %q and %q", gotRange, gotIf, tt.wantRange, tt.wantIf)
			}
			if got := ts.bodyBytes(); got != tt.wantSent {
				t.Errorf("server sent %d bytes, want %d", got, tt.wantSent)
			}
			checkProgress(t, calls, size)
			if first := calls[0]; tt.wantResume && first != (call{half, size}) {
				t.Errorf("first progress call of the resume %+v, want {%d %d}", first, half, size)
			}
		})
	}
}

// TestFetchResumeOtherURL resumes a part from another url (a mirror): the
// ETag of the first server is not sent to the second.
func TestFetchResumeOtherURL(t *testing.T) {
	data, sum := blob(100_000, 2)
	first := newServer(t, halfThenDie(data, `"v1"`))
	mirror := newServer(t, serveAll(data, `"m1"`))
	s := newStore(t, Config{})
	if _, err := s.Fetch(t.Context(), first.URL, sum, nil); err == nil {
		t.Fatal("interrupted Fetch succeeded")
	}
	if _, err := s.Fetch(t.Context(), mirror.URL, sum, nil); err != nil {
		t.Fatal(err)
	}
	got := mirror.requests()
	if want := []seen{{Range: fmt.Sprintf("bytes=%d-", len(data)/2), AcceptEncoding: "identity"}}; !slices.Equal(got, want) {
		t.Errorf("mirror saw %+v, want %+v", got, want)
	}
}

// TestFetchStall fails a download that stops sending, keeps the part, and
// resumes it.
func TestFetchStall(t *testing.T) {
	data, sum := blob(200_000, 3)
	var ts *testServer
	ts = newServer(t,
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/2])
			http.NewResponseController(w).Flush()
			select { // stall until the client gives up
			case <-r.Context().Done():
			case <-ts.quit:
			}
		},
		serveAll(data, `"v1"`))
	s := newStore(t, Config{StallTimeout: 50 * time.Millisecond})
	_, err := s.Fetch(t.Context(), ts.URL, sum, nil)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("Fetch = %v, want ErrStalled", err)
	}
	if fi, err := os.Stat(filepath.Join(s.dir, sum+".part")); err != nil || fi.Size() != int64(len(data)/2) {
		t.Fatalf("part after the stall: %v, %v", fi, err)
	}
	p, err := s.Fetch(t.Context(), ts.URL, sum, nil)
	if err != nil {
		t.Fatal(err)
	}
	readArtifact(t, p, data)
	if got := ts.bodyBytes(); got != int64(len(data)) {
		t.Errorf("server sent %d bytes, want %d", got, len(data))
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in          string
		start, size int64
		ok          bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 100-199/*", 100, -1, true},
		{"bytes 100-199/150", 0, 0, false},
		{"bytes 200-100/300", 0, 0, false},
		{"bytes */200", 0, 0, false},
		{"items 0-1/2", 0, 0, false},
		{"bytes -1-5/10", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		start, size, ok := parseContentRange(tt.in)
		if start != tt.start || size != tt.size || ok != tt.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, %v", tt.in, start, size, ok, tt.start, tt.size, tt.ok)
		}
	}
}

func TestMetaValidator(t *testing.T) {
	const lm = "Mon, 02 Jan 2006 15:04:05 GMT"
	tests := []struct {
		meta partMeta
		want string
	}{
		{partMeta{ETag: `"v1"`, LastModified: lm}, `"v1"`},
		{partMeta{ETag: `W/"v1"`, LastModified: lm}, lm},
		{partMeta{ETag: `W/"v1"`}, ""},
		{partMeta{LastModified: lm}, lm},
		{partMeta{}, ""},
	}
	for _, tt := range tests {
		if got := tt.meta.validator(); got != tt.want {
			t.Errorf("%+v.validator() = %q, want %q", tt.meta, got, tt.want)
		}
	}
}
