// Package openapicheck checks JSON documents against the schemas of an
// OpenAPI 3.1 document, strictly: an object may hold only the keys its
// schema declares (a map, a schema with additionalProperties, holds any),
// every required key, each of the declared type; every declared key is
// snake_case. It knows the subset of JSON Schema the local API's document
// uses (type, properties, required, additionalProperties, items, enum,
// format date-time, $ref to #/components/…) and refuses a schema that uses
// anything else, so a keyword it does not check cannot pass unnoticed.
//
// Tests use it (runtime/localapi, cmd/edged); the daemon does not.
package openapicheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Doc is a parsed OpenAPI document.
type Doc struct {
	root map[string]any
}

// Parse reads an OpenAPI document and checks that its schemas use only
// the keywords this package checks and name only snake_case keys.
func Parse(b []byte) (*Doc, error) {
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	d := &Doc{root: root}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.") {
		return nil, fmt.Errorf("openapi: version %q, want 3.x", v)
	}
	schemas, _ := d.get("components", "schemas").(map[string]any)
	var errs []string
	for _, name := range sortedKeys(schemas) {
		errs = append(errs, d.lint(schemas[name], "#/components/schemas/"+name)...)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi schemas:\n%s", strings.Join(errs, "\n"))
	}
	return d, nil
}

// Operation is one method on one path.
type Operation struct {
	Method, Path string
}

