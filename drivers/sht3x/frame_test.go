package sht3x

import (
	"strings"
	"testing"
)

func TestCRC8(t *testing.T) {
	tests := []struct {
		word []byte
		want byte
	}{
		{[]byte{0xBE, 0xEF}, 0x92}, // the datasheet's example
		{[]byte{0x00, 0x00}, 0x81},
		{[]byte{0x66, 0x66}, 0x93},
		{[]byte{0xFF, 0xFF}, 0xAC},
	}
	for _, tt := range tests {
		t.Run(string(rune('a'+tt.want%26)), func(t *testing.T) {
			if got := crc8(tt.word); got != tt.want {
				t.Fatalf("crc8(% x) = %#x, want %#x", tt.word, got, tt.want)
			}
		})
	}
}

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name     string
		frame    []byte
		temp, rh float64
		err      string
	}{
		{name: "25C 60%", frame: []byte{0x66, 0x66, 0x93, 0x99, 0x99, 0xBE}, temp: 25, rh: 60},
		{name: "minimum", frame: []byte{0x00, 0x00, 0x81, 0x00, 0x00, 0x81}, temp: -45, rh: 0},
		{name: "maximum", frame: []byte{0xFF, 0xFF, 0xAC, 0xFF, 0xFF, 0xAC}, temp: 130, rh: 100},
		{name: "bad temperature CRC", frame: []byte{0x66, 0x66, 0x94, 0x99, 0x99, 0xBE}, err: "temperature word 0x6666 has CRC 0x94, want 0x93"},
		{name: "bad humidity CRC", frame: []byte{0x66, 0x66, 0x93, 0x99, 0x98, 0xBE}, err: "humidity word 0x9998 has CRC 0xbe"},
		{name: "all ones from a floating bus", frame: []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, err: "temperature word 0xffff has CRC 0xff, want 0xac"},
		{name: "short", frame: []byte{0x66, 0x66, 0x93}, err: "frame is 3 bytes, want 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeFrame(tt.frame)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("decodeFrame = %+v, %v; want error %q", m, err, tt.err)
				}
				return
			}
			if err != nil || m.celsius != tt.temp || m.rh != tt.rh {
				t.Fatalf("decodeFrame = %+v, %v; want %v C %v %%RH", m, err, tt.temp, tt.rh)
			}
		})
	}
}

// FuzzDecodeFrame checks that decoding never panics, that frames whose
// CRCs match decode into the sensor's range, and that any other 6-byte
// frame is an error.
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte{0x66, 0x66, 0x93, 0x99, 0x99, 0xBE})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeFrame(b)
		valid := len(b) == frameLen && crc8(b[0:2]) == b[2] && crc8(b[3:5]) == b[5]
		if valid != (err == nil) {
			t.Fatalf("decodeFrame(% x) = %+v, %v; CRC-valid frame: %v", b, m, err, valid)
		}
		if err == nil && (m.celsius < -45 || m.celsius > 130 || m.rh < 0 || m.rh > 100) {
			t.Fatalf("decodeFrame(% x) = %+v: out of the sensor's range", b, m)
		}
	})
}
