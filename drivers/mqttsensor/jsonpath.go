package mqttsensor

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// jsonPath is a compiled field path: $ followed by .name, [index] and
// ["name"] steps.
type jsonPath struct {
	text  string
	steps []pathStep
	// wildcard is the index of the * step, or -1: a path holds at most
	// one.
	wildcard int
}

// MaxMatches bounds how many members a * may match in one message; a
// message with more is malformed.
const MaxMatches = 32

// errMissing is wrapped by eval's error when the path leads to nothing:
// a member or element that is not there, or null.
var errMissing = errors.New("missing")

// missingError is an error that is errMissing, with its own text; null
// tells a null value from a member that is not there.
type missingError struct {
	msg  string
	null bool
}

func (e missingError) Error() string        { return e.msg }
func (e missingError) Is(target error) bool { return target == errMissing }

func missingf(format string, args ...any) error {
	return missingError{msg: fmt.Sprintf(format, args...)}
}

func nullf(format string, args ...any) error {
	return missingError{msg: fmt.Sprintf(format, args...), null: true}
}

// isNull reports whether err says a value was null.
func isNull(err error) bool {
	var m missingError
	return errors.As(err, &m) && m.null
}

// pathStep is one step: a member name, or an array index when isIndex.
type pathStep struct {
	key     string
	index   int
	isIndex bool
	any     bool // *: every member of an object or element of an array
	end     int  // offset in text just past this step, for errors
}

// pathHint is the supported syntax, for errors.
const pathHint = `use $, .name, [index], ["name"] and one * (any member), e.g. $.sensors[0].value or $.*.Temperature`

// parsePath compiles s.
func parsePath(s string) (jsonPath, error) {
	if s == "" || s[0] != '$' {
		return jsonPath{}, fmt.Errorf("path %q does not start with $: %s", s, pathHint)
	}
	p := jsonPath{text: s, wildcard: -1}
	for i := 1; i < len(s); {
		if strings.HasPrefix(s[i:], ".*") || strings.HasPrefix(s[i:], "[*]") {
			if p.wildcard >= 0 {
				return jsonPath{}, fmt.Errorf("path %q: a second * at offset %d: a path holds at most one: %s", s, i, pathHint)
			}
			n := 2
			if s[i] == '[' {
				n = 3
			}
			p.wildcard = len(p.steps)
			p.steps = append(p.steps, pathStep{any: true, end: i + n})
			i += n
			continue
		}
		switch s[i] {
		case '.':
			j := i + 1
			for j < len(s) && !strings.ContainsRune(".[]'\"*", rune(s[j])) && s[j] > ' ' && s[j] != 0x7f {
				j++
			}
			if j == i+1 {
				return jsonPath{}, fmt.Errorf("path %q: expected a name after the . at offset %d (.. and names with spaces or quotes are not supported): %s", s, i, pathHint)
			}
			p.steps = append(p.steps, pathStep{key: s[i+1 : j], end: j})
			i = j
		case '[':
			st, n, err := parseBracket(s[i:])
			if err != nil {
				return jsonPath{}, fmt.Errorf("path %q at offset %d: %w: %s", s, i, err, pathHint)
			}
			st.end = i + n
			p.steps = append(p.steps, st)
			i += n
		default:
			return jsonPath{}, fmt.Errorf("path %q: unexpected %q at offset %d: %s", s, s[i], i, pathHint)
		}
	}
	return p, nil
}

