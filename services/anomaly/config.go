package anomaly

import (
	"errors"
	"fmt"
	"time"

	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/services/internal/series"
)

// Defaults applied by New to the zero fields of Config.
const (
	// DefaultAlpha is the weight of each reading when neither Alpha nor
	// HalfLife is set.
	DefaultAlpha = 0.1
	// DefaultThreshold is the score above which a reading is anomalous.
	DefaultThreshold = 3.0
	// DefaultWarmup is the number of readings a series needs before it is
	// scored.
	DefaultWarmup = 30
	// DefaultMaxSeries bounds the series tracked.
	DefaultMaxSeries = 10000
)

// Config is the service's configuration, as written under
// services[].config. The zero value is valid and means every default.
type Config struct {
	// Match selects the series to watch with MQTT-style filters over
	// "device/metric" (+ one level, # the rest). Default (empty): every
	// series.
	Match []string `yaml:"match"`
	// Alpha is the weight of each new reading in the rolling mean and
	// variance, in (0, 1]: larger adapts faster. Default 0.1 unless
	// HalfLife is set; not with HalfLife.
	Alpha float64 `yaml:"alpha"`
	// HalfLife weighs readings by time instead: a reading half a life old
	// counts half as much as a new one, whatever the sampling rate, e.g.
	// 10m. Not with Alpha.
	HalfLife time.Duration `yaml:"half_life"`
	// Threshold is the score (in standard deviations) above which a
	// reading is reported. Default 3.
	Threshold float64 `yaml:"threshold"`
	// Warmup is how many readings a series must have had before its
	// readings are scored; at least 2. Default 30.
	Warmup int `yaml:"warmup"`
	// MinStddev floors the standard deviation, in the metric's unit.
	// Default 0 (see the package doc for constant signals).
	MinStddev float64 `yaml:"min_stddev"`
	// EmitAllScores reports the score of every reading after the warmup,
	// not only anomalies. Default false.
	EmitAllScores bool `yaml:"emit_all_scores"`
	// MaxSeries bounds the series tracked; readings of further series are
	// ignored and counted. Default 10000.
	MaxSeries int `yaml:"max_series"`
}

// DecodeConfig decodes data, YAML or JSON, strictly (an unknown key is an
// error naming it) and validates the result.
func DecodeConfig(data []byte) (Config, error) {
	var c Config
	if err := yamlconf.Decode(data, &c); err != nil {
		return Config{}, fmt.Errorf("anomaly config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("anomaly config: %w", err)
	}
	return c, nil
}

// Validate reports every problem with c, one per line, each naming the
// field and how to fix it.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := series.NewFilters("match", c.Match); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Alpha != 0 && c.HalfLife != 0:
		add("alpha: alpha and half_life both set: weigh readings by count (alpha) or by time (half_life), not both")
	case c.Alpha < 0 || c.Alpha > 1 || c.Alpha != c.Alpha:
		add("alpha: %g is out of range: use a weight above 0 and at most 1, e.g. 0.1", c.Alpha)
	case c.HalfLife < 0:
		add("half_life: %s is negative: use e.g. 10m", c.HalfLife)
	}
	if c.Threshold < 0 || c.Threshold != c.Threshold {
		add("threshold: %g is negative: use a number of standard deviations, e.g. 3", c.Threshold)
	}
	switch {
	case c.Warmup < 0:
		add("warmup: %d is negative: use a number of readings, e.g. 30", c.Warmup)
	case c.Warmup == 1:
		add("warmup: 1 reading gives no spread to score against: use 2 or more, e.g. 30")
	}
	if c.MinStddev < 0 || c.MinStddev != c.MinStddev {
		add("min_stddev: %g is negative: use 0 or the sensor's resolution", c.MinStddev)
	}
	if c.MaxSeries < 0 {
		add("max_series: %d is negative: use a positive number, or leave it out for %d", c.MaxSeries, DefaultMaxSeries)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.Alpha == 0 && c.HalfLife == 0 {
		c.Alpha = DefaultAlpha
	}
	if c.Threshold == 0 {
		c.Threshold = DefaultThreshold
	}
	if c.Warmup == 0 {
		c.Warmup = DefaultWarmup
	}
	if c.MaxSeries == 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	return c
}
