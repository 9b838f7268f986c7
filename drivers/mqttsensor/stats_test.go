package mqttsensor

import (
	"fmt"
	"maps"
	"sync"
	"testing"
)

func TestStats(t *testing.T) {
	s := mustNew(t, "lan", Config{Topic: "s/+device/+metric"})
	msgs := []struct{ topic, payload string }{
		{"s/a/t", "1"},     // reading
		{"s/a/t", "x"},     // malformed a
		{"s/b/t", ""},      // malformed b
		{"s/b/t", "2"},     // reading
		{"x/b/t", "2"},     // unmatched
		{"s/b\x01/t", "2"}, // malformed, invalid device name
		{"s/a/t\x01", "2"}, // malformed a: invalid metric name
	}
	for _, m := range msgs {
		s.Decode(m.topic, []byte(m.payload), now)
	}
	got := s.Stats()
	want := Stats{Messages: 7, Readings: 2, Unmatched: 1, Malformed: 4, MalformedOther: 1,
		MalformedByDevice: map[string]uint64{"a": 2, "b": 1}}
	if !equalStats(got, want) {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	got.MalformedByDevice["a"] = 99
	if s.Stats().MalformedByDevice["a"] != 2 {
		t.Fatal("Stats() shares its map with the sensor")
	}
}

func TestStatsSkippedSenML(t *testing.T) {
	s := mustNew(t, "lan", Config{Topic: "s/+device", Format: "senml"})
	if _, err := s.Decode("s/a", []byte(`[{"n":"t","v":1},{"n":"fw","vs":"1.2"},{"n":"raw","vd":"AQI="}]`), now); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Skipped != 2 || st.Readings != 1 || st.Malformed != 0 {
		t.Fatalf("Stats() = %+v, want 2 skipped, 1 reading", st)
	}
}

func TestStatsBoundsDevices(t *testing.T) {
	s := mustNew(t, "lan", Config{Topic: "s/+device/+metric"})
	for i := range MaxTrackedDevices + 10 {
		s.Decode(fmt.Sprintf("s/d%d/t", i), []byte("bad"), now)
	}
	s.Decode("s/d0/t", []byte("bad"), now) // a known device still counts as itself
	st := s.Stats()
	if len(st.MalformedByDevice) != MaxTrackedDevices || st.MalformedOther != 10 || st.MalformedByDevice["d0"] != 2 || st.Malformed != MaxTrackedDevices+11 {
		t.Fatalf("Stats() = %d devices, other %d, d0 %d, malformed %d", len(st.MalformedByDevice), st.MalformedOther, st.MalformedByDevice["d0"], st.Malformed)
	}
}

func TestStatsConcurrent(t *testing.T) {
	s := mustNew(t, "lan", Config{Topic: "s/+device/+metric"})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				payload := "1"
				if i%2 == 0 {
					payload = "bad"
				}
				s.Decode(fmt.Sprintf("s/d%d/t", g), []byte(payload), now)
				if st := s.Stats(); st.Messages < st.Malformed+st.Unmatched {
					t.Errorf("inconsistent snapshot %+v", st)
					return
				}
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Messages != 800 || st.Readings != 400 || st.Malformed != 400 || len(st.MalformedByDevice) != 8 {
		t.Fatalf("Stats() = %+v", st)
	}
}

func equalStats(a, b Stats) bool {
	return a.Messages == b.Messages && a.Readings == b.Readings && a.Unmatched == b.Unmatched &&
		a.Malformed == b.Malformed && a.Skipped == b.Skipped && a.MalformedOther == b.MalformedOther &&
		maps.Equal(a.MalformedByDevice, b.MalformedByDevice)
}
