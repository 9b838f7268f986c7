package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/hardware"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/config/bad")

func TestConfigCheckAcceptsGoodFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/config/good/*.yaml")
	examples, _ := filepath.Glob("../../examples/*.yaml")
	deploy, _ := filepath.Glob("../../deploy/*.yaml")
	files = append(append(files, examples...), deploy...)
	if len(files) == 0 {
		t.Fatal("no good configs found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"config", "check", f}, &out, &errb); code != 0 {
				t.Fatalf("exit %d:\n%s%s", code, out.String(), errb.String())
			}
			if got := out.String(); got != f+": ok\n" {
				t.Fatalf("output %q", got)
			}
		})
	}
}

// TestShippedConfigNeverSimulates: the config make install ships uses the
// host's buses, so a gateway whose buses are not enabled reports that
// instead of sending simulated readings.
func TestShippedConfigNeverSimulates(t *testing.T) {
	cfg, _, err := loadConfig("../../deploy/edged.yaml", builtinKinds())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hardware.Board != hardware.BoardHost || cfg.Hardware.AllowSimFallback {
		t.Fatalf("deploy/edged.yaml: hardware %+v, want board host without the sim fallback", cfg.Hardware)
	}
}

// TestConfigCheckReportsEveryProblem compares `edged config check` on each
// bad file with its golden output: every problem, one per line, with its
// field path and a hint. Run with -update to rewrite the goldens.
func TestConfigCheckReportsEveryProblem(t *testing.T) {
	files, _ := filepath.Glob("testdata/config/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no bad configs found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"config", "check", f}, &out, &errb)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
			}
			matchGolden(t, strings.TrimSuffix(f, ".yaml")+".golden", out.Bytes())
			if strings.Contains(out.String(), "goroutine") || strings.Contains(out.String(), "panic") {
				t.Fatal("config errors must never show a stack trace")
			}
		})
	}
}

func TestDefaultsAreValidAndRunnable(t *testing.T) {
	cfg, devs, err := loadConfig("", builtinKinds())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cloud.URL != "" || cfg.DataDir != "./data" || cfg.Outbox.MaxBytes != 256<<20 || cfg.Outbox.MaxAge != 168*time.Hour ||
		!cfg.Outbox.Fsync || cfg.Cloud.Batch != 64 || cfg.Cloud.Inflight != 32 || cfg.Cloud.TopicPrefix != "edged" {
		t.Fatalf("defaults changed: %+v", cfg)
	}
	if len(devs) != 2 || devs[0].Name() != "demo-temp" || devs[0].interval != time.Second || devs[1].Name() != "lan" || devs[1].cfg.Kind != "mqttsensor" {
		t.Fatalf("default devices: %+v", devs)
	}
	// Without a local broker the default lan sensor is left out, not an error.
	off := writeConfig(t, t.TempDir(), "local_mqtt: {mode: off}\n")
	if _, offDevs, err := loadConfig(off, builtinKinds()); err != nil || len(offDevs) != 1 || offDevs[0].Name() != "demo-temp" {
		t.Fatalf("defaults with local_mqtt off: %v %v", offDevs, err)
	}
	if cfg.Gateway.ID == "" || !nameRE.MatchString(cfg.Gateway.ID) {
		t.Fatalf("gateway id %q", cfg.Gateway.ID)
	}
	// `edged config defaults` prints a file that checks clean and means the same.
	var out bytes.Buffer
	if code := run(context.Background(), []string{"config", "defaults"}, &out, &out); code != 0 {
		t.Fatal(out.String())
	}
	p := filepath.Join(t.TempDir(), "defaults.yaml")
	os.WriteFile(p, out.Bytes(), 0o644)
	back, _, err := loadConfig(p, builtinKinds())
	if err != nil {
		t.Fatalf("printed defaults do not check: %v\n%s", err, out.String())
	}
	emptyToNil(reflect.ValueOf(&back).Elem()) // acl: [] is no ACL, labels: {} none
	if back.Outbox != cfg.Outbox || back.Cloud.Batch != cfg.Cloud.Batch || back.Log != cfg.Log || !reflect.DeepEqual(back.Gateway, cfg.Gateway) ||
		!reflect.DeepEqual(back.LocalMQTT, cfg.LocalMQTT) {
		t.Fatalf("printed defaults differ: %+v vs %+v", back, cfg)
	}
}

func TestDeviceListInFileReplacesTheDemoDevice(t *testing.T) {
	_, devs, err := loadConfig("testdata/config/good/buffer-only.yaml", builtinKinds())
	if err != nil || len(devs) != 0 {
		t.Fatalf("devices: [] should run no devices: %v %v", devs, err)
	}
}

func TestCLIUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage:"},
		{[]string{"--help"}, 0, "edged run [--config FILE]"},
		{[]string{"help", "run"}, 0, "publishes \"offline\" on the status topic"},
		{[]string{"help", "config"}, 0, "edged config check FILE"},
		{[]string{"run", "--help"}, 0, "Device kinds:"},
		{[]string{"run", "cfg.yaml"}, 2, `did you mean --config cfg.yaml?`},
		{[]string{"run", "--config", "/nonexistent/edged.yaml"}, 1, "read config: open /nonexistent/edged.yaml: no such file or directory"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"version"}, 0, "edged dev "},
		{[]string{"config"}, 2, "edged config check FILE"},
		{[]string{"hardware", "-o", "table", "--config", "../../examples/sim-board.yaml"}, 0, "edged would use: the SIMULATED board (hardware.board is sim)"},
		{[]string{"help", "hardware"}, 0, "Initialises periph's host drivers"},
		// Typos get a suggestion, not 25 lines of usage; --help works at every level.
		{[]string{"statsu"}, 2, `unknown command "statsu" (did you mean "status"?)`},
		{[]string{"help", "plna"}, 2, `no command "plna" (did you mean "plan"?)`},
		{[]string{"config", "check", "--help"}, 0, "edged config check FILE"},
		{[]string{"config", "defaults", "-h"}, 0, "edged config defaults"},
		{[]string{"config", "chek", "x.yaml"}, 2, `unknown subcommand "chek" (did you mean "check"?)`},
		{[]string{"config", "check"}, 2, "want one FILE, got 0 arguments"},
		{[]string{"status", "--help"}, 0, "--config"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &out); code != tc.code || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d (want %d), output:\n%s\nwant it to contain %q", code, tc.code, out.String(), tc.want)
			}
			if tc.code == 2 && strings.Count(out.String(), "\n") > 12 && len(tc.args) > 0 && tc.args[0] != "config" {
				t.Fatalf("a usage error printed %d lines; want a short hint", strings.Count(out.String(), "\n"))
			}
		})
	}
}

// matchGolden compares got with the golden file (-update rewrites it).
func matchGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Fatalf("output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
	}
}
