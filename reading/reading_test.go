package reading

import (
	"testing"
	"time"
)

func TestStringNamesDeviceMetricValueAndSeq(t *testing.T) {
	r := Reading{Device: "d1", Metric: "temperature", Value: 21.5, Unit: "C",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Seq: 7}
	want := "d1/temperature=21.5C @2026-01-02T03:04:05.000000006Z #7"
	if got := r.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