// Operations lists every method and path the document describes, sorted.
func (d *Doc) Operations() []Operation {
	var ops []Operation
	paths, _ := d.root["paths"].(map[string]any)
	for p, item := range paths {
		m, _ := item.(map[string]any)
		for meth := range m {
			switch meth {
			case "get", "put", "post", "delete", "patch", "head", "options":
				ops = append(ops, Operation{strings.ToUpper(meth), p})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops
}

// Response returns the documented response of an operation for a status
// code: its content type and schema (nil for a response with no body).
func (d *Doc) Response(op Operation, code int) (contentType string, schema any, err error) {
	o, ok := d.get("paths", op.Path, strings.ToLower(op.Method)).(map[string]any)
	if !ok {
		return "", nil, fmt.Errorf("%s %s is not in the document", op.Method, op.Path)
	}
	rs, _ := o["responses"].(map[string]any)
	r, ok := rs[fmt.Sprint(code)]
	if !ok {
		return "", nil, fmt.Errorf("%s %s: response %d is not documented (documented: %s)", op.Method, op.Path, code, strings.Join(sortedKeys(rs), ", "))
	}
	r, err = d.deref(r)
	if err != nil {
		return "", nil, err
	}
	content, _ := r.(map[string]any)["content"].(map[string]any)
	if len(content) == 0 {
		return "", nil, nil
	}
	if len(content) != 1 {
		return "", nil, fmt.Errorf("%s %s %d: more than one content type", op.Method, op.Path, code)
	}
	for ct, c := range content {
		return ct, c.(map[string]any)["schema"], nil
	}
	return "", nil, nil
}

// ValidateResponse checks a body against the operation's documented
// response for code (JSON bodies against their schema; others only for
// the content type).
func (d *Doc) ValidateResponse(op Operation, code int, contentType string, body []byte) error {
	ct, schema, err := d.Response(op, code)
	if err != nil {
		return err
	}
	if got, _, _ := strings.Cut(contentType, ";"); strings.TrimSpace(got) != ct {
		return fmt.Errorf("%s %s %d: Content-Type %q, documented %q", op.Method, op.Path, code, contentType, ct)
	}
	if ct != "application/json" {
		return nil
	}
	return d.Validate(schema, body)
}

// Validate checks a JSON document against a schema.
func (d *Doc) Validate(schema any, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	var errs []string
	d.walk(schema, v, "$", &errs)
	if len(errs) > 0 {
		return fmt.Errorf("%d problems:\n  %s", len(errs), strings.Join(errs, "\n  "))
	}
	return nil
}

// Schema returns a named schema of components.schemas.
func (d *Doc) Schema(name string) any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// SnakeCase reports whether a key is snake_case.
func SnakeCase(key string) bool { return snake.MatchString(key) }

func (d *Doc) walk(schema, v any, at string, errs *[]string) {
	add := func(f string, a ...any) { *errs = append(*errs, at+": "+fmt.Sprintf(f, a...)) }
	s, err := d.deref(schema)
	if err != nil {
		add("%v", err)
		return
	}
	sm, _ := s.(map[string]any)
	if enum, ok := sm["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		add("%v is not one of %v", v, enum)
	}
	switch sm["type"] {
	case nil:
		// any value
	case "object":
		o, ok := v.(map[string]any)
		if !ok {
			add("%s, want an object", kind(v))
			return
		}
		props, _ := sm["properties"].(map[string]any)
		req, _ := sm["required"].([]any)
		for _, r := range req {
			if _, ok := o[r.(string)]; !ok {
				add("required key %q is missing", r)
			}
		}
		extra := sm["additionalProperties"]
		for _, k := range sortedKeys(o) {
			if p, ok := props[k]; ok {
				if !SnakeCase(k) {
					add("key %q is not snake_case", k)
				}
				d.walk(p, o[k], at+"."+k, errs)
				continue
			}
			switch extra := extra.(type) {
			case map[string]any: // a map: keys are data (device names…)
				d.walk(extra, o[k], at+"["+strconvQuote(k)+"]", errs)
			case nil:
				if props != nil {
					add("key %q is not in the schema", k)
				}
			default: // false
				add("key %q is not in the schema", k)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			add("%s, want an array", kind(v))
			return
		}
		for i, e := range a {
			d.walk(sm["items"], e, fmt.Sprintf("%s[%d]", at, i), errs)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			add("%s, want a string", kind(v))
			return
		}
		if sm["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				add("%q is not an RFC 3339 date-time", str)
			}
		}
	case "integer":
		if n, ok := v.(json.Number); !ok || strings.ContainsAny(string(n), ".eE") {
			add("%s, want an integer", kind(v))
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			add("%s, want a number", kind(v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			add("%s, want a boolean", kind(v))
		}
	default:
		add("schema type %v is not checked by openapicheck", sm["type"])
	}
}

// known are the schema keywords walk checks or that only document.
var known = map[string]bool{"type": true, "properties": true, "required": true, "additionalProperties": true,
	"items": true, "enum": true, "format": true, "$ref": true, "description": true}

// lint refuses keywords walk does not check, object schemas that are
// neither closed (additionalProperties false) nor maps, and keys that are
// not snake_case.
func (d *Doc) lint(schema any, at string) []string {
	s, ok := schema.(map[string]any)
	if !ok {
		return []string{at + ": not a schema object"}
	}
	var errs []string
	for _, k := range sortedKeys(s) {
		if !known[k] {
			errs = append(errs, fmt.Sprintf("%s: keyword %q is not checked by openapicheck", at, k))
		}
	}
	if _, ok := s["$ref"]; ok {
		if _, err := d.deref(s); err != nil {
			errs = append(errs, at+": "+err.Error())
		}
		return errs
	}
	if f, ok := s["format"]; ok && f != "date-time" {
		errs = append(errs, fmt.Sprintf("%s: format %v is not checked", at, f))
	}
	switch s["type"] {
	case "object":
		props, hasProps := s["properties"].(map[string]any)
		if _, ok := s["required"]; hasProps && !ok {
			errs = append(errs, at+": an object with properties needs required (even [])")
		}
		switch extra := s["additionalProperties"].(type) {
		case bool:
			if extra || !hasProps {
				errs = append(errs, at+": additionalProperties true: say false, or give the map's value schema")
			}
		case map[string]any:
			errs = append(errs, d.lint(extra, at+".additionalProperties")...)
		case nil:
			if hasProps {
				errs = append(errs, at+": an object with properties needs additionalProperties: false")
			}
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := props[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required %q is not a property", at, r))
			}
		}
		for _, k := range sortedKeys(props) {
			if !SnakeCase(k) {
				errs = append(errs, fmt.Sprintf("%s: property %q is not snake_case", at, k))
			}
			errs = append(errs, d.lint(props[k], at+".properties."+k)...)
		}
	case "array":
		errs = append(errs, d.lint(s["items"], at+".items")...)
	case "string", "integer", "number", "boolean", nil:
	default:
		errs = append(errs, fmt.Sprintf("%s: type %v is not checked", at, s["type"]))
	}
	return errs
}

func (d *Doc) deref(s any) (any, error) {
	for range 10 {
		m, ok := s.(map[string]any)
		if !ok {
			return s, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return s, nil
		}
		path, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			return nil, fmt.Errorf("$ref %q is not local", ref)
		}
		parts := strings.Split(path, "/")
		next := d.get(parts...)
		if next == nil {
			return nil, fmt.Errorf("$ref %q points at nothing", ref)
		}
		s = next
	}
	return nil, fmt.Errorf("$ref chain too long")
}

func (d *Doc) get(path ...string) any {
	var cur any = d.root
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func kind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return fmt.Sprintf("string %q", v)
	case json.Number:
		return "number " + string(v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	}
	return fmt.Sprintf("%T", v)
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
