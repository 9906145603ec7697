package host

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// tailLines is how many of a plugin's last output lines errors quote.
	tailLines = 10
	// maxLine bounds one line kept or logged, in bytes.
	maxLine = 2048
	// A plugin may log logBurst lines at once, and logRate lines a second
	// on average; lines beyond are dropped (and counted), so that a plugin
	// cannot flood the node's log.
	logBurst = 1000
	logRate  = 200
)

// lineWriter splits what a plugin writes into lines, logs each, and keeps
// the last few for error messages. A JSON line in hclog's shape (as
// plugins/sdk writes) is logged with its level, message and attributes;
// anything else is logged as text. Nothing a plugin writes can make it
// panic.
type lineWriter struct {
	log    *slog.Logger
	stream string

	mu      sync.Mutex
	buf     []byte
	tail    []string
	tokens  float64   // lines it may log now
	last    time.Time // when tokens was last topped up
	dropped int       // lines dropped since it last logged one
}

func newLineWriter(log *slog.Logger, stream string) *lineWriter {
	return &lineWriter{log: log, stream: stream, tokens: logBurst, last: time.Now()}
}

// allow reports whether a line may be logged now, and says when lines
// start being dropped and how many were. The caller holds w.mu.
func (w *lineWriter) allow() bool {
	now := time.Now()
	w.tokens = min(logBurst, w.tokens+now.Sub(w.last).Seconds()*logRate)
	w.last = now
	if w.tokens < 1 {
		if w.dropped == 0 {
			w.log.Warn("the plugin writes more than it may log; dropping its lines until it slows down",
				"stream", w.stream, "rate", logRate, "burst", logBurst)
		}
		w.dropped++
		return false
	}
	w.tokens--
	if w.dropped > 0 {
		w.log.Warn("dropped lines the plugin wrote too fast", "stream", w.stream, "dropped", w.dropped)
		w.dropped = 0
	}
	return true
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLine {
		w.line(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// line handles one line. The caller holds w.mu.
func (w *lineWriter) line(b []byte) {
	b = bytes.TrimRight(b, "\r")
	if len(b) > maxLine {
		b = b[:maxLine]
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	text := string(b)
	if len(w.tail) == tailLines {
		w.tail = w.tail[1:]
	}
	if !w.allow() {
		w.tail = append(w.tail, text)
		return
	}
	level, msg, attrs := parseLine(b)
	if level != slog.LevelInfo || msg != text {
		// Quote structured lines by their message.
		w.tail = append(w.tail, msg)
	} else {
		w.tail = append(w.tail, text)
	}
	w.log.LogAttrs(context.Background(), level, msg, append(attrs, slog.String("stream", w.stream))...)
}

// parseLine reads a JSON log line in hclog's shape, or takes the line as
// text.
func parseLine(b []byte) (slog.Level, string, []slog.Attr) {
	text := string(b)
	if b[0] != '{' {
		if strings.HasPrefix(text, "panic: ") || strings.HasPrefix(text, "fatal error: ") {
			return slog.LevelError, text, nil
		}
		return slog.LevelInfo, text, nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return slog.LevelInfo, text, nil
	}
	msg, _ := m["@message"].(string)
	lvl, _ := m["@level"].(string)
	if msg == "" {
		return slog.LevelInfo, text, nil
	}
	level := slog.LevelInfo
	switch strings.ToLower(lvl) {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	var attrs []slog.Attr
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if strings.HasPrefix(k, "@") || k == "plugin" {
			continue
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	return level, msg, attrs
}

// lastLines returns the last lines the plugin wrote, for an error message,
// or "" when it wrote none.
func (w *lineWriter) lastLines() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := w.tail
	if len(w.buf) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(w.buf))
	}
	if len(lines) == 0 {
		return ""
	}
	return "; its last output:\n  " + strings.Join(lines, "\n  ")
}
