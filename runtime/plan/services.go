package plan

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

// Artifact is a third-party service binary a plan names: where to fetch it
// and the sha256 it must have.
type Artifact struct {
	// Service is the name of the service that runs it.
	Service string
	// URL is http://, https:// or file://.
	URL string
	// SHA256 is 64 lower-case hex digits.
	SHA256 string
}

// service is what Parse reads of one services entry.
type service struct {
	name     string
	line     int
	deps     []string // as listed, known and distinct (Parse refuses others)
	depLines []int
	artifact *Artifact
}

// Order is the order to start the plan's services in: each after the
// services it depends on, ties broken by name, so the same plan always
// starts the same way. Stop them in reverse.
func (p *Plan) Order() []string {
	index := make(map[string]int, len(p.services))
	for i, s := range p.services {
		index[s.name] = i
	}
	waiting := make([]int, len(p.services))      // unstarted dependencies per service
	dependents := make([][]int, len(p.services)) // reverse edges
	for i, s := range p.services {
		for _, d := range s.deps {
			if j, ok := index[d]; ok {
				waiting[i]++
				dependents[j] = append(dependents[j], i)
			}
		}
	}
	var ready []string // sorted; a plan has at most MaxServices services
	push := func(name string) {
		at, _ := slices.BinarySearch(ready, name)
		ready = slices.Insert(ready, at, name)
	}
	for i, s := range p.services {
		if waiting[i] == 0 {
			push(s.name)
		}
	}
	order := make([]string, 0, len(p.services))
	for len(ready) > 0 {
		name := ready[0]
		ready = ready[1:]
		order = append(order, name)
		for _, j := range dependents[index[name]] {
			if waiting[j]--; waiting[j] == 0 {
				push(p.services[j].name)
			}
		}
	}
	return order
}

// Artifacts lists the artifacts the plan's services name, in file order.
func (p *Plan) Artifacts() []Artifact {
	var out []Artifact
	for _, s := range p.services {
		if s.artifact != nil {
			out = append(out, *s.artifact)
		}
	}
	return out
}

// readServices checks the services section (n, a list) and returns what it
// read of each entry with a name, appending problems to errs.
func readServices(n *yaml.Node, errs yamlconf.Errors) ([]service, yamlconf.Errors) {
	add := func(path string, line int, format string, args ...any) {
		errs = append(errs, yamlconf.FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case n.Kind == 0:
		return nil, errs
	case n.Kind != yaml.SequenceNode:
		add("services", n.Line, "expected a list of services, got %s", yamlconf.KindName(n))
		return nil, errs
	case len(n.Content) > MaxServices:
		add("services", n.Line, "%d services, more than the %d a plan may hold", len(n.Content), MaxServices)
		return nil, errs
	}
	var out []service
	byName := map[string]string{} // name → path of the entry that has it
	for i, e := range n.Content {
		path := yamlconf.Index("services", i)
		if e.Kind == yaml.AliasNode {
			e = e.Alias
		}
		if e.Kind != yaml.MappingNode {
			add(path, e.Line, "expected a mapping (name: …), got %s", yamlconf.KindName(e))
			continue
		}
		s := service{line: e.Line}
		var rawURL, sum string
		var urlLine, sumLine int
		seen := map[string]bool{}
		for k := 0; k+1 < len(e.Content); k += 2 {
			key, val := e.Content[k], e.Content[k+1]
			if seen[key.Value] {
				continue // the daemon's strict decoding reports the repeat
			}
			seen[key.Value] = true
			p := yamlconf.Join(path, key.Value)
			switch key.Value {
			case "name":
				errs = decodeInto(val, &s.name, p, errs)
				s.line = key.Line
			case "url":
				errs = decodeInto(val, &rawURL, p, errs)
				urlLine = key.Line
			case "sha256":
				errs = decodeInto(val, &sum, p, errs)
				sumLine = key.Line
			case "depends_on":
				s.deps, s.depLines, errs = readDeps(val, p, errs)
			}
		}
		if rawURL != "" {
			if msg := checkURL(rawURL); msg != "" {
				add(path+".url", urlLine, "%s", msg)
			}
			if sum == "" && !hasProblemAt(errs, path+".sha256") {
				add(path+".sha256", urlLine, "missing: an artifact url needs the sha256 of the file (sha256sum prints it)")
			}
		}
		if sum != "" {
			if msg := checkSHA256(sum); msg != "" {
				add(path+".sha256", sumLine, "%s", msg)
				sum = ""
			}
		}
		switch {
		case s.name == "":
			if !hasProblemAt(errs, path+".name") {
				add(path+".name", e.Line, "missing: every service needs a name, unique in the plan")
			}
			continue
		case byName[s.name] != "":
			add(path+".name", s.line, "%q is also the name of %s: names must be unique", s.name, byName[s.name])
			continue
		}
		byName[s.name] = path
		if rawURL != "" && sum != "" {
			s.artifact = &Artifact{Service: s.name, URL: rawURL, SHA256: strings.ToLower(sum)}
		}
		out = append(out, s)
	}
	for i := range out {
		out[i], errs = resolveDeps(out[i], byName, errs)
	}
	for _, c := range cycles(out) {
		errs = append(errs, yamlconf.FieldError{Path: "services", Line: c.line, Msg: "depends_on cycle: " + strings.Join(c.names, " → ")})
	}
	return out, errs
}

// decodeInto decodes n into out with yamlconf's messages.
func decodeInto(n *yaml.Node, out any, path string, errs yamlconf.Errors) yamlconf.Errors {
	if err := yamlconf.DecodeNode(n, out, path); err != nil {
		errs = append(errs, err.(yamlconf.Errors)...)
	}
	return errs
}

// readDeps reads a depends_on list of names.
func readDeps(n *yaml.Node, path string, errs yamlconf.Errors) ([]string, []int, yamlconf.Errors) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode && len(n.Content) > MaxServices {
		errs = append(errs, yamlconf.FieldError{Path: path, Line: n.Line, Msg: fmt.Sprintf("%d names, more than the %d services a plan may hold", len(n.Content), MaxServices)})
		return nil, nil, errs
	}
	var names []string
	if errs = decodeInto(n, &names, path, errs); n.Kind != yaml.SequenceNode {
		return nil, nil, errs
	}
	lines := make([]int, len(n.Content))
	for i, item := range n.Content {
		lines[i] = item.Line
	}
	if len(names) != len(lines) { // a bad item: reported already
		return nil, nil, errs
	}
	return names, lines, errs
}

