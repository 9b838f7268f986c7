package mqttsensor

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		path    string
		want    []pathStep // end offsets are not compared
		wantErr string
	}{
		{path: "$"},
		{path: "$.temp", want: []pathStep{{key: "temp"}}},
		{path: "$.sensors[0].value", want: []pathStep{{key: "sensors"}, {index: 0, isIndex: true}, {key: "value"}}},
		{path: `$["odd key"]`, want: []pathStep{{key: "odd key"}}},
		{path: `$['single']["a\"b"]['c\'d\\']`, want: []pathStep{{key: "single"}, {key: `a"b`}, {key: `c'd\`}}},
		{path: `$[""]`, want: []pathStep{{key: ""}}},
		{path: "$.a-b_c:1.ü", want: []pathStep{{key: "a-b_c:1"}, {key: "ü"}}},
		{path: "$[12][007]", want: []pathStep{{index: 12, isIndex: true}, {index: 7, isIndex: true}}},
		{path: "", wantErr: `path "" does not start with $`},
		{path: "temp", wantErr: `path "temp" does not start with $`},
		{path: "$.", wantErr: "expected a name after the . at offset 1"},
		{path: "$..a", wantErr: "expected a name after the . at offset 1 (.. and names with spaces"},
		{path: "$.*.*", wantErr: "a second * at offset 3: a path holds at most one"},
		{path: "$a", wantErr: `unexpected 'a' at offset 1`},
		{path: "$[-1]", wantErr: "[-1] is not an array index"},
		{path: "$[*][*]", wantErr: "a second * at offset 4"},
		{path: "$[]", wantErr: "unterminated ["},
		{path: "$[1", wantErr: "unterminated ["},
		{path: "$[99999999999999999999]", wantErr: "is not an array index"},
		{path: `$["a]`, wantErr: "unterminated quoted name"},
		{path: `$["a"`, wantErr: "expected ] after the quoted name"},
		{path: `$["a\n"]`, wantErr: `only \\, \" and \' escapes`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := parsePath(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parsePath(%q) = %v, want error containing %q", tt.path, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), pathHint) {
					t.Fatalf("parsePath(%q) = %v, want the syntax hint", tt.path, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parsePath(%q): %v", tt.path, err)
			}
			if len(p.steps) != len(tt.want) {
				t.Fatalf("parsePath(%q) = %+v, want %+v", tt.path, p.steps, tt.want)
			}
			for i, st := range p.steps {
				st.end = 0
				if st != tt.want[i] {
					t.Fatalf("step %d = %+v, want %+v", i, st, tt.want[i])
				}
			}
		})
	}
}

func TestEval(t *testing.T) {
	doc := `{"temp": 21.5, "sensors": [{"value": 3}, {"value": true}], "odd key": "x", "n": null}`
	var v any
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want, wantErr string
	}{
		{path: "$.temp", want: "21.5"},
		{path: "$.sensors[1].value", want: "true"},
		{path: `$["odd key"]`, want: "x"},
		{path: "$.n", wantErr: "$.n is null"},
		{path: "$.missing", wantErr: `$ has no field "missing"`},
		{path: "$.sensors[2]", wantErr: "$.sensors: index 2 is out of range (the array has 2 elements)"},
		{path: "$.sensors.value", wantErr: "$.sensors is an array, not an object"},
		{path: "$.temp[0]", wantErr: "$.temp is a number, not an array"},
		{path: "$.sensors[0].value.x", wantErr: "$.sensors[0].value is a number, not an object"},
		{path: `$["odd key"].x`, wantErr: `$["odd key"] is a string, not an object`},
		{path: "$.n.x", wantErr: "$.n is null"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := parsePath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.eval(v)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("eval = %v, want error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := stringOf(got); s != tt.want {
				t.Fatalf("eval = %s, want %s", s, tt.want)
			}
		})
	}
}

func stringOf(v any) string {
	b, _ := json.Marshal(v)
	if v == nil {
		return "<nil>"
	}
	return strings.Trim(string(b), `"`)
}
