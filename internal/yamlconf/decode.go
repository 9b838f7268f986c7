package yamlconf

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Decode parses data and fills out (a pointer to a struct), keeping the
// values already in out where the file says nothing, so callers set defaults
// first. Keys map to fields by their `yaml:"name"` tag (fields without a tag
// are not decoded). It returns Errors listing every problem, or a single
// FieldError when the YAML itself does not parse.
func Decode(data []byte, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("yamlconf: Decode needs a non-nil pointer, got %T", out)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Errors{{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil // empty file: all defaults
	}
	d := decoder{budget: maxNodes}
	d.node(root.Content[0], rv.Elem(), "")
	return d.errs.Err()
}

// maxNodes bounds the nodes one document may expand to, aliases included,
// so a "billion laughs" file is an error instead of a hang.
const maxNodes = 1 << 17

// decoder carries the problems found so far and the node budget left.
type decoder struct {
	errs   Errors
	budget int
}

// DecodeNode fills out from an already parsed node, prefixing paths with
// path. Callers use it for sections whose type is chosen by another key (a
// device's options depend on its kind).
func DecodeNode(n *yaml.Node, out any, path string) error {
	d := decoder{budget: maxNodes}
	d.node(n, reflect.ValueOf(out).Elem(), path)
	return d.errs.Err()
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	nodeType      = reflect.TypeFor[yaml.Node]()
	textUnmarshal = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (d *decoder) node(n *yaml.Node, v reflect.Value, path string) {
	if d.budget <= 0 {
		return
	}
	if d.budget--; d.budget == 0 {
		d.errs.Add(path, "the document expands to more than %d values (aliases included): simplify it", maxNodes)
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	add := func(format string, args ...any) {
		d.errs = append(d.errs, FieldError{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with no value keeps the default
	}
	switch {
	case v.Type() == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.node(n, v.Elem(), path)
		return
	case v.Type() == durationType:
		if n.Kind != yaml.ScalarNode {
			add("expected a duration such as 500ms, 10s or 5m, got %s", KindName(n))
			return
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			add("%q is not a duration, use %s", n.Value, durationHint(n.Value))
			return
		}
		v.SetInt(int64(d))
		return
	case reflect.PointerTo(v.Type()).Implements(textUnmarshal):
		if n.Kind != yaml.ScalarNode {
			add("expected a single value, got %s", KindName(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			add("%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			add("expected a list, got %s", KindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.node(item, s.Index(i), Index(path, i))
		}
		v.Set(s)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			add("%s", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		decodeScalar(n, v, add)
	}
}

func decodeScalar(n *yaml.Node, v reflect.Value, add func(string, ...any)) {
	if n.Kind != yaml.ScalarNode {
		add("expected a %s, got %s", typeName(v.Kind()), KindName(n))
		return
	}
	s := n.Value
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off":
			v.SetBool(false)
		default:
			add("%q is not true or false", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 0, v.Type().Bits())
		if err != nil {
			add("%q is not a whole number", s)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(s, 0, v.Type().Bits())
		if err != nil {
			add("%q is not a whole number of 0 or more", s)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			add("%q is not a number", s)
			return
		}
		v.SetFloat(f)
	default:
		add("cannot hold a value of Go type %s", v.Type())
	}
}

// durationHint suggests the Go duration for a value in days ("7d" → 168h)
// and gives examples otherwise.
func durationHint(s string) string {
	if days, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "d")); err == nil && strings.HasSuffix(s, "d") && days > 0 {
		return fmt.Sprintf("hours for days: %dh", days*24)
	}
	return "e.g. 500ms, 10s, 5m, 168h"
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	fields := map[string]int{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" && t.Field(i).IsExported() {
			fields[name] = i
		}
	}
	d.pairs(n, path, func(k, val *yaml.Node, p string) {
		idx, ok := fields[k.Value]
		if !ok {
			d.errs = append(d.errs, FieldError{Path: p, Line: k.Line, Msg: unknownKeyMsg(k.Value, fields)})
			return
		}
		d.node(val, v.Field(idx), p)
	})
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.MappingNode && v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.pairs(n, path, func(k, val *yaml.Node, p string) {
		key := reflect.New(v.Type().Key()).Elem()
		d.node(k, key, p)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.node(val, elem, p)
		v.SetMapIndex(key, elem)
	})
}

// pairs calls each for every key of the mapping n, once per key: a key
// that appears again, or an n that is not a mapping, is a problem.
func (d *decoder) pairs(n *yaml.Node, path string, each func(k, val *yaml.Node, p string)) {
	if n.Kind != yaml.MappingNode {
		d.errs = append(d.errs, FieldError{Path: path, Line: n.Line, Msg: "expected a mapping of keys, got " + KindName(n)})
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := Join(path, k.Value)
		if seen[k.Value] {
			d.errs = append(d.errs, FieldError{Path: p, Line: k.Line, Msg: "key appears twice: keep one"})
			continue
		}
		seen[k.Value] = true
		each(k, val, p)
	}
}

func unknownKeyMsg(key string, fields map[string]int) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key %q: did you mean %q?", key, best)
	}
	return fmt.Sprintf("unknown key %q, known keys here: %s", key, strings.Join(known, ", "))
}

// editDistance is the Levenshtein distance, for "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// KindName says what a node is, for messages: "a mapping", "a list", the
// quoted scalar (cut to 80 characters), or "nothing".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 80 {
			v = strings.ToValidUTF8(v[:77], "") + "…"
		}
		return fmt.Sprintf("%q", v)
	}
	return "nothing"
}

func typeName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "number"
	default:
		return "whole number"
	}
}
