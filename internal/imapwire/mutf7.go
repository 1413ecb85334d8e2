package imapwire

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 mailbox names (RFC 3501 §5.1.3), used with IMAP4rev1
// clients that have not enabled UTF8=ACCEPT.

var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// ErrBadMUTF7 is returned for a name that is not valid modified UTF-7.
var ErrBadMUTF7 = errors.New("mailbox name is not valid modified UTF-7")

// DecodeMUTF7 decodes a modified UTF-7 mailbox name to UTF-8. It is strict:
// non-ASCII bytes, unterminated shifts, adjacent shifts, shifts that encode
// printable ASCII or control characters, bad padding and unpaired
// surrogates are errors. A name it accepts is exactly what EncodeMUTF7
// gives for the result.
func DecodeMUTF7(s string) (string, error) {
	if strings.IndexByte(s, '&') < 0 {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", ErrBadMUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	prevShift := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrBadMUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			prevShift = false
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", ErrBadMUTF7
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			b.WriteByte('&')
			prevShift = false
			continue
		}
		if prevShift {
			// Two adjacent shifts must have been one.
			return "", ErrBadMUTF7
		}
		raw, err := mutf7.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 || len(raw) == 0 {
			return "", ErrBadMUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		// Re-encoding must give the same text (no trailing garbage bits).
		if mutf7.EncodeToString(raw) != enc {
			return "", ErrBadMUTF7
		}
		for k := 0; k < len(units); k++ {
			u := units[k]
			var r rune
			switch {
			case utf16.IsSurrogate(rune(u)):
				if k+1 >= len(units) {
					return "", ErrBadMUTF7
				}
				r = utf16.DecodeRune(rune(u), rune(units[k+1]))
				if r == utf8.RuneError {
					return "", ErrBadMUTF7
				}
				k++
			default:
				r = rune(u)
				if r >= 0x20 && r <= 0x7e {
					return "", ErrBadMUTF7 // printable ASCII must not be shifted
				}
				if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
					// Controls have no place in a mailbox name (RFC 9051
					// §5.1, Net-Unicode of RFC 5198).
					return "", ErrBadMUTF7
				}
			}
			b.WriteRune(r)
		}
		prevShift = true
	}
	return b.String(), nil
}

// EncodeMUTF7 encodes a UTF-8 mailbox name as modified UTF-7. Invalid UTF-8
// comes out as U+FFFD.
func EncodeMUTF7(s string) string {
	var b strings.Builder
	var pending []rune
	flush := func() {
		if len(pending) == 0 {
			return
		}
		units := utf16.Encode(pending)
		raw := make([]byte, 2*len(units))
		for i, u := range units {
			raw[2*i] = byte(u >> 8)
			raw[2*i+1] = byte(u)
		}
		b.WriteByte('&')
		b.WriteString(mutf7.EncodeToString(raw))
		b.WriteByte('-')
		pending = pending[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		pending = append(pending, r)
	}
	flush()
	return b.String()
}
