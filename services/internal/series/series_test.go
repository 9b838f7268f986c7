package series

import "testing"

func TestKey(t *testing.T) {
	k := KeyOf(Reading{Device: "porch", Metric: "temperature", Value: 1})
	if k != (Key{"porch", "temperature"}) || k.String() != "porch/temperature" {
		t.Fatalf("key = %+v %q", k, k)
	}
}
