package anomaly

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// readings returns readings of porch/temperature at t0, t0+step, ….
func readings(step time.Duration, vs ...float64) []Reading {
	out := make([]Reading, len(vs))
	for i, v := range vs {
		out[i] = Reading{Device: "porch", Metric: "temperature", Value: v, Unit: "C", Time: t0.Add(time.Duration(i) * step)}
	}
	return out
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// alternate returns n values alternating lo, hi.
func alternate(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo
		if i%2 == 1 {
			out[i] = hi
		}
	}
	return out
}

func format(rs []Reading) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s/%s=%.4f@%gs %s", r.Device, r.Metric, r.Value, r.Time.Sub(t0).Seconds(), r.Source))
	}
	return out
}

func TestScores(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		in    []Reading
		want  []string
		stats Stats
	}{
		{
			// alpha 0.5: after 0 and 2, mean 1 and variance 1; 4 scores 3
			// (not above 3), then mean 2.5, variance 2.75; 10 scores 7.5/√2.75.
			name:  "worked example, every score",
			cfg:   Config{Alpha: 0.5, Warmup: 2, EmitAllScores: true},
			in:    readings(time.Second, 0, 2, 4, 10),
			want:  []string{"porch/temperature_anomaly_score=3.0000@2s anomaly", "porch/temperature_anomaly_score=4.5227@3s anomaly"},
			stats: Stats{Scored: 2, Anomalies: 1, Series: 1},
		},
		{
			name:  "worked example, anomalies only",
			cfg:   Config{Alpha: 0.5, Warmup: 2},
			in:    readings(time.Second, 0, 2, 4, 10),
			want:  []string{"porch/temperature_anomaly_score=4.5227@3s anomaly"},
			stats: Stats{Scored: 2, Anomalies: 1, Series: 1},
		},
		{
			name:  "half_life weighs by time: one half-life apart is alpha 0.5",
			cfg:   Config{HalfLife: time.Minute, Warmup: 2},
			in:    readings(time.Minute, 0, 2, 4, 10),
			want:  []string{"porch/temperature_anomaly_score=4.5227@180s anomaly"},
			stats: Stats{Scored: 2, Anomalies: 1, Series: 1},
		},
		{
			name:  "half_life: a long silence starts the series over, warmup included",
			cfg:   Config{HalfLife: time.Second, Warmup: 2},
			in:    append(readings(time.Second, 0, 2, 4), Reading{Device: "porch", Metric: "temperature", Value: 1000, Time: t0.Add(time.Hour)}),
			stats: Stats{Scored: 1, Series: 1},
		},
		{
			name:  "nothing is scored during the warmup, however far off",
			cfg:   Config{Warmup: 30},
			in:    readings(time.Second, append(alternate(10, 12, 29), 1000)...),
			stats: Stats{Series: 1},
		},
		{
			name:  "after the warmup a jump is reported, normal values are not",
			cfg:   Config{},
			in:    readings(time.Second, append(alternate(10, 12, 30), 11, 12, 10, 20)...),
			want:  []string{"porch/temperature_anomaly_score=9.3927@33s anomaly"},
			stats: Stats{Scored: 4, Anomalies: 1, Series: 1},
		},
		{
			name:  "constant signal: equal values score 0, any change MaxScore",
			cfg:   Config{Warmup: 5, EmitAllScores: true},
			in:    readings(time.Second, append(repeat(20, 6), 20.1)...),
			want:  []string{"porch/temperature_anomaly_score=0.0000@5s anomaly", "porch/temperature_anomaly_score=1000000.0000@6s anomaly"},
			stats: Stats{Scored: 2, Anomalies: 1, Series: 1},
		},
		{
			name:  "constant signal with min_stddev: a step of the resolution is no anomaly",
			cfg:   Config{Warmup: 5, MinStddev: 0.1},
			in:    readings(time.Second, append(repeat(20, 6), 20.1, 20.1, 23)...),
			want:  []string{"porch/temperature_anomaly_score=29.8100@8s anomaly"},
			stats: Stats{Scored: 4, Anomalies: 1, Series: 1},
		},
		{
			name: "NaN and infinities are ignored and counted, and leave the statistics alone",
			cfg:  Config{Alpha: 0.5, Warmup: 2},
			in: []Reading{
				{Device: "porch", Metric: "temperature", Value: math.NaN(), Time: t0},
				{Device: "porch", Metric: "temperature", Value: 0, Time: t0.Add(1 * time.Second)},
				{Device: "porch", Metric: "temperature", Value: math.Inf(1), Time: t0.Add(2 * time.Second)},
				{Device: "porch", Metric: "temperature", Value: 2, Time: t0.Add(3 * time.Second)},
				{Device: "porch", Metric: "temperature", Value: math.Inf(-1), Time: t0.Add(4 * time.Second)},
				{Device: "porch", Metric: "temperature", Value: 4, Time: t0.Add(5 * time.Second)},
				{Device: "porch", Metric: "temperature", Value: 10, Time: t0.Add(6 * time.Second)},
			},
			want:  []string{"porch/temperature_anomaly_score=4.5227@6s anomaly"},
			stats: Stats{Scored: 2, Anomalies: 1, Invalid: 3, Series: 1},
		},
		{
			name: "out-of-order readings, unmatched series, own output and series past max_series are ignored",
			cfg:  Config{Alpha: 0.5, Warmup: 2, Match: []string{"+/temperature"}, MaxSeries: 1},
			in: append(readings(time.Second, 0, 2, 4, 10),
				Reading{Device: "porch", Metric: "temperature", Value: 99, Time: t0},
				Reading{Device: "porch", Metric: "humidity", Value: 99, Time: t0},
				Reading{Device: "porch", Metric: "temperature", Value: 99, Time: t0.Add(time.Hour), Source: Source},
				Reading{Device: "cellar", Metric: "temperature", Value: 99, Time: t0},
			),
			want:  []string{"porch/temperature_anomaly_score=4.5227@3s anomaly"},
			stats: Stats{Scored: 2, Anomalies: 1, OutOfOrder: 1, SeriesDropped: 1, Series: 1},
		},
		{
			name:  "extreme values overflow into a restart, never NaN",
			cfg:   Config{Alpha: 0.5, Warmup: 2, EmitAllScores: true},
			in:    readings(time.Second, -1e308, 1e308, 1e308, -1e308, 0, 1, 2),
			want:  []string{"porch/temperature_anomaly_score=3.0000@6s anomaly"},
			stats: Stats{Scored: 1, Series: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got []Reading
			for _, r := range tt.in { // one at a time: batching must not matter
				emit, cmds := s.Process([]Reading{r}, r.Time)
				if len(cmds) > 0 {
					t.Fatalf("commands %v", cmds)
				}
				got = append(got, emit...)
			}
			if emit, cmds := s.Tick(t0.Add(24 * time.Hour)); emit != nil || cmds != nil {
				t.Fatalf("Tick = %v, %v", emit, cmds)
			}
			if g := format(got); !slices.Equal(g, tt.want) {
				t.Fatalf("emitted\n  %s\nwant\n  %s", strings.Join(g, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if st := s.Stats(); st != tt.stats {
				t.Fatalf("stats = %+v, want %+v", st, tt.stats)
			}
			for _, r := range got {
				if r.Unit != "" || math.IsNaN(r.Value) || r.Value > MaxScore {
					t.Fatalf("bad score %+v", r)
				}
			}
		})
	}
}

func TestBatchEqualsOneByOne(t *testing.T) {
	in := readings(time.Second, append(alternate(10, 12, 40), 30, 11, 50)...)
	a, _ := New(Config{})
	b, _ := New(Config{})
	whole, _ := a.Process(in, t0)
	var single []Reading
	for _, r := range in {
		e, _ := b.Process([]Reading{r}, r.Time)
		single = append(single, e...)
	}
	if !slices.Equal(format(whole), format(single)) || len(whole) != 2 {
		t.Fatalf("batch %v, one by one %v", format(whole), format(single))
	}
}

func BenchmarkProcess(b *testing.B) {
	s, err := New(Config{Match: []string{"+/temperature"}})
	if err != nil {
		b.Fatal(err)
	}
	const devices, perBatch = 100, 1000
	names := make([]string, devices)
	for i := range names {
		names[i] = fmt.Sprintf("dev%03d", i)
	}
	batch := make([]Reading, perBatch)
	wave := make([]float64, 7*perBatch) // a sine, with a spike now and then
	for i := range wave {
		wave[i] = 20 + math.Sin(float64(i)/100)
		if i%997 == 0 {
			wave[i] += 5
		}
	}
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := range batch { // readings 1ms apart, cheap to make
			now = now.Add(time.Millisecond)
			batch[i] = Reading{Device: names[i%devices], Metric: "temperature", Value: wave[(n%7)*perBatch+i], Time: now}
		}
		s.Process(batch, now)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "readings/s")
}
