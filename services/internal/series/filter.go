package series

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Filter is a compiled MQTT-style topic filter over "device/metric": + is
// exactly one level, a trailing # is zero or more levels. A device or metric
// holding "/" spans several levels.
type Filter struct {
	levels []string
}

// ValidFilter reports what is wrong with the filter s, or nil.
func ValidFilter(s string) error {
	switch {
	case s == "":
		return errors.New("empty filter: use # for every series")
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return fmt.Errorf("%q contains NUL or invalid UTF-8", s)
	}
	levels := strings.Split(s, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("%q: # must be the last level, e.g. boiler/#", s)
		case l != "#" && strings.Contains(l, "#"):
			return fmt.Errorf("%q: # must be a whole level, e.g. boiler/#", s)
		case l != "+" && strings.Contains(l, "+"):
			return fmt.Errorf("%q: + must be a whole level, e.g. +/temperature", s)
		}
	}
	return nil
}

// NewFilter compiles s, or returns the error ValidFilter gives.
func NewFilter(s string) (Filter, error) {
	if err := ValidFilter(s); err != nil {
		return Filter{}, err
	}
	return Filter{levels: strings.Split(s, "/")}, nil
}

// Match reports whether the series device/metric matches f. It does not
// allocate.
func (f Filter) Match(device, metric string) bool {
	t := topic{parts: [2]string{device, metric}}
	for _, fl := range f.levels {
		if fl == "#" {
			return true
		}
		tl, ok := t.next()
		if !ok || (fl != "+" && fl != tl) {
			return false
		}
	}
	_, more := t.next()
	return !more
}

// topic walks the levels of device/metric without joining them.
type topic struct {
	parts [2]string
	i     int
}

func (t *topic) next() (string, bool) {
	if t.i >= len(t.parts) {
		return "", false
	}
	l, rest, more := strings.Cut(t.parts[t.i], "/")
	if more {
		t.parts[t.i] = rest
	} else {
		t.i++
	}
	return l, true
}

// Filters is a set of filters; a series is selected when any matches. An
// empty set selects every series.
type Filters []Filter

// NewFilters compiles every filter of ss. Its error names the first bad
// one by index (match[1]: …), prefixed with field.
func NewFilters(field string, ss []string) (Filters, error) {
	fs := make(Filters, 0, len(ss))
	var errs []error
	for i, s := range ss {
		f, err := NewFilter(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
			continue
		}
		fs = append(fs, f)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return fs, nil
}

// Match reports whether any filter of fs matches device/metric, or fs is
// empty.
func (fs Filters) Match(device, metric string) bool {
	if len(fs) == 0 {
		return true
	}
	for _, f := range fs {
		if f.Match(device, metric) {
			return true
		}
	}
	return false
}
