package mqttsensor

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// jsonPath is a compiled field path: $ followed by .name, [index] and
// ["name"] steps.
type jsonPath struct {
	text  string
	steps []pathStep
}

// pathStep is one step: a member name, or an array index when isIndex.
type pathStep struct {
	key     string
	index   int
	isIndex bool
	end     int // offset in text just past this step, for errors
}

// pathHint is the supported syntax, for errors.
const pathHint = `use $, .name, [index] and ["name"], e.g. $.sensors[0].value`

// parsePath compiles s.
func parsePath(s string) (jsonPath, error) {
	if s == "" || s[0] != '$' {
		return jsonPath{}, fmt.Errorf("path %q does not start with $: %s", s, pathHint)
	}
	p := jsonPath{text: s}
	for i := 1; i < len(s); {
		switch s[i] {
		case '.':
			j := i + 1
			for j < len(s) && !strings.ContainsRune(".[]'\"*", rune(s[j])) && s[j] > ' ' && s[j] != 0x7f {
				j++
			}
			if j == i+1 {
				return jsonPath{}, fmt.Errorf("path %q: expected a name after the . at offset %d (.., * and names with spaces or quotes are not supported): %s", s, i, pathHint)
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

// eval walks v (as decoded by encoding/json) along the path.
func (p jsonPath) eval(v any) (any, error) {
	for k, st := range p.steps {
		at := p.text[:1]
		if k > 0 {
			at = p.text[:p.steps[k-1].end]
		}
		if st.isIndex {
			arr, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s is %s, not an array", at, jsonKind(v))
			}
			if st.index >= len(arr) {
				return nil, fmt.Errorf("%s: index %d is out of range (the array has %d elements)", at, st.index, len(arr))
			}
			v = arr[st.index]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is %s, not an object", at, jsonKind(v))
		}
		if v, ok = obj[st.key]; !ok {
			return nil, fmt.Errorf("%s has no field %s", at, quoteString(st.key))
		}
	}
	return v, nil
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
