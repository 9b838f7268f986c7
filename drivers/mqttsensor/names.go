package mqttsensor

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest device or metric name, in bytes.
const MaxNameLen = 64

// quoteLen is how much of a payload or name an error quotes, in bytes.
const quoteLen = 40

// checkName reports why s cannot be a device or metric name, or nil. The
// daemon puts names in MQTT topics, so they must not be empty or hold a
// level separator, a wildcard or a control character.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > MaxNameLen:
		return fmt.Errorf("is %d bytes, over the %d-byte limit", len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		switch {
		case r == '/' || r == '+' || r == '#':
			return fmt.Errorf("contains %q, which MQTT topics reserve", r)
		case unicode.IsControl(r):
			return fmt.Errorf("contains the control character %q", r)
		}
	}
	return nil
}

// checkUnit reports why s cannot be a unit, or nil: units may hold / (m/s)
// but no control characters, and are at most MaxNameLen bytes.
func checkUnit(s string) error {
	switch {
	case len(s) > MaxNameLen:
		return fmt.Errorf("is %d bytes, over the %d-byte limit", len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains the control character %q", r)
		}
	}
	return nil
}

// quote returns b as a Go-quoted string for an error: non-printable bytes
// escaped, cut to quoteLen bytes (on a rune boundary) with "..." and the
// full length when longer.
func quote(b []byte) string {
	if len(b) <= quoteLen {
		return strconv.Quote(string(b))
	}
	cut := quoteLen
	for cut > quoteLen-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(string(b[:cut])), len(b))
}

// quoteString is quote for strings.
func quoteString(s string) string {
	if len(s) <= quoteLen {
		return strconv.Quote(s)
	}
	return quote([]byte(s))
}

// topicText returns topic as an error should show it: as is when it is
// short and printable, else quoted and cut like a payload.
func topicText(topic string) string {
	if len(topic) <= 2*quoteLen && utf8.ValidString(topic) {
		printable := true
		for _, r := range topic {
			if !unicode.IsPrint(r) || r == ' ' {
				printable = false
				break
			}
		}
		if printable && topic != "" {
			return topic
		}
	}
	if len(topic) <= 2*quoteLen {
		return strconv.Quote(topic)
	}
	cut := 2 * quoteLen
	for cut > 2*quoteLen-utf8.UTFMax && !utf8.RuneStart(topic[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(topic[:cut]), len(topic))
}
