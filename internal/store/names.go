package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Delimiter is the mailbox hierarchy delimiter.
const Delimiter = '/'

// Limits on mailbox names, enforced by every backend.
const (
	MaxMailboxNameLen   = 1024 // bytes of the full name
	MaxMailboxNameDepth = 32   // levels
)

// CanonicalMailboxName validates a full mailbox name and returns its
// canonical form: "INBOX" (any case) and its children ("inbox/x") are spelt
// "INBOX" (RFC 9051 §5.1). Names are UTF-8 without control characters and
// without empty levels.
func CanonicalMailboxName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > MaxMailboxNameLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidName, MaxMailboxNameLen)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	levels := strings.Split(name, string(Delimiter))
	if len(levels) > MaxMailboxNameDepth {
		return "", fmt.Errorf("%w: deeper than %d levels", ErrInvalidName, MaxMailboxNameDepth)
	}
	for _, l := range levels {
		if l == "" {
			return "", fmt.Errorf("%w: empty hierarchy level", ErrInvalidName)
		}
		for _, r := range l {
			if unicode.IsControl(r) || r == utf8.RuneError {
				return "", fmt.Errorf("%w: control character", ErrInvalidName)
			}
		}
	}
	if strings.EqualFold(levels[0], "INBOX") {
		levels[0] = "INBOX"
	}
	return strings.Join(levels, string(Delimiter)), nil
}

// Parent returns the parent name of a mailbox, or "" at the top level.
func Parent(name string) string {
	if i := strings.LastIndexByte(name, Delimiter); i >= 0 {
		return name[:i]
	}
	return ""
}

var systemFlags = map[string]string{
	`\seen`:     `\Seen`,
	`\answered`: `\Answered`,
	`\flagged`:  `\Flagged`,
	`\deleted`:  `\Deleted`,
	`\draft`:    `\Draft`,
}

// NormalizeFlags returns flags with system flags in canonical case, keywords
// deduplicated case-insensitively (RFC 9051 §2.3.2: flags are
// case-insensitive), sorted. Invalid entries (empty, unknown backslash
// flags, \Recent which is never stored) are dropped.
func NormalizeFlags(flags []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f == "" {
			continue
		}
		lf := strings.ToLower(f)
		if f[0] == '\\' {
			c, ok := systemFlags[lf]
			if !ok {
				continue
			}
			f = c
		}
		if seen[lf] {
			continue
		}
		seen[lf] = true
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// HasFlag reports whether flags holds f (case-insensitive).
func HasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// ApplyFlags returns cur changed by op with flags, normalized.
func ApplyFlags(cur []string, op FlagOp, flags []string) []string {
	switch op {
	case FlagsReplace:
		return NormalizeFlags(flags)
	case FlagsAdd:
		return NormalizeFlags(append(append([]string{}, cur...), flags...))
	case FlagsRemove:
		var out []string
		for _, c := range cur {
			if !HasFlag(flags, c) {
				out = append(out, c)
			}
		}
		return NormalizeFlags(out)
	}
	return cur
}

// EqualFlags reports whether two normalized flag lists are the same.
func EqualFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Keyword limits: a message holds at most MaxKeywords keywords of at most
// MaxKeywordLength octets each (as Dovecot and Cyrus cap them), so that a
// client cannot grow one message's flags without bound. Past them a write
// fails with ErrKeywordLimit and changes nothing.
const (
	MaxKeywords      = 64
	MaxKeywordLength = 128
)

// ErrKeywordLimit is a write that would pass MaxKeywords or
// MaxKeywordLength.
var ErrKeywordLimit = errors.New("keyword limit")

// CheckKeywords checks the keywords (flags not starting with a backslash)
// of flags against MaxKeywords and MaxKeywordLength.
func CheckKeywords(flags []string) error {
	n := 0
	for _, f := range flags {
		if f == "" || f[0] == '\\' {
			continue
		}
		if len(f) > MaxKeywordLength {
			return fmt.Errorf("%w: a keyword is longer than %d octets", ErrKeywordLimit, MaxKeywordLength)
		}
		n++
	}
	if n > MaxKeywords {
		return fmt.Errorf("%w: more than %d keywords on one message", ErrKeywordLimit, MaxKeywords)
	}
	return nil
}

// LimitKeywords returns flags without the keywords CheckKeywords would
// refuse: those over MaxKeywordLength, and those past the first
// MaxKeywords. Delivery files a message with them rather than refuse it
// (a Sieve script's flags must not cost the message).
func LimitKeywords(flags []string) []string {
	if CheckKeywords(flags) == nil {
		return flags
	}
	out := make([]string, 0, len(flags))
	n := 0
	for _, f := range flags {
		if f != "" && f[0] != '\\' {
			if len(f) > MaxKeywordLength || n == MaxKeywords {
				continue
			}
			n++
		}
		out = append(out, f)
	}
	return out
}
