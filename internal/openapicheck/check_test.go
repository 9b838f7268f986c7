package openapicheck

import (
	"strings"
	"testing"
)

const doc = `{"openapi": "3.1.0", "paths": {}, "components": {"schemas": {
  "R": {"type": "object", "additionalProperties": false, "required": ["name", "n"],
        "properties": {"name": {"type": "string"}, "n": {"type": "integer"}, "x": {"type": "number"},
                       "at": {"type": "string", "format": "date-time"}, "s": {"type": "string", "enum": ["a", "b"]},
                       "tags": {"type": "array", "items": {"type": "string"}},
                       "by": {"type": "object", "additionalProperties": {"type": "integer"}},
                       "sub": {"$ref": "#/components/schemas/Sub"}}},
  "Sub": {"type": "object", "additionalProperties": false, "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}}}}`

// TestValidateIsStrict: each kind of drift between a document and its
// schema is caught, with the path of the offending key.
func TestValidateIsStrict(t *testing.T) {
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	r := d.Schema("R")
	if err := d.Validate(r, []byte(`{"name":"a","n":1,"x":1.5,"at":"2026-01-02T03:04:05.5Z","s":"a","tags":["t"],"by":{"Fan-Relay":2},"sub":{"ok":true}}`)); err != nil {
		t.Fatalf("a valid document: %v", err)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"name":"a"}`, `required key "n" is missing`},
		{`{"name":"a","n":1,"Extra":1}`, `key "Extra" is not in the schema`},
		{`{"name":"a","n":1.5}`, `$.n: number 1.5, want an integer`},
		{`{"name":"a","n":1,"tags":null}`, `$.tags: null, want an array`},
		{`{"name":"a","n":1,"at":"yesterday"}`, `not an RFC 3339 date-time`},
		{`{"name":"a","n":1,"s":"c"}`, `c is not one of`},
		{`{"name":"a","n":1,"by":{"d":"x"}}`, `$.by["d"]: string "x", want an integer`},
		{`{"name":"a","n":1,"sub":{"ok":true,"OverLimit":[]}}`, `$.sub: key "OverLimit" is not in the schema`},
		{`{"name":"a","n":1,"sub":{}}`, `$.sub: required key "ok" is missing`},
		{`[]`, `an array, want an object`},
	} {
		err := d.Validate(r, []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.body, err, tc.want)
		}
	}
}

// TestParseRefusesLooseSchemas: a document whose schemas would let a
// drift through (an open object, a camelCase key, a keyword not checked)
// is refused.
func TestParseRefusesLooseSchemas(t *testing.T) {
	for _, tc := range []struct{ schema, want string }{
		{`{"type": "object", "required": [], "properties": {"a": {"type": "string"}}}`, "needs additionalProperties: false"},
		{`{"type": "object", "additionalProperties": false, "required": [], "properties": {"overLimit": {"type": "string"}}}`, `"overLimit" is not snake_case`},
		{`{"type": "string", "pattern": "x"}`, `keyword "pattern" is not checked`},
		{`{"type": "object", "additionalProperties": false, "required": ["b"], "properties": {"a": {"type": "string"}}}`, `required "b" is not a property`},
		{`{"$ref": "#/components/schemas/Nope"}`, "points at nothing"},
	} {
		_, err := Parse([]byte(`{"openapi": "3.1.0", "components": {"schemas": {"X": ` + tc.schema + `}}}`))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.schema, err, tc.want)
		}
	}
}
