package mqttsensor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/reading"
)

// now is the arrival time the tests pass to Decode.
var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func mustNew(t testing.TB, name string, cfg Config) *Sensor {
	t.Helper()
	s, err := New(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecodePlain(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		topic   string
		payload string
		want    reading.Reading
	}{
		{name: "captures", cfg: Config{Topic: "sensors/+device/+metric", Unit: "C"}, topic: "sensors/porch/temperature", payload: "21.5",
			want: reading.Reading{Device: "porch", Metric: "temperature", Value: 21.5, Unit: "C", Time: now}},
		{name: "configured names", cfg: Config{Topic: "home/porch/t", Metric: "temperature"}, topic: "home/porch/t", payload: " \t-3\r\n",
			want: reading.Reading{Device: "lan", Metric: "temperature", Value: -3, Time: now}},
		{name: "exponent", cfg: Config{Topic: "+device/+metric"}, topic: "d/m", payload: "1.5e3", want: reading.Reading{Device: "d", Metric: "m", Value: 1500, Time: now}},
		{name: "leading point", cfg: Config{Topic: "+device/+metric"}, topic: "d/m", payload: ".5", want: reading.Reading{Device: "d", Metric: "m", Value: 0.5, Time: now}},
		{name: "trailing point", cfg: Config{Topic: "+device/+metric"}, topic: "d/m", payload: "+5.", want: reading.Reading{Device: "d", Metric: "m", Value: 5, Time: now}},
		{name: "scale and unit", cfg: Config{Topic: "+device/+metric", Unit: "V", Scale: scale.Linear{Factor: 2.5, Offset: -1.25, Unit: "bar"}}, topic: "d/p", payload: "2",
			want: reading.Reading{Device: "d", Metric: "p", Value: 3.75, Unit: "bar", Time: now}},
		{name: "scale keeps raw unit", cfg: Config{Topic: "+device/+metric", Unit: "C", Scale: scale.Linear{Offset: 10}}, topic: "d/t", payload: "2",
			want: reading.Reading{Device: "d", Metric: "t", Value: 12, Unit: "C", Time: now}},
		{name: "hash", cfg: Config{Topic: "tele/+device/#", Metric: "power"}, topic: "tele/plug1/SENSOR/x", payload: "7",
			want: reading.Reading{Device: "plug1", Metric: "power", Value: 7, Time: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, "lan", tt.cfg)
			rs, err := s.Decode(tt.topic, []byte(tt.payload), now)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 || rs[0] != tt.want {
				t.Fatalf("Decode = %v, want [%v]", rs, tt.want)
			}
		})
	}
}

