package sim

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestReadFollowsTheWaveformAtTheClock(t *testing.T) {
	at := time.Unix(0, 0).Add(150 * time.Second) // a quarter of a 10m period
	d, err := New("demo-temp", Config{Metric: "temperature", Unit: "C", Waveform: "sine", Min: 18, Max: 26, Period: 10 * time.Minute},
		func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	rs, err := d.Read(context.Background(), nil)
	if err != nil || len(rs) != 1 {
		t.Fatalf("Read = %v, %v", rs, err)
	}
	r := rs[0]
	if r.Device != "demo-temp" || r.Metric != "temperature" || r.Unit != "C" || r.Value != 26 || !r.Time.Equal(at) || r.Seq != 0 {
		t.Fatalf("reading = %+v", r)
	}
}

func TestDefaultsAndErrors(t *testing.T) {
	d, err := New("x", Config{Waveform: "constant", Min: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := d.Read(context.Background(), nil)
	if rs[0].Metric != "value" || rs[0].Value != 4 {
		t.Fatalf("defaults: %+v", rs[0])
	}
	if _, err := New("x", Config{Waveform: "saw"}, nil); err == nil || !strings.Contains(err.Error(), `"saw" is not a waveform`) {
		t.Fatalf("bad waveform: %v", err)
	}
	if err := (Config{Min: 3, Max: 1}).Validate(); err == nil || !strings.Contains(err.Error(), "max (1) is below min (3)") {
		t.Fatalf("Validate: %v", err)
	}
}

// TestReconfigureChangesTheWaveformInPlace: Reconfigure switches the
// waveform, metric and unit of the open device from its next Read; a bad
// config leaves it as it was.
func TestReconfigureChangesTheWaveformInPlace(t *testing.T) {
	d, err := New("boiler", Config{Metric: "temperature", Unit: "C", Waveform: "constant", Min: 21}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reconfigure(Config{Metric: "pressure", Unit: "bar", Waveform: "constant", Min: 3}); err != nil {
		t.Fatal(err)
	}
	rs, _ := d.Read(context.Background(), nil)
	if r := rs[0]; r.Metric != "pressure" || r.Unit != "bar" || r.Value != 3 {
		t.Fatalf("after Reconfigure: %+v", r)
	}
	if err := d.Reconfigure(Config{Waveform: "zigzag"}); err == nil || !strings.Contains(err.Error(), "zigzag") {
		t.Fatalf("bad waveform: %v", err)
	}
	if err := d.Reconfigure("nope"); err == nil {
		t.Fatal("a non-Config was taken")
	}
	rs, _ = d.Read(context.Background(), nil)
	if r := rs[0]; r.Metric != "pressure" || r.Value != 3 {
		t.Fatalf("a refused Reconfigure changed the device: %+v", r)
	}
}
