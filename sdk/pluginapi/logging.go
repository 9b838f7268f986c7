package pluginapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// hclogSlog is the hclog.Logger go-plugin wants, writing to a slog.Logger.
// go-plugin logs through it both its own client events and every line of
// the service's stderr: hclog JSON lines arrive with their level, message
// and key/value pairs, and become structured slog records.
type hclogSlog struct {
	l       *slog.Logger
	name    string
	implied []any
}

func newHCLogger(l *slog.Logger) hclog.Logger { return &hclogSlog{l: l} }

// slogLevel maps hclog levels onto slog's (trace is below debug).
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *hclogSlog) Log(level hclog.Level, msg string, args ...any) {
	ctx := context.Background()
	lvl := slogLevel(level)
	if !h.l.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, len(args)/2+1)
	if h.name != "" {
		attrs = append(attrs, slog.String("logger", h.name))
	}
	attrs = appendKV(attrs, args)
	h.l.LogAttrs(ctx, lvl, msg, attrs...)
}

// appendKV turns hclog's alternating keys and values into attributes.
// go-plugin adds "timestamp" (the service's clock) to forwarded lines; the
// record's own time stands for it. hclog's "@module" and the like lose "@".
func appendKV(attrs []slog.Attr, args []any) []slog.Attr {
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			attrs = append(attrs, slog.Any("EXTRA_VALUE_AT_END", args[i]))
			break
		}
		k, ok := args[i].(string)
		if !ok {
			k = fmt.Sprint(args[i])
		}
		if k == "timestamp" {
			continue
		}
		attrs = append(attrs, slog.Any(strings.TrimPrefix(k, "@"), args[i+1]))
	}
	return attrs
}

func (h *hclogSlog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogSlog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogSlog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogSlog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogSlog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogSlog) enabled(l hclog.Level) bool {
	return h.l.Enabled(context.Background(), slogLevel(l))
}

func (h *hclogSlog) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogSlog) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogSlog) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogSlog) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogSlog) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogSlog) ImpliedArgs() []any { return h.implied }

func (h *hclogSlog) With(args ...any) hclog.Logger {
	attrs := appendKV(nil, args)
	anys := make([]any, len(attrs))
	for i, a := range attrs {
		anys[i] = a
	}
	return &hclogSlog{l: h.l.With(anys...), name: h.name, implied: append(h.implied[:len(h.implied):len(h.implied)], args...)}
}

func (h *hclogSlog) Name() string { return h.name }

func (h *hclogSlog) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return &hclogSlog{l: h.l, name: name, implied: h.implied}
}

func (h *hclogSlog) ResetNamed(name string) hclog.Logger {
	return &hclogSlog{l: h.l, name: name, implied: h.implied}
}

// SetLevel does nothing: the slog handler decides.
func (h *hclogSlog) SetLevel(hclog.Level) {}

// GetLevel reports the lowest level the slog handler takes (go-plugin skips
// parsing lines below it).
func (h *hclogSlog) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (h *hclogSlog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hclogSlog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return newLineLogger(h.l, "log")
}

// lineLogger logs each line written to it at info, with a "stream"
// attribute: a service's stray fmt.Print output, which go-plugin relays.
type lineLogger struct {
	l      *slog.Logger
	stream string
	mu     sync.Mutex
	buf    []byte
}

// maxLine bounds a buffered line; longer ones are logged in pieces.
const maxLine = 16 << 10

func newLineLogger(l *slog.Logger, stream string) *lineLogger {
	return &lineLogger{l: l, stream: stream}
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLine {
				w.emit()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineLogger) emit() {
	line := strings.TrimRight(string(w.buf), "\r")
	w.buf = w.buf[:0]
	if line != "" {
		w.l.Info(line, "stream", w.stream)
	}
}
