package mqttsensor

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/internal/editdist"
)

// Payload formats, the values of Config.Format.
const (
	// FormatPlain is one decimal number in text, e.g. 21.5.
	FormatPlain = "plain"
	// FormatJSON is a JSON document with the values at paths.
	FormatJSON = "json"
	// FormatSenML is a SenML JSON pack (RFC 8428).
	FormatSenML = "senml"
	// FormatAuto is a plain number, or a JSON object with "value" and an
	// optional "unit": {"value": 21.5, "unit": "C"}.
	FormatAuto = "auto"
	// FormatHomie is the Homie convention (v4 and v5): values on
	// <node>/<property> below the topic's +device, attributes ($name,
	// $unit, $datatype, v5's $description) remembered for later values.
	FormatHomie = "homie"
)

// Values of Config.Missing.
const (
	MissingSkip  = "skip"
	MissingError = "error"
)

// Values of Config.WildcardKey.
const (
	WildcardDevice = "device"
	WildcardMetric = "metric"
)

// Values of Config.SenMLNames.
const (
	SenMLSplit = "split"
	SenMLJoin  = "join"
)

// Values of Config.BadTime.
const (
	BadTimeRefuse  = "refuse"
	BadTimeReceive = "receive"
)

// Config is the options block of an mqttsensor device, plus the device's
// scale. The zero value is not valid: Topic is required, and so is Metric
// unless the topic captures +metric or the format names metrics itself.
type Config struct {
	// Topic is the pattern sensors publish on, e.g. sensors/+device/+metric
	// (see ParsePattern). Required.
	Topic string `yaml:"topic"`
	// Format is how payloads are written: plain (default, one number in
	// text), json, senml (RFC 8428 JSON) or auto (a number, or
	// {"value": 21.5, "unit": "C"}).
	Format string `yaml:"format"`
	// Metric names the reading when Topic has no +metric, for plain and for
	// json with Path; then it is required. It must be empty when Topic
	// captures +metric, with Fields and with senml.
	Metric string `yaml:"metric"`
	// Path is where a json payload holds its value; default "$" (the
	// payload is a bare number or boolean). json only; excludes Fields.
	Path string `yaml:"path"`
	// Fields takes several metrics from one json message: metric name →
	// path, e.g. {temperature: $.temp, humidity: $.hum}. json only;
	// excludes Path and Metric, and a +metric in Topic.
	Fields map[string]string `yaml:"fields"`
	// TimePath is where a json payload holds its time, as an RFC 3339
	// string or a number of Unix seconds. Default none: readings take the
	// time the message arrived. json only.
	TimePath string `yaml:"time_path"`
	// TimeZone is the zone of times at TimePath written without an
	// offset (Tasmota's 2024-01-01T12:00:00): an IANA name such as
	// Europe/Berlin (needs the system's tzdata), Local (the gateway's
	// zone), or a fixed offset such as +01:00. Default UTC. json only.
	TimeZone string `yaml:"time_zone"`
	// BadTime is what becomes of a reading whose own time (SenML t/bt,
	// json time_path) the gateway will not store: outside the years
	// 1678–2262, beyond outbox.max_future or older than outbox.max_age.
	// refuse (default): refused, counted, the message acknowledged (MQTT 5:
	// reason code 0x99 or 0x83). receive: stored with the time the
	// message arrived, and the sensor's time kept as a second reading
	// <metric>_sensor_time in Unix seconds.
	BadTime string `yaml:"bad_time"`
	// Unit is the unit of the values as published, e.g. "C"; default
	// empty. SenML records' u and bu take precedence over it.
	Unit string `yaml:"unit"`
	// Units gives metrics their own units: metric name → unit, e.g.
	// {temperature: °C, humidity: "%"}. It applies to fields, to +metric
	// captures and to every other format; a unit the payload carries
	// (SenML u/bu, auto's "unit", Homie's $unit, unit_paths) wins over it,
	// and it wins over Unit.
	Units map[string]string `yaml:"units"`
	// UnitPaths reads a metric's unit from the payload: metric name →
	// path, e.g. {temperature: $.TempUnit} (Tasmota). A missing or
	// non-string unit there falls back to Units and Unit. json only.
	UnitPaths map[string]string `yaml:"unit_paths"`
	// Missing is what becomes of a field (or path) that is absent or null
	// in a json message, or an ESPHome "nan": skip (default: that reading
	// is left out and counted per metric in Stats.Missing, the rest of
	// the message is stored) or error (the whole message is malformed).
	Missing string `yaml:"missing"`
	// WildcardKey is where the member name a * in a path matched goes:
	// device (default: the reading's device is <device>.<key>, e.g.
	// kitchen.BME280) or metric (the metric is <field>.<key>, e.g.
	// temperature.BME280).
	WildcardKey string `yaml:"wildcard_key"`
	// SenMLNames is how SenML names map: split (default: the base name bn
	// is the device, the name n the metric, both normalised) or join (the
	// metric is bn+n, the device from the topic).
	SenMLNames string `yaml:"senml_names"`
	// DevicePrefix is put before every device name taken from a topic or
	// a payload (+device, SenML bn, a wildcard key), e.g. z2m-, so that
	// devices of different formats cannot meet on one name.
	DevicePrefix string `yaml:"device_prefix"`
	// Preset fills topic, format, fields, units and unit_paths for a
	// common kind of device: zigbee2mqtt, tasmota, shelly-gen2, esphome,
	// homie or senml. Keys set next to it override the preset's (units
	// and unit_paths per metric).
	Preset string `yaml:"preset"`
	// Scale maps every value v to v*Factor+Offset; its Unit, when set,
	// replaces Unit. It is the device's scale block, not an option: the
	// daemon copies it here.
	Scale scale.Linear `yaml:"-"`

	// presetFields are the fields a preset added (the device did not
	// name them): one a device does not publish at all is not counted
	// as missing, only a null one.
	presetFields map[string]bool
}

