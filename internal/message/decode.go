package message

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// Transfer encodings (RFC 2045 §6). Only base64 and quoted-printable change
// the bytes; 7bit, 8bit, binary and unknown encodings are taken as they are.
const (
	xferIdentity = iota
	xferBase64
	xferQP
)

func xferKind(enc string) int {
	switch {
	case strings.EqualFold(enc, "base64"):
		return xferBase64
	case strings.EqualFold(enc, "quoted-printable"):
		return xferQP
	}
	return xferIdentity
}

// IdentityEncoding reports whether the Content-Transfer-Encoding enc leaves
// the bytes as they are (anything but base64 and quoted-printable).
func IdentityEncoding(enc string) bool { return xferKind(enc) == xferIdentity }

// DecodeReader returns a reader of the bytes of r with the transfer encoding
// enc (a Part.Encoding) undone. It is lenient the way Parse is when it computes
// Part.DecodedSize, and the two always agree:
//   - base64: characters outside the base64 alphabet are skipped; '=' ends
//     the current group of four (a partial group of 2 or 3 characters gives
//     1 or 2 bytes, as does one left at the end).
//   - quoted-printable (RFC 2045 §6.7): "=XX" (either case of hex) is the
//     byte; '=' before the end of a line (maybe after white space) is a soft
//     line break; white space at the end of a line is dropped; any other '='
//     is kept as it is. Line breaks are kept as they are (CRLF or LF).
//
// For any other encoding r itself is returned.
func DecodeReader(enc string, r io.Reader) io.Reader {
	k := xferKind(enc)
	if k == xferIdentity {
		return r
	}
	return &decodeReader{r: r, d: xferDecoder{kind: k}, in: make([]byte, 16<<10)}
}

type decodeReader struct {
	r   io.Reader
	d   xferDecoder
	in  []byte
	out []byte
	off int
	err error
}

func (dr *decodeReader) Read(p []byte) (int, error) {
	for dr.off >= len(dr.out) {
		if dr.err != nil {
			return 0, dr.err
		}
		dr.out, dr.off = dr.out[:0], 0
		n, err := dr.r.Read(dr.in)
		dr.out = dr.d.decode(dr.out, dr.in[:n])
		if err != nil {
			if err == io.EOF {
				dr.out = dr.d.flush(dr.out)
			}
			dr.err = err
		}
	}
	n := copy(p, dr.out[dr.off:])
	dr.off += n
	return n, nil
}

// decodeBytes undoes the transfer encoding of a whole body.
func decodeBytes(enc string, b []byte) []byte {
	d := xferDecoder{kind: xferKind(enc)}
	out := d.decode(nil, b)
	return d.flush(out)
}

// xferDecoder undoes a transfer encoding incrementally: the result does not
// depend on how the input is split between calls to decode.
type xferDecoder struct {
	kind int
	// base64
	q  [4]byte
	nq int
	// quoted-printable
	st   int
	hi   byte
	ws   []byte // white space seen, kept unless the line ends
	eqws []byte // white space after '='
}

// maxQPSpace bounds the white space a quoted-printable decoder holds back;
// a longer run is passed on as content.
const maxQPSpace = 1024

const (
	qpNormal = iota
	qpCR     // after CR
	qpEq     // after '='
	qpEqHex  // after '=' and one hex digit (hi)
	qpEqWS   // after '=' and white space (eqws)
	qpEqCR   // after '=', maybe white space, and CR
)

var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alpha); i++ {
		t[alpha[i]] = byte(i)
	}
	return t
}()

// qpPlain marks the bytes that quoted-printable decoding copies as they are
// in any state but after '='.
var qpPlain = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	for _, c := range []byte{' ', '\t', '\r', '\n', '='} {
		t[c] = false
	}
	return t
}()

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func (d *xferDecoder) decode(dst, src []byte) []byte {
	switch d.kind {
	case xferBase64:
		return d.base64(dst, src)
	case xferQP:
		return d.qp(dst, src)
	}
	return append(dst, src...)
}

func (d *xferDecoder) base64(dst, src []byte) []byte {
	for _, c := range src {
		v := b64[c]
		if v == 0xff {
			if c == '=' {
				dst = d.b64partial(dst)
			}
			continue
		}
		d.q[d.nq] = v
		d.nq++
		if d.nq == 4 {
			dst = append(dst, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2, d.q[2]<<6|d.q[3])
			d.nq = 0
		}
	}
	return dst
}

func (d *xferDecoder) b64partial(dst []byte) []byte {
	switch d.nq {
	case 2:
		dst = append(dst, d.q[0]<<2|d.q[1]>>4)
	case 3:
		dst = append(dst, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2)
	}
	d.nq = 0
	return dst
}

