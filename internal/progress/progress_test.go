package progress

import (
	"strings"
	"testing"
)

func TestBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{3250586, "3.1 MiB"},
		{12 << 20, "12.0 MiB"},
		{5 << 30, "5.0 GiB"},
		{-2048, "-2.0 KiB"},
	}
	for _, tt := range tests {
		if got := Bytes(tt.n); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestBar(t *testing.T) {
	tests := []struct {
		name  string
		calls [][2]int64
		want  []string // what each call writes
	}{
		{
			name:  "known total",
			calls: [][2]int64{{0, 12 << 20}, {3250586, 12 << 20}, {12 << 20, 12 << 20}},
			want: []string{
				"\rget [>                             ]   0% 0.0/12.0 MiB",
				"\rget [======>                       ]  25% 3.1/12.0 MiB",
				"\rget [==============================] 100% 12.0/12.0 MiB\n",
			},
		},
		{
			name:  "unknown total shows bytes, shorter line is blanked",
			calls: [][2]int64{{2 << 20, -1}, {100, -1}, {300, 300}},
			want: []string{
				"\rget 2.0 MiB",
				"\rget 100 B  ",
				"\rget [==============================] 100% 300/300 B\n",
			},
		},
		{
			name:  "empty file",
			calls: [][2]int64{{0, 0}},
			want:  []string{"\rget [==============================] 100% 0/0 B\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			draw := Bar(&b, "get")
			for i, c := range tt.calls {
				b.Reset()
				draw(c[0], c[1])
				if got := b.String(); got != tt.want[i] {
					t.Errorf("call %d (%d, %d) wrote %q, want %q", i, c[0], c[1], got, tt.want[i])
				}
			}
		})
	}
}
