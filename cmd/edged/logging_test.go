package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLogLineShape: JSON lines carry each key once, durations as strings
// and floats without binary noise; under journald each line starts with its
// syslog priority.
func TestLogLineShape(t *testing.T) {
	var buf bytes.Buffer
	log := newLoggerEnv(LogConfig{Level: "debug", Format: "json"}, &buf, false)
	svc := log.With("service", "stats")
	svc.Info("plugin said", "service", "stats", "in", 503*time.Millisecond, "value", 19.950983468089202, "volts", 1.6500000000000001, "n", 3)
	line := buf.String()
	if strings.Count(line, `"service"`) != 1 {
		t.Fatalf("key service twice: %s", line)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v %s", err, line)
	}
	if m["in"] != "503ms" || m["value"] != 19.951 || m["volts"] != 1.65 || m["n"] != 3.0 {
		t.Fatalf("attrs %v, want in=503ms value=19.951 volts=1.65 n=3", m)
	}

	buf.Reset()
	jl := newLoggerEnv(LogConfig{Level: "debug", Format: "text"}, &buf, true)
	jl.With("device", "env").Warn("read failed", "err", "no ACK")
	jl.Info("ok")
	jl.Error("bad")
	jl.Debug("dbg")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"<4>", "<6>", "<3>", "<7>"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]+"time=") {
			t.Errorf("line %d = %q, want prefix %s", i, l, want[i])
		}
	}
	if !strings.Contains(lines[0], "device=env") || !strings.Contains(lines[0], `err="no ACK"`) {
		t.Errorf("With attrs lost under journald: %q", lines[0])
	}

	buf.Reset()
	info := newLoggerEnv(LogConfig{Level: "info", Format: "text"}, &buf, true)
	info.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("debug line at level info: %q", buf.String())
	}
}
