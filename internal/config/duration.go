package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time written as a string such as "1s", "500ms",
// "15m" or "1h30m" (Go's time.ParseDuration syntax), with whole days in
// front where wanted: "1d", "5d", "1d12h".
type Duration time.Duration

const day = 24 * time.Hour

// UnmarshalText implements encoding.TextUnmarshaler (TOML strings).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf(`must be a duration such as "1s", "500ms", "15m" or "5d", got %q`, string(b))
	}
	*d = Duration(v)
	return nil
}

// parseDuration is time.ParseDuration with an optional leading "<n>d".
func parseDuration(s string) (time.Duration, error) {
	neg := strings.HasPrefix(s, "-")
	rest := strings.TrimPrefix(s, "-")
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(rest) || rest[i] != 'd' {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseInt(rest[:i], 10, 64)
	if err != nil || n > int64(time.Duration(1<<63-1)/day) {
		return 0, fmt.Errorf("duration %q out of range", s)
	}
	v := time.Duration(n) * day
	if tail := rest[i+1:]; tail != "" {
		t, err := time.ParseDuration(tail)
		if err != nil || t < 0 || v > time.Duration(1<<63-1)-t {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		v += t
	}
	if neg {
		v = -v
	}
	return v, nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(FormatDuration(time.Duration(d))), nil }

// FormatDuration writes d as time.Duration does, without the zero units it
// adds ("15m" rather than "15m0s"), and whole days as "5d" ("1d12h").
func FormatDuration(d time.Duration) string {
	prefix := ""
	if d <= -day {
		prefix, d = "-", -d
	}
	if d >= day {
		days := d / day
		prefix += strconv.FormatInt(int64(days), 10) + "d"
		d -= days * day
		if d == 0 {
			return prefix
		}
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return prefix + s
}
