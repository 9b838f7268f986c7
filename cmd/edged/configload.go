package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

// loadConfigEnv reads the file at path ("" means defaults only), applies
// the EDGED_ overrides in environ and checks the result. Every problem is
// reported in one pass: the file's type errors and unknown keys, the bad
// overrides, and the checks of the values (a key whose value did not
// decode keeps its default, and a check of it, or of what lies below it,
// is left out: it would only repeat the problem).
func loadConfigEnv(path string, kinds map[string]deviceKind, environ []string) (Config, []device, error) {
	cfg := defaultConfig()
	cfg.path = path
	var decodeErrs yamlconf.Errors
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, nil, fmt.Errorf("read config: %w", err)
		}
		if err := yamlconf.Decode(data, &cfg); err != nil {
			es, ok := err.(yamlconf.Errors)
			if !ok {
				return cfg, nil, err
			}
			for _, e := range es {
				if e.Path == "" { // not YAML, or not a mapping: nothing to check
					return cfg, nil, err
				}
			}
			decodeErrs = es
		}
	}
	_, envErrs := applyEnv(&cfg, environ)
	cfg.dropDefaultSensors()
	devs, valErrs := cfg.validate(kinds)
	all := append(append(yamlconf.Errors{}, decodeErrs...), envErrs...)
	for _, v := range valErrs {
		if !coveredBy(v.Path, decodeErrs) {
			all = append(all, v)
		}
	}
	return cfg, devs, all.Err()
}

// coveredBy reports whether a problem at path is about a key that already
// failed to decode (the key itself or one below it).
func coveredBy(path string, decoded yamlconf.Errors) bool {
	for _, d := range decoded {
		if path == d.Path || strings.HasPrefix(path, d.Path+".") || strings.HasPrefix(path, d.Path+"[") {
			return true
		}
	}
	return false
}
