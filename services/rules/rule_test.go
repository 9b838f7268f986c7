package rules

import (
	"testing"
	"time"
)

func TestRateHistoryStaysBounded(t *testing.T) {
	tests := []struct {
		name  string
		every time.Duration
	}{
		{"1ms readings", time.Millisecond},
		{"1s readings", time.Second},
		{"readings sparser than per", 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &rule{kind: kindRateAbove, per: time.Minute}
			longest := 0
			for i := range 100000 {
				x, ok := r.rate(float64(i), t0.Add(time.Duration(i)*tt.every))
				longest = max(longest, len(r.hist))
				// the value rises 1 per reading: the rate per minute is that
				if want := float64(time.Minute) / float64(tt.every); ok && (x < want*0.97 || x > want*1.03) {
					t.Fatalf("reading %d: rate %g, want about %g", i, x, want)
				}
			}
			if longest > rateSlots+2 {
				t.Fatalf("history grew to %d points", longest)
			}
		})
	}
}
