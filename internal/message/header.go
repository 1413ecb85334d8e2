package message

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// headerText turns the bytes of an unfolded header value into a string:
// UTF-8 when valid (a character cut by the MaxHeaderValue limit is dropped),
// Latin-1 otherwise; NUL, CR and LF become spaces (none may appear in an IMAP
// string); leading and trailing white space is removed.
func headerText(b []byte) string {
	if !utf8.Valid(b) {
		// A cut multi-byte character at the end is not a reason to read
		// the whole value as Latin-1.
		i := len(b) - 1
		for i > 0 && len(b)-i < utf8.UTFMax && !utf8.RuneStart(b[i]) {
			i--
		}
		if i >= 0 && !utf8.FullRune(b[i:]) && utf8.Valid(b[:i]) {
			b = b[:i]
		}
	}
	return strings.Trim(imapSafe(utf8OrLatin1(b)), " \t")
}

// imapSafe replaces NUL, CR and LF, which no IMAP string may hold, with
// spaces.
func imapSafe(s string) string {
	if !strings.ContainsAny(s, "\x00\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == 0 || r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// isTSpecial reports the RFC 2045 tspecials, plus white space and controls:
// the bytes that end a token.
func isTSpecial(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return true
	}
	return strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0
}

// skipCFWS skips white space and (nested) comments from s[i].
func skipCFWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '(':
			i = skipComment(s, i)
		default:
			return i
		}
	}
	return i
}

// skipComment skips the comment starting at s[i] == '('.
func skipComment(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// token reads an RFC 2045 token at s[i], leniently: it runs to the next
// tspecial (8-bit bytes included, to be rejected by the caller if needed).
func token(s string, i int, stop string) (string, int) {
	j := i
	for j < len(s) {
		c := s[j]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || strings.IndexByte(stop, c) >= 0 {
			break
		}
		j++
	}
	return s[i:j], j
}

func validToken(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		if isTSpecial(t[i]) {
			return false
		}
	}
	return true
}

const maxTypeLen = 127

// parseContentType parses a Content-Type value (RFC 2045 §5.1). ok is false
// when the type or subtype is missing or not a token.
func parseContentType(v string) (typ, sub string, params [][2]string, ok bool) {
	i := skipCFWS(v, 0)
	typ, i = token(v, i, "/;")
	i = skipCFWS(v, i)
	if i >= len(v) || v[i] != '/' {
		return "", "", nil, false
	}
	i = skipCFWS(v, i+1)
	sub, i = token(v, i, ";")
	if !validToken(typ) || !validToken(sub) || len(typ) > maxTypeLen || len(sub) > maxTypeLen {
		return "", "", nil, false
	}
	return strings.ToLower(typ), strings.ToLower(sub), parseParams(v[i:]), true
}

// parseDisposition parses a Content-Disposition value (RFC 2183).
func parseDisposition(v string) (disp string, params [][2]string) {
	i := skipCFWS(v, 0)
	t, j := token(v, i, ";=")
	if j < len(v) && v[j] == '=' {
		// No disposition type, straight to parameters.
		return "", parseParams(v[i:])
	}
	if validToken(t) && len(t) <= maxTypeLen {
		disp = strings.ToLower(t)
	}
	return disp, parseParams(v[j:])
}

// parseEncoding returns the Content-Transfer-Encoding token in lower case,
// "7bit" when there is none.
func parseEncoding(v string) string {
	t, _ := token(v, skipCFWS(v, 0), ";")
	if !validToken(t) || len(t) > maxTypeLen {
		return "7bit"
	}
	return strings.ToLower(t)
}

const maxLanguages = 32

// parseLanguage splits a Content-Language value (RFC 3282) into its tags.
func parseLanguage(v string) []string {
	var out []string
	i := 0
	for i < len(v) && len(out) < maxLanguages {
		i = skipCFWS(v, i)
		t, j := token(v, i, ",")
		if t != "" && utf8.ValidString(t) {
			out = append(out, t)
		}
		i = skipCFWS(v, j)
		if i < len(v) {
			// Skip to past the next comma.
			if k := strings.IndexByte(v[i:], ','); k >= 0 {
				i += k + 1
			} else {
				break
			}
		}
	}
	return out
}

const (
	maxParams   = 64
	maxSections = 64
)

type rawParam struct {
	name    string // lower case, without the RFC 2231 suffix
	section int    // RFC 2231 section, -1 for none
	ext     bool   // RFC 2231 extended (charset'lang'pct-encoded)
	star    bool   // any RFC 2231 form
	value   string
}

