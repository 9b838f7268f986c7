package aggregate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/services/internal/series"
)

// Defaults applied by New to the zero fields of Config.
const (
	// DefaultWindow is the window length when Config.Window is zero.
	DefaultWindow = time.Minute
	// DefaultGrace is how long past a window's end Tick waits for late
	// deliveries when Config.Grace is nil.
	DefaultGrace = 2 * time.Second
	// DefaultNaming is the metric name template when Config.Naming is empty.
	DefaultNaming = "{metric}_{stat}"
	// DefaultMaxSeries bounds the open windows when Config.MaxSeries is zero.
	DefaultMaxSeries = 10000
)

// The statistics a window can emit, the values of Config.Stats.
const (
	StatMin   = "min"   // smallest value
	StatMax   = "max"   // largest value
	StatMean  = "mean"  // arithmetic mean
	StatSum   = "sum"   // sum of the values
	StatCount = "count" // number of readings; emitted without a unit
	StatFirst = "first" // value of the earliest reading
	StatLast  = "last"  // value of the latest reading
)

// allStats lists every statistic, in the order Validate names them.
func allStats() []string {
	return []string{StatMin, StatMax, StatMean, StatSum, StatCount, StatFirst, StatLast}
}

// defaultStats are emitted when Config.Stats is empty.
func defaultStats() []string { return []string{StatMin, StatMax, StatMean, StatCount, StatLast} }

// Config is the service's configuration, as written under
// services[].config. The zero value is valid and means every default.
type Config struct {
	// Window is the length of the tumbling windows, from 1s to 24h, and
	// must divide 24h (1m, 5m, 15m, 1h…). Default 1m.
	Window time.Duration `yaml:"window"`
	// Grace is how long after a window's end Tick keeps it open for
	// readings still on their way; default 2s (nil). 0s closes windows at
	// their end exactly.
	Grace *time.Duration `yaml:"grace"`
	// Match selects the series to aggregate with MQTT-style filters over
	// "device/metric" (+ one level, # the rest), e.g. ["boiler/#",
	// "+/temperature"]. Default (empty): every series.
	Match []string `yaml:"match"`
	// Stats lists the statistics to emit per window: any of min, max, mean,
	// sum, count, first, last. Default [min, max, mean, count, last].
	Stats []string `yaml:"stats"`
	// Naming is the template of emitted metric names; it must hold both
	// {metric} and {stat}, e.g. "{stat}.{metric}". Default
	// "{metric}_{stat}" (temperature_mean).
	Naming string `yaml:"naming"`
	// ForwardRaw says whether the raw readings of matched series also go
	// to the cloud. Default false: only the aggregates go to the cloud, the
	// raw readings stay on the gateway (other local services still get
	// them). The host acts on it; the service only carries it.
	ForwardRaw bool `yaml:"forward_raw"`
	// MaxSeries bounds the series with an open window; readings of further
	// series are dropped and counted until windows close. Default 10000.
	MaxSeries int `yaml:"max_series"`
}

// DecodeConfig decodes data, YAML or JSON, strictly (an unknown key is an
// error naming it) and validates the result.
func DecodeConfig(data []byte) (Config, error) {
	var c Config
	if err := yamlconf.Decode(data, &c); err != nil {
		return Config{}, fmt.Errorf("aggregate config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("aggregate config: %w", err)
	}
	return c, nil
}

// Validate reports every problem with c, one per line, each naming the
// field and how to fix it.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch w := c.Window; {
	case w == 0:
	case w < time.Second || w > 24*time.Hour:
		add("window: %s is out of range: use 1s to 24h, e.g. 1m", w)
	case (24*time.Hour)%w != 0:
		add("window: %s does not divide a day, so windows would not line up with the clock: use e.g. 1m, 5m, 15m or 1h", w)
	}
	if c.Grace != nil && *c.Grace < 0 {
		add("grace: %s is negative: use 0s or more", *c.Grace)
	}
	if _, err := series.NewFilters("match", c.Match); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for i, s := range c.Stats {
		switch {
		case !isStat(s):
			add("stats[%d]: %q is not a statistic: use %s", i, s, strings.Join(allStats(), ", "))
		case seen[s]:
			add("stats[%d]: %s is listed twice: keep one", i, s)
		}
		seen[s] = true
	}
	if c.Naming != "" {
		if err := checkNaming(c.Naming); err != nil {
			add("naming: %q %v", c.Naming, err)
		}
	}
	if c.MaxSeries < 0 {
		add("max_series: %d is negative: use a positive number, or leave it out for %d", c.MaxSeries, DefaultMaxSeries)
	}
	return errors.Join(errs...)
}

func isStat(s string) bool {
	return slices.Contains(allStats(), s)
}

// checkNaming requires {metric} and {stat}, else names would collide, and
// no other placeholder.
func checkNaming(tmpl string) error {
	if !strings.Contains(tmpl, "{stat}") || !strings.Contains(tmpl, "{metric}") {
		return errors.New(`must hold both {metric} and {stat}, else emitted names collide: e.g. "{metric}_{stat}"`)
	}
	rest := strings.NewReplacer("{stat}", "", "{metric}", "").Replace(tmpl)
	if strings.ContainsAny(rest, "{}") {
		return errors.New("has a placeholder other than {stat} and {metric}, or a stray brace")
	}
	return nil
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Grace == nil {
		g := DefaultGrace
		c.Grace = &g
	}
	if len(c.Stats) == 0 {
		c.Stats = defaultStats()
	}
	if c.Naming == "" {
		c.Naming = DefaultNaming
	}
	if c.MaxSeries == 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	return c
}
