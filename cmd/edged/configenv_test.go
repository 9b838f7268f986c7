package main

import (
	"strings"
	"testing"
	"time"
)

// TestConfigEnvOverrides: EDGED_ + the key path sets every scalar key,
// after the file, parsed with the key's type; "_" inside key names
// (local_mqtt, max_age) is matched against the known keys.
func TestConfigEnvOverrides(t *testing.T) {
	p := writeConfig(t, t.TempDir(), "cloud: {batch: 10}\noutbox: {max_age: 1h}\n")
	env := []string{
		"EDGED_CLOUD_URL=mqtt://127.0.0.1:1",
		"EDGED_CLOUD_BATCH=20",
		"EDGED_HTTP_LISTEN=127.0.0.1:0",
		"EDGED_LOCAL_MQTT_LISTEN=127.0.0.1:0",
		"EDGED_LOCAL_MQTT_LIMITS_MAX_PACKET_SIZE=64Ki",
		"EDGED_OUTBOX_MAX_AGE=48h",
		"EDGED_OUTBOX_FSYNC=false",
		"EDGED_CONFIG=/elsewhere.yaml", // the CLI's, not a key
		"EDGED_TEST_SECRET=x",          // tests'
		"PATH=/bin",
	}
	cfg, _, err := loadConfigEnv(p, builtinKinds(), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cloud.URL != "mqtt://127.0.0.1:1" || cfg.Cloud.Batch != 20 || cfg.HTTP.Listen != "127.0.0.1:0" || cfg.LocalMQTT.Listen != "127.0.0.1:0" ||
		cfg.LocalMQTT.Limits.MaxPacketSize != 64<<10 || cfg.Outbox.MaxAge != 48*time.Hour || cfg.Outbox.Fsync {
		t.Fatalf("overrides not applied: cloud %+v http %+v local %+v outbox %+v", cfg.Cloud, cfg.HTTP, cfg.LocalMQTT, cfg.Outbox)
	}
	// Every scalar key outside lists has exactly one variable.
	seen := map[string]string{}
	n := 0
	for _, k := range configKeys() {
		if k.Shape != shapeScalar || k.inList() {
			continue
		}
		n++
		name := envName(k.Path)
		if other, dup := seen[name]; dup {
			t.Fatalf("%s would set both %s and %s", name, other, k.Path)
		}
		seen[name] = k.Path
	}
	if n < 40 || len(envKeys()) != n {
		t.Fatalf("%d scalar keys, %d variables", n, len(envKeys()))
	}
}

// TestConfigEnvErrors: an unknown EDGED_ variable is an error with a
// did-you-mean, a bad value names its variable and key, and both come in
// the same pass as the file's problems.
func TestConfigEnvErrors(t *testing.T) {
	p := writeConfig(t, t.TempDir(), "log: {level: loud}\n")
	_, _, err := loadConfigEnv(p, builtinKinds(), []string{"EDGED_CLOUD_URLL=mqtt://x:1", "EDGED_CLOUD_BATCH=lots", "EDGED_OUTBOX_MAX_AGE=7d", "EDGED_NOTHING_LIKE_IT=1"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`EDGED_CLOUD_URLL: is not a configuration key (did you mean EDGED_CLOUD_URL, which sets cloud.url?)`,
		`EDGED_CLOUD_BATCH: "lots" is not a whole number (it sets cloud.batch)`,
		`EDGED_OUTBOX_MAX_AGE: "7d" is not a duration, use hours for days: 168h (it sets outbox.max_age)`,
		`EDGED_NOTHING_LIKE_IT: is not a configuration key:`,
		`log.level: "loud" is not a level`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, _, err := loadConfigEnv("", builtinKinds(), []string{"EDGED_CLOUD_URL=" + strings.Repeat("x", maxEnvValue+1)}); err == nil || !strings.Contains(err.Error(), "EDGED_CLOUD_URL: sets cloud.url to 4097 bytes") {
		t.Fatalf("long value: %v", err)
	}
}

// FuzzConfigEnv: no variable name or value makes applyEnv panic, and
// every problem names an EDGED_ variable.
func FuzzConfigEnv(f *testing.F) {
	f.Add("EDGED_CLOUD_BATCH", "12")
	f.Add("EDGED_OUTBOX_MAX_BYTES", "1Gi")
	f.Add("EDGED_LOCAL_MQTT_LIMITS_LOGIN_BACKOFF_MAX", "-1s")
	f.Add("EDGED_X", "")
	f.Fuzz(func(t *testing.T, name, val string) {
		cfg := defaultConfig()
		_, errs := applyEnv(&cfg, []string{name + "=" + val})
		for _, e := range errs {
			if !strings.HasPrefix(e.Path, envPrefix) {
				t.Fatalf("problem without its variable: %v", e)
			}
		}
	})
}

// TestConfigDefaultsShortDurations: `config defaults` says 168h, not
// 168h0m0s.
func TestConfigDefaultsShortDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{168 * time.Hour: "168h", 10 * time.Minute: "10m", 90 * time.Second: "1m30s", time.Second: "1s", 500 * time.Millisecond: "500ms", 0: "0s", time.Hour + time.Second: "1h0m1s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
	out := defaultsYAML()
	if strings.Contains(out, "0m0s") || !strings.Contains(out, "max_age: 168h") {
		t.Fatalf("defaults print long durations:\n%s", out)
	}
}
