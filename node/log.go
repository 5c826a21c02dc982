package node

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

func parseLevel(s string) (zerolog.Level, error) {
	switch strings.ToLower(s) {
	case "trace":
		return zerolog.TraceLevel, nil
	case "debug":
		return zerolog.DebugLevel, nil
	case "info", "":
		return zerolog.InfoLevel, nil
	case "warn", "warning":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("%q is not one of trace, debug, info, warn, error", s)
}

// LogLevel returns the configured level, for building a logger.
func (c Config) Level() zerolog.Level {
	l, err := parseLevel(c.LogLevel)
	if err != nil {
		return zerolog.InfoLevel
	}
	return l
}
