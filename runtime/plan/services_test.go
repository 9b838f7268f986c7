package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

// parseServices parses a plan with these service lines.
func parseServices(t *testing.T, services ...string) (*Plan, yamlconf.Errors) {
	t.Helper()
	doc := "version: 1\ngateway: {id: gw-01}\nservices:\n"
	for _, s := range services {
		doc += "  - " + s + "\n"
	}
	p, err := Parse([]byte(doc))
	if err == nil {
		return p, nil
	}
	var problems yamlconf.Errors
	if !errors.As(err, &problems) {
		t.Fatalf("%v is not a list of problems", err)
	}
	return nil, problems
}

// messages are the problems as "path: msg", without lines.
func messages(problems yamlconf.Errors) []string {
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = p.Path + ": " + p.Msg
	}
	return out
}

func TestCycles(t *testing.T) {
	tests := []struct {
		name     string
		services []string
		want     []string
	}{
		{"self-loop", []string{"{name: a, depends_on: [a]}"},
			[]string{"services: depends_on cycle: a → a"}},
		{"2-cycle", []string{"{name: b, depends_on: [a]}", "{name: a, depends_on: [b]}"},
			[]string{"services: depends_on cycle: a → b → a"}},
		{"3-cycle", []string{"{name: a, depends_on: [b]}", "{name: b, depends_on: [c]}", "{name: c, depends_on: [a]}"},
			[]string{"services: depends_on cycle: a → b → c → a"}},
		{"3-cycle the other way", []string{"{name: a, depends_on: [c]}", "{name: b, depends_on: [a]}", "{name: c, depends_on: [b]}"},
			[]string{"services: depends_on cycle: a → c → b → a"}},
		{"cycle off a chain", []string{"{name: top, depends_on: [m]}", "{name: m, depends_on: [n]}", "{name: n, depends_on: [o]}", "{name: o, depends_on: [n]}"},
			[]string{"services: depends_on cycle: n → o → n"}},
		{"shortest through the first name", []string{"{name: a, depends_on: [b, c]}", "{name: b, depends_on: [c]}", "{name: c, depends_on: [d, a]}", "{name: d, depends_on: [b]}"},
			[]string{"services: depends_on cycle: a → c → a"}},
		{"two separate cycles", []string{"{name: z, depends_on: [y]}", "{name: y, depends_on: [z]}", "{name: q, depends_on: [q]}", "{name: free}"},
			[]string{"services: depends_on cycle: y → z → y", "services: depends_on cycle: q → q"}}, // in file order
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := parseServices(t, tc.services...)
			if got := messages(problems); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestCycleErrorHasLine(t *testing.T) {
	_, problems := parseServices(t, "{name: free}", "{name: b, depends_on: [a]}", "{name: a, depends_on: [b]}")
	if len(problems) != 1 || problems[0].Error() != "services: depends_on cycle: a → b → a (line 6)" {
		t.Fatalf("%q", problems)
	}
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name     string
		services []string
		want     []string
	}{
		{"no services", nil, []string{}},
		{"independent by name", []string{"{name: c}", "{name: a}", "{name: b}"}, []string{"a", "b", "c"}},
		{"chain", []string{"{name: a, depends_on: [b]}", "{name: b, depends_on: [c]}", "{name: c}"}, []string{"c", "b", "a"}},
		{"diamond", []string{"{name: app, depends_on: [db, cache]}", "{name: db, depends_on: [disk]}", "{name: cache, depends_on: [disk]}", "{name: disk}"},
			[]string{"disk", "cache", "db", "app"}},
		{"ties by name once ready", []string{"{name: z}", "{name: b, depends_on: [z]}", "{name: a, depends_on: [z]}", "{name: y}"},
			[]string{"y", "z", "a", "b"}},
		{"dependent earlier in the alphabet waits", []string{"{name: a, depends_on: [m]}", "{name: m}", "{name: b}"},
			[]string{"b", "m", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, problems := parseServices(t, tc.services...)
			if problems != nil {
				t.Fatal(problems)
			}
			if got := p.Order(); !slices.Equal(got, tc.want) {
				t.Fatalf("order %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOrderIsStable(t *testing.T) {
	var services []string
	for i := range 50 {
		services = append(services, fmt.Sprintf("{name: s%02d, depends_on: [s%02d]}", i, (i+1)%50))
	}
	services[49] = "{name: s49}"
	p, problems := parseServices(t, services...)
	if problems != nil {
		t.Fatal(problems)
	}
	first := p.Order()
	for range 20 {
		if got := p.Order(); !slices.Equal(got, first) {
			t.Fatalf("order changed: %q then %q", first, got)
		}
	}
	if first[0] != "s49" || first[49] != "s00" {
		t.Fatalf("order %q", first)
	}
}

func TestServiceChecks(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		service []string
		want    []string // empty: accepted
	}{
		{"built-in", []string{"{name: a, kind: rules}"}, nil},
		{"https artifact", []string{"{name: a, url: https://h/x, sha256: " + sum + "}"}, nil},
		{"http artifact", []string{"{name: a, url: http://h:8080/x, sha256: " + sum + "}"}, nil},
		{"file artifact", []string{"{name: a, url: 'file:///opt/x', sha256: " + sum + "}"}, nil},
		{"upper-case sha256", []string{"{name: a, url: https://h/x, sha256: " + strings.ToUpper(sum) + "}"}, nil},
		{"sha256 of a local path", []string{"{name: a, path: /opt/x, sha256: " + sum + "}"}, nil},
		{"unknown depends_on", []string{"{name: a}", "{name: b}", "{name: c, depends_on: [a, db]}"},
			[]string{`services[2].depends_on[1]: "db" is not a service in this plan`}},
		{"depends_on twice", []string{"{name: a}", "{name: c, depends_on: [a, a]}"},
			[]string{`services[1].depends_on[1]: "a" is listed twice`}},
		{"depends_on not a list", []string{"{name: a}", "{name: c, depends_on: a}"},
			[]string{`services[1].depends_on: expected a list, got "a"`}},
		{"duplicate name", []string{"{name: a}", "{name: a}"},
			[]string{`services[1].name: "a" is also the name of services[0]: names must be unique`}},
		{"no name", []string{"{kind: rules}"}, []string{"services[0].name: missing: every service needs a name, unique in the plan"}},
		{"short sha256", []string{"{name: a, url: https://h/x, sha256: abc}"},
			[]string{`services[0].sha256: "abc" is not a sha256: want 64 hex digits, got 3 characters`}},
		{"non-hex sha256", []string{"{name: a, url: https://h/x, sha256: " + "g" + sum[1:] + "}"},
			[]string{`services[0].sha256: "g` + sum[1:] + `" is not a sha256: 'g' is not a hex digit`}},
		{"url without sha256", []string{"{name: a, url: https://h/x}"},
			[]string{"services[0].sha256: missing: an artifact url needs the sha256 of the file (sha256sum prints it)"}},
		{"ftp", []string{"{name: a, url: 'ftp://h/x', sha256: " + sum + "}"},
			[]string{`services[0].url: "ftp://h/x": scheme "ftp" is not supported, use https, http or file`}},
		{"no scheme", []string{"{name: a, url: h/x, sha256: " + sum + "}"},
			[]string{`services[0].url: "h/x" has no scheme: use https://…, http://… or file:///…`}},
		{"no host", []string{"{name: a, url: 'https:///x', sha256: " + sum + "}"},
			[]string{`services[0].url: "https:///x" has no host: use https://host/path`}},
		{"file with host", []string{"{name: a, url: 'file://h/x', sha256: " + sum + "}"},
			[]string{`services[0].url: "file://h/x" is not a local file URL: use file:///absolute/path`}},
		{"not a URL", []string{"{name: a, url: 'http://h/%zz', sha256: " + sum + "}"},
			[]string{`services[0].url: "http://h/%zz" is not a URL: invalid URL escape "%zz"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := parseServices(t, tc.service...)
			if got := messages(problems); len(got)+len(tc.want) > 0 && !slices.Equal(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestServicesNotAList(t *testing.T) {
	_, err := Parse([]byte("version: 1\ngateway: {id: g}\nservices: {name: a}\n"))
	if err == nil || !strings.Contains(err.Error(), "services: expected a list of services, got a mapping (line 3)") {
		t.Fatal(err)
	}
}

func TestArtifactsLowerCase(t *testing.T) {
	sum := strings.Repeat("AB", 32)
	p, problems := parseServices(t, "{name: a, url: https://h/x, sha256: "+sum+"}", "{name: b, kind: rules}")
	if problems != nil {
		t.Fatal(problems)
	}
	if got := p.Artifacts(); len(got) != 1 || got[0] != (Artifact{Service: "a", URL: "https://h/x", SHA256: strings.ToLower(sum)}) {
		t.Fatalf("%+v", got)
	}
}
