package main

import (
	"fmt"
	"slices"
	"time"

	"edged/drivers/sim"
	"edged/internal/yamlconf"
	"edged/runtime/poller"
)

// defaultInterval is a device's interval when its entry gives none.
const defaultInterval = time.Second

// deviceKind is one entry of the built-in device table: how to turn a
// device's config into something the poller can read.
type deviceKind struct {
	help  string
	build func(d DeviceConfig, optionsPath string) (poller.Device, error)
}

// device is a built device and its interval.
type device struct {
	poller.Device
	interval time.Duration
}

// builtinKinds is the one table of device kinds this binary knows.
func builtinKinds() map[string]deviceKind {
	return map[string]deviceKind{
		"sim": {
			help: "a deterministic waveform source (options: metric, unit, waveform sine|square|random_walk|constant, min, max, period, seed)",
			build: func(d DeviceConfig, path string) (poller.Device, error) {
				c, err := decodeOptions[sim.Config](d, path)
				if err != nil {
					return nil, err
				}
				if err := c.Validate(); err != nil {
					return nil, yamlconf.Errors{{Path: path, Line: d.Options.Line, Msg: err.Error()}}
				}
				return sim.New(d.Name, c, nil)
			},
		},
	}
}

// decodeOptions decodes a device's options block strictly into T.
func decodeOptions[T any](d DeviceConfig, path string) (T, error) {
	var c T
	if d.Options.Kind == 0 {
		return c, nil
	}
	err := yamlconf.DecodeNode(&d.Options, &c, path)
	return c, err
}

func kindNames(kinds map[string]deviceKind) []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// kindHelp lists the kinds for --help.
func kindHelp(kinds map[string]deviceKind) string {
	s := ""
	for _, k := range kindNames(kinds) {
		s += fmt.Sprintf("  %-10s %s\n", k, kinds[k].help)
	}
	return s
}
