package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

// MaxSize is the largest plan, in bytes, that Parse (and so Trust.Verify)
// accepts: 1 MiB. Larger plans are refused before any parsing, with
// ErrTooLarge. A plan of 50 devices and a dozen services is around 10 KiB.
const MaxSize = 1 << 20

// MaxServices bounds the services one plan may list, which bounds the work
// of checking depends_on (aliases can repeat a list without growing the file).
const MaxServices = 1000

// maxProblems is how many problems an InvalidError lists before it only
// counts the rest.
const maxProblems = 100

// Plan is a parsed plan. Devices, Services, Sync and Routes are the sections as
// raw YAML nodes (zero when absent), for the daemon to decode with its own
// config code through yamlconf.DecodeNode.
type Plan struct {
	// Version is 1 or more; a gateway applies only a version greater than
	// the one it runs (CheckVersion).
	Version int64 `yaml:"version"`
	// Gateway says which gateways the plan is for.
	Gateway Selector `yaml:"gateway"`
	// Devices is the devices section, unchecked here.
	Devices yaml.Node `yaml:"devices"`
	// Services is the services section; Parse checked each entry's name,
	// depends_on, url and sha256, and nothing else.
	Services yaml.Node `yaml:"services"`
	// Sync is the sync policy section, unchecked here.
	Sync yaml.Node `yaml:"sync"`
	// Routes is the routes section (where readings go besides the cloud),
	// unchecked here; absent keeps the config file's routes.
	Routes yaml.Node `yaml:"routes"`

	services []service
}

// Selector picks gateways by id or by labels; a plan names exactly one of
// the two.
type Selector struct {
	// ID is one gateway's id (the daemon's gateway.id).
	ID string `yaml:"id"`
	// Labels are key/value pairs a gateway must all carry.
	Labels map[string]string `yaml:"labels"`
}

// Matches reports whether a gateway with this id and these labels is one
// the selector picks: the id is equal, or every label of the selector is
// present with the same value. The zero Selector matches no gateway.
func (s Selector) Matches(id string, labels map[string]string) bool {
	if s.ID != "" {
		return id == s.ID
	}
	if len(s.Labels) == 0 {
		return false
	}
	for k, v := range s.Labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// String is "id gw-01" or "labels role=boiler,site=plant-3" (sorted).
func (s Selector) String() string {
	if s.ID != "" {
		return "id " + s.ID
	}
	pairs := make([]string, 0, len(s.Labels))
	for _, k := range sortedKeys(s.Labels) {
		pairs = append(pairs, k+"="+s.Labels[k])
	}
	return "labels " + strings.Join(pairs, ",")
}

// document is what Parse decodes, with pointers to tell a missing key from
// a zero value.
type document struct {
	Version  *int64    `yaml:"version"`
	Gateway  *Selector `yaml:"gateway"`
	Devices  yaml.Node `yaml:"devices"`
	Services yaml.Node `yaml:"services"`
	Sync     yaml.Node `yaml:"sync"`
	Routes   yaml.Node `yaml:"routes"`
}

// Parse reads a plan from its exact bytes. It returns ErrTooLarge for data
// over MaxSize, and otherwise an *InvalidError listing every problem with
// its field path, or the plan.
func Parse(data []byte) (*Plan, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("plan: %d bytes, over the limit of %d (MaxSize): %w", len(data), MaxSize, ErrTooLarge)
	}
	top, errs := parseDocument(data)
	if errs != nil {
		return nil, &InvalidError{Problems: errs}
	}
	var doc document
	if err := yamlconf.DecodeNode(top, &doc, ""); err != nil {
		errs = append(errs, err.(yamlconf.Errors)...)
	}
	if top.Kind != yaml.MappingNode && top.Kind != yaml.AliasNode { // one problem says it all
		return nil, &InvalidError{Problems: errs}
	}
	p := &Plan{Devices: doc.Devices, Services: doc.Services, Sync: doc.Sync, Routes: doc.Routes}
	switch {
	case doc.Version == nil:
		if !hasProblemAt(errs, "version") {
			errs = append(errs, yamlconf.FieldError{Path: "version", Msg: "missing: give the plan a version, a whole number of 1 or more that grows with each plan"})
		}
	case hasProblemAt(errs, "version"):
	case *doc.Version < 1:
		errs = append(errs, yamlconf.FieldError{Path: "version", Line: keyLine(top, "version"), Msg: fmt.Sprintf("%d: a version is 1 or more", *doc.Version)})
	case *doc.Version > MaxVersion:
		errs = append(errs, yamlconf.FieldError{Path: "version", Line: keyLine(top, "version"),
			Msg: fmt.Sprintf("%d is above the ceiling %d (2^40): a version counts plans; give the next number after the running plan's, so later plans stay possible", *doc.Version, MaxVersion)})
	default:
		p.Version = *doc.Version
	}
	switch {
	case doc.Gateway == nil:
		if !hasProblemAt(errs, "gateway") {
			errs = append(errs, yamlconf.FieldError{Path: "gateway", Msg: "missing: say which gateway the plan is for, {id: gw-01} or {labels: {site: plant-3}}"})
		}
	case hasProblemAt(errs, "gateway"):
	default:
		p.Gateway = *doc.Gateway
		errs = append(errs, checkSelector(p.Gateway, keyLine(top, "gateway"))...)
	}
	p.services, errs = readServices(&p.Services, errs)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b yamlconf.FieldError) int { return lineOrder(a.Line) - lineOrder(b.Line) })
		if len(errs) > maxProblems {
			more := len(errs) - maxProblems
			errs = append(errs[:maxProblems:maxProblems], yamlconf.FieldError{Msg: fmt.Sprintf("and %d more problem(s)", more)})
		}
		return nil, &InvalidError{Problems: errs}
	}
	return p, nil
}

