package plan

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/bad")

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("testdata/good/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 3 || p.Gateway.String() != "labels role=boiler,site=plant-3" {
		t.Fatalf("version %d, gateway %v", p.Version, p.Gateway)
	}
	if p.Devices.Kind == 0 || len(p.Devices.Content) != 3 || p.Sync.Kind == 0 || len(p.Services.Content) != 3 {
		t.Fatal("raw sections missing")
	}
	if got := p.Order(); !slices.Equal(got, []string{"stats", "pump", "efficiency"}) {
		t.Fatalf("order %q", got)
	}
	arts := p.Artifacts()
	if len(arts) != 1 || arts[0].Service != "efficiency" || !strings.HasPrefix(arts[0].URL, "https://") || len(arts[0].SHA256) != 64 {
		t.Fatalf("artifacts %+v", arts)
	}
	if !p.Gateway.Matches("gw-17", map[string]string{"site": "plant-3", "role": "boiler", "floor": "2"}) {
		t.Fatal("the example's selector should match a plant-3 boiler")
	}
}

func TestParseMinimal(t *testing.T) {
	p, err := Parse([]byte("version: 1\ngateway: {id: gw-01}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 1 || p.Gateway.ID != "gw-01" || p.Devices.Kind != 0 || p.Services.Kind != 0 || len(p.Order()) != 0 || p.Artifacts() != nil {
		t.Fatalf("%+v", p)
	}
}

// TestParseReportsEveryProblem compares the error for each bad plan with
// its golden file: every problem, with its path and line. Run with -update
// to rewrite the goldens.
func TestParseReportsEveryProblem(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no bad plans found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(data)
			if err == nil {
				t.Fatal("accepted")
			}
			var invalid *InvalidError
			var problems yamlconf.Errors
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &invalid) || !errors.As(err, &problems) || len(problems) == 0 {
				t.Fatalf("%v: want an *InvalidError with problems", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
			}
			if got != string(want) {
				t.Fatalf("error differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestParseSizeLimit(t *testing.T) {
	head := "version: 1\ngateway: {id: gw-01}\n"
	pad := func(n int) []byte { return []byte(head + strings.Repeat("#", n-len(head)-1) + "\n") }
	if _, err := Parse(pad(MaxSize)); err != nil {
		t.Fatalf("a plan of exactly MaxSize bytes: %v", err)
	}
	_, err := Parse(pad(MaxSize + 1))
	if !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "1048577 bytes") {
		t.Fatalf("over MaxSize: %v", err)
	}
}

func TestParseCapsProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\ngateway: {id: gw-01}\nservices:\n")
	for range 300 {
		b.WriteString("  - {name: a}\n")
	}
	_, err := Parse([]byte(b.String()))
	var problems yamlconf.Errors
	if !errors.As(err, &problems) || len(problems) != maxProblems+1 || problems[maxProblems].Msg != "and 199 more problem(s)" {
		t.Fatalf("%d problems, last %v", len(problems), problems[len(problems)-1])
	}
}

func TestParseAliasBomb(t *testing.T) {
	// One long depends_on list repeated by alias in many services must stay
	// cheap: the list is over MaxServices, so it is refused unread.
	var b strings.Builder
	b.WriteString("version: 1\ngateway: {id: gw-01}\nx: &deps [")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("q")
	}
	b.WriteString("]\n")
	_, err := Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), `unknown key "x"`) {
		t.Fatalf("%v", err)
	}
	b.Reset()
	b.WriteString("version: 1\ngateway: {id: gw-01}\nservices:\n  - {name: s0, depends_on: &deps [")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("q")
	}
	b.WriteString("]}\n")
	for i := 1; i < MaxServices; i++ {
		b.WriteString("  - {name: s, depends_on: *deps}\n")
	}
	_, err = Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "2000 names, more than the 1000") {
		t.Fatalf("%.300v", err)
	}
}