func (d *xferDecoder) qp(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch d.st {
		case qpNormal:
			if qpPlain[c] {
				// Copy the run of ordinary bytes at once.
				j := i + 1
				for j < len(src) && qpPlain[src[j]] {
					j++
				}
				if len(d.ws) > 0 {
					dst = append(dst, d.ws...)
					d.ws = d.ws[:0]
				}
				dst = append(dst, src[i:j]...)
				i = j - 1
				continue
			}
			switch c {
			case ' ', '\t':
				if len(d.ws) >= maxQPSpace {
					dst = append(dst, d.ws...)
					d.ws = d.ws[:0]
				}
				d.ws = append(d.ws, c)
			case '\r':
				d.st = qpCR
			case '\n':
				d.ws = d.ws[:0]
				dst = append(dst, '\n')
			case '=':
				dst = append(dst, d.ws...)
				d.ws = d.ws[:0]
				d.st = qpEq
			default:
				if len(d.ws) > 0 {
					dst = append(dst, d.ws...)
					d.ws = d.ws[:0]
				}
				dst = append(dst, c)
			}
		case qpCR:
			d.st = qpNormal
			if c == '\n' {
				d.ws = d.ws[:0]
				dst = append(dst, '\r', '\n')
				continue
			}
			// A CR alone is content.
			dst = append(dst, d.ws...)
			d.ws = d.ws[:0]
			dst = append(dst, '\r')
			i--
		case qpEq:
			switch {
			case c == ' ' || c == '\t':
				d.eqws = append(d.eqws[:0], c)
				d.st = qpEqWS
			case c == '\r':
				d.eqws = d.eqws[:0]
				d.st = qpEqCR
			case c == '\n':
				d.st = qpNormal // soft line break
			default:
				if _, ok := unhex(c); ok {
					d.hi = c
					d.st = qpEqHex
					continue
				}
				dst = append(dst, '=')
				d.st = qpNormal
				i--
			}
		case qpEqHex:
			d.st = qpNormal
			if lo, ok := unhex(c); ok {
				hi, _ := unhex(d.hi)
				dst = append(dst, hi<<4|lo)
				continue
			}
			dst = append(dst, '=', d.hi)
			i--
		case qpEqWS:
			switch c {
			case ' ', '\t':
				if len(d.eqws) < maxQPSpace {
					d.eqws = append(d.eqws, c)
					continue
				}
			case '\r':
				d.st = qpEqCR
				continue
			case '\n':
				d.st = qpNormal // soft line break
				continue
			}
			// Not a soft line break: '=' is content, the white space
			// after it pending as usual.
			dst = append(dst, '=')
			d.ws = append(d.ws[:0], d.eqws...)
			d.st = qpNormal
			i--
		case qpEqCR:
			d.st = qpNormal
			if c == '\n' {
				continue // soft line break
			}
			dst = append(dst, '=')
			dst = append(dst, d.eqws...)
			dst = append(dst, '\r')
			i--
		}
	}
	return dst
}

// flush ends the input: what is held back is given out or dropped.
func (d *xferDecoder) flush(dst []byte) []byte {
	switch d.kind {
	case xferBase64:
		dst = d.b64partial(dst)
	case xferQP:
		switch d.st {
		case qpCR:
			dst = append(dst, d.ws...)
			dst = append(dst, '\r')
		case qpEqHex:
			dst = append(dst, '=', d.hi)
		}
		// qpNormal: trailing white space is dropped; qpEq, qpEqWS, qpEqCR
		// end in a soft line break.
		d.st = qpNormal
		d.ws = d.ws[:0]
		d.eqws = d.eqws[:0]
	}
	return dst
}

