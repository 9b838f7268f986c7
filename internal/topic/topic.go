// Package topic checks MQTT topic filters and matches topics against them,
// for the parts of edged that route messages themselves (the embedded
// broker's sensor routes, the uplink's message dispatch).
package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidFilter reports what is wrong with an MQTT topic filter, or nil.
func ValidFilter(filter string) error {
	switch {
	case filter == "":
		return errors.New("empty filter")
	case len(filter) > 65535:
		return errors.New("filter longer than 65535 bytes")
	case strings.ContainsRune(filter, 0) || !utf8.ValidString(filter):
		return fmt.Errorf("%q contains NUL or invalid UTF-8", filter)
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("%q: # must be the last level", filter)
		case l != "#" && strings.Contains(l, "#"):
			return fmt.Errorf("%q: # must be a whole level", filter)
		case l != "+" && strings.Contains(l, "+"):
			return fmt.Errorf("%q: + must be a whole level", filter)
		}
	}
	return nil
}

// Match reports whether topic matches the MQTT filter f, as a broker
// would: + is one level, a trailing # is zero or more levels, and a topic
// starting with $ matches only a filter that starts with the same literal
// level. f is assumed valid.
func Match(f, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(f, "+") || strings.HasPrefix(f, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(f, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			return fmore == tmore || frest == "#"
		}
		f, topic = frest, trest
	}
}