// parseParams parses the parameter list after a media type or disposition
// type (RFC 2045 §5.1), leniently: junk between parameters is skipped, a
// missing ';' is tolerated, an unterminated quoted string runs to the end;
// then joins RFC 2231 continuations and decodes RFC 2231 charsets. Names are
// lower-cased; for a name given both plainly and in RFC 2231 form, the RFC
// 2231 value wins; otherwise the first value wins.
func parseParams(v string) [][2]string {
	var raw []rawParam
	i := 0
	for i < len(v) && len(raw) < maxParams*4 {
		c := v[i]
		if c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			i++
			continue
		}
		if c == '(' {
			i = skipComment(v, i)
			continue
		}
		name, j := token(v, i, ";=\"")
		if name == "" {
			i++ // a stray special
			continue
		}
		j = skipCFWS(v, j)
		if j >= len(v) || v[j] != '=' {
			// A name without value: skip to the next parameter.
			i = j
			if k := strings.IndexByte(v[j:], ';'); k >= 0 {
				i = j + k
			} else {
				i = len(v)
			}
			continue
		}
		j = skipCFWS(v, j+1)
		var value string
		if j < len(v) && v[j] == '"' {
			value, j = quoted(v, j)
		} else {
			value, j = token(v, j, ";")
		}
		i = j
		if !validParamName(name) {
			continue
		}
		p := rawParam{name: strings.ToLower(name), section: -1, value: value}
		if k := strings.IndexByte(p.name, '*'); k >= 0 {
			base, suffix := p.name[:k], p.name[k+1:]
			p.star = true
			switch {
			case suffix == "":
				p.ext = true
			default:
				num, ext := suffix, false
				if strings.HasSuffix(num, "*") {
					num, ext = num[:len(num)-1], true
				}
				n, err := strconv.Atoi(num)
				if err != nil || n < 0 || n >= maxSections || (len(num) > 1 && num[0] == '0') {
					p.star = false // not RFC 2231 after all; keep the name as is
					break
				}
				p.section, p.ext = n, ext
			}
			if p.star {
				p.name = base
			}
		}
		if p.name == "" {
			continue
		}
		raw = append(raw, p)
	}
	return joinParams(raw)
}

func validParamName(n string) bool {
	if len(n) > 128 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] >= 0x7f || n[i] <= ' ' {
			return false
		}
	}
	return true
}

// quoted reads the quoted string at s[i] == '"' and returns its content
// with the backslash escapes undone.
func quoted(s string, i int) (string, int) {
	var sb strings.Builder
	i++
	start := i
	simple := true
	for i < len(s) {
		c := s[i]
		if c == '"' {
			if simple {
				return s[start:i], i + 1
			}
			return sb.String(), i + 1
		}
		if c == '\\' && i+1 < len(s) {
			if simple {
				sb.WriteString(s[start:i])
				simple = false
			}
			sb.WriteByte(s[i+1])
			i += 2
			continue
		}
		if !simple {
			sb.WriteByte(c)
		}
		i++
	}
	if simple {
		return s[start:], len(s)
	}
	return sb.String(), len(s)
}

func joinParams(raw []rawParam) [][2]string {
	if len(raw) == 0 {
		return nil
	}
	var out [][2]string
	done := map[string]bool{}
	for _, p := range raw {
		if done[p.name] || len(out) >= maxParams {
			continue
		}
		done[p.name] = true
		// Is there an RFC 2231 form of this name?
		var secs []rawParam
		var single *rawParam
		for k := range raw {
			q := &raw[k]
			if q.name != p.name || !q.star {
				continue
			}
			if q.section < 0 {
				if single == nil {
					single = q
				}
			} else {
				secs = append(secs, *q)
			}
		}
		var value string
		switch {
		case len(secs) > 0 && hasSection0(secs):
			value = join2231(secs)
		case single != nil:
			if single.ext {
				cs, b := split2231(single.value)
				value = toUTF8(cs, b)
			} else {
				value = single.value
			}
		default:
			value = p.value
			for _, q := range raw { // the first plain value
				if q.name == p.name && !q.star {
					value = q.value
					break
				}
			}
		}
		out = append(out, [2]string{p.name, imapSafe(value)})
	}
	return out
}

func hasSection0(secs []rawParam) bool {
	for _, s := range secs {
		if s.section == 0 {
			return true
		}
	}
	return false
}

// join2231 joins RFC 2231 §3 continuations 0, 1, ... (up to the first one
// missing) and converts the result from the charset of section 0.
func join2231(secs []rawParam) string {
	var cs string
	var b []byte
	for n := 0; n < maxSections; n++ {
		found := false
		for _, s := range secs {
			if s.section != n {
				continue
			}
			found = true
			switch {
			case s.ext && n == 0:
				var d []byte
				cs, d = split2231(s.value)
				b = append(b, d...)
			case s.ext:
				b = append(b, pctDecode(s.value)...)
			default:
				b = append(b, s.value...)
			}
			break
		}
		if !found {
			break
		}
	}
	return toUTF8(cs, b)
}

// split2231 splits charset'language'pct-encoded (RFC 2231 §4) and decodes
// the value. Without the two quotes the whole is the value.
func split2231(v string) (cs string, b []byte) {
	if i := strings.IndexByte(v, '\''); i >= 0 {
		if j := strings.IndexByte(v[i+1:], '\''); j >= 0 {
			return v[:i], pctDecode(v[i+1+j+1:])
		}
	}
	return "", pctDecode(v)
}

func pctDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if hi, ok := unhex(s[i+1]); ok {
				if lo, ok := unhex(s[i+2]); ok {
					b = append(b, hi<<4|lo)
					i += 2
					continue
				}
			}
		}
		b = append(b, s[i])
	}
	return b
}
