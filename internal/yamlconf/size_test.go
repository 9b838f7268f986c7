package yamlconf

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]Size{"0": 0, "1048576": 1 << 20, "256Mi": 256 << 20, "64Ki": 64 << 10, "2Gi": 2 << 30, " 1Ti ": 1 << 40}
	for in, want := range good {
		t.Run(in, func(t *testing.T) {
			got, err := ParseSize(in)
			if err != nil || got != want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
			}
		})
	}
	bad := map[string]string{"64MB": "such as 64Mi", "64m": "such as 64Mi", "1.5Gi": "not a size", "-1": "not a size", "lots": "not a size", "9999999999Ti": "too large", "2kb": "such as 2Ki"}
	for in, want := range bad {
		t.Run(in, func(t *testing.T) {
			_, err := ParseSize(in)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("ParseSize(%q) error = %v, want it to contain %q", in, err, want)
			}
		})
	}
}

func TestSizeStringRoundTrips(t *testing.T) {
	for _, s := range []Size{0, 1, 1023, 1 << 10, 256 << 20, 3 << 30, 1<<20 + 1} {
		back, err := ParseSize(s.String())
		if err != nil || back != s {
			t.Fatalf("%d → %q → %d, %v", s, s.String(), back, err)
		}
	}
}
