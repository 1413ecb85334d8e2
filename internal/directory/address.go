package directory

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Length limits (RFC 5321 §4.5.3.1; RFC 3696 errata for the whole address).
const (
	MaxLocalLen   = 64  // octets in the local part
	MaxDomainLen  = 255 // octets in the domain
	MaxAddressLen = 254 // octets in local@domain
	maxLabelLen   = 63  // octets in one DNS label (in its ASCII form)
)

// Address is a parsed mailbox address. Local is the local part without
// quoting (`"john smith"` is stored as `john smith`), Domain the canonical
// domain: lower case, internationalised labels as NFC UTF-8 (U-labels), or an
// address literal such as "[192.0.2.1]" or "[IPv6:2001:db8::1]".
type Address struct {
	Local  string
	Domain string
}

// String returns the canonical form local@domain, with the local part
// quoted only when it is not a valid Dot-string.
func (a Address) String() string {
	if a.Local == "" && a.Domain == "" {
		return ""
	}
	return quoteLocal(a.Local) + "@" + a.Domain
}

// IsLiteral reports whether the domain is an address literal ("[…]").
func (a Address) IsLiteral() bool { return strings.HasPrefix(a.Domain, "[") }

// parseError is a syntax error; it matches ErrBadAddress.
type parseError struct {
	what, input, why string
}

func (e *parseError) Error() string { return fmt.Sprintf("bad %s %q: %s", e.what, e.input, e.why) }
func (e *parseError) Unwrap() error { return ErrBadAddress }

// ParseAddress parses a mailbox address, local@domain (RFC 5321 §4.1.2
// Mailbox, with the UTF-8 extensions of RFC 6531). The local part is a
// Dot-string or a Quoted-string; a quoted local part is unquoted, so
// `"alice"@example.org` and `alice@example.org` are the same address. The
// domain is a host name (letters, digits, hyphens; UTF-8 labels and IDNA
// A-labels are accepted and canonicalised to lower-case U-labels) or an
// address literal. Angle brackets are not accepted: the transport strips
// them. Errors match ErrBadAddress.
func ParseAddress(s string) (Address, error) {
	bad := func(why string, args ...any) (Address, error) {
		return Address{}, &parseError{"address", s, fmt.Sprintf(why, args...)}
	}
	switch {
	case s == "":
		return bad("empty address")
	case !utf8.ValidString(s):
		return bad("not valid UTF-8")
	case strings.HasPrefix(s, "<") || strings.HasSuffix(s, ">"):
		return bad("angle brackets are not part of an address")
	}
	var local, rest string
	if s[0] == '"' {
		var b strings.Builder
		i := 1
		closed := false
	scan:
		for i < len(s) {
			c := s[i]
			switch {
			case c == '"':
				closed = true
				i++
				break scan
			case c == '\\':
				if i+1 >= len(s) {
					break scan
				}
				n := s[i+1]
				if n < 0x20 || n > 0x7e {
					return bad("invalid character after backslash in quoted local part")
				}
				b.WriteByte(n)
				i += 2
			case c < 0x20 || c == 0x7f:
				return bad("control character in local part")
			case c < 0x80:
				b.WriteByte(c)
				i++
			default:
				r, size := utf8.DecodeRuneInString(s[i:])
				if !unicode.IsGraphic(r) {
					return bad("character %U not allowed in local part", r)
				}
				b.WriteString(s[i : i+size])
				i += size
			}
		}
		if !closed {
			return bad("unbalanced quote in local part")
		}
		if i >= len(s) || s[i] != '@' {
			if i >= len(s) {
				return bad("missing @domain")
			}
			return bad("unexpected %q after quoted local part", s[i:i+1])
		}
		local, rest = b.String(), s[i+1:]
		if local == "" {
			return bad("empty local part")
		}
	} else {
		at := strings.IndexByte(s, '@')
		if at < 0 {
			return bad("missing @ (want local@domain)")
		}
		local, rest = s[:at], s[at+1:]
		if why := checkDotString(local); why != "" {
			return bad("%s", why)
		}
	}
	if len(quoteLocal(local)) > MaxLocalLen {
		return bad("local part longer than %d octets", MaxLocalLen)
	}
	if rest == "" {
		return bad("empty domain")
	}
	if strings.Contains(rest, "@") {
		return bad("more than one @ (quote the local part if it contains @)")
	}
	var domain string
	if strings.HasPrefix(rest, "[") {
		d, why := parseLiteral(rest)
		if why != "" {
			return bad("%s", why)
		}
		domain = d
	} else {
		d, why := parseHostname(rest)
		if why != "" {
			return bad("%s", why)
		}
		domain = d
	}
	a := Address{Local: local, Domain: domain}
	if len(a.String()) > MaxAddressLen {
		return bad("address longer than %d octets", MaxAddressLen)
	}
	return a, nil
}

