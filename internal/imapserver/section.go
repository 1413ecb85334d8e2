package imapserver

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"

	"mailroom/internal/message"
)

// Section specifiers (RFC 9051 §6.4.5).
const (
	specAll             = ""
	specHeader          = "HEADER"
	specHeaderFields    = "HEADER.FIELDS"
	specHeaderFieldsNot = "HEADER.FIELDS.NOT"
	specText            = "TEXT"
	specMIME            = "MIME"
)

// maxSectionPath bounds the numeric part of a section ("1.2.3…"); deeper
// paths cannot match a part of any stored structure (message.MaxDepth).
const maxSectionPath = 2*message.MaxDepth + 2

// bodySection is a parsed section of BODY[...] or BINARY[...].
type bodySection struct {
	path   []int    // part numbers, empty for the whole message
	spec   string   // one of the spec constants
	fields []string // HEADER.FIELDS (.NOT) names, as the client sent them
}

// readSection reads "[" section "]" (binary: section-binary, RFC 3516
// §4.1, where only part numbers are allowed). RFC 9051 §9:
//
//	section         = "[" [section-spec] "]"
//	section-spec    = section-msgtext / (section-part ["." section-text])
//	section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
//	section-text    = section-msgtext / "MIME"
func (s *session) readSection(binary bool) (*bodySection, error) {
	if !s.dec.ExpectSpecial('[') {
		return nil, s.syntax()
	}
	sec := &bodySection{}
	if s.dec.Special(']') {
		return sec, nil
	}
	tok, ok := s.dec.Token("a section", func(b byte) bool {
		return b == '.' || isDigitByte(b) || (b|0x20 >= 'a' && b|0x20 <= 'z')
	})
	if !ok {
		return nil, s.syntax()
	}
	rest := tok
	for rest != "" && isDigitByte(rest[0]) {
		i := strings.IndexByte(rest, '.')
		num := rest
		if i >= 0 {
			num, rest = rest[:i], rest[i+1:]
			if rest == "" {
				return nil, syntaxErr("section ends with a dot")
			}
		} else {
			rest = ""
		}
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || n == 0 {
			return nil, syntaxErr("invalid section part number " + sanitize(num))
		}
		if len(sec.path) >= maxSectionPath {
			return nil, syntaxErr("section path too deep")
		}
		sec.path = append(sec.path, int(n))
	}
	spec := strings.ToUpper(rest)
	switch spec {
	case specAll:
	case specHeader, specText:
	case specHeaderFields, specHeaderFieldsNot:
		if !s.dec.SP() {
			return nil, s.syntax()
		}
		ok := s.dec.List(func() bool {
			f, ok := s.dec.AString()
			if ok {
				sec.fields = append(sec.fields, f)
			}
			return ok
		})
		if !ok {
			return nil, s.syntax()
		}
		if len(sec.fields) == 0 {
			return nil, syntaxErr("empty header list")
		}
	case specMIME:
		if len(sec.path) == 0 {
			return nil, syntaxErr("MIME needs a part number")
		}
	default:
		return nil, syntaxErr("unknown section " + sanitize(rest))
	}
	if binary && spec != specAll {
		return nil, syntaxErr("BINARY takes part numbers only (RFC 3516)")
	}
	sec.spec = spec
	if !s.dec.ExpectSpecial(']') {
		return nil, s.syntax()
	}
	return sec, nil
}

func isDigitByte(b byte) bool { return b >= '0' && b <= '9' }

// readPartial reads an optional "<" number64 "." nz-number64 ">" (RFC 9051
// §9 partial). count is -1 when there is none.
func (s *session) readPartial() (origin, count int64, err error) {
	if !s.dec.Special('<') {
		return 0, -1, nil
	}
	o, ok := s.dec.Number64()
	if !ok || !s.dec.ExpectSpecial('.') {
		return 0, 0, s.syntax()
	}
	c, ok := s.dec.Number64()
	if !ok || !s.dec.ExpectSpecial('>') {
		return 0, 0, s.syntax()
	}
	if c == 0 {
		return 0, 0, syntaxErr("partial count must not be zero")
	}
	return int64(o), int64(c), nil
}

// writeSection writes the section as the response echoes it: "[1.HEADER]".
func (s *session) writeSection(sec *bodySection) {
	s.enc.Special('[')
	for i, n := range sec.path {
		if i > 0 {
			s.enc.Special('.')
		}
		s.enc.Number(uint32(n))
	}
	if sec.spec != specAll {
		if len(sec.path) > 0 {
			s.enc.Special('.')
		}
		s.enc.Atom(sec.spec)
	}
	if len(sec.fields) > 0 {
		s.enc.Raw(" (")
		for i, f := range sec.fields {
			if i > 0 {
				s.enc.SP()
			}
			s.enc.AString(f)
		}
		s.enc.Special(')')
	}
	s.enc.Special(']')
}

