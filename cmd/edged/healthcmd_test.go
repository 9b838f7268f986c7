package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthCommand: `edged health` is the container's HEALTHCHECK (the
// image has no curl): exit 0 when the daemon's /healthz (or, with --ready,
// /readyz) answers 200, 1 when it answers otherwise, 3 when nothing answers.
func TestHealthCommand(t *testing.T) {
	health := func(args ...string) (int, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"health"}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}

	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, "gateway: {id: gw-health}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: "+dir+"\n"))
	defer stop()
	waitUntil(t, "the API", func() bool { return d.api != nil })
	api := "--api=http://" + d.api.Addr()
	if code, out := health(api); code != 0 || !strings.Contains(out, "/healthz: ok") {
		t.Errorf("edged health: exit %d: %s", code, out)
	}
	waitUntil(t, "ready", func() bool { code, _ := health(api, "--ready"); return code == 0 })

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready: outbox: no space left on device", http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	if code, out := health("--api="+notReady.URL, "--ready"); code != 1 || !strings.Contains(out, "HTTP 503") || !strings.Contains(out, "no space left") {
		t.Errorf("edged health --ready against a 503: exit %d: %s", code, out)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	if code, out := health("--api=http://" + addr); code != exitUnreachable {
		t.Errorf("edged health with no daemon: exit %d, want %d: %s", code, exitUnreachable, out)
	}
	if code, _ := health("extra"); code != exitUsage {
		t.Errorf("edged health extra: exit %d, want %d", code, exitUsage)
	}
}