// resolveDeps keeps the depends_on names of s that are services of the
// plan, listed once, and reports the others.
func resolveDeps(s service, byName map[string]string, errs yamlconf.Errors) (service, yamlconf.Errors) {
	var deps []string
	var lines []int
	for j, d := range s.deps {
		path := yamlconf.Index(byName[s.name]+".depends_on", j)
		switch {
		case d == "":
			errs = append(errs, yamlconf.FieldError{Path: path, Line: s.depLines[j], Msg: "empty name: name a service of this plan"})
		case byName[d] == "":
			errs = append(errs, yamlconf.FieldError{Path: path, Line: s.depLines[j], Msg: fmt.Sprintf("%q is not a service in this plan", d)})
		case slices.Contains(deps, d):
			errs = append(errs, yamlconf.FieldError{Path: path, Line: s.depLines[j], Msg: fmt.Sprintf("%q is listed twice", d)})
		default:
			deps = append(deps, d)
			lines = append(lines, s.depLines[j])
		}
	}
	s.deps, s.depLines = deps, lines
	return s, errs
}

// cycle is one depends_on cycle, first name repeated at the end.
type cycle struct {
	names []string
	line  int
}

// cycles finds one cycle in each strongly connected group of services
// that has one: the shortest cycle through the group's first name in
// sort order, following depends_on in list order, so the same plan always
// names the same cycles.
func cycles(svcs []service) []cycle {
	index := make(map[string]int, len(svcs))
	for i, s := range svcs {
		index[s.name] = i
	}
	edges := make([][]int, len(svcs))
	for i, s := range svcs {
		for _, d := range s.deps {
			edges[i] = append(edges[i], index[d])
		}
	}
	var out []cycle
	for _, group := range components(edges) {
		start := group[0]
		for _, v := range group {
			if svcs[v].name < svcs[start].name {
				start = v
			}
		}
		if len(group) == 1 && !slices.Contains(edges[start], start) {
			continue
		}
		in := make(map[int]bool, len(group))
		for _, v := range group {
			in[v] = true
		}
		path := shortestCycle(edges, in, start)
		names := make([]string, len(path))
		for i, v := range path {
			names[i] = svcs[v].name
		}
		out = append(out, cycle{names: names, line: svcs[start].line})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].names[0] < out[j].names[0] })
	return out
}

// shortestCycle is a shortest path start → … → start inside the group in,
// by breadth-first search.
func shortestCycle(edges [][]int, in map[int]bool, start int) []int {
	prev := map[int]int{}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range edges[v] {
			if !in[w] {
				continue
			}
			if w == start {
				path := []int{start}
				for u := v; u != start; u = prev[u] {
					path = append(path, u)
				}
				slices.Reverse(path[1:])
				return append(path, start)
			}
			if _, ok := prev[w]; !ok {
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return []int{start, start} // unreachable for a strongly connected group
}

// components are the strongly connected components of the graph (Tarjan).
func components(edges [][]int) [][]int {
	n := len(edges)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var out [][]int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range edges[v] {
			switch {
			case index[w] < 0:
				visit(w)
				low[v] = min(low[v], low[w])
			case onStack[w]:
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var group []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				group = append(group, w)
				if w == v {
					break
				}
			}
			out = append(out, group)
		}
	}
	for v := range n {
		if index[v] < 0 {
			visit(v)
		}
	}
	return out
}

// checkURL says what is wrong with an artifact URL, or "".
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return fmt.Sprintf("%q is not a URL: %v", short(s), err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return fmt.Sprintf("%q has no host: use %s://host/path", short(s), strings.ToLower(u.Scheme))
		}
	case "file":
		if u.Opaque != "" || u.Path == "" || (u.Host != "" && u.Host != "localhost") {
			return fmt.Sprintf("%q is not a local file URL: use file:///absolute/path", short(s))
		}
	case "":
		return fmt.Sprintf("%q has no scheme: use https://…, http://… or file:///…", short(s))
	default:
		return fmt.Sprintf("%q: scheme %q is not supported, use https, http or file", short(s), u.Scheme)
	}
	return ""
}

// checkSHA256 says what is wrong with a hex sha256, or "".
func checkSHA256(s string) string {
	if len(s) != 64 {
		return fmt.Sprintf("%q is not a sha256: want 64 hex digits, got %d characters", short(s), len(s))
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return fmt.Sprintf("%q is not a sha256: %q is not a hex digit", short(s), c)
		}
	}
	return ""
}

// short cuts a value quoted in a message to a readable length.
func short(s string) string {
	if len(s) <= 80 {
		return s
	}
	return strings.ToValidUTF8(s[:77], "") + "…"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