// sectionRange is where a section's bytes are in the message file.
type sectionRange struct {
	start, size int64
	// filter: the bytes are a header block to subset by sec.fields.
	filter bool
	// missing: the section names no part of this message; it is answered
	// with an empty string (RFC 3501 §6.4.5 leaves it open; empty is what
	// UW IMAP and Dovecot answer).
	missing bool
}

// locate maps a BODY section onto st (RFC 9051 §6.4.5): part 1 of a
// non-multipart message is its body; HEADER, HEADER.FIELDS and TEXT after
// part numbers apply to a message/rfc822 part only, and mean the header and
// text of the message inside it.
func (sec *bodySection) locate(st *message.Structure) sectionRange {
	p := &st.Root
	if len(sec.path) > 0 {
		var ok bool
		if p, ok = st.Part(sec.path); !ok {
			return sectionRange{missing: true}
		}
	}
	switch sec.spec {
	case specAll:
		if len(sec.path) == 0 {
			return sectionRange{start: 0, size: st.Size}
		}
		return sectionRange{start: p.BodyStart, size: p.BodySize}
	case specMIME:
		return sectionRange{start: p.Start, size: p.HeaderSize}
	}
	if len(sec.path) > 0 {
		if p.Message == nil {
			return sectionRange{missing: true}
		}
		p = &p.Message.Root
	}
	switch sec.spec {
	case specText:
		return sectionRange{start: p.BodyStart, size: p.BodySize}
	case specHeader:
		return sectionRange{start: p.Start, size: p.HeaderSize}
	}
	return sectionRange{start: p.Start, size: p.HeaderSize, filter: true}
}

// binaryPart finds the part of a BINARY[...] or BINARY.SIZE[...] section
// (RFC 3516 §4.1); nil for the whole message or a missing part.
func (sec *bodySection) binaryPart(st *message.Structure) (p *message.Part, missing bool) {
	if len(sec.path) == 0 {
		return nil, false
	}
	p, ok := st.Part(sec.path)
	if !ok {
		return nil, true
	}
	return p, false
}

// knownEncoding reports whether BINARY can undo a Content-Transfer-Encoding
// (RFC 3516 §4.3: anything else is NO [UNKNOWN-CTE]).
func knownEncoding(enc string) bool {
	switch strings.ToLower(enc) {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return true
	}
	return false
}

// partEncoding is the transfer encoding BINARY undoes for p: none for
// multiparts and embedded messages, whose bodies are not encoded as a whole
// (RFC 2045 §6.4).
func partEncoding(p *message.Part) string {
	if p == nil || p.IsMultipart() || p.IsMessage() || p.Type == "multipart" || p.Type == "message" {
		return "7bit"
	}
	return p.Encoding
}

// headerFilter reads the fields of a header block whose names are (not,
// with not set) in names, case-insensitively, followed by the blank line
// that ends the block, if it has one (RFC 9051 §6.4.5 HEADER.FIELDS).
// Continuation lines go with their field; lines that are no field at all
// are kept by HEADER.FIELDS.NOT only. It streams: memory is one buffer
// whatever the size of the header.
type headerFilter struct {
	br        *bufio.Reader
	names     []string
	not       bool
	lineStart bool
	keep      bool
	out       []byte // the part of the current fragment still to return
	err       error
}

func newHeaderFilter(r io.Reader, names []string, not bool) *headerFilter {
	// Lines before the first field belong to no field: kept by .NOT only.
	return &headerFilter{br: bufio.NewReaderSize(r, 4096), names: names, not: not, lineStart: true, keep: not}
}

func (f *headerFilter) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		frag, err := f.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			f.err = err
		}
		if len(frag) == 0 {
			continue
		}
		if f.lineStart {
			switch {
			case isBlank(frag):
				// The blank line ends the header: it is kept, and
				// nothing after it is read.
				f.keep = true
				f.err = io.EOF
			case frag[0] == ' ' || frag[0] == '\t':
				// A continuation line: kept with its field.
			default:
				name, isField := fieldName(frag)
				f.keep = f.not
				if isField {
					f.keep = hasFieldName(f.names, name) != f.not
				}
			}
		}
		f.lineStart = frag[len(frag)-1] == '\n'
		if f.keep {
			f.out = frag
		}
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// fieldName returns the name of the header field starting on line (RFC
// 5322 §2.2: up to the colon, white space before it ignored).
func fieldName(line []byte) (string, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return "", false
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			return "", false
		}
	}
	return string(name), true
}

// hasFieldName reports whether name is in names, ASCII case-insensitively
// ("ASCII-range case-insensitive but otherwise exact", RFC 9051 §6.4.5).
func hasFieldName(names []string, name string) bool {
	for _, n := range names {
		if asciiEqualFold(n, name) {
			return true
		}
	}
	return false
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