// ParseDomain parses a host name (not an address literal) and returns its
// canonical form: lower case, A-labels ("xn--…") decoded to NFC U-labels.
// Errors match ErrBadAddress.
func ParseDomain(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", &parseError{"domain", s, "not valid UTF-8"}
	}
	d, why := parseHostname(s)
	if why != "" {
		return "", &parseError{"domain", s, why}
	}
	return d, nil
}

// DomainToASCII returns the ASCII (A-label) form of a canonical domain, for
// use where UTF-8 is not allowed (peers without SMTPUTF8, DNS).
func DomainToASCII(domain string) (string, error) {
	if strings.HasPrefix(domain, "[") {
		return domain, nil
	}
	labels := strings.Split(domain, ".")
	for i, l := range labels {
		if isASCII(l) {
			continue
		}
		enc, err := punyEncode(l)
		if err != nil {
			return "", &parseError{"domain", domain, err.Error()}
		}
		labels[i] = "xn--" + enc
	}
	return strings.Join(labels, "."), nil
}

// atext (RFC 5322 §3.2.3), plus any non-ASCII graphic character (RFC 6531
// UTF8-non-ascii).
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r < 0x80:
		return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
	}
	return unicode.IsGraphic(r) && !unicode.IsSpace(r)
}

// checkDotString returns why s is not a valid Dot-string, or "".
func checkDotString(s string) string {
	if s == "" {
		return "empty local part"
	}
	if s[0] == '.' {
		return "local part starts with a dot"
	}
	if s[len(s)-1] == '.' {
		return "local part ends with a dot"
	}
	if strings.Contains(s, "..") {
		return `".." in local part (quote the local part to allow it)`
	}
	for _, r := range s {
		switch {
		case r == '.' || isAtext(r):
		case r < 0x20 || r == 0x7f || unicode.IsControl(r):
			return "control character in local part"
		case r == ' ' || unicode.IsSpace(r):
			return "space in local part"
		case r == '"':
			return "unbalanced quote in local part"
		default:
			return fmt.Sprintf("character %q not allowed in an unquoted local part", r)
		}
	}
	return ""
}

// quoteLocal returns local as it appears in an address: unchanged when it is
// a Dot-string, otherwise as a Quoted-string.
func quoteLocal(local string) string {
	if checkDotString(local) == "" {
		return local
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}

// parseLiteral parses "[192.0.2.1]" or "[IPv6:2001:db8::1]".
func parseLiteral(s string) (string, string) {
	if !strings.HasSuffix(s, "]") {
		return "", `address literal without closing "]"`
	}
	inner := s[1 : len(s)-1]
	if len(inner) >= 5 && strings.EqualFold(inner[:5], "IPv6:") {
		ip, err := netip.ParseAddr(inner[5:])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", "invalid IPv6 address literal"
		}
		return "[IPv6:" + ip.String() + "]", ""
	}
	if strings.Contains(inner, ":") {
		return "", "unsupported address literal (want [IPv4] or [IPv6:…])"
	}
	ip, err := netip.ParseAddr(inner)
	if err != nil || !ip.Is4() {
		return "", "invalid IPv4 address literal"
	}
	return "[" + ip.String() + "]", ""
}

// dotReplacer maps the IDNA full-stop variants (UTS #46) to ".".
var dotReplacer = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".")