// toUTF8 converts b from the named charset to UTF-8. Unknown or failing
// charsets fall back to UTF-8 when b is valid UTF-8, else ISO-8859-1. The
// result is always valid UTF-8.
func toUTF8(cs string, b []byte) string {
	cs = strings.ToLower(strings.TrimSpace(cs))
	if i := strings.IndexByte(cs, '*'); i >= 0 { // RFC 2231 §5 language
		cs = cs[:i]
	}
	switch cs {
	case "utf-8", "utf8":
		return strings.ToValidUTF8(string(b), "\uFFFD")
	case "", "us-ascii", "ascii", "iso-8859-1", "latin1", "unknown-8bit", "x-unknown", "default":
		// us-ascii with 8-bit bytes is common; take them as UTF-8 if they
		// are, else as Latin-1. ISO-8859-1 is Latin-1 exactly, but valid
		// UTF-8 declared as Latin-1 is almost always mislabelled UTF-8.
		return utf8OrLatin1(b)
	}
	if isASCII(b) && asciiCompatible(cs) {
		return string(b)
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		return utf8OrLatin1(b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return utf8OrLatin1(b)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// asciiCompatible reports whether ASCII text means the same in charset cs.
// It does in nearly all, but not in UTF-7, the ISO-2022 family (escape
// sequences are ASCII), HZ, and UTF-16/32.
func asciiCompatible(cs string) bool {
	for _, s := range []string{"7", "2022", "hz", "16", "32", "ucs", "unicode"} {
		if strings.Contains(cs, s) {
			return false
		}
	}
	return true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// utf8OrLatin1 returns b as a string if it is valid UTF-8, else b read as
// ISO-8859-1.
func utf8OrLatin1(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// DecodeHeader decodes the RFC 2047 encoded words in a header value and
// returns it as UTF-8, for search and display. It is lenient: white space
// between adjacent encoded words is dropped, adjacent words in the same
// charset are joined before conversion (so a character split between them
// survives), words with unknown charsets are decoded as UTF-8 or Latin-1,
// malformed words are kept as they are, and raw 8-bit text is taken as UTF-8
// when valid and as Latin-1 otherwise. The result is always valid UTF-8.
func DecodeHeader(s string) string {
	if !strings.Contains(s, "=?") {
		return utf8OrLatin1([]byte(s))
	}
	var out strings.Builder
	var run []byte   // decoded bytes of adjacent words in runCS
	var runCS string // charset of run
	var gap string   // white space after the last word, dropped if another follows
	flush := func() {
		if runCS != "" {
			out.WriteString(toUTF8(runCS, run))
			run, runCS = run[:0], ""
		}
	}
	inWords := false
	// Past the last "?=" no word can end: stopping there keeps this linear.
	lastEnd := strings.LastIndex(s, "?=") - len(s) // from the end of s
	for len(s) > 0 {
		i := strings.Index(s, "=?")
		if i < 0 || i+2 > len(s)+lastEnd {
			break
		}
		cs, data, n, ok := encodedWord(s[i:])
		if !ok {
			flush()
			out.WriteString(gap)
			gap = ""
			out.WriteString(utf8OrLatin1([]byte(s[:i+2])))
			s = s[i+2:]
			inWords = false
			continue
		}
		pre := s[:i]
		if inWords && strings.Trim(pre, " \t\r\n") == "" {
			// White space between two encoded words is dropped.
		} else {
			flush()
			out.WriteString(gap)
			out.WriteString(utf8OrLatin1([]byte(pre)))
		}
		gap = ""
		if !strings.EqualFold(cs, runCS) {
			flush()
			runCS = cs
		}
		run = append(run, data...)
		s = s[i+n:]
		inWords = true
		// Hold back the white space that follows: it goes if another
		// word comes next.
		j := 0
		for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n') {
			j++
		}
		gap, s = s[:j], s[j:]
	}
	flush()
	out.WriteString(gap)
	out.WriteString(utf8OrLatin1([]byte(s)))
	return out.String()
}

// encodedWord parses "=?charset?e?text?=" at the start of s and returns the
// charset, the decoded bytes and the length of the word.
func encodedWord(s string) (cs string, data []byte, n int, ok bool) {
	if !strings.HasPrefix(s, "=?") {
		return
	}
	rest := s[2:]
	q := strings.IndexByte(rest, '?')
	if q <= 0 || q > 64 || strings.ContainsAny(rest[:q], " \t\r\n()<>@,;:\"/[]=") {
		return
	}
	cs = rest[:q]
	rest = rest[q+1:]
	if len(rest) < 2 || rest[1] != '?' {
		return
	}
	enc := rest[0]
	if enc != 'b' && enc != 'B' && enc != 'q' && enc != 'Q' {
		return
	}
	rest = rest[2:]
	end := strings.Index(rest, "?=")
	if end < 0 {
		return
	}
	text := rest[:end]
	n = 2 + q + 1 + 2 + end + 2
	switch enc {
	case 'b', 'B':
		d := xferDecoder{kind: xferBase64}
		data = d.flush(d.decode(nil, []byte(text)))
	case 'q', 'Q':
		data = make([]byte, 0, len(text))
		for i := 0; i < len(text); i++ {
			c := text[i]
			switch c {
			case '_':
				data = append(data, ' ')
			case '=':
				if i+2 < len(text) {
					if hi, ok1 := unhex(text[i+1]); ok1 {
						if lo, ok2 := unhex(text[i+2]); ok2 {
							data = append(data, hi<<4|lo)
							i += 2
							continue
						}
					}
				}
				data = append(data, '=')
			default:
				data = append(data, c)
			}
		}
	default:
		return "", nil, 0, false
	}
	return cs, data, n, true
}
