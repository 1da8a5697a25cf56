package store

import (
	"context"
	"log/slog"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapToSlog returns a zap logger that forwards warnings and errors to a
// slog.Logger. etcd's server and client log through zap; sending them to
// the caller's slog keeps one log stream, and the warn floor keeps etcd's
// chatty info messages (every compaction, every snapshot) out of it.
func zapToSlog(l *slog.Logger, component string) *zap.Logger {
	return zap.New(&slogCore{l: l.With("component", component), level: zapcore.WarnLevel})
}

// slogCore is a zapcore.Core writing to slog.
type slogCore struct {
	l     *slog.Logger
	level zapcore.Level
}

// Enabled implements zapcore.LevelEnabler.
func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.level }

// With implements zapcore.Core: the fields become slog attributes.
func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{l: c.l.With(attrs(fields)...), level: c.level}
}

// Check implements zapcore.Core.
func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write implements zapcore.Core.
func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	level := slog.LevelError
	switch {
	case e.Level < zapcore.InfoLevel:
		level = slog.LevelDebug
	case e.Level < zapcore.WarnLevel:
		level = slog.LevelInfo
	case e.Level < zapcore.ErrorLevel:
		level = slog.LevelWarn
	}
	args := attrs(fields)
	if level >= slog.LevelWarn && closingNoise(args) {
		// The embedded etcd reports its own listeners closing, on every
		// clean shutdown, as errors; they are not.
		level = slog.LevelDebug
	}
	if e.LoggerName != "" {
		args = append(args, "logger", e.LoggerName)
	}
	c.l.Log(context.Background(), level, e.Message, args...)
	return nil
}

// closingNoise recognises etcd's reports of its own listeners closing:
// "use of closed network connection", and the "http: Server closed" and
// "mux: server closed" its serving goroutines return on a clean stop.
func closingNoise(args []any) bool {
	for i := 1; i < len(args); i += 2 {
		s, ok := args[i].(string)
		if ok && (strings.Contains(s, "use of closed network connection") || strings.HasSuffix(strings.ToLower(s), "server closed")) {
			return true
		}
	}
	return false
}

// Sync implements zapcore.Core; slog handlers do not buffer.
func (c *slogCore) Sync() error { return nil }

func attrs(fields []zapcore.Field) []any {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		out = append(out, k, v)
	}
	return out
}
