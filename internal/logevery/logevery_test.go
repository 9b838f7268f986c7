package logevery

import (
	"fmt"
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type event struct {
		key            string
		at             time.Duration
		wantOK         bool
		wantSuppressed int
	}
	tests := []struct {
		name   string
		events []event
	}{
		{"first passes, repeats are held", []event{
			{"a", 0, true, 0}, {"a", time.Second, false, 0}, {"a", 9 * time.Second, false, 0},
			{"a", 10 * time.Second, true, 2}, {"a", 11 * time.Second, false, 0},
		}},
		{"keys are separate", []event{
			{"a", 0, true, 0}, {"b", 0, true, 0}, {"a", time.Second, false, 0}, {"b", 20 * time.Second, true, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New(0)
			for i, e := range tc.events {
				n, ok := l.Allow(e.key, t0.Add(e.at))
				if ok != e.wantOK || n != e.wantSuppressed {
					t.Errorf("event %d (%s at %v): allow = %d, %v; want %d, %v", i, e.key, e.at, n, ok, e.wantSuppressed, e.wantOK)
				}
			}
		})
	}
}

func TestLogLimiterBounded(t *testing.T) {
	l := New(0)
	t0 := time.Unix(1000, 0)
	passed := 0
	for i := range 3 * MaxKeys {
		if _, ok := l.Allow(fmt.Sprint("key", i), t0); ok {
			passed++
		}
	}
	if len(l.seen) > MaxKeys+1 {
		t.Errorf("limiter holds %d keys, want at most %d", len(l.seen), MaxKeys+1)
	}
	if passed != MaxKeys+1 {
		t.Errorf("%d lines passed, want %d (one per slot)", passed, MaxKeys+1)
	}
	// Once the keys are idle they make room again.
	if _, ok := l.Allow("new", t0.Add(Every)); !ok {
		t.Error("a new key after the idle ones expired was held back")
	}
	if len(l.seen) != 1 {
		t.Errorf("%d keys after pruning, want 1", len(l.seen))
	}
}
