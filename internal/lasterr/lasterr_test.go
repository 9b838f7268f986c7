package lasterr

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

func TestRecord(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	var r Record
	if e := r.Get(); e.Message != "" || e.Current() || e.String() != "" {
		t.Fatalf("zero record = %+v", e)
	}
	r.Recovered(t0) // nothing to recover from
	if e := r.Get(); !e.RecoveredAt.IsZero() {
		t.Fatalf("Recovered without an error set RecoveredAt: %+v", e)
	}
	r.Set("connection refused", t0)
	if e := r.Get(); !e.Current() || !e.At.Equal(t0) || e.String() != "connection refused (at 2026-12-06T08:00:00Z)" {
		t.Fatalf("after Set: %+v %q", e, e.String())
	}
	r.Recovered(t0.Add(3 * time.Second))
	r.Recovered(t0.Add(9 * time.Second)) // the first recovery is kept
	e := r.Get()
	if e.Current() || !e.RecoveredAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("after Recovered: %+v", e)
	}
	if got, want := e.String(), "connection refused (at 2026-12-06T08:00:00Z, recovered at 2026-12-06T08:00:03Z)"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	b, _ := json.Marshal(e)
	if got, want := string(b), `{"error":"connection refused","at":"2026-12-06T08:00:00Z","recovered_at":"2026-12-06T08:00:03Z"}`; got != want {
		t.Fatalf("JSON = %s, want %s", got, want)
	}
	r.Set("lost", t0.Add(time.Minute)) // a new error is current again
	if e := r.Get(); !e.Current() || !e.RecoveredAt.IsZero() {
		t.Fatalf("new error after recovery: %+v", e)
	}
	b, _ = json.Marshal(Error{})
	if string(b) != `{}` {
		t.Fatalf("zero JSON = %s", b)
	}
}

func TestRecordConcurrent(t *testing.T) {
	var r Record
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				r.Set("x", time.Now())
				r.Recovered(time.Now())
				_ = r.Get().String()
			}
		}()
	}
	wg.Wait()
}