// TestDecodeErrors covers the errors every format shares and plain's own.
func TestDecodeErrors(t *testing.T) {
	captures := Config{Topic: "sensors/+device/+metric"}
	tests := []struct {
		name    string
		cfg     Config
		topic   string
		payload string
		want    string // the whole error
	}{
		{name: "topic", cfg: captures, topic: "other/porch/t", payload: "1",
			want: "mqttsensor lan: other/porch/t: topic does not match the pattern sensors/+device/+metric"},
		{name: "empty device", cfg: captures, topic: "sensors//t", payload: "1",
			want: `mqttsensor lan: sensors//t: device name "" in the topic is empty`},
		{name: "long device", cfg: captures, topic: "sensors/" + strings.Repeat("d", 65) + "/t", payload: "1",
			want: `mqttsensor lan: sensors/ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/t: device name "dddddddddddddddddddddddddddddddddddddddd"... (65 bytes) in the topic is 65 bytes, over the 64-byte limit`},
		{name: "control in metric", cfg: captures, topic: "sensors/porch/t\x01", payload: "1",
			want: `mqttsensor lan: "sensors/porch/t\x01": metric name "t\x01" in the topic contains the control character '\x01'`},
		{name: "too large", cfg: captures, topic: "sensors/porch/t", payload: strings.Repeat("1", MaxPayload+1),
			want: "mqttsensor lan: sensors/porch/t: payload of 65537 bytes is over the 64 KiB limit"},
		{name: "empty", cfg: captures, topic: "sensors/porch/t", payload: " \n",
			want: `mqttsensor lan: sensors/porch/t: payload " \n": empty: publish a number, e.g. 21.5`},
		{name: "word", cfg: captures, topic: "sensors/porch/temperature", payload: "abc",
			want: `mqttsensor lan: sensors/porch/temperature: payload "abc": not a number: publish a decimal number, e.g. 21.5 or -3e2`},
		{name: "Inf", cfg: captures, topic: "sensors/porch/t", payload: "Inf", want: `payload "Inf": not a number`},
		{name: "Inf", cfg: captures, topic: "sensors/porch/t", payload: "-Inf", want: `payload "-Inf": not a number`},
		{name: "hex", cfg: captures, topic: "sensors/porch/t", payload: "0x1p3", want: `payload "0x1p3": not a number`},
		{name: "underscore", cfg: captures, topic: "sensors/porch/t", payload: "1_000", want: `payload "1_000": not a number`},
		{name: "two numbers", cfg: captures, topic: "sensors/porch/t", payload: "1 2", want: `payload "1 2": not a number`},
		{name: "bare exponent", cfg: captures, topic: "sensors/porch/t", payload: "1e", want: `payload "1e": not a number`},
		{name: "point only", cfg: captures, topic: "sensors/porch/t", payload: "-.", want: `payload "-.": not a number`},
		{name: "trailing NUL", cfg: captures, topic: "sensors/porch/t", payload: "21.5\x00", want: `payload "21.5\x00": not a number`},
		{name: "overflow", cfg: captures, topic: "sensors/porch/t", payload: "1e400", want: `payload "1e400": number out of range of a float64`},
		{name: "scaled overflow", cfg: Config{Topic: "+device/+metric", Scale: scale.Linear{Factor: 10}}, topic: "d/t", payload: "1e308",
			want: `mqttsensor lan: d/t: payload "1e308": t: value 1e+308 scales to +Inf, not a finite number`},
		{name: "long payload quoted", cfg: captures, topic: "sensors/porch/t", payload: strings.Repeat("x", 39) + "é" + strings.Repeat("y", 10),
			want: `payload "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"... (51 bytes): not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, "lan", tt.cfg)
			rs, err := s.Decode(tt.topic, []byte(tt.payload), now)
			if err == nil || rs != nil {
				t.Fatalf("Decode = %v, %v; want no readings and an error", rs, err)
			}
			if got := err.Error(); got != tt.want && !(strings.HasPrefix(got, "mqttsensor lan: ") && strings.Contains(got, tt.want)) {
				t.Fatalf("Decode error\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDecodeNoMatchWrapsSentinel(t *testing.T) {
	s := mustNew(t, "lan", Config{Topic: "a/+metric"})
	if _, err := s.Decode("b/x", []byte("1"), now); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("Decode = %v, want ErrNoMatch", err)
	}
	if _, err := s.Decode("a/x", []byte("x"), now); err == nil || errors.Is(err, ErrNoMatch) {
		t.Fatalf("Decode of a malformed payload = %v, want an error that is not ErrNoMatch", err)
	}
}

func TestNameFilterMatches(t *testing.T) {
	s := mustNew(t, "lan", Config{Topic: "sensors/+device/+metric/#"})
	if s.Name() != "lan" || s.Filter() != "sensors/+/+/#" {
		t.Fatalf("Name, Filter = %q, %q", s.Name(), s.Filter())
	}
	if !s.Matches("sensors/a/b") || s.Matches("sensors/a") || s.Stats().Messages != 0 {
		t.Fatalf("Matches: wrong answer, or counted as a message: %+v", s.Stats())
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bm := range []struct {
		name, topic, payload string
		cfg                  Config
	}{
		{name: "plain", cfg: Config{Topic: "sensors/+device/+metric", Unit: "C"}, topic: "sensors/porch/temperature", payload: "21.5"},
		{name: "json", cfg: Config{Topic: "sensors/+device/json", Format: "json", Fields: map[string]string{"temperature": "$.temp", "humidity": "$.hum"}, TimePath: "$.ts"},
			topic: "sensors/porch/json", payload: `{"temp": 21.5, "hum": 40.25, "ts": "2026-03-04T05:06:07Z", "rssi": -60}`},
		{name: "senml", cfg: Config{Topic: "sensors/+device/senml", Format: "senml"}, topic: "sensors/porch/senml",
			payload: `[{"bn":"env:","bt":1.7e9,"bu":"C","n":"temperature","v":21.5},{"n":"humidity","u":"%RH","v":40.25,"t":1}]`},
	} {
		s := mustNew(b, "lan", bm.cfg)
		payload := []byte(bm.payload)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Decode(bm.topic, payload, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
