package rules

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/services/internal/series"
)

// DefaultPer is the span of a rate when When.Per is zero.
const DefaultPer = time.Minute

// Config is the service's configuration, as written under
// services[].config: a list of rules.
type Config struct {
	// Rules are judged in order; each reading goes to every rule that
	// watches its series. At least one; names unique.
	Rules []Rule `yaml:"rules"`
}

// Rule is one automation: a condition (When or Offline, exactly one), what
// to do when it starts to hold (Then), and optionally when and how it
// clears (Clear).
type Rule struct {
	// Name identifies the rule in alerts and errors: letters, digits,
	// - _ and . only. Required, unique.
	Name string `yaml:"name"`
	// When is a threshold or rate condition on one series.
	When *When `yaml:"when"`
	// Offline is a liveness condition on one device.
	Offline *Offline `yaml:"offline"`
	// Then is done once each time the rule fires. Required.
	Then Action `yaml:"then"`
	// Clear sets the clearing threshold, hold and action; optional.
	Clear *Clear `yaml:"clear"`
}

// When is a condition on the readings of one device's metric. Exactly one
// of Above, Below, RateAbove and RateBelow is set.
type When struct {
	// Device and Metric name the watched series; both required, no
	// wildcards.
	Device string `yaml:"device"`
	Metric string `yaml:"metric"`
	// Above holds while the value is greater than it.
	Above *float64 `yaml:"above"`
	// Below holds while the value is less than it.
	Below *float64 `yaml:"below"`
	// RateAbove holds while the change per Per is greater than it.
	RateAbove *float64 `yaml:"rate_above"`
	// RateBelow holds while the change per Per is less than it (negative
	// for "falling faster than").
	RateBelow *float64 `yaml:"rate_below"`
	// Per is the span of a rate: the rate is the change over the last Per,
	// in units per Per. Default 1m; rates only.
	Per time.Duration `yaml:"per"`
	// For is how long the condition must hold before the rule fires.
	// Default 0: at once.
	For time.Duration `yaml:"for"`
}

// Offline is the condition "no reading from Device for After".
type Offline struct {
	// Device is the watched device. Required.
	Device string `yaml:"device"`
	// Metric, when set, counts only that metric's readings as signs of
	// life. Default: any metric.
	Metric string `yaml:"metric"`
	// After is the silence that makes the device offline. Required.
	After time.Duration `yaml:"after"`
}

// Clear says when an entered rule leaves its state, and what it does then.
// Only the threshold opposite the condition may be set.
type Clear struct {
	// Below clears an above rule when the value is less than it; at most
	// when.above (hysteresis). Default: when the value is no longer above.
	Below *float64 `yaml:"below"`
	// Above clears a below rule when the value is greater than it; at
	// least when.below.
	Above *float64 `yaml:"above"`
	// RateBelow clears a rate_above rule; at most when.rate_above.
	RateBelow *float64 `yaml:"rate_below"`
	// RateAbove clears a rate_below rule; at least when.rate_below.
	RateAbove *float64 `yaml:"rate_above"`
	// For is how long the clearing condition must hold. Default 0.
	For time.Duration `yaml:"for"`
	// Then is done once each time the rule clears; optional (an alert of
	// Rule.Then is cleared with value 0 regardless).
	Then Action `yaml:"then"`
}

// Action is what a rule does: a command, an alert reading, or both.
type Action struct {
	// Command is sent to an actuator, e.g. {device: fan-relay, action:
	// set, value: on}.
	Command *series.Command `yaml:"command"`
	// Alert is emitted as a reading.
	Alert *Alert `yaml:"alert"`
}

// Alert describes the alert reading of an action.
type Alert struct {
	// Device of the reading; default the watched device.
	Device string `yaml:"device"`
	// Metric of the reading; default "alert_<rule name>" (on clear: the
	// metric of the firing alert).
	Metric string `yaml:"metric"`
	// Value of the reading; default 1 when firing, 0 when clearing.
	Value *float64 `yaml:"value"`
}

// DecodeConfig decodes data, YAML or JSON, strictly (an unknown key is an
// error naming it) and validates the result.
func DecodeConfig(data []byte) (Config, error) {
	var c Config
	if err := yamlconf.Decode(data, &c); err != nil {
		return Config{}, fmt.Errorf("rules config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("rules config: %w", err)
	}
	return c, nil
}

// Validate reports every problem with c, one per line, each naming the
// field by its path (rules[2].clear.below: …) and how to fix it.
func (c Config) Validate() error {
	v := &validator{}
	if len(c.Rules) == 0 {
		v.add("rules", "no rules: add at least one, e.g. {name: fan-on, when: {device: porch, metric: temperature, above: 30}, then: {command: {device: fan, action: set, value: on}}}")
	}
	names := map[string]int{}
	for i, r := range c.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Name == "":
			v.add(p+".name", "required: give the rule a unique name, e.g. fan-on")
		case !validName(r.Name):
			v.add(p+".name", "%q is not a name: use letters, digits, - _ and .", r.Name)
		default:
			if j, dup := names[r.Name]; dup {
				v.add(p+".name", "%q is also the name of rules[%d]: names must be unique", r.Name, j)
			} else {
				names[r.Name] = i
			}
		}
		v.rule(p, r)
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func validName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return len(s) <= 128
}

