package gauges

import (
	"testing"

	"github.com/edged-gateway/edged/reading"
)

func TestGaugesKeepTheLastValueWithinTheCap(t *testing.T) {
	g := New(2)
	g.Observe([]reading.Reading{
		{Device: "a", Metric: "t", Unit: "C", Value: 1},
		{Device: "a", Metric: "t", Unit: "C", Value: 2},
		{Device: "b", Metric: "h", Unit: "%", Value: 50},
		{Device: "c", Metric: "x", Value: 9}, // a third series: over the cap
	})
	want := []Series{{"a", "t", "C", 2}, {"b", "h", "%", 50}}
	if got := g.Series(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("series %v, want %v", got, want)
	}
	if g.Dropped() != 1 {
		t.Fatalf("dropped %d, want 1", g.Dropped())
	}
	// An existing series still moves when the table is full.
	g.Observe([]reading.Reading{{Device: "b", Metric: "h", Unit: "%", Value: 51}, {Device: "c", Metric: "x", Value: 10}})
	if got := g.Series(); got[1].Value != 51 || g.Dropped() != 2 {
		t.Fatalf("series %v dropped %d", got, g.Dropped())
	}
	g.Forget(func(d string) bool { return d != "a" })
	if got := g.Series(); len(got) != 1 || got[0].Device != "b" {
		t.Fatalf("after forgetting a: %v", got)
	}
	// The room a forgotten device left is free again.
	g.Observe([]reading.Reading{{Device: "c", Metric: "x", Value: 11}})
	if got := g.Series(); len(got) != 2 || got[1] != (Series{"c", "x", "", 11}) {
		t.Fatalf("after c came: %v", got)
	}
}
