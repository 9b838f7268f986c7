package aggregate

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is a whole minute; at(s) is t0 plus s seconds.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func rd(device, metric string, v float64, s float64) Reading {
	return Reading{Device: device, Metric: metric, Value: v, Unit: "C", Time: at(s), Source: "sim"}
}

// step is a Process (batch non-nil) or a Tick at now.
type step struct {
	now   float64
	batch []Reading
}

func tick(now float64) step { return step{now: now} }

func process(now float64, rs ...Reading) step { return step{now: now, batch: rs} }

// format renders emitted readings as device/metric=value unit @offset.
func format(rs []Reading) []string {
	var out []string
	for _, r := range rs {
		if r.Source != Source {
			out = append(out, "bad source "+r.Source)
		}
		out = append(out, fmt.Sprintf("%s/%s=%g%s@%gs", r.Device, r.Metric, r.Value, r.Unit, r.Time.Sub(t0).Seconds()))
	}
	return out
}

func run(t *testing.T, cfg Config, steps []step) (*Service, []string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range steps {
		var emit []Reading
		var cmds []Command
		if st.batch != nil {
			emit, cmds = s.Process(st.batch, at(st.now))
		} else {
			emit, cmds = s.Tick(at(st.now))
		}
		if len(cmds) != 0 {
			t.Fatalf("commands %v", cmds)
		}
		got = append(got, format(emit)...)
	}
	return s, got
}