// parseBracket parses a [index] or ["name"] / ['name'] step at the start of
// s and returns it with its length.
func parseBracket(s string) (pathStep, int, error) {
	if len(s) < 3 {
		return pathStep{}, 0, fmt.Errorf("unterminated [")
	}
	if q := s[1]; q == '"' || q == '\'' {
		var b strings.Builder
		for i := 2; i < len(s); i++ {
			switch c := s[i]; c {
			case q:
				if i+1 >= len(s) || s[i+1] != ']' {
					return pathStep{}, 0, fmt.Errorf("expected ] after the quoted name")
				}
				return pathStep{key: b.String()}, i + 2, nil
			case '\\':
				if i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '"' || s[i+1] == '\'') {
					b.WriteByte(s[i+1])
					i++
					continue
				}
				return pathStep{}, 0, fmt.Errorf(`only \\, \" and \' escapes are supported in quoted names`)
			default:
				b.WriteByte(c)
			}
		}
		return pathStep{}, 0, fmt.Errorf("unterminated quoted name")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return pathStep{}, 0, fmt.Errorf("unterminated [")
	}
	digits := s[1:end]
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return pathStep{}, 0, fmt.Errorf("[%s] is not an array index (a non-negative integer) or a quoted name", digits)
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || digits == "" {
		return pathStep{}, 0, fmt.Errorf("[%s] is not an array index (a non-negative integer) or a quoted name", digits)
	}
	return pathStep{index: n, isIndex: true}, end + 1, nil
}

// String returns the path as written.
func (p jsonPath) String() string { return p.text }

// eval walks v (as decoded by encoding/json) along a path without *. An
// error wraps errMissing when the path leads to nothing or to null.
func (p jsonPath) eval(v any) (any, error) {
	return p.walk(v, 0)
}

// walk follows the steps from the k-th on.
func (p jsonPath) walk(v any, from int) (any, error) {
	for k := from; k < len(p.steps); k++ {
		st := p.steps[k]
		at := p.text[:1]
		if k > 0 {
			at = p.text[:p.steps[k-1].end]
		}
		switch {
		case v == nil:
			return nil, nullf("%s is null", at)
		case st.isIndex:
			arr, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s is %s, not an array", at, jsonKind(v))
			}
			if st.index >= len(arr) {
				return nil, missingf("%s: index %d is out of range (the array has %d elements)", at, st.index, len(arr))
			}
			v = arr[st.index]
		default:
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s is %s, not an object", at, jsonKind(v))
			}
			if v, ok = obj[st.key]; !ok {
				return nil, missingf("%s has no field %s", at, quoteString(st.key))
			}
		}
	}
	if v == nil {
		return nil, nullf("%s is null", p.text)
	}
	return v, nil
}

// match is one value a path found, with the member name (or array index)
// its * matched.
type match struct {
	key   string
	value any
}

// evalAll walks v along the path. Without a *, it is eval. With one, every
// member of the object (or element of the array) there is tried, in
// member-name order, and those where the rest of the path leads to a
// non-null value match; the others (a string where an object would be, a
// member that is not there) are passed over. No match wraps errMissing;
// more than MaxMatches is an error.
func (p jsonPath) evalAll(v any) ([]match, error) {
	if p.wildcard < 0 {
		x, err := p.eval(v)
		if err != nil {
			return nil, err
		}
		return []match{{value: x}}, nil
	}
	head := jsonPath{text: p.text, steps: p.steps[:p.wildcard], wildcard: -1}
	at := "$"
	if p.wildcard > 0 {
		at = p.text[:p.steps[p.wildcard-1].end]
	}
	base, err := head.eval(v)
	if err != nil {
		return nil, err
	}
	var ms []match
	try := func(key string, x any) error {
		y, err := p.walk(x, p.wildcard+1)
		if err != nil {
			return nil
		}
		if len(ms) == MaxMatches {
			return fmt.Errorf("%s: more than %d members match %s: the limit keeps a message bounded", at, MaxMatches, p.text)
		}
		ms = append(ms, match{key: key, value: y})
		return nil
	}
	switch b := base.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(b)) {
			if err := try(k, b[k]); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, x := range b {
			if err := try(strconv.Itoa(i), x); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("%s is %s, not an object or array for *", at, jsonKind(base))
	}
	if len(ms) == 0 {
		return nil, missingf("no member matches %s", p.text)
	}
	return ms, nil
}

// jsonKind names the JSON type of v, with an article, for errors.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
