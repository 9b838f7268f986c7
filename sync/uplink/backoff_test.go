package uplink

import (
	"context"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const min, max = 100 * time.Millisecond, 2 * time.Second
	tests := []struct {
		name   string
		int64n func(n int64) int64
		want   []time.Duration
	}{
		{"always lowest", func(int64) int64 { return 0 },
			[]time.Duration{min, min, min}},
		{"always highest grows 3x to the cap", func(n int64) int64 { return n - 1 },
			[]time.Duration{300 * time.Millisecond, 900 * time.Millisecond, 2 * time.Second, 2 * time.Second}},
		{"halfway", func(n int64) int64 { return n / 2 },
			[]time.Duration{200 * time.Millisecond, 350 * time.Millisecond, 575 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackoff(min, max)
			b.int64n = tt.int64n
			for i, want := range tt.want {
				if got := b.next(); got != want {
					t.Fatalf("wait %d = %s, want %s", i, got, want)
				}
			}
			b.reset()
			if got, first := b.next(), tt.want[0]; got != first {
				t.Fatalf("after reset: %s, want %s", got, first)
			}
		})
	}
}

func TestBackoffStaysInBounds(t *testing.T) {
	b := newBackoff(time.Millisecond, time.Second) // real randomness
	for i := range 1000 {
		if d := b.next(); d < time.Millisecond || d > time.Second {
			t.Fatalf("wait %d = %s, outside [1ms, 1s]", i, d)
		}
	}
	// min == max is allowed and constant.
	b = newBackoff(time.Second, time.Second)
	if d := b.next(); d != time.Second {
		t.Fatalf("min == max: %s", d)
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("sleepCtx on a canceled ctx = %v", err)
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("sleepCtx = %v", err)
	}
}
