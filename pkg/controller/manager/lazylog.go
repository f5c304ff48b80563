package manager

import (
	"slices"
	"sync"

	"go.uber.org/zap/zapcore"
)

// deferFields wraps a zap core so that the fields a logger is given (logr's WithValues,
// zap's With) are encoded only when the logger writes. controller-runtime gives every
// reconcile a logger with its own values, and sluice adds the Service's: encoded at once,
// that is a JSON encoder clone and buffer per value set, 2,000 times a second at 1,000
// rollouts, for loggers that almost never write. zapcore.NewLazyWith defers one With
// only; this defers a chain of them.
func deferFields(c zapcore.Core) zapcore.Core { return &lazyFields{base: c} }

// lazyFields is base with fields added on first use.
type lazyFields struct {
	base   zapcore.Core
	fields []zapcore.Field
	once   sync.Once
	core   zapcore.Core // base.With(fields), once built
}

func (l *lazyFields) built() zapcore.Core {
	l.once.Do(func() {
		l.core = l.base
		if len(l.fields) > 0 {
			l.core = l.base.With(l.fields)
		}
	})
	return l.core
}

// Enabled is base's: fields do not change the level.
func (l *lazyFields) Enabled(lv zapcore.Level) bool { return l.base.Enabled(lv) }

// With adds fields to the ones deferred; nothing is encoded.
func (l *lazyFields) With(fields []zapcore.Field) zapcore.Core {
	return &lazyFields{base: l.base, fields: append(slices.Clip(l.fields), fields...)}
}

func (l *lazyFields) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !l.base.Enabled(e.Level) {
		return ce
	}
	return l.built().Check(e, ce)
}

func (l *lazyFields) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return l.built().Write(e, fields)
}

func (l *lazyFields) Sync() error { return l.built().Sync() }
