package mqttsensor

import (
	"math"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/drivers/scale"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error, one per problem; none means valid
	}{
		{name: "plain with metric", cfg: Config{Topic: "sensors/porch/temp", Metric: "temperature"}},
		{name: "plain with +metric", cfg: Config{Topic: "sensors/+device/+metric"}},
		{name: "json default path", cfg: Config{Topic: "s/+device", Format: "json", Metric: "t"}},
		{name: "json path and time", cfg: Config{Topic: "s/+metric", Format: "json", Path: `$.a[0]["b c"]`, TimePath: "$.ts"}},
		{name: "json fields", cfg: Config{Topic: "s/+device", Format: "json", Fields: map[string]string{"temperature": "$.temp", "humidity": "$.hum"}}},
		{name: "senml", cfg: Config{Topic: "s/+device/senml", Format: "senml", Unit: "C"}},
		{name: "senml bad_time receive", cfg: Config{Topic: "s/+device/senml", Format: "senml", BadTime: "receive"}},
		{name: "scale", cfg: Config{Topic: "s/x", Metric: "m", Scale: scale.Linear{Factor: 0.1, Unit: "C"}}},
		{name: "zero value", cfg: Config{}, want: []string{"options.topic: required: set the topic sensors publish on"}},
		{name: "bad topic", cfg: Config{Topic: "s/+room", Metric: "m"}, want: []string{`options.topic: topic pattern "s/+room": unknown wildcard name "+room": use +device, +metric or a bare +`}},
		{name: "bad format", cfg: Config{Topic: "s/+metric", Format: "xml"}, want: []string{`options.format: "xml" is not a format, use plain, json, senml, auto or homie`}},
		{name: "metric missing", cfg: Config{Topic: "s/+device"}, want: []string{"options.metric: required: the topic has no +metric, so name the metric, e.g. metric: temperature"}},
		{name: "metric twice", cfg: Config{Topic: "s/+metric", Metric: "t"}, want: []string{"options.metric: the topic captures +metric: remove metric"}},
		{name: "bad metric", cfg: Config{Topic: "s/x", Metric: "a/b"}, want: []string{`options.metric: "a/b" contains '/', which MQTT topics reserve`}},
		{name: "long metric", cfg: Config{Topic: "s/x", Metric: strings.Repeat("m", 65)}, want: []string{"options.metric: ", "is 65 bytes, over the 64-byte limit"}},
		{name: "path on plain", cfg: Config{Topic: "s/+metric", Path: "$.v"}, want: []string{"options.path: only the json format reads paths: remove it or set format: json"}},
		{name: "bad time zone", cfg: Config{Topic: "s/+metric", Format: "json", Path: "$.v", TimePath: "$.t", TimeZone: "Mars/Olympus"}, want: []string{`options.time_zone: "Mars/Olympus" is not a time zone`}},
		{name: "bad bad_time", cfg: Config{Topic: "s/+metric", Format: "senml", BadTime: "drop"}, want: []string{`options.bad_time: "drop" is not a choice: use refuse`}},
		{name: "time_path on senml", cfg: Config{Topic: "s/x", Format: "senml", TimePath: "$.t"}, want: []string{"options.time_path: only the json format reads paths"}},
		{name: "fields on plain", cfg: Config{Topic: "s/+metric", Fields: map[string]string{"a": "$.a"}}, want: []string{"options.fields: only the json format reads fields"}},
		{name: "path and fields", cfg: Config{Topic: "s/x", Format: "json", Path: "$.a", Fields: map[string]string{"a": "$.a"}}, want: []string{"options.path: path and fields exclude each other"}},
		{name: "fields and metric", cfg: Config{Topic: "s/x", Format: "json", Metric: "m", Fields: map[string]string{"a": "$.a"}}, want: []string{"options.metric: fields name the metrics: remove metric"}},
		{name: "fields and +metric", cfg: Config{Topic: "s/+metric", Format: "json", Fields: map[string]string{"a": "$.a"}}, want: []string{"options.topic: fields name the metrics: use a bare + instead of +metric"}},
		{name: "bad field name", cfg: Config{Topic: "s/x", Format: "json", Fields: map[string]string{"a#": "$.a"}}, want: []string{`options.fields: metric name "a#" contains '#'`}},
		{name: "bad field path", cfg: Config{Topic: "s/x", Format: "json", Fields: map[string]string{"a": "a"}}, want: []string{`options.fields.a: path "a" does not start with $`}},
		{name: "bad path", cfg: Config{Topic: "s/+metric", Format: "json", Path: "$..a"}, want: []string{`options.path: path "$..a": expected a name after the .`}},
		{name: "bad time path", cfg: Config{Topic: "s/+metric", Format: "json", TimePath: "$[x]"}, want: []string{`options.time_path: path "$[x]" at offset 1: [x] is not an array index`}},
		{name: "senml metric", cfg: Config{Topic: "s/x", Format: "senml", Metric: "m"}, want: []string{"options.metric: senml names metrics in its records (bn+n): remove metric"}},
		{name: "senml +metric", cfg: Config{Topic: "s/+metric", Format: "senml"}, want: []string{"options.topic: senml names metrics in its records (bn+n): use a bare + instead of +metric"}},
		{name: "unit", cfg: Config{Topic: "s/+metric", Unit: "C\n"}, want: []string{`options.unit: "C\n" contains the control character '\n'`}},
		{name: "scale", cfg: Config{Topic: "s/+metric", Scale: scale.Linear{Factor: math.Inf(1)}}, want: []string{"scale.factor +Inf is not a finite number"}},
		{name: "several", cfg: Config{Topic: "s/+device", Format: "csv", Path: "$.x"}, want: []string{"options.format:", "options.path:", "options.metric: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
				}
			}
			// The daemon splits the error into lines, each naming a field.
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "options.") && !strings.HasPrefix(line, "scale.") {
					t.Errorf("line %q does not name a field", line)
				}
			}
		})
	}
}

func TestNewRefusesBadNameAndConfig(t *testing.T) {
	tests := []struct {
		name, device string
		cfg          Config
		want         string
	}{
		{name: "empty name", device: "", cfg: Config{Topic: "a/+metric"}, want: `mqttsensor: device name "" is empty`},
		{name: "name with slash", device: "a/b", cfg: Config{Topic: "a/+metric"}, want: `mqttsensor: device name "a/b" contains '/'`},
		{name: "bad config", device: "porch", cfg: Config{Topic: "a/+metric", Format: "xml"}, want: `mqttsensor porch: options.format: "xml" is not a format`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.device, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() = %v, want %q", err, tt.want)
			}
		})
	}
}
