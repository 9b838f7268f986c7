package rules

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// step is a Process of one reading of device/metric (when device is set),
// dated and processed at second t, or else a Tick at t.
type step struct {
	t              float64
	device, metric string
	v              float64
}

func tick(t float64) step { return step{t: t} }

// values returns readings of porch/temperature, one per pair (t, v).
func values(tv ...float64) []step {
	var out []step
	for i := 0; i+1 < len(tv); i += 2 {
		out = append(out, step{t: tv[i], device: "porch", metric: "temperature", v: tv[i+1]})
	}
	return out
}

func steps(groups ...[]step) []step { return slices.Concat(groups...) }

// run decodes cfg, runs the steps and renders every output:
// "alert device/metric=v@t" and "cmd device action value".
func run(t *testing.T, cfg string, ss []step) (*Service, []string) {
	t.Helper()
	c, err := DecodeConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range ss {
		var emit []Reading
		var cmds []Command
		if st.device == "" {
			emit, cmds = s.Tick(at(st.t))
		} else {
			emit, cmds = s.Process([]Reading{{Device: st.device, Metric: st.metric, Value: st.v, Time: at(st.t)}}, at(st.t))
		}
		for _, r := range emit {
			if r.Source != Source {
				t.Fatalf("source %q", r.Source)
			}
			got = append(got, fmt.Sprintf("alert %s/%s=%g@%g", r.Device, r.Metric, r.Value, r.Time.Sub(t0).Seconds()))
		}
		for _, c := range cmds {
			got = append(got, fmt.Sprintf("cmd %s %s %v", c.Device, c.Action, c.Value))
		}
	}
	return s, got
}

const fan = `
rules:
  - name: fan-on
    when: {device: porch, metric: temperature, above: 30}
    then: {command: {device: fan-relay, action: set, value: on}}
    clear:
      below: 28
      then: {command: {device: fan-relay, action: set, value: off}}
`

