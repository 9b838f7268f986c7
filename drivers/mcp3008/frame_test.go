package mcp3008

import (
	"strings"
	"testing"
)

func TestRequest(t *testing.T) {
	tests := []struct {
		input string
		want  [frameLen]byte
	}{
		{"ch0", [frameLen]byte{0x01, 0x80, 0x00}},
		{"ch5", [frameLen]byte{0x01, 0xD0, 0x00}},
		{"ch7", [frameLen]byte{0x01, 0xF0, 0x00}},
		{"ch0-ch1", [frameLen]byte{0x01, 0x00, 0x00}},
		{"ch1-ch0", [frameLen]byte{0x01, 0x10, 0x00}},
		{"ch7-ch6", [frameLen]byte{0x01, 0x70, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			cfg, ok := inputs[tt.input]
			if !ok {
				t.Fatalf("input %q unknown", tt.input)
			}
			if got := request(cfg); got != tt.want {
				t.Fatalf("request(%s) = % x, want % x", tt.input, got, tt.want)
			}
			if got := inputName(cfg); got != tt.input {
				t.Fatalf("inputName = %q, want %q", got, tt.input)
			}
		})
	}
}

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte
		code  uint16
		err   string
	}{
		{name: "zero", reply: []byte{0x00, 0x00, 0x00}, code: 0},
		{name: "full scale", reply: []byte{0x00, 0x03, 0xFF}, code: 1023},
		{name: "mid scale", reply: []byte{0x00, 0x02, 0x00}, code: 512},
		{name: "hi-Z bits before the null bit are ignored", reply: []byte{0xFF, 0xF9, 0x2A}, code: 0x12A},
		{name: "null bit set", reply: []byte{0x00, 0x04, 0x00}, err: "has its null bit set"},
		{name: "short", reply: []byte{0x00, 0x03}, err: "reply is 2 bytes, want 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := parseFrame(tt.reply)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseFrame = %d, %v; want error %q", code, err, tt.err)
				}
				return
			}
			if err != nil || code != tt.code {
				t.Fatalf("parseFrame = %d, %v; want %d", code, err, tt.code)
			}
		})
	}
}

// FuzzParseFrame checks that parsing never panics, that every 3-byte reply
// with a clear null bit gives its 10-bit code, and that anything else is an
// error.
func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{0x00, 0x03, 0xFF})
	f.Add([]byte{0xFF, 0xFF, 0xFF})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, r []byte) {
		code, err := parseFrame(r)
		ok := len(r) == frameLen && r[1]&0x04 == 0
		if ok != (err == nil) {
			t.Fatalf("parseFrame(% x) = %d, %v", r, code, err)
		}
		if err == nil && (code > 1023 || code != uint16(r[1]&3)<<8|uint16(r[2])) {
			t.Fatalf("parseFrame(% x) = %d", r, code)
		}
	})
}
