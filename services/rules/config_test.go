package rules

import (
	"os"
	"testing"
	"time"
)

func TestDecodeConfig(t *testing.T) {
	const ok = "then: {alert: {}}"
	tests := []struct {
		name, in string
		want     string // the whole error, or "" to succeed
	}{
		{name: "json", in: `{"rules": [{"name": "hot", "when": {"device": "porch", "metric": "t", "above": 30}, "then": {"command": {"device": "fan", "action": "set", "value": true}}}]}`},
		{name: "no rules", in: "", want: "rules config: rules: no rules: add at least one, e.g. {name: fan-on, when: {device: porch, metric: temperature, above: 30}, then: {command: {device: fan, action: set, value: on}}}"},
		{name: "unknown key in when", in: "rules: [{name: a, when: {device: d, metric: m, abve: 3}, " + ok + "}]",
			want: `rules config: rules[0].when.abve: unknown key "abve": did you mean "above"? (line 1)`},
		{name: "unknown key in command", in: "rules: [{name: a, when: {device: d, metric: m, above: 3}, then: {command: {device: f, action: set, valeu: 1}}}]",
			want: `rules config: rules[0].then.command.valeu: unknown key "valeu": did you mean "value"? (line 1)`},
		{name: "missing device and metric", in: "rules: [{name: a, when: {above: 3}, " + ok + "}]",
			want: "rules config: rules[0].when.device: required: name the device to watch, e.g. porch\nrules[0].when.metric: required: name the metric to watch, e.g. temperature"},
		{name: "wildcard device", in: "rules: [{name: a, when: {device: '+', metric: m, above: 3}, " + ok + "}]",
			want: `rules config: rules[0].when.device: "+" holds a wildcard: a rule watches one device, name it`},
		{name: "hysteresis inverted", in: `
rules:
  - {name: a, when: {device: d, metric: m, above: 1}, then: {alert: {}}}
  - {name: b, when: {device: d, metric: m, below: 1}, then: {alert: {}}}
  - {name: c, when: {device: d, metric: m, above: 30}, then: {alert: {}}, clear: {below: 31}}
  - {name: d, when: {device: d, metric: m, below: 5}, then: {alert: {}}, clear: {above: 4}}
  - {name: e, when: {device: d, metric: m, rate_above: 2}, then: {alert: {}}, clear: {rate_below: 3}}
  - {name: f, when: {device: d, metric: m, rate_below: -2}, then: {alert: {}}, clear: {rate_above: -3}}`,
			want: "rules config: rules[2].clear.below: 31 is above when.above (30): the hysteresis is inverted; use a value at or below 30\n" +
				"rules[3].clear.above: 4 is below when.below (5): the hysteresis is inverted; use a value at or above 5\n" +
				"rules[4].clear.rate_below: 3 is above when.rate_above (2): the hysteresis is inverted; use a value at or below 2\n" +
				"rules[5].clear.rate_above: -3 is below when.rate_below (-2): the hysteresis is inverted; use a value at or above -2"},
		{name: "wrong clear threshold", in: "rules: [{name: a, when: {device: d, metric: m, above: 30}, " + ok + ", clear: {above: 28}}]",
			want: "rules config: rules[0].clear.above: a rule on when.above clears with below: use clear.below"},
		{name: "missing action", in: "rules: [{name: a, when: {device: d, metric: m, above: 30}}]",
			want: "rules config: rules[0].then: no action: add command: {device: …, action: …} or alert: {metric: …}"},
		{name: "incomplete command", in: "rules: [{name: a, when: {device: d, metric: m, above: 30}, then: {command: {value: 1}}}]",
			want: "rules config: rules[0].then.command.device: required: name the actuator, e.g. fan-relay\nrules[0].then.command.action: required: say what the actuator should do, e.g. set"},
		{name: "duplicate and bad names", in: `
rules:
  - {name: fan, when: {device: d, metric: m, above: 1}, then: {alert: {}}}
  - {name: fan, when: {device: d, metric: m, above: 2}, then: {alert: {}}}
  - {name: "fan on", when: {device: d, metric: m, above: 3}, then: {alert: {}}}
  - {when: {device: d, metric: m, above: 3}, then: {alert: {}}}`,
			want: "rules config: rules[1].name: \"fan\" is also the name of rules[0]: names must be unique\n" +
				"rules[2].name: \"fan on\" is not a name: use letters, digits, - _ and .\n" +
				"rules[3].name: required: give the rule a unique name, e.g. fan-on"},
		{name: "no condition, two conditions", in: `
rules:
  - {name: a, then: {alert: {}}}
  - {name: b, when: {device: d, metric: m}, then: {alert: {}}}
  - {name: c, when: {device: d, metric: m, above: 3, below: 1}, then: {alert: {}}}
  - {name: e, when: {device: d, metric: m, above: 3}, offline: {device: d, after: 1m}, then: {alert: {}}}`,
			want: "rules config: rules[0]: no condition: add when (above, below, rate_above or rate_below) or offline\n" +
				"rules[1].when: no condition: add above, below, rate_above or rate_below\n" +
				"rules[2].when: above and below are all set: use one per rule (for a band, write two rules)\n" +
				"rules[3]: both when and offline: a rule has one condition, split it into two rules"},
		{name: "per and for", in: `
rules:
  - {name: a, when: {device: d, metric: m, above: 3, per: 1m}, then: {alert: {}}}
  - {name: b, when: {device: d, metric: m, rate_above: 3, per: -1m, for: -1s}, then: {alert: {}}, clear: {for: -2s}}`,
			want: "rules config: rules[0].when.per: only rate_above and rate_below use per: remove it\n" +
				"rules[1].when.per: -1m0s is negative: use e.g. 1m\n" +
				"rules[1].when.for: -1s is negative: use 0s or more\n" +
				"rules[1].clear.for: -2s is negative: use 0s or more"},
		{name: "offline", in: `
rules:
  - {name: a, offline: {device: d}, then: {alert: {}}}
  - {name: b, offline: {device: d, after: 1m}, then: {alert: {}}, clear: {below: 3, for: 1s}}`,
			want: "rules config: rules[0].offline.after: required, above 0: how long without a reading counts as offline, e.g. 5m\n" +
				"rules[1].clear.below: an offline rule clears on the device's next reading: remove it\n" +
				"rules[1].clear.for: an offline rule clears on the device's next reading: remove it"},
		{name: "duration without unit", in: "rules: [{name: a, offline: {device: d, after: 300}, " + ok + "}]",
			want: `rules config: rules[0].offline.after: "300" is not a duration, use e.g. 500ms, 10s, 5m, 168h (line 1)`},
		{name: "threshold not a number", in: "rules: [{name: a, when: {device: d, metric: m, above: hot}, " + ok + "}]",
			want: `rules config: rules[0].when.above: "hot" is not a number (line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeConfig([]byte(tt.in))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("error\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

func TestSampleDecodes(t *testing.T) {
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Rules[0]
	if len(c.Rules) != 4 || r.Name != "fan-on" || *r.When.Above != 30 || r.When.For != 2*time.Minute ||
		r.Then.Command.Value != "on" || *r.Clear.Below != 28 || c.Rules[3].Offline.After != 5*time.Minute {
		t.Fatalf("sample = %+v", c)
	}
}

// FuzzDecodeConfig checks that decoding never panics and that whatever it
// accepts New accepts and runs. Seeds: sample.yaml and testdata/fuzz.
func FuzzDecodeConfig(f *testing.F) {
	if data, err := os.ReadFile("sample.yaml"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeConfig(data)
		if err != nil {
			return
		}
		s, err := New(c)
		if err != nil {
			t.Fatalf("DecodeConfig accepted %q but New refuses it: %v", data, err)
		}
		for i, r := range c.Rules {
			if r.When != nil {
				rd := Reading{Device: r.When.Device, Metric: r.When.Metric, Value: float64(i * 10), Time: t0}
				s.Process([]Reading{rd}, t0)
				rd.Time, rd.Value = t0.Add(time.Hour), -rd.Value
				s.Process([]Reading{rd}, rd.Time)
			}
		}
		s.Tick(t0.Add(48 * time.Hour))
	})
}
