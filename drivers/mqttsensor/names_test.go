package mqttsensor

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name, s, want string // want: the error; empty means valid
	}{
		{name: "plain", s: "temperature"},
		{name: "punctuation", s: "urn:dev:ow:10e2073a01080063:temp_1.x-y"},
		{name: "unicode", s: "Küche"},
		{name: "dollar inside", s: "$dev"},
		{name: "exactly 64", s: strings.Repeat("a", 64)},
		{name: "empty", s: "", want: "is empty"},
		{name: "65 bytes", s: strings.Repeat("a", 65), want: "is 65 bytes, over the 64-byte limit"},
		{name: "slash", s: "a/b", want: "contains '/', which MQTT topics reserve"},
		{name: "plus", s: "a+", want: "contains '+', which MQTT topics reserve"},
		{name: "hash", s: "#", want: "contains '#', which MQTT topics reserve"},
		{name: "NUL", s: "a\x00", want: `contains the control character '\x00'`},
		{name: "DEL", s: "a\x7f", want: `contains the control character '\x7f'`},
		{name: "C1", s: "a\u0085", want: `contains the control character '\u0085'`},
		{name: "bad UTF-8", s: "a\xff", want: "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkName(tt.s)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("checkName(%q) = %v", tt.s, err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("checkName(%q) = %v, want %q", tt.s, err, tt.want)
			}
		})
	}
}

func TestCheckUnit(t *testing.T) {
	tests := []struct {
		name, s, want string // want: the error; empty means valid
	}{
		{name: "empty", s: ""},
		{name: "slash", s: "m/s"},
		{name: "unicode", s: "°C"},
		{name: "65 bytes", s: strings.Repeat("u", 65), want: "is 65 bytes, over the 64-byte limit"},
		{name: "newline", s: "C\n", want: `contains the control character '\n'`},
		{name: "bad UTF-8", s: "\xff", want: "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkUnit(tt.s)
			if (err == nil) != (tt.want == "") || err != nil && err.Error() != tt.want {
				t.Fatalf("checkUnit(%q) = %v, want %q", tt.s, err, tt.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "short", in: "abc", want: `"abc"`},
		{name: "non-printable", in: "a\x00\n\xff", want: `"a\x00\n\xff"`},
		{name: "exactly 40", in: strings.Repeat("x", 40), want: `"` + strings.Repeat("x", 40) + `"`},
		{name: "cut", in: strings.Repeat("x", 41), want: `"` + strings.Repeat("x", 40) + `"... (41 bytes)`},
		{name: "cut on a rune boundary", in: strings.Repeat("x", 39) + "€tail", want: `"` + strings.Repeat("x", 39) + `"... (46 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quote([]byte(tt.in)); got != tt.want {
				t.Fatalf("quote = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTopicText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "printable", in: "sensors/porch/t", want: "sensors/porch/t"},
		{name: "space", in: "a b", want: `"a b"`},
		{name: "control", in: "a\x01", want: `"a\x01"`},
		{name: "empty", in: "", want: `""`},
		{name: "long", in: strings.Repeat("t", 81), want: `"` + strings.Repeat("t", 80) + `"... (81 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := topicText(tt.in); got != tt.want {
				t.Fatalf("topicText = %s, want %s", got, tt.want)
			}
		})
	}
}
