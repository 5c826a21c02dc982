package store

import (
	"strings"

	"github.com/rs/zerolog"
)

// badgerLogger routes Badger's printf-style logger into zerolog.
type badgerLogger struct{ l zerolog.Logger }

// Badger terminates most messages with a newline; zerolog adds its own.
func trim(format string) string { return strings.TrimRight(format, "\n") }

func (b badgerLogger) Errorf(format string, args ...any) {
	b.l.Error().Msgf(trim(format), args...)
}

func (b badgerLogger) Warningf(format string, args ...any) {
	b.l.Warn().Msgf(trim(format), args...)
}

func (b badgerLogger) Infof(format string, args ...any) {
	b.l.Debug().Msgf(trim(format), args...)
}

func (b badgerLogger) Debugf(format string, args ...any) {
	b.l.Debug().Msgf(trim(format), args...)
}
