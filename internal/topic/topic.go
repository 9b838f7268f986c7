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

// Covers reports whether every topic that matches filter b also matches
// filter a, so a router that gives each message to the first matching of
// a then b never gives b one. Both are assumed valid.
func Covers(a, b string) bool {
	if strings.HasPrefix(b, "$") && (strings.HasPrefix(a, "+") || strings.HasPrefix(a, "#")) {
		return false // a wildcard first level never matches $SYS-style topics
	}
	for {
		al, arest, amore := strings.Cut(a, "/")
		if al == "#" {
			return true
		}
		bl, brest, bmore := strings.Cut(b, "/")
		switch {
		case bl == "#":
			return false // b matches deeper topics (and the parent) than a's single level
		case al == "+":
		case bl == "+" || al != bl:
			return false
		}
		if !amore || !bmore {
			// a ends here: it covers b only if b ends too. b ends here: a
			// may still cover it with a trailing "/#" (which matches the
			// parent level as well).
			return amore == bmore || (!bmore && arest == "#")
		}
		a, b = arest, brest
	}
}
