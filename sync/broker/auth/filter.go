package auth

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// levelKind is what one level of a rule's filter stands for.
type levelKind uint8

const (
	literalLevel levelKind = iota // the level's text, as is
	plusLevel                     // +: any one level
	hashLevel                     // #: the parent level and every level below
	userLevel                     // %u: the client's username
	clientLevel                   // %c: the client's id
)

// level is one parsed level of a rule's filter.
type level struct {
	kind levelKind
	text string // for literalLevel
}

// pattern is a rule's topic filter, parsed once and matched many times.
type pattern []level

// maxFilterLen is the longest topic or filter MQTT can carry.
const maxFilterLen = 65535

// sharePrefix starts a shared subscription, $share/<group>/<filter>; MQTT
// brokers (mochi among them) compare it without regard to case.
const sharePrefix = "$share/"

// parsePattern checks and parses one filter from a rule.
func parsePattern(s string) (pattern, error) {
	if err := checkFilterText(s); err != nil {
		return nil, err
	}
	if hasSharePrefix(s) {
		return nil, errors.New("shared subscriptions are checked without their $share/<group>/ prefix: write the filter without it")
	}
	parts := strings.Split(s, "/")
	p := make(pattern, len(parts))
	for i, part := range parts {
		switch {
		case part == "#":
			if i != len(parts)-1 {
				return nil, errors.New("# must be the last level")
			}
			p[i] = level{kind: hashLevel}
		case part == "+":
			p[i] = level{kind: plusLevel}
		case part == "%u":
			p[i] = level{kind: userLevel}
		case part == "%c":
			p[i] = level{kind: clientLevel}
		case strings.Contains(part, "#"):
			return nil, errors.New("# must be a whole level, as in sensors/#")
		case strings.Contains(part, "+"):
			return nil, errors.New("+ must be a whole level, as in sensors/+/temp")
		case strings.Contains(part, "%u"), strings.Contains(part, "%c"):
			return nil, errors.New("%u and %c must be a whole level, as in sensors/%u/#")
		default:
			p[i] = level{kind: literalLevel, text: part}
		}
	}
	return p, nil
}

// checkFilterText checks what every topic or filter must be.
func checkFilterText(s string) error {
	switch {
	case s == "":
		return errors.New("empty filter")
	case len(s) > maxFilterLen:
		return errors.New("longer than 65535 bytes")
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	case strings.ContainsRune(s, 0):
		return errors.New("contains a NUL character")
	}
	return nil
}

// hasSharePrefix reports whether s is a shared subscription.
func hasSharePrefix(s string) bool {
	return len(s) >= len(sharePrefix) && strings.EqualFold(s[:len(sharePrefix)], sharePrefix)
}

// splitTopic splits a topic name a client publishes to; ok is false for
// anything that is not a valid topic name.
func splitTopic(topic string) ([]string, bool) {
	if checkFilterText(topic) != nil || strings.ContainsAny(topic, "+#") {
		return nil, false
	}
	return strings.Split(topic, "/"), true
}

// splitFilter splits a filter a client subscribes to, without any
// $share/<group>/ prefix; ok is false for anything that is not a valid
// filter.
func splitFilter(filter string) ([]string, bool) {
	if hasSharePrefix(filter) {
		rest := filter[len(sharePrefix):]
		group, f, found := strings.Cut(rest, "/")
		if !found || group == "" || strings.ContainsAny(group, "+#") {
			return nil, false
		}
		filter = f
	}
	if checkFilterText(filter) != nil {
		return nil, false
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if (strings.Contains(l, "#") && (l != "#" || i != len(levels)-1)) ||
			(strings.Contains(l, "+") && l != "+") {
			return nil, false
		}
	}
	return levels, true
}

// substitute gives the level that %u or %c stands for at depth i, and false
// when the value must not be used: empty, containing a wildcard or a level
// separator (it would widen the match), or making a first level start with $
// (it would reach system topics the rule's author did not name).
func substitute(v string, i int) (string, bool) {
	if v == "" || strings.ContainsAny(v, "+#/\x00") || (i == 0 && v[0] == '$') {
		return "", false
	}
	return v, true
}

// matches reports whether the pattern, with user and client substituted,
// matches the topic name split into levels.
func (p pattern) matches(topic []string, user, client string) bool {
	for i, l := range p {
		if l.kind == hashLevel {
			return i > 0 || !strings.HasPrefix(topic[0], "$")
		}
		if i >= len(topic) || !l.matchLevel(topic[i], i, user, client) {
			return false
		}
	}
	return len(topic) == len(p)
}

// contains reports whether every topic the filter (split into levels) can
// match is also matched by the pattern with user and client substituted.
func (p pattern) contains(filter []string, user, client string) bool {
	for i, l := range p {
		if l.kind == hashLevel {
			return i > 0 || !strings.HasPrefix(filter[0], "$")
		}
		if i >= len(filter) || filter[i] == "#" {
			return false
		}
		if filter[i] == "+" {
			if l.kind != plusLevel {
				return false
			}
			continue
		}
		if !l.matchLevel(filter[i], i, user, client) {
			return false
		}
	}
	return len(filter) == len(p)
}

// matchLevel reports whether the non-# level l at depth i matches the
// literal level s.
func (l level) matchLevel(s string, i int, user, client string) bool {
	switch l.kind {
	case plusLevel:
		return i > 0 || !strings.HasPrefix(s, "$")
	case userLevel:
		v, ok := substitute(user, i)
		return ok && s == v
	case clientLevel:
		v, ok := substitute(client, i)
		return ok && s == v
	default:
		return s == l.text
	}
}
