package main

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

// Environment overrides: every scalar key outside lists can be set by
// EDGED_ + its path in upper case with "." as "_" (cloud.url is
// EDGED_CLOUD_URL, local_mqtt.limits.max_connections is
// EDGED_LOCAL_MQTT_LIMITS_MAX_CONNECTIONS). They apply after the file, so
// a container image can ship a file and the deployment change a key.
// Values are parsed as the file's would be (168h, 256Mi, true). Since "_"
// also occurs inside key names, a variable is matched against the set of
// known keys rather than split; an EDGED_ variable that names no key is
// an error with a did-you-mean, so a typo does not pass silently.

const envPrefix = "EDGED_"

// maxEnvValue bounds one override's value.
const maxEnvValue = 4096

// envReserved are EDGED_ variables that are not configuration keys.
var envReserved = map[string]string{
	"EDGED_CONFIG":     "the config file the CLI reads",
	"EDGED_TOKEN_FILE": "the API token file the CLI reads",
	"EDGED_PLUGIN":     "the handshake of edged's service processes",
	// Tests and benchmarks.
	"EDGED_BUDGET_CHILD": "", "EDGED_BRIDGE_FULL": "", "EDGED_BENCH_N": "", "EDGED_BENCH_PER_CLIENT": "",
}

// envReservedPrefixes are prefixes of variables that tests set.
var envReservedPrefixes = []string{"EDGED_TEST_", "EDGED_BENCH_"}

// envName is the variable that overrides the key at path.
func envName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// envKeys maps each override variable to its key: the scalar keys
// outside lists.
func envKeys() map[string]configKey {
	m := map[string]configKey{}
	for _, k := range configKeys() {
		if k.Shape == shapeScalar && !k.inList() {
			m[envName(k.Path)] = k
		}
	}
	return m
}

// envReservedName reports whether name is an EDGED_ variable that is not
// a configuration key.
func envReservedName(name string) bool {
	if _, ok := envReserved[name]; ok {
		return true
	}
	for _, p := range envReservedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// applyEnv sets cfg's keys from the EDGED_ variables in environ ("NAME=value"
// entries, as os.Environ gives them). It returns the paths it set, each
// with its variable, and every problem, each naming its variable.
func applyEnv(cfg *Config, environ []string) (map[string]string, yamlconf.Errors) {
	keys := envKeys()
	set := map[string]string{}
	var errs yamlconf.Errors
	vars := slices.Clone(environ)
	slices.Sort(vars)
	for _, kv := range vars {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || envReservedName(name) {
			continue
		}
		k, ok := keys[name]
		if !ok {
			errs.Add(name, "is not a configuration key%s: overrides are EDGED_ and the key's path in upper case with _ for . (EDGED_CLOUD_URL sets cloud.url); README \"Configuration reference\" lists them; or unset it", envSuggest(name, keys))
			continue
		}
		if len(val) > maxEnvValue {
			errs.Add(name, "sets %s to %d bytes: the most is %d", k.Path, len(val), maxEnvValue)
			continue
		}
		v, err := fieldAt(reflect.ValueOf(cfg).Elem(), k.Index)
		if err != nil {
			errs.Add(name, "cannot set %s: %v", k.Path, err)
			continue
		}
		// Decoded as a YAML string scalar, so the types, ranges and
		// hints are the file's.
		node := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
		if err := yamlconf.DecodeNode(node, v.Addr().Interface(), k.Path); err != nil {
			var fe yamlconf.Errors
			if e, ok := err.(yamlconf.Errors); ok {
				fe = e
			} else {
				fe = yamlconf.Errors{{Msg: err.Error()}}
			}
			for _, e := range fe {
				errs.Add(name, "%s (it sets %s)", e.Msg, k.Path)
			}
			continue
		}
		set[k.Path] = name
	}
	return set, errs
}

// envSuggest is a did-you-mean for an unknown variable: the closest
// variable, or a key whose last part is the same.
func envSuggest(name string, keys map[string]configKey) string {
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	slices.Sort(names)
	if s := suggest(name, names); s != "" {
		return fmt.Sprintf(" (did you mean %s, which sets %s?)", s, keys[s].Path)
	}
	return ""
}

// fieldAt is the field at index below v, allocating nil pointers on the way.
func fieldAt(v reflect.Value, index []int) (reflect.Value, error) {
	if len(index) == 0 {
		return reflect.Value{}, fmt.Errorf("not a key outside lists")
	}
	for _, i := range index {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, nil
}