func TestRules(t *testing.T) {
	chatter := values(0, 29.5, 1, 30.5, 2, 29.5, 3, 30.5, 4, 29.9, 5, 30.1, 6, 30, 7, 30.4)
	tests := []struct {
		name  string
		cfg   string
		steps []step
		want  []string
	}{
		{
			name:  "hysteresis: a value hovering at 30 switches the fan once",
			cfg:   fan,
			steps: steps(chatter, values(8, 28), values(9, 27.9), values(10, 29), values(11, 30.5)),
			want:  []string{"cmd fan-relay set on", "cmd fan-relay set off", "cmd fan-relay set on"},
		},
		{
			name:  "without hysteresis the same values chatter",
			cfg:   strings.Replace(fan, "below: 28", "below: 30", 1),
			steps: chatter,
			want: []string{
				"cmd fan-relay set on", "cmd fan-relay set off", "cmd fan-relay set on", "cmd fan-relay set off",
				"cmd fan-relay set on", // 30 itself is not below 30: no switch
			},
		},
		{
			name:  "edge-triggered: fires once entering and once clearing; an alert clears with 0",
			cfg:   `rules: [{name: hot, when: {device: porch, metric: temperature, above: 30}, then: {alert: {}}}]`,
			steps: values(0, 29, 1, 31, 2, 35, 3, 31, 4, 30, 5, 29, 6, 31),
			want:  []string{"alert porch/alert_hot=1@1", "alert porch/alert_hot=0@4", "alert porch/alert_hot=1@6"},
		},
		{
			name:  "hold not satisfied, then satisfied at tick",
			cfg:   strings.Replace(fan, "above: 30}", "above: 30, for: 2m}", 1),
			steps: steps(values(0, 31, 60, 31, 90, 29, 100, 31), []step{tick(219), tick(220), tick(221)}, values(230, 31)),
			want:  []string{"cmd fan-relay set on"},
		},
		{
			name:  "a hold that ran out between readings fires when the next reading shows it, dated when it ran out",
			cfg:   `rules: [{name: hot, when: {device: porch, metric: temperature, above: 30, for: 2m}, then: {alert: {}}}]`,
			steps: values(0, 31, 200, 20),
			want:  []string{"alert porch/alert_hot=1@120", "alert porch/alert_hot=0@200"},
		},
		{
			name:  "clear.for holds the clearing",
			cfg:   `rules: [{name: hot, when: {device: porch, metric: temperature, above: 30}, then: {alert: {}}, clear: {below: 28, for: 1m}}]`,
			steps: steps(values(0, 31, 10, 27, 30, 29, 40, 27), []step{tick(99), tick(100)}),
			want:  []string{"alert porch/alert_hot=1@0", "alert porch/alert_hot=0@100"},
		},
		{
			name: "below with clear.above",
			cfg: `
rules:
  - name: frost
    when: {device: porch, metric: temperature, below: 2}
    then: {command: {device: heater, action: set, value: 1}}
    clear: {above: 4, then: {command: {device: heater, action: set, value: 0}}}`,
			steps: values(0, 3, 1, 1.5, 2, 3, 3, 1, 4, 4, 5, 4.5, 6, 1),
			want:  []string{"cmd heater set 1", "cmd heater set 0", "cmd heater set 1"},
		},
		{
			name: "rate_above per 1m fires on a fast rise and clears below clear.rate_below",
			cfg: `
rules:
  - name: rising
    when: {device: porch, metric: temperature, rate_above: 2.0, per: 1m}
    then: {alert: {metric: rising_fast}}
    clear: {rate_below: 1.0}`,
			// 0.75/min for a minute, then 3/min for 40s, then flat
			steps: values(0, 0, 10, 0.125, 20, 0.25, 30, 0.375, 40, 0.5, 50, 0.625, 60, 0.75,
				70, 1.25, 80, 1.75, 90, 2.25, 100, 2.75, 110, 2.75, 120, 2.75, 130, 2.75, 140, 2.75, 150, 2.75, 160, 2.75),
			want: []string{"alert porch/rising_fast=1@100", "alert porch/rising_fast=0@150"},
		},
		{
			name:  "rate_below catches a fast fall; sparse readings use the span between them",
			cfg:   `rules: [{name: falling, when: {device: porch, metric: temperature, rate_below: -5, per: 1m}, then: {alert: {}}}]`,
			steps: values(0, 20, 120, 18, 240, 5, 360, 5),
			want:  []string{"alert porch/alert_falling=1@240", "alert porch/alert_falling=0@360"},
		},
		{
			name: "offline after 5m of silence, online at the next reading",
			cfg: `
rules:
  - name: porch-offline
    offline: {device: porch, after: 5m}
    then: {alert: {metric: offline}, command: {device: siren, action: beep}}`,
			steps: steps([]step{tick(0), tick(299), tick(300), tick(301)}, values(400, 20), []step{tick(699), tick(700)}),
			want: []string{
				"alert porch/offline=1@300", "cmd siren beep <nil>", "alert porch/offline=0@400",
				"alert porch/offline=1@700", "cmd siren beep <nil>",
			},
		},
		{
			name:  "offline found by a reading alone, without ticks",
			cfg:   `rules: [{name: gone, offline: {device: porch, after: 5m}, then: {alert: {}}}]`,
			steps: values(0, 20, 100, 20, 1000, 20),
			want:  []string{"alert porch/alert_gone=1@400", "alert porch/alert_gone=0@1000"},
		},
		{
			name:  "offline with a metric counts only that metric",
			cfg:   `rules: [{name: gone, offline: {device: porch, metric: humidity, after: 1m}, then: {alert: {}}}]`,
			steps: steps(values(0, 20, 50, 20), []step{tick(60), {t: 70, device: "porch", metric: "humidity", v: 1}}),
			want:  []string{"alert porch/alert_gone=1@60", "alert porch/alert_gone=0@70"},
		},
		{
			name: "alert overrides: device, metric, values on fire and clear",
			cfg: `
rules:
  - name: hot
    when: {device: porch, metric: temperature, above: 30}
    then: {alert: {device: house, metric: heat, value: 2}}
    clear: {then: {alert: {value: -1}}}`,
			steps: values(0, 31, 1, 20),
			want:  []string{"alert house/heat=2@0", "alert house/heat=-1@1"},
		},
		{
			name: "rules on one series act in configuration order; other series are ignored",
			cfg: `
rules:
  - {name: b, when: {device: porch, metric: temperature, above: 10}, then: {alert: {}}}
  - {name: a, when: {device: porch, metric: temperature, above: 20}, then: {alert: {}}}
  - {name: c, when: {device: cellar, metric: temperature, above: 0}, then: {alert: {}}}`,
			steps: values(0, 25),
			want:  []string{"alert porch/alert_b=1@0", "alert porch/alert_a=1@0"},
		},
		{
			name:  "out-of-order and NaN readings are ignored",
			cfg:   fan,
			steps: values(10, 20, 5, 31, 11, math.NaN(), 12, math.Inf(1)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := run(t, tt.cfg, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestStatsAndActive(t *testing.T) {
	s, _ := run(t, fan, values(0, 31, 1, 29, 0.5, 40, 2, math.NaN()))
	if got := s.Active(); !slices.Equal(got, []string{"fan-on"}) {
		t.Fatalf("Active = %q", got)
	}
	want := Stats{Judged: 2, OutOfOrder: 1, Invalid: 1, Fired: 1}
	if st := s.Stats(); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

func BenchmarkProcess(b *testing.B) {
	const devices, perBatch = 100, 1000
	var cfg strings.Builder
	cfg.WriteString("rules:\n")
	names := make([]string, devices)
	for i := range names {
		names[i] = fmt.Sprintf("dev%03d", i)
		fmt.Fprintf(&cfg, "  - {name: hot-%d, when: {device: %s, metric: temperature, above: 30, for: 10s}, then: {alert: {}}, clear: {below: 28}}\n", i, names[i])
		fmt.Fprintf(&cfg, "  - {name: rise-%d, when: {device: %s, metric: temperature, rate_above: 5}, then: {alert: {}}}\n", i, names[i])
		fmt.Fprintf(&cfg, "  - {name: gone-%d, offline: {device: %s, after: 1m}, then: {alert: {}}}\n", i, names[i])
	}
	c, err := DecodeConfig([]byte(cfg.String()))
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]Reading, perBatch)
	wave := make([]float64, 64*perBatch) // swings through both thresholds
	for i := range wave {
		wave[i] = 25 + 10*math.Sin(float64(i)/5000)
	}
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := range batch { // readings 1ms apart, cheap to make
			now = now.Add(time.Millisecond)
			batch[i] = Reading{Device: names[i%devices], Metric: "temperature", Value: wave[(n%64)*perBatch+i], Time: now}
		}
		s.Process(batch, now)
		s.Tick(now)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "readings/s")
}
