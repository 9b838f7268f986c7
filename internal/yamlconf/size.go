package yamlconf

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is a number of bytes written as a plain integer or with a binary
// suffix: Ki, Mi, Gi, Ti (256Mi is 268435456). Decimal suffixes such as MB
// are refused because users mean different things by them.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}}

// ParseSize parses "64Mi", "512Ki", "1Gi" or "1048576".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	num := t
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size, use bytes or Ki/Mi/Gi/Ti such as %s", s, suggestSize(t))
	}
	if n > 0 && mult > 1 && n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Size(n * mult), nil
}

// suggestSize turns a common mistake ("64MB", "64m") into the intended form.
func suggestSize(s string) string {
	lower := strings.ToLower(s)
	for _, u := range []struct{ from, to string }{{"kb", "Ki"}, {"mb", "Mi"}, {"gb", "Gi"}, {"tb", "Ti"}, {"k", "Ki"}, {"m", "Mi"}, {"g", "Gi"}} {
		if strings.HasSuffix(lower, u.from) {
			num := strings.TrimSpace(s[:len(s)-len(u.from)])
			if _, err := strconv.ParseFloat(num, 64); err == nil {
				return num + u.to
			}
		}
	}
	return "64Mi"
}

// UnmarshalText parses the textual form, so Size works in YAML and flags.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// String renders the size with the largest exact binary suffix.
func (s Size) String() string {
	for _, u := range sizeUnits {
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText renders the size as String does.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
