package smtpserver

import (
	"strings"
	"unicode/utf8"
)

type addrCheck int

const (
	addrOK addrCheck = iota
	addrSyntax
	addrNeedsUTF8
)

// maxPath is the longest address accepted: RFC 5321 §4.5.3.1.3's 256-octet
// path, less the angle brackets.
const maxPath = 254

// specials are RFC 5322 §3.2.3's specials, which an unquoted local part
// cannot hold ('.' aside).
const specials = `()<>[]:;@\,"`

// checkAddress checks a mailbox that go-smtp has taken out of MAIL FROM or
// RCPT TO (angle brackets and source route removed, and the quotes of a
// quoted local part removed). go-smtp's parser is lenient: it takes
// anything up to a space or '>' as the domain and lets control characters
// through. This checks RFC 5321 §4.1.2's Mailbox loosely: a non-empty local
// part, '@', and a domain of LDH labels (underscore allowed, as found in the
// wild) or an address literal. Non-ASCII is allowed only with SMTPUTF8 (RFC
// 6531 §3.3), and must then be valid UTF-8.
//
// Since go-smtp drops the quotes, a local part that needs them (one with a
// space, '@', '"' or another special) would reach the Deliverer ambiguous
// ("a@b"@c as a@b@c): such addresses are refused. Dots are not checked
// (some providers hand out local parts like "first..last").
func checkAddress(addr string, smtputf8 bool) addrCheck {
	if len(addr) > maxPath || !utf8.ValidString(addr) {
		return addrSyntax
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return addrSyntax
	}
	local, domain := addr[:at], addr[at+1:]
	ascii := true
	for _, r := range local {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || strings.ContainsRune(specials, r) {
			return addrSyntax
		}
		if r >= 0x80 {
			ascii = false
		}
	}
	ok, domainASCII := checkDomain(domain)
	if !ok {
		return addrSyntax
	}
	if !(ascii && domainASCII) && !smtputf8 {
		return addrNeedsUTF8
	}
	return addrOK
}

// checkDomain checks a domain (ASCII or U-labels) or an address literal.
func checkDomain(d string) (ok, ascii bool) {
	if len(d) == 0 || len(d) > 255 {
		return false, true
	}
	if d[0] == '[' {
		// Address literal (RFC 5321 §4.1.3): printable ASCII between
		// brackets, none of "[\]" inside.
		if len(d) < 3 || d[len(d)-1] != ']' {
			return false, true
		}
		for _, c := range []byte(d[1 : len(d)-1]) {
			if c <= ' ' || c >= 0x7f || c == '[' || c == ']' || c == '\\' {
				return false, true
			}
		}
		return true, true
	}
	ascii = true
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false, ascii
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			case r >= 0xa0 && r != utf8.RuneError:
				ascii = false
			default:
				return false, ascii
			}
		}
	}
	return true, ascii
}

// validHelo checks the EHLO/LHLO argument (go-smtp keeps its first word):
// it ends up in Received headers, so no control characters or broken
// UTF-8. Its meaning is not checked (RFC 5321 §4.1.4: no rejecting on a
// mismatch).
func validHelo(h string) bool {
	if h == "" || len(h) > 255 || !utf8.ValidString(h) {
		return false
	}
	for _, r := range h {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
