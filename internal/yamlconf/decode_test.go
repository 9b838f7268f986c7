package yamlconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type tlsSection struct {
	CAFile string `yaml:"ca_file"`
}

type sample struct {
	Name     string            `yaml:"name"`
	Count    int               `yaml:"count"`
	Ratio    float64           `yaml:"ratio"`
	On       bool              `yaml:"on"`
	Every    time.Duration     `yaml:"every"`
	Max      Size              `yaml:"max"`
	TLS      tlsSection        `yaml:"tls"`
	Tags     []string          `yaml:"tags"`
	Labels   map[string]string `yaml:"labels"`
	Items    []item            `yaml:"items"`
	Raw      yaml.Node         `yaml:"raw"`
	Untagged string
}

type item struct {
	ID    string        `yaml:"id"`
	Every time.Duration `yaml:"every"`
}

func TestDecodeFillsFieldsAndKeepsDefaults(t *testing.T) {
	in := `
name: gw
count: 3
ratio: 0.5
on: yes
every: 1m30s
max: 64Mi
tls: {ca_file: /etc/ca.pem}
tags: [a, b]
labels: {site: north}
items:
  - id: x
    every: 10ms
raw: {anything: [1, 2]}
`
	got := sample{Name: "default", Every: time.Second, Count: 9}
	if err := Decode([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	want := sample{Name: "gw", Count: 3, Ratio: 0.5, On: true, Every: 90 * time.Second, Max: 64 << 20,
		TLS: tlsSection{CAFile: "/etc/ca.pem"}, Tags: []string{"a", "b"}, Labels: map[string]string{"site": "north"},
		Items: []item{{ID: "x", Every: 10 * time.Millisecond}}}
	got.Raw = yaml.Node{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}

	def := sample{Name: "default", Count: 9}
	if err := Decode([]byte("count:\n"), &def); err != nil || def.Name != "default" || def.Count != 9 {
		t.Fatalf("empty value should keep defaults: %+v, %v", def, err)
	}
	if err := Decode(nil, &def); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestDecodeReportsEveryProblemWithItsPath(t *testing.T) {
	in := `name: [not, a, string]
count: many
ratio: .nan
on: maybe
every: 5 sec
max: 64MB
tls: {ca_fil: x}
tags: single
items:
  - id: ok
  - id: y
    every: soon
    colour: red
Untagged: x
naem: dup
count: 2
`
	var got sample
	err := Decode([]byte(in), &got)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %T %v", err, err)
	}
	want := []string{
		`name: expected a string, got a list (line 1)`,
		`count: "many" is not a whole number (line 2)`,
		`ratio: ".nan" is not a number (line 3)`,
		`on: "maybe" is not true or false (line 4)`,
		`every: "5 sec" is not a duration, use e.g. 500ms, 10s, 5m, 168h (line 5)`,
		`max: "64MB" is not a size, use bytes or Ki/Mi/Gi/Ti such as 64Mi (line 6)`,
		`tls.ca_fil: unknown key "ca_fil": did you mean "ca_file"? (line 7)`,
		`tags: expected a list, got "single" (line 8)`,
		`items[1].every: "soon" is not a duration, use e.g. 500ms, 10s, 5m, 168h (line 12)`,
		`items[1].colour: unknown key "colour", known keys here: every, id (line 13)`,
		`Untagged: unknown key "Untagged", known keys here: count, every, items, labels, max, name, on, ratio, raw, tags, tls (line 14)`,
		`naem: unknown key "naem": did you mean "name"? (line 15)`,
		`count: key appears twice: keep one (line 16)`,
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(errs), len(want), err)
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("problem %d:\n got %s\nwant %s", i, errs[i].Error(), want[i])
		}
	}
}

func TestDecodeRejectsBrokenYAML(t *testing.T) {
	var s sample
	err := Decode([]byte("name: [unclosed\n"), &s)
	if err == nil || !strings.Contains(err.Error(), "not valid YAML") {
		t.Fatalf("got %v", err)
	}
	if err := Decode([]byte("- a\n- b\n"), &s); err == nil || !strings.Contains(err.Error(), "expected a mapping") {
		t.Fatalf("top-level list: got %v", err)
	}
}

func TestDecodeNodeUsesGivenPath(t *testing.T) {
	var root struct {
		Options yaml.Node `yaml:"options"`
	}
	if err := Decode([]byte("options: {id: 5, every: x}"), &root); err != nil {
		t.Fatal(err)
	}
	var it item
	err := DecodeNode(&root.Options, &it, "devices[3].options")
	if err == nil || err.Error() != `devices[3].options.every: "x" is not a duration, use e.g. 500ms, 10s, 5m, 168h (line 1)` {
		t.Fatalf("got %v", err)
	}
	if it.ID != "5" {
		t.Fatalf("id = %q", it.ID)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: gw\nitems: [{id: a, every: 1s}]\nmax: 1Gi\n"))
	f.Add([]byte("labels: &a {x: y}\nraw: *a\n"))
	f.Add([]byte("tls: [1, {a: b}]\ncount: 0x10\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s sample
		err := Decode(data, &s)
		var errs Errors
		if err != nil && !errors.As(err, &errs) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		for _, e := range errs {
			if e.Msg == "" {
				t.Fatalf("problem without a message at %q", e.Path)
			}
		}
	})
}

func TestDecodeBoundsAliasExpansion(t *testing.T) {
	// Each level multiplies by 9: 9^8 (43M) values if expanded naively.
	doc := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		doc += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 8) + "*" + prev + "]\n"
		prev = name
	}
	doc += "tags: *h\n"
	var s struct {
		Tags any `yaml:"tags"`
		A    any `yaml:"a"`
		B    any `yaml:"b"`
		C    any `yaml:"c"`
		D    any `yaml:"d"`
		E    any `yaml:"e"`
		F    any `yaml:"f"`
		G    any `yaml:"g"`
		H    any `yaml:"h"`
	}
	if err := Decode([]byte(doc), &s); err == nil {
		t.Fatal("a document that expands to 43M values decoded without error")
	}
	var l struct {
		Tags [][][][][][][]string `yaml:"tags"`
		Rest map[string]any       `yaml:"rest"`
	}
	err := Decode([]byte(strings.Replace(doc, "tags: *h", "rest: {}\ntags: *h", 1)), &l)
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("got %v", err)
	}
}

func TestDurationInDaysGetsTheHoursHint(t *testing.T) {
	var s sample
	err := Decode([]byte("every: 7d\n"), &s)
	if err == nil || err.Error() != `every: "7d" is not a duration, use hours for days: 168h (line 1)` {
		t.Fatalf("got %v", err)
	}
}

func TestDuplicateKeyInAMapIsAProblem(t *testing.T) {
	var s sample
	err := Decode([]byte("labels: {site: a, site: b}\n"), &s)
	if err == nil || err.Error() != "labels.site: key appears twice: keep one (line 1)" || s.Labels["site"] != "a" {
		t.Fatalf("got %v, labels %v", err, s.Labels)
	}
}
