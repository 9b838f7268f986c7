package pluginapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func jsonLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if l.GetLevel() != hclog.Debug || l.IsTrace() || !l.IsDebug() {
		t.Errorf("level %v", l.GetLevel())
	}
	l.Trace("hidden")
	// What go-plugin does with a forwarded stderr JSON line.
	l.Named("testservice").Warn("from stderr", "@module", "svc", "answer", 42.0, "timestamp", "2026-01-01T00:00:00Z")
	l.With("pid", 7).Error("plugin process exited", "error", "exit status 3")
	l.Info("odd", "k")
	got := jsonLines(t, &buf)
	if len(got) != 3 {
		t.Fatalf("%d lines: %s", len(got), buf.String())
	}
	if g := got[0]; g["level"] != "WARN" || g["msg"] != "from stderr" || g["logger"] != "testservice" ||
		g["module"] != "svc" || g["answer"] != 42.0 || g["timestamp"] != nil {
		t.Errorf("forwarded line: %v", g)
	}
	if g := got[1]; g["level"] != "ERROR" || g["pid"] != 7.0 || g["error"] != "exit status 3" {
		t.Errorf("With: %v", g)
	}
	if g := got[2]; g["EXTRA_VALUE_AT_END"] != "k" {
		t.Errorf("odd args: %v", g)
	}
}

func TestLineLogger(t *testing.T) {
	var buf bytes.Buffer
	w := newLineLogger(slog.New(slog.NewJSONHandler(&buf, nil)), "stdout")
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\r\n\nthree"))
	got := jsonLines(t, &buf)
	if len(got) != 2 || got[0]["msg"] != "one" || got[1]["msg"] != "two" || got[1]["stream"] != "stdout" {
		t.Errorf("lines: %v", got)
	}
	w.Write(bytes.Repeat([]byte("x"), maxLine+1))
	if got := jsonLines(t, &buf); len(got) != 3 {
		t.Errorf("an over-long line is not logged in pieces: %d lines", len(got))
	}
}