// parseHostname validates and canonicalises a host name; it returns the
// canonical name or why it is invalid.
func parseHostname(s string) (string, string) {
	d := dotReplacer.Replace(s)
	if d == "" {
		return "", "empty domain"
	}
	if strings.HasSuffix(d, ".") {
		return "", "domain ends with a dot"
	}
	labels := strings.Split(d, ".")
	asciiLen := len(labels) - 1
	for i, l := range labels {
		c, alen, why := parseLabel(l)
		if why != "" {
			return "", why
		}
		labels[i] = c
		asciiLen += alen
	}
	d = strings.Join(labels, ".")
	if len(d) > MaxDomainLen || asciiLen > MaxDomainLen {
		return "", fmt.Sprintf("domain longer than %d octets", MaxDomainLen)
	}
	return d, ""
}

// parseLabel canonicalises one label and returns it with the length of its
// ASCII form, or why it is invalid.
func parseLabel(l string) (string, int, string) {
	if l == "" {
		return "", 0, "empty label in domain (\"..\" or a leading dot)"
	}
	if isASCII(l) {
		l = strings.ToLower(l)
		if !strings.HasPrefix(l, "xn--") {
			if why := checkLDH(l); why != "" {
				return "", 0, why
			}
			return l, len(l), ""
		}
		// An A-label: decode, then check it is the canonical encoding of a
		// valid U-label.
		u, err := punyDecode(l[4:])
		if err != nil || u == "" || isASCII(u) {
			return "", 0, fmt.Sprintf("invalid IDNA label %q", l)
		}
		c, alen, why := parseULabel(u)
		if why != "" {
			return "", 0, fmt.Sprintf("invalid IDNA label %q: %s", l, why)
		}
		if enc, _ := punyEncode(c); "xn--"+enc != l {
			return "", 0, fmt.Sprintf("invalid IDNA label %q: not in canonical form", l)
		}
		return c, alen, ""
	}
	return parseULabel(l)
}

// parseULabel canonicalises a label holding non-ASCII characters: NFC, lower
// case, letters, digits, marks and hyphens only.
func parseULabel(l string) (string, int, string) {
	l = norm.NFC.String(strings.ToLower(norm.NFC.String(l)))
	for i, r := range l {
		switch {
		case r < 0x80:
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return "", 0, fmt.Sprintf("character %q not allowed in a domain", r)
			}
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case unicode.IsMark(r):
			if i == 0 {
				return "", 0, "domain label starts with a combining mark"
			}
		default:
			return "", 0, fmt.Sprintf("character %q not allowed in a domain", r)
		}
	}
	if strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
		return "", 0, "domain label starts or ends with a hyphen"
	}
	if len(l) >= 4 && l[2:4] == "--" {
		return "", 0, "domain label has \"--\" in the third and fourth positions"
	}
	if isASCII(l) {
		return l, len(l), ""
	}
	enc, err := punyEncode(l)
	if err != nil {
		return "", 0, "label cannot be encoded"
	}
	if 4+len(enc) > maxLabelLen {
		return "", 0, fmt.Sprintf("domain label longer than %d octets", maxLabelLen)
	}
	return l, 4 + len(enc), ""
}

// checkLDH checks a lower-case ASCII label: letters, digits and hyphens, not
// starting or ending with a hyphen (RFC 5321 sub-domain).
func checkLDH(l string) string {
	if len(l) > maxLabelLen {
		return fmt.Sprintf("domain label longer than %d octets", maxLabelLen)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c == ' ':
			return "space in domain"
		case c < 0x20 || c == 0x7f:
			return "control character in domain"
		default:
			return fmt.Sprintf("character %q not allowed in a domain", c)
		}
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return "domain label starts or ends with a hyphen"
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// SplitDetail splits a local part into user and detail (RFC 5233
// subaddress) at the first occurrence of any character of delimiters:
// "alice+tag" gives "alice", "tag". Without a delimiter, or when the user
// part would be empty ("+tag"), it returns local, "". A present but empty
// detail ("alice+") gives "alice", ""; compare user with local to tell a
// split happened.
func SplitDetail(local, delimiters string) (user, detail string) {
	if delimiters == "" {
		return local, ""
	}
	i := strings.IndexAny(local, delimiters)
	if i <= 0 {
		return local, ""
	}
	_, size := utf8.DecodeRuneInString(local[i:])
	return local[:i], local[i+size:]
}
