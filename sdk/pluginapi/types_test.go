package pluginapi_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  pluginapi.Config
		want string // "" = valid
	}{
		{"minimal", pluginapi.Config{Name: "a"}, ""},
		{"full", pluginapi.Config{Name: "a", JSON: []byte(`{"x":1}`), Subscriptions: []string{"#", "boiler/+", "+/temperature", "boiler/temperature"}}, ""},
		{"no name", pluginapi.Config{}, "name is empty"},
		{"bad json", pluginapi.Config{Name: "a", JSON: []byte(`{"x":`)}, "not valid JSON"},
		{"empty filter", pluginapi.Config{Name: "a", Subscriptions: []string{""}}, "subscriptions[0]: empty"},
		{"hash not last", pluginapi.Config{Name: "a", Subscriptions: []string{"#", "a/#/b"}}, "subscriptions[1]"},
		{"partial plus", pluginapi.Config{Name: "a", Subscriptions: []string{"boil+/t"}}, "whole level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConfigDecodeIsStrict(t *testing.T) {
	type conf struct {
		Factor float64 `json:"factor"`
	}
	for _, tc := range []struct {
		json string
		want float64
		err  string
	}{
		{``, 7, ""},
		{`{"factor": 2}`, 2, ""},
		{`{"factr": 2}`, 0, `unknown field "factr"`},
		{`{"factor": 2} {}`, 0, "data after"},
		{`{"factor": "x"}`, 0, "cannot unmarshal"},
	} {
		c := conf{Factor: 7}
		err := pluginapi.Config{Name: "svc", JSON: []byte(tc.json)}.Decode(&c)
		switch {
		case tc.err == "" && (err != nil || c.Factor != tc.want):
			t.Errorf("Decode(%s) = %v, factor %g; want %g", tc.json, err, c.Factor, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), `"svc"`)):
			t.Errorf("Decode(%s) = %v, want an error naming the service and %q", tc.json, err, tc.err)
		}
	}
}

func TestLaunchConfigValidate(t *testing.T) {
	started := exec.Command("true")
	if err := started.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	for _, tc := range []struct {
		name string
		cfg  pluginapi.LaunchConfig
		want string
	}{
		{"ok", pluginapi.LaunchConfig{Name: "a", Cmd: exec.Command("x")}, ""},
		{"no name", pluginapi.LaunchConfig{Cmd: exec.Command("x")}, "name is empty"},
		{"no cmd", pluginapi.LaunchConfig{Name: "a"}, "cmd is nil"},
		{"started cmd", pluginapi.LaunchConfig{Name: "a", Cmd: started}, "already started"},
		{"short checksum", pluginapi.LaunchConfig{Name: "a", Cmd: exec.Command("x"), SecureChecksum: []byte{1}}, "is 1 bytes"},
		{"window", pluginapi.LaunchConfig{Name: "a", Cmd: exec.Command("x"), EmitWindow: pluginapi.MaxWindow + 1}, "emit window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
