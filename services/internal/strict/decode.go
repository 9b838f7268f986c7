package strict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes the walk visits, aliases included, so that a
// "billion laughs" document is an error rather than a hang.
const maxNodes = 1 << 16

// Decode fills out, a pointer to a struct, from data (YAML, or JSON, which
// YAML includes). Keys map to fields by their yaml tag. Empty data, or a key
// with no value, leaves the field as it was. The error lists every problem,
// one per line, each prefixed with its path.
func Decode(data []byte, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("strict: Decode needs a non-nil pointer to a struct, got %T", out)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("not valid YAML or JSON: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil
	}
	w := walker{budget: maxNodes}
	w.check(root.Content[0], rv.Elem().Type(), "")
	if len(w.errs) > 0 {
		return errors.Join(w.errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("decode: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document: keep one (remove the ---)")
	}
	return nil
}

// walker checks a node tree against a Go type and records every problem.
type walker struct {
	errs   []error
	budget int
}

var durationType = reflect.TypeFor[time.Duration]()

func (w *walker) add(path, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	w.errs = append(w.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (w *walker) check(n *yaml.Node, t reflect.Type, path string) {
	if w.budget--; w.budget < 0 {
		if w.budget == -1 {
			w.add(path, "the document expands to more than %d values (aliases included): simplify it", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with no value keeps the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			w.add(path, "expected a duration such as 30s, 5m or 1h30m, got %s", kindName(n))
		} else if _, err := time.ParseDuration(n.Value); err != nil || n.Tag != "!!str" {
			w.add(path, "%q is not a duration: write it with a unit, e.g. 30s, 5m or 1h30m", n.Value)
		}
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		return // any value
	case reflect.Struct:
		w.structure(n, t, path)
	case reflect.Map:
		w.pairs(n, path, func(_, v *yaml.Node, p string) { w.check(v, t.Elem(), p) })
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(path, "expected a list, got %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			w.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		w.scalar(n, t, path)
	}
}

func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		w.add(path, "expected %s, got %s", typeName(t), kindName(n))
		return
	}
	v := reflect.New(t)
	whole := t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 // yaml.v3 would truncate 2.5 to 2
	if err := n.Decode(v.Interface()); err != nil || (whole && n.ShortTag() != "!!int") {
		w.add(path, "%q is not %s", n.Value, typeName(t))
		return
	}
	if f := v.Elem(); f.CanFloat() && (math.IsNaN(f.Float()) || math.IsInf(f.Float(), 0)) {
		w.add(path, "%q is not a finite number", n.Value)
	}
}

func (w *walker) structure(n *yaml.Node, t reflect.Type, path string) {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name != "-" && f.IsExported() {
			fields[name] = f.Type
		}
	}
	w.pairs(n, path, func(k, v *yaml.Node, p string) {
		ft, ok := fields[k.Value]
		if !ok {
			w.add(p, "%s", unknownKey(k.Value, fields))
			return
		}
		w.check(v, ft, p)
	})
}

// pairs calls each for every key of the mapping n; a key seen twice, or
// an n that is no mapping, is a problem.
func (w *walker) pairs(n *yaml.Node, path string, each func(k, v *yaml.Node, p string)) {
	if n.Kind != yaml.MappingNode {
		w.add(path, "expected a mapping of keys, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			w.add(path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		if seen[k.Value] {
			w.add(p, "key appears twice: keep one")
			continue
		}
		seen[k.Value] = true
		each(k, v, p)
	}
}

func unknownKey(key string, fields map[string]reflect.Type) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	best, bestD := "", min(3, len(key))
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key: did you mean %q?", best)
	}
	return "unknown key; known keys here: " + strings.Join(known, ", ")
}

// editDistance is the Levenshtein distance between a and b, for hints.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number of 0 or more"
	}
	return "a " + t.String()
}