// zone is the location of offset-less times.
func (c Config) zone() (*time.Location, error) {
	switch c.TimeZone {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return time.Local, nil
	}
	if t, err := time.Parse("-07:00", c.TimeZone); err == nil {
		_, off := t.Zone()
		return time.FixedZone(c.TimeZone, off), nil
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("%s is not a time zone: use an IANA name such as Europe/Berlin (install tzdata), Local, UTC or an offset such as +01:00", quoteString(c.TimeZone))
	}
	return loc, nil
}

// Validate reports every problem with c, one per line, each naming the
// option (options.topic: …) and how to fix it.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c, presetErr := c.withPreset()
	if presetErr != nil {
		add("options.preset: %w", presetErr)
	}

	var p Pattern
	if c.Topic == "" && presetErr != nil {
		// the preset would have named it
	} else if c.Topic == "" {
		add("options.topic: required: set the topic sensors publish on, e.g. topic: sensors/+device/+metric")
	} else if pp, err := ParsePattern(c.Topic); err != nil {
		add("options.topic: %w", err)
	} else {
		p = pp
	}
	format := c.format()
	switch format {
	case FormatPlain, FormatJSON, FormatSenML, FormatAuto, FormatHomie:
	default:
		add("options.format: %q is not a format, use plain, json, senml, auto or homie", c.Format)
	}
	for _, ch := range []struct{ key, val, hint string }{
		{"bad_time", c.BadTime, "use refuse (default: the reading is refused) or receive (stored with the receive time, the sensor's time kept as <metric>_sensor_time)"},
		{"missing", c.Missing, "use skip (default: the reading is left out and counted) or error (the message is malformed)"},
		{"wildcard_key", c.WildcardKey, "use device (default: device <device>.<key>) or metric (metric <field>.<key>)"},
		{"senml_names", c.SenMLNames, "use split (default: bn is the device, n the metric) or join (the metric is bn+n)"},
	} {
		if ch.val != "" && !slices.Contains(choices[ch.key], ch.val) {
			add("options.%s: %s is not a choice: %s", ch.key, quoteString(ch.val), ch.hint)
		}
	}
	if _, err := c.zone(); err != nil {
		add("options.time_zone: %w", err)
	}
	if format != FormatJSON {
		for _, f := range []struct{ key, val string }{{"path", c.Path}, {"time_path", c.TimePath}, {"time_zone", c.TimeZone}, {"wildcard_key", c.WildcardKey}} {
			if f.val != "" {
				add("options.%s: only the json format reads paths: remove it or set format: json", f.key)
			}
		}
		if len(c.Fields) > 0 {
			add("options.fields: only the json format reads fields: remove it or set format: json")
		}
		if len(c.UnitPaths) > 0 {
			add("options.unit_paths: only the json format reads paths: remove it or set format: json")
		}
	}
	if format != FormatSenML && c.SenMLNames != "" {
		add("options.senml_names: only the senml format has names: remove it or set format: senml")
	}
	if format == FormatHomie {
		if !p.HasDevice() || !p.multi || p.HasMetric() {
			add("options.topic: the homie format needs +device and a last #, and no +metric, e.g. topic: homie/+device/#")
		}
	}
	if c.Path != "" && len(c.Fields) > 0 {
		add("options.path: path and fields exclude each other: use path for one metric, fields for several")
	}
	errs = append(errs, c.validateMetric(p, format)...)
	for _, f := range []struct{ key, val string }{{"path", c.Path}, {"time_path", c.TimePath}} {
		if f.val != "" {
			jp, err := parsePath(f.val)
			if err != nil {
				add("options.%s: %w", f.key, err)
			} else if f.key == "time_path" && jp.wildcard >= 0 {
				add("options.time_path: a time path cannot hold *: name the member")
			}
		}
	}
	if len(c.Fields) > MaxFields {
		add("options.fields: %d fields, over the limit of %d: split the device", len(c.Fields), MaxFields)
	}
	for _, m := range c.fieldNames() {
		if err := checkName(m); err != nil {
			add("options.fields: metric name %s %w: use letters, digits, _ - . or :", quoteString(m), err)
		}
		if _, err := parsePath(c.Fields[m]); err != nil {
			add("options.fields.%s: %w", m, err)
		}
	}
	known := c.knownMetrics(p, format)
	for _, m := range sortedKeys(c.Units) {
		if err := checkUnit(c.Units[m]); err != nil {
			add("options.units.%s: %s %w", m, quoteString(c.Units[m]), err)
		}
		if known != nil && !slices.Contains(known, m) {
			add("options.units: %s is not a metric of this device%s", quoteString(m), didYouMean(m, known))
		}
	}
	for _, m := range sortedKeys(c.UnitPaths) {
		if jp, err := parsePath(c.UnitPaths[m]); err != nil {
			add("options.unit_paths.%s: %w", m, err)
		} else if jp.wildcard >= 0 {
			add("options.unit_paths.%s: a unit path cannot hold *: name the member", m)
		}
		if known != nil && !slices.Contains(known, m) {
			add("options.unit_paths: %s is not a metric of this device%s", quoteString(m), didYouMean(m, known))
		}
	}
	if len(c.Units) > MaxFields || len(c.UnitPaths) > MaxFields {
		add("options.units: more than %d entries: split the device", MaxFields)
	}
	if err := checkUnit(c.Unit); err != nil {
		add("options.unit: %s %w", quoteString(c.Unit), err)
	}
	if c.DevicePrefix != "" {
		if err := checkName(c.DevicePrefix); err != nil {
			add("options.device_prefix: %s %w", quoteString(c.DevicePrefix), err)
		} else if len(c.DevicePrefix) > MaxNameLen/2 {
			add("options.device_prefix: %s is over %d bytes: names must stay within %d", quoteString(c.DevicePrefix), MaxNameLen/2, MaxNameLen)
		}
	}
	if err := c.Scale.Validate(); err != nil {
		add("scale.%w", err)
	}
	return errors.Join(errs...)
}

