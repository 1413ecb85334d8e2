package config

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a length of time written as a string such as "1s", "500ms",
// "15m" or "1h30m" (Go's time.ParseDuration syntax).
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler (TOML strings).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf(`must be a duration such as "1s", "500ms" or "15m", got %q`, string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(FormatDuration(time.Duration(d))), nil }

// FormatDuration writes d as time.Duration does, without the zero units it
// adds ("15m" rather than "15m0s").
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