// parseDocument returns the top node of the one YAML document in data.
func parseDocument(data []byte) (*yaml.Node, yamlconf.Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, yamlconf.Errors{{Msg: "empty plan: it needs at least version and gateway"}}
		}
		return nil, yamlconf.Errors{{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		return nil, yamlconf.Errors{{Line: line, Msg: "more than one YAML document (---): a plan is a single document"}}
	}
	if len(root.Content) == 0 || (root.Content[0].Kind == yaml.ScalarNode && root.Content[0].Tag == "!!null") {
		return nil, yamlconf.Errors{{Msg: "empty plan: it needs at least version and gateway"}}
	}
	return root.Content[0], nil
}

func checkSelector(s Selector, line int) yamlconf.Errors {
	var errs yamlconf.Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, yamlconf.FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case s.ID != "" && s.Labels != nil:
		add("gateway", "give id or labels, not both")
	case s.ID == "" && len(s.Labels) == 0:
		add("gateway", "needs an id ({id: gw-01}) or at least one label ({labels: {site: plant-3}})")
	}
	for _, k := range sortedKeys(s.Labels) {
		if k == "" {
			add("gateway.labels", "a label name is empty")
		}
	}
	return errs
}

// hasProblemAt reports whether errs already holds a problem at path or
// inside it.
func hasProblemAt(errs yamlconf.Errors, path string) bool {
	for _, e := range errs {
		if rest, ok := strings.CutPrefix(e.Path, path); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
			return true
		}
	}
	return false
}

// lineOrder sorts problems by line, those without one (missing keys) last.
func lineOrder(line int) int {
	if line == 0 {
		return math.MaxInt32
	}
	return line
}

// keyLine is the line of key in the mapping n, or 0 when it is absent.
func keyLine(n *yaml.Node, key string) int {
	if n.Kind != yaml.MappingNode {
		return 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return 0
}

// MaxVersion is the highest plan version Parse accepts (2^40): far more
// plans than a gateway will ever run, and far enough below the int64 limit
// that a gateway can never be pushed to a version no later plan can exceed.
const MaxVersion int64 = 1 << 40

// CheckVersion refuses a plan whose version is not greater than current,
// the version of the plan applied now (0 when none is): a replayed or stale
// retained message must change nothing. The error wraps ErrStale.
func CheckVersion(current int64, p *Plan) error {
	if p.Version <= current {
		return fmt.Errorf("plan version %d is not newer than the applied version %d: %w", p.Version, current, ErrStale)
	}
	return nil
}
