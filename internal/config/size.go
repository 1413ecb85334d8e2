package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a byte count written in a config file either as a TOML integer
// (bytes) or as a string with an optional binary unit: "1024", "200K",
// "10M", "1G", "2T". Units are case-insensitive powers of 1024 and may carry
// a "B" or "iB" suffix, so "10M", "10MB" and "10MiB" all mean 10*1024*1024.
type Size int64

// UnmarshalTOML implements toml.Unmarshaler so that both integers and
// strings are accepted.
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("invalid size %d: must not be negative", v)
		}
		*s = Size(v)
		return nil
	case string:
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*s = Size(n)
		return nil
	default:
		return fmt.Errorf("invalid size %v: want an integer number of bytes or a string like \"10M\"", v)
	}
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// MarshalText implements encoding.TextMarshaler using FormatSize.
func (s Size) MarshalText() ([]byte, error) {
	return []byte(FormatSize(int64(s))), nil
}

// String returns FormatSize(s).
func (s Size) String() string { return FormatSize(int64(s)) }

var sizeUnits = []struct {
	suffix string
	shift  uint
}{
	{"T", 40},
	{"G", 30},
	{"M", 20},
	{"K", 10},
}

// ParseSize parses a size such as "1024", "200K", "10M", "10MB", "10MiB",
// "1G" or "2T" (case-insensitive, powers of 1024) into bytes. Negative,
// fractional, overflowing or otherwise malformed values are errors naming the
// value.
func ParseSize(s string) (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("invalid size %q: %s", s, why)
	}
	t := strings.ToUpper(strings.TrimSpace(s))
	if t == "" {
		return bad(`want a number of bytes or a number with a unit, like "10M"`)
	}
	// Optional "B" / "iB" suffix.
	var shift uint
	switch {
	case strings.HasSuffix(t, "IB"):
		t = t[:len(t)-2]
		if t == "" || !strings.ContainsAny(t[len(t)-1:], "KMGT") {
			return bad(`"iB" must follow a unit (K, M, G or T)`)
		}
	case strings.HasSuffix(t, "B"):
		t = t[:len(t)-1]
	}
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t = t[:len(t)-1]
			shift = u.shift
			break
		}
	}
	t = strings.TrimSpace(t)
	if t == "" {
		return bad("missing number")
	}
	for _, c := range t {
		if c == '-' {
			return bad("must not be negative")
		}
		if c < '0' || c > '9' {
			return bad(`want a whole number optionally followed by K, M, G or T, like "10M"`)
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return bad("too large")
	}
	return n << shift, nil
}

// FormatSize formats n with the largest unit that divides it exactly
// ("10M", "200K", "1G"); otherwise (and for 0 and negative values) as plain
// bytes ("1000"). ParseSize(FormatSize(n)) == n for every n >= 0.
func FormatSize(n int64) string {
	if n > 0 {
		for _, u := range sizeUnits {
			if n%(int64(1)<<u.shift) == 0 {
				return strconv.FormatInt(n>>u.shift, 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(n, 10)
}