func TestSelectorMatches(t *testing.T) {
	boiler := map[string]string{"site": "plant-3", "role": "boiler"}
	tests := []struct {
		name   string
		sel    Selector
		id     string
		labels map[string]string
		want   bool
	}{
		{"id equal", Selector{ID: "gw-01"}, "gw-01", nil, true},
		{"id differs", Selector{ID: "gw-01"}, "gw-02", boiler, false},
		{"id ignores labels", Selector{ID: "gw-01"}, "gw-01", boiler, true},
		{"all labels", Selector{Labels: boiler}, "any", map[string]string{"site": "plant-3", "role": "boiler", "x": "y"}, true},
		{"one label", Selector{Labels: map[string]string{"site": "plant-3"}}, "any", boiler, true},
		{"label value differs", Selector{Labels: map[string]string{"site": "plant-4"}}, "any", boiler, false},
		{"label absent", Selector{Labels: map[string]string{"floor": "2"}}, "any", boiler, false},
		{"empty value must be present", Selector{Labels: map[string]string{"floor": ""}}, "any", boiler, false},
		{"empty value present", Selector{Labels: map[string]string{"floor": ""}}, "any", map[string]string{"floor": ""}, true},
		{"gateway without labels", Selector{Labels: boiler}, "gw-01", nil, false},
		{"zero selector", Selector{}, "gw-01", boiler, false},
		{"zero selector, empty gateway", Selector{}, "", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sel.Matches(tc.id, tc.labels); got != tc.want {
				t.Fatalf("Matches(%q, %v) = %v", tc.id, tc.labels, got)
			}
		})
	}
}

func TestCheckVersion(t *testing.T) {
	tests := []struct {
		current, version int64
		err              string
	}{
		{0, 1, ""},
		{5, 6, ""},
		{5, 5, "plan version 5 is not newer than the applied version 5: replayed or stale"},
		{5, 3, "plan version 3 is not newer than the applied version 5: replayed or stale"},
	}
	for _, tc := range tests {
		err := CheckVersion(tc.current, &Plan{Version: tc.version})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%d after %d: %v", tc.version, tc.current, err)
		case tc.err != "" && (err == nil || err.Error() != tc.err || !errors.Is(err, ErrStale)):
			t.Errorf("%d after %d: %v, want %q", tc.version, tc.current, err, tc.err)
		}
	}
}

// FuzzParse checks that Parse never panics, that every error lists
// problems, and that an accepted plan is consistent: a version, a selector,
// and a start order that has every service once, after its dependencies.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("version: 1\ngateway: {id: g}\nservices: [{name: a, depends_on: [b]}, {name: b}]\n"))
	f.Add([]byte("version: 1\ngateway: &g {id: g}\nservices: [&s {name: a}, *s, *g]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			var problems yamlconf.Errors
			if !errors.Is(err, ErrTooLarge) && (!errors.As(err, &problems) || len(problems) == 0) {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		if p.Version < 1 || (p.Gateway.ID == "") == (len(p.Gateway.Labels) == 0) {
			t.Fatalf("accepted version %d, gateway %+v", p.Version, p.Gateway)
		}
		order := p.Order()
		if len(order) != len(p.services) {
			t.Fatalf("order %q misses services", order)
		}
		at := map[string]int{}
		for i, name := range order {
			at[name] = i
		}
		for _, s := range p.services {
			for _, d := range s.deps {
				if at[d] >= at[s.name] {
					t.Fatalf("order %q starts %s before its dependency %s", order, s.name, d)
				}
			}
		}
	})
}

// TestVersionCeiling: a version above 2^40 (such as the int64 maximum, after
// which no later plan could ever be newer) is refused by Parse, so by
// `edged plan sign` and by the gateway alike.
func TestVersionCeiling(t *testing.T) {
	for _, tc := range []struct {
		v  int64
		ok bool
	}{{MaxVersion, true}, {MaxVersion + 1, false}, {9223372036854775807, false}} {
		_, err := Parse([]byte(fmt.Sprintf("version: %d\ngateway: {id: gw-01}\n", tc.v)))
		if (err == nil) != tc.ok {
			t.Errorf("version %d: %v, want ok %v", tc.v, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "ceiling 1099511627776") {
			t.Errorf("version %d: %v does not name the ceiling", tc.v, err)
		}
	}
}
