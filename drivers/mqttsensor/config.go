package mqttsensor

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/edged-gateway/edged/drivers/scale"
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
	// Scale maps every value v to v*Factor+Offset; its Unit, when set,
	// replaces Unit. It is the device's scale block, not an option: the
	// daemon copies it here.
	Scale scale.Linear `yaml:"-"`
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

	var p Pattern
	if c.Topic == "" {
		add("options.topic: required: set the topic sensors publish on, e.g. topic: sensors/+device/+metric")
	} else if pp, err := ParsePattern(c.Topic); err != nil {
		add("options.topic: %w", err)
	} else {
		p = pp
	}
	format := c.format()
	switch format {
	case FormatPlain, FormatJSON, FormatSenML, FormatAuto:
	default:
		add("options.format: %q is not a format, use plain, json, senml or auto", c.Format)
	}
	switch c.BadTime {
	case "", BadTimeRefuse, BadTimeReceive:
	default:
		add("options.bad_time: %s is not a choice: use refuse (default: the reading is refused) or receive (stored with the receive time, the sensor's time kept as <metric>_sensor_time)", quoteString(c.BadTime))
	}
	if _, err := c.zone(); err != nil {
		add("options.time_zone: %w", err)
	}
	if format != FormatJSON {
		for _, f := range []struct{ key, val string }{{"path", c.Path}, {"time_path", c.TimePath}, {"time_zone", c.TimeZone}} {
			if f.val != "" {
				add("options.%s: only the json format reads paths: remove it or set format: json", f.key)
			}
		}
		if len(c.Fields) > 0 {
			add("options.fields: only the json format reads fields: remove it or set format: json")
		}
	}
	if c.Path != "" && len(c.Fields) > 0 {
		add("options.path: path and fields exclude each other: use path for one metric, fields for several")
	}
	errs = append(errs, c.validateMetric(p, format)...)
	for _, f := range []struct{ key, val string }{{"path", c.Path}, {"time_path", c.TimePath}} {
		if f.val != "" {
			if _, err := parsePath(f.val); err != nil {
				add("options.%s: %w", f.key, err)
			}
		}
	}
	for _, m := range c.fieldNames() {
		if err := checkName(m); err != nil {
			add("options.fields: metric name %s %w: use letters, digits, _ - . or :", quoteString(m), err)
		}
		if _, err := parsePath(c.Fields[m]); err != nil {
			add("options.fields.%s: %w", m, err)
		}
	}
	if err := checkUnit(c.Unit); err != nil {
		add("options.unit: %s %w", quoteString(c.Unit), err)
	}
	if err := c.Scale.Validate(); err != nil {
		add("scale.%w", err)
	}
	return errors.Join(errs...)
}

// validateMetric checks Metric against the topic's +metric and the format.
func (c Config) validateMetric(p Pattern, format string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
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
