package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/holdover/holdover/config"
)

// newLogger builds the daemon's slog logger. The level lives in a LevelVar
// so a reload can change it; the format is fixed for the process.
func newLogger(c config.Log, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	level := new(slog.LevelVar)
	if err := setLevel(level, c.Level); err != nil {
		return nil, nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), level, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), level, nil
	default:
		return nil, nil, fmt.Errorf("log.format %q: want text or json", c.Format)
	}
}

func setLevel(v *slog.LevelVar, s string) error {
	if s == "" {
		s = "info"
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("log.level %q: want debug, info, warn or error", s)
	}
	v.Set(l)
	return nil
}