func (v *validator) rule(p string, r Rule) {
	switch {
	case r.When == nil && r.Offline == nil:
		v.add(p, "no condition: add when (above, below, rate_above or rate_below) or offline")
	case r.When != nil && r.Offline != nil:
		v.add(p, "both when and offline: a rule has one condition, split it into two rules")
	case r.When != nil:
		v.when(p+".when", *r.When)
	default:
		v.offline(p+".offline", *r.Offline)
	}
	if r.Then.Command == nil && r.Then.Alert == nil {
		v.add(p+".then", "no action: add command: {device: …, action: …} or alert: {metric: …}")
	}
	v.action(p+".then", r.Then)
	if r.Clear != nil {
		v.clear(p+".clear", r)
	}
}

func (v *validator) series(p, device, metric string, metricRequired bool) {
	if device == "" {
		v.add(p+".device", "required: name the device to watch, e.g. porch")
	} else if strings.ContainsAny(device, "+#") {
		v.add(p+".device", "%q holds a wildcard: a rule watches one device, name it", device)
	}
	if metric == "" && metricRequired {
		v.add(p+".metric", "required: name the metric to watch, e.g. temperature")
	} else if strings.ContainsAny(metric, "+#") {
		v.add(p+".metric", "%q holds a wildcard: a rule watches one metric, name it", metric)
	}
}

// conditions lists the set condition keys of w.
func (w When) conditions() []string {
	var set []string
	for _, c := range []struct {
		key string
		v   *float64
	}{{"above", w.Above}, {"below", w.Below}, {"rate_above", w.RateAbove}, {"rate_below", w.RateBelow}} {
		if c.v != nil {
			set = append(set, c.key)
		}
	}
	return set
}

func (v *validator) when(p string, w When) {
	v.series(p, w.Device, w.Metric, true)
	switch set := w.conditions(); len(set) {
	case 0:
		v.add(p, "no condition: add above, below, rate_above or rate_below")
	case 1:
	default:
		v.add(p, "%s are all set: use one per rule (for a band, write two rules)", strings.Join(set, " and "))
	}
	for _, f := range []struct {
		key string
		v   *float64
	}{{"above", w.Above}, {"below", w.Below}, {"rate_above", w.RateAbove}, {"rate_below", w.RateBelow}} {
		if f.v != nil && (math.IsNaN(*f.v) || math.IsInf(*f.v, 0)) {
			v.add(p+"."+f.key, "must be a finite number")
		}
	}
	rate := w.RateAbove != nil || w.RateBelow != nil
	switch {
	case w.Per != 0 && !rate:
		v.add(p+".per", "only rate_above and rate_below use per: remove it")
	case w.Per < 0:
		v.add(p+".per", "%s is negative: use e.g. 1m", w.Per)
	}
	if w.For < 0 {
		v.add(p+".for", "%s is negative: use 0s or more", w.For)
	}
}

func (v *validator) offline(p string, o Offline) {
	v.series(p, o.Device, o.Metric, false)
	if o.After <= 0 {
		v.add(p+".after", "required, above 0: how long without a reading counts as offline, e.g. 5m")
	}
}

func (v *validator) action(p string, a Action) {
	if c := a.Command; c != nil {
		if c.Device == "" {
			v.add(p+".command.device", "required: name the actuator, e.g. fan-relay")
		}
		if c.Action == "" {
			v.add(p+".command.action", "required: say what the actuator should do, e.g. set")
		}
	}
	if al := a.Alert; al != nil && al.Value != nil && (math.IsNaN(*al.Value) || math.IsInf(*al.Value, 0)) {
		v.add(p+".alert.value", "must be a finite number")
	}
}

// clear checks r.Clear against r's condition: only the opposite threshold,
// on the right side of the condition's.
func (v *validator) clear(p string, r Rule) {
	c := r.Clear
	v.action(p+".then", c.Then)
	if c.For < 0 {
		v.add(p+".for", "%s is negative: use 0s or more", c.For)
	}
	type field struct {
		key string
		v   *float64
	}
	fields := []field{{"below", c.Below}, {"above", c.Above}, {"rate_below", c.RateBelow}, {"rate_above", c.RateAbove}}
	if r.When == nil {
		if r.Offline != nil {
			for _, f := range append(fields, field{"for", nil}) {
				if f.v != nil || (f.key == "for" && c.For != 0) {
					v.add(p+"."+f.key, "an offline rule clears on the device's next reading: remove it")
				}
			}
		}
		return
	}
	w := r.When
	var when, allowed string
	var threshold *float64
	upward := true // the condition holds above its threshold
	switch {
	case w.Above != nil:
		when, allowed, threshold = "above", "below", w.Above
	case w.Below != nil:
		when, allowed, threshold, upward = "below", "above", w.Below, false
	case w.RateAbove != nil:
		when, allowed, threshold = "rate_above", "rate_below", w.RateAbove
	case w.RateBelow != nil:
		when, allowed, threshold, upward = "rate_below", "rate_above", w.RateBelow, false
	default:
		return // reported under when
	}
	for _, f := range fields {
		switch {
		case f.v == nil:
		case f.key != allowed:
			v.add(p+"."+f.key, "a rule on when.%s clears with %s: use clear.%s", when, allowed, allowed)
		case math.IsNaN(*f.v) || math.IsInf(*f.v, 0):
			v.add(p+"."+f.key, "must be a finite number")
		case upward && *f.v > *threshold:
			v.add(p+"."+f.key, "%g is above when.%s (%g): the hysteresis is inverted; use a value at or below %g", *f.v, when, *threshold, *threshold)
		case !upward && *f.v < *threshold:
			v.add(p+"."+f.key, "%g is below when.%s (%g): the hysteresis is inverted; use a value at or above %g", *f.v, when, *threshold, *threshold)
		}
	}
}