func TestWindows(t *testing.T) {
	zero := time.Duration(0)
	minMax := []string{StatMin, StatMax}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
		want  []string
		stats Stats
	}{
		{
			name: "every default statistic, dated at the window end",
			steps: []step{
				process(10, rd("porch", "t", 20, 0), rd("porch", "t", 24, 30), rd("porch", "t", 22, 59.999)),
				tick(61.9), // inside grace
				tick(62),
			},
			want: []string{
				"porch/t_min=20C@60s", "porch/t_max=24C@60s", "porch/t_mean=22C@60s", "porch/t_count=3@60s", "porch/t_last=22C@60s",
			},
			stats: Stats{Aggregated: 3, Windows: 1},
		},
		{
			name:  "a window's end belongs to the next window",
			cfg:   Config{Stats: []string{StatCount}},
			steps: []step{process(61, rd("a", "t", 1, 59.999999), rd("a", "t", 1, 60)), tick(62), tick(122)},
			want:  []string{"a/t_count=1@60s", "a/t_count=1@120s"},
			stats: Stats{Aggregated: 2, Windows: 2},
		},
		{
			name:  "a reading from a later window closes the series' window without a tick",
			cfg:   Config{Stats: minMax},
			steps: []step{process(3, rd("a", "t", 1, 1), rd("a", "t", 5, 2)), process(61, rd("a", "t", 9, 61))},
			want:  []string{"a/t_min=1C@60s", "a/t_max=5C@60s"},
			stats: Stats{Aggregated: 3, Windows: 1, OpenSeries: 1},
		},
		{
			name:  "windows are aligned to the clock, not to the first reading",
			cfg:   Config{Window: 5 * time.Minute, Stats: []string{StatCount}, Grace: &zero},
			steps: []step{process(0, rd("a", "t", 1, 170), rd("a", "t", 1, 299)), tick(299), tick(300)},
			want:  []string{"a/t_count=2@300s"},
			stats: Stats{Aggregated: 2, Windows: 1},
		},
		{
			name: "late readings are counted and dropped, not put in the open window",
			cfg:  Config{Stats: []string{StatCount, StatMin}},
			steps: []step{
				process(70, rd("a", "t", 5, 70)),
				process(71, rd("a", "t", -100, 50)), // before a's open window
				tick(122),                           // closes [60,120)
				process(123, rd("a", "t", -100, 119), rd("b", "t", -100, 110), rd("a", "t", 7, 120)),
				tick(182),
			},
			want:  []string{"a/t_count=1@120s", "a/t_min=5C@120s", "a/t_count=1@180s", "a/t_min=7C@180s"},
			stats: Stats{Aggregated: 2, Late: 3, Windows: 2},
		},
		{
			name:  "first and last go by time, not arrival; unit follows the last",
			cfg:   Config{Stats: []string{StatFirst, StatLast, StatSum}},
			steps: []step{process(0, rd("a", "t", 2, 30), Reading{Device: "a", Metric: "t", Value: 1, Unit: "F", Time: at(40)}, rd("a", "t", 3, 10)), tick(62)},
			want:  []string{"a/t_first=3F@60s", "a/t_last=1F@60s", "a/t_sum=6F@60s"},
			stats: Stats{Aggregated: 3, Windows: 1},
		},
		{
			name: "match selects series by device/metric",
			cfg:  Config{Match: []string{"boiler/#", "+/temperature"}, Stats: []string{StatCount}},
			steps: []step{
				process(0, rd("boiler", "pressure", 1, 1), rd("porch", "temperature", 1, 1), rd("porch", "humidity", 1, 1)),
				tick(62),
			},
			want:  []string{"boiler/pressure_count=1@60s", "porch/temperature_count=1@60s"},
			stats: Stats{Aggregated: 2, Windows: 2},
		},
		{
			name:  "custom naming",
			cfg:   Config{Naming: "{stat}.{metric}", Stats: []string{StatMean}},
			steps: []step{process(0, rd("a", "t", 4, 1)), tick(62)},
			want:  []string{"a/mean.t=4C@60s"},
			stats: Stats{Aggregated: 1, Windows: 1},
		},
		{
			name: "series beyond max_series are dropped until windows close",
			cfg:  Config{MaxSeries: 2, Stats: []string{StatCount}},
			steps: []step{
				process(0, rd("a", "t", 1, 1), rd("b", "t", 1, 1), rd("c", "t", 1, 1), rd("a", "t", 1, 2)),
				tick(62),
				process(62, rd("c", "t", 1, 61)),
				tick(122),
			},
			want:  []string{"a/t_count=2@60s", "b/t_count=1@60s", "c/t_count=1@120s"},
			stats: Stats{Aggregated: 4, SeriesDropped: 1, Windows: 3},
		},
		{
			name: "NaN, infinities, zero times, future readings and own output are dropped",
			steps: []step{process(0,
				rd("a", "t", math.NaN(), 1), rd("a", "t", math.Inf(-1), 1),
				Reading{Device: "a", Metric: "t", Value: 1},
				rd("a", "t", 1, 60), // a whole window ahead of now
				Reading{Device: "a", Metric: "t_mean", Value: 1, Time: at(1), Source: Source},
			), tick(1000)},
			stats: Stats{Invalid: 3, Future: 1},
		},
		{
			name: "tick emits in order of window end, device, metric",
			cfg:  Config{Stats: []string{StatCount}, Grace: &zero},
			steps: []step{
				process(0, rd("b", "x", 1, 1), rd("a", "y", 1, 1), rd("a", "x", 1, 1)),
				process(70, rd("c", "x", 1, 61), rd("a", "z", 1, 61)), // next window: each series its own
				tick(200),
			},
			want:  []string{"a/x_count=1@60s", "a/y_count=1@60s", "b/x_count=1@60s", "a/z_count=1@120s", "c/x_count=1@120s"},
			stats: Stats{Aggregated: 5, Windows: 5},
		},
		{
			name:  "a tick that closes nothing emits nothing, repeatedly",
			steps: []step{process(0, rd("a", "t", 1, 1)), tick(30), tick(30), tick(10)},
			stats: Stats{Aggregated: 1, OpenSeries: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, got := run(t, tt.cfg, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("emitted\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if st := s.Stats(); st != tt.stats {
				t.Fatalf("stats = %+v, want %+v", st, tt.stats)
			}
		})
	}
}

func TestMatchesAndDefaults(t *testing.T) {
	s, err := New(Config{Match: []string{"boiler/#"}})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Matches("boiler", "t") || s.Matches("porch", "t") {
		t.Fatal("Matches disagrees with match")
	}
	c := s.Config()
	if c.Window != time.Minute || *c.Grace != 2*time.Second || c.Naming != "{metric}_{stat}" || c.MaxSeries != 10000 ||
		!slices.Equal(c.Stats, []string{"min", "max", "mean", "count", "last"}) || c.ForwardRaw {
		t.Fatalf("defaults = %+v", c)
	}
}

func BenchmarkProcess(b *testing.B) {
	s, err := New(Config{Match: []string{"+/temperature", "boiler/#"}})
	if err != nil {
		b.Fatal(err)
	}
	const devices, perBatch = 100, 1000
	batch := make([]Reading, perBatch)
	names := make([]string, devices)
	for i := range names {
		names[i] = fmt.Sprintf("dev%03d", i)
	}
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := range batch {
			now = now.Add(time.Millisecond)
			batch[i] = Reading{Device: names[i%devices], Metric: "temperature", Value: float64(i % 17), Unit: "C", Time: now}
		}
		s.Process(batch, now)
		s.Tick(now)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "readings/s")
}