// MaxFields bounds fields, units and unit_paths.
const MaxFields = 64

// choices are the values of the options that take one of a few words.
var choices = map[string][]string{
	"bad_time":     {BadTimeRefuse, BadTimeReceive},
	"missing":      {MissingSkip, MissingError},
	"wildcard_key": {WildcardDevice, WildcardMetric},
	"senml_names":  {SenMLSplit, SenMLJoin},
}

// knownMetrics is the metrics a configuration names itself (fields, or
// metric), or nil when the topic or payload names them.
func (c Config) knownMetrics(p Pattern, format string) []string {
	switch {
	case format == FormatSenML || format == FormatHomie || p.HasMetric():
		return nil
	case len(c.Fields) > 0:
		return c.fieldNames()
	case c.Metric != "":
		return []string{c.Metric}
	}
	return nil
}

// didYouMean is ": did you mean x?" for the candidate nearest to s, or a
// list of the candidates when none is near.
func didYouMean(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if len(s) >= 3 && strings.HasPrefix(strings.ToLower(c), strings.ToLower(s)) {
			return fmt.Sprintf(": did you mean %s?", c)
		}
		if d := editdist.Distance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" {
		return fmt.Sprintf(": did you mean %s?", best)
	}
	if len(candidates) > 12 {
		candidates = candidates[:12]
	}
	return ": use one of " + strings.Join(candidates, ", ")
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// validateMetric checks Metric against the topic's +metric and the format.
func (c Config) validateMetric(p Pattern, format string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case format == FormatHomie:
		if c.Metric != "" {
			add("options.metric: homie names metrics by node and property (<node>.<property>): remove metric")
		}
	case format == FormatSenML:
		if c.Metric != "" {
			add("options.metric: senml names metrics in its records (bn+n): remove metric")
		}
		if p.HasMetric() {
			add("options.topic: senml names metrics in its records (bn+n): use a bare + instead of +metric")
		}
	case len(c.Fields) > 0:
		if c.Metric != "" {
			add("options.metric: fields name the metrics: remove metric")
		}
		if p.HasMetric() {
			add("options.topic: fields name the metrics: use a bare + instead of +metric")
		}
	case p.HasMetric():
		if c.Metric != "" {
			add("options.metric: the topic captures +metric: remove metric, or use a bare + in the topic")
		}
	case c.Metric == "" && c.Topic != "":
		add("options.metric: required: the topic has no +metric, so name the metric, e.g. metric: temperature")
	}
	if c.Metric != "" {
		if err := checkName(c.Metric); err != nil {
			add("options.metric: %s %w: use letters, digits, _ - . or :", quoteString(c.Metric), err)
		}
	}
	return errs
}

func (c Config) missingSkip() bool { return c.Missing != MissingError }

func (c Config) format() string {
	if c.Format == "" {
		return FormatPlain
	}
	return c.Format
}

func (c Config) path() string {
	if c.Path == "" {
		return "$"
	}
	return c.Path
}

// fieldNames returns the metrics of Fields, sorted.
func (c Config) fieldNames() []string {
	names := make([]string, 0, len(c.Fields))
	for m := range c.Fields {
		names = append(names, m)
	}
	slices.Sort(names)
	return names
}
