package recording

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	ops, err := Parse("x", []byte("# header\naddr 44 w 24 00\naddr 44 r 66 8a 4f  # comment\n\nw 01 80 r 00 02\n"))
	want := []Op{{Addr: 0x44, W: []byte{0x24, 0}}, {Addr: 0x44, R: []byte{0x66, 0x8a, 0x4f}}, {W: []byte{1, 0x80}, R: []byte{0, 2}}}
	if err != nil || !reflect.DeepEqual(ops, want) {
		t.Fatalf("got %+v, %v", ops, err)
	}
	for _, bad := range []string{"addr", "addr zz w 00", "44", "w 100"} {
		if _, err := Parse("bad", []byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
}
