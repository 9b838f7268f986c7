package logring

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTeeKeepsRecordsWithAttrsGroupsAndLevels(t *testing.T) {
	g := New(Config{})
	var out bytes.Buffer
	log := slog.New(g.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))
	svc := log.With("service", "rules").WithGroup("g")
	log.Debug("hidden")
	log.Info("started", "listen", "127.0.0.1:8080")
	svc.Warn("output", "line", `<script>alert(1)</script>`, "n", 3)
	log.Error("boom")
	if !strings.Contains(out.String(), "started") {
		t.Fatal("the next handler did not get the record")
	}
	res := g.Query(Query{})
	if len(res.Records) != 3 || res.Next != 3 {
		t.Fatalf("records %+v next %d", res.Records, res.Next)
	}
	w := res.Records[1]
	if w.Level != "WARN" || w.Msg != "output" || w.Attrs != `service=rules g.line=<script>alert(1)</script> g.n=3` {
		t.Fatalf("warn record %+v", w)
	}
	if res := g.Query(Query{Level: slog.LevelWarn}); len(res.Records) != 2 || res.Records[0].Msg != "output" {
		t.Fatalf("level warn: %+v", res.Records)
	}
	if res := g.Query(Query{Text: "SCRIPT"}); len(res.Records) != 1 {
		t.Fatalf("text: %+v", res.Records)
	}
	if res := g.Query(Query{After: 2}); len(res.Records) != 1 || res.Records[0].Msg != "boom" {
		t.Fatalf("after 2: %+v", res.Records)
	}
	if res := g.Query(Query{After: 99}); len(res.Records) != 3 {
		t.Fatalf("a cursor past the end (a restarted daemon) starts over: %+v", res.Records)
	}
	if res := g.Query(Query{Limit: 1}); len(res.Records) != 1 || res.Records[0].Msg != "boom" {
		t.Fatalf("limit 1 gives the newest: %+v", res.Records)
	}
}

func TestBoundsByCountBytesAndRecordSize(t *testing.T) {
	g := New(Config{MaxRecords: 10, MaxBytes: 8 << 10})
	log := slog.New(g.Handler(slog.NewTextHandler(io.Discard, nil)))
	for i := range 25 {
		log.Info("m", "i", i)
	}
	res := g.Query(Query{})
	if len(res.Records) != 10 || res.Records[0].Seq != 16 || res.Evicted != 15 {
		t.Fatalf("count bound: %d records from seq %d, evicted %d", len(res.Records), res.Records[0].Seq, res.Evicted)
	}
	big := strings.Repeat("é", 3000)
	for range 5 {
		log.Info(big, "v", big)
	}
	res = g.Query(Query{})
	if n := len(res.Records); n != 1 && n != 2 {
		t.Fatalf("byte bound: %d records kept", n)
	}
	r := res.Records[len(res.Records)-1]
	if len(r.Msg) > MaxRecordText+len("…") || !utf8.ValidString(r.Msg) || !utf8.ValidString(r.Attrs) || len(r.Attrs) > MaxRecordText+len("…") {
		t.Fatalf("record not cut on a rune boundary: %d / %d bytes", len(r.Msg), len(r.Attrs))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.bytes > 8<<10 {
		t.Fatalf("ring holds %d bytes, over 8 KiB", g.bytes)
	}
}
