// Package imapwire reads IMAP4 commands and writes IMAP4 responses
// (RFC 9051 §9 and RFC 3501 §9 formal syntax, with LITERAL+/LITERAL-
// (RFC 7888), BINARY literal8 (RFC 3516) and modified UTF-7 (RFC 3501
// §5.1.3)). It owns the byte-level syntax only: what a command means is
// the server's business.
//
// Invariants:
//   - Memory is bounded: the text of a command (its literals excluded) may
//     not exceed the decoder's MaxLine, a literal read into memory may not
//     exceed MaxLiteral nor, with the command's other such literals,
//     MaxCommandLiterals, and lists may not nest deeper than MaxDepth.
//     Larger literals are only ever streamed.
//   - Errors are sticky: after the first syntax error every method returns
//     false, and Err says why. DiscardLine then skips to the next command,
//     including the bytes of any non-synchronizing literal on the way (even
//     one whose header was cut by the error, or read and left unhandled),
//     so the connection stays in step with the client. It never consumes
//     the next command: after a command's final CRLF, or a refused
//     synchronizing literal, it has nothing to skip.
package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Limits.
const (
	// MaxLineLength bounds a command's text, literals excluded (the text
	// before and after each literal counts together). RFC 7162 §4
	// asks clients to keep lines under 8192 octets and servers to accept at
	// least that; large UID sets from resyncing clients need more.
	MaxLineLength = 64 << 10
	// MaxStringLiteral bounds a literal read into memory as a string (a
	// mailbox name, a search key); APPEND streams its literals instead.
	MaxStringLiteral = 64 << 10
	// MaxDepth bounds the nesting of parenthesised lists.
	MaxDepth = 64
	// MaxNonSyncLiteral is the largest non-synchronizing literal accepted
	// under LITERAL- (RFC 7888 §5).
	MaxNonSyncLiteral = 4096
	// MaxCommandLiterals bounds the sum of the literals of one command that
	// are read into memory (String, AString, NString), so that a command
	// cannot grow without end by chaining literals. It is raised to
	// MaxLiteral when that is larger.
	MaxCommandLiterals = 1 << 20
)

// Error is a syntax error in a command. Fatal errors leave the connection
// out of step with the client: the server must close it (after a BYE).
type Error struct {
	Msg   string
	Fatal bool
}

func (e *Error) Error() string { return e.Msg }

// ErrLineTooLong is returned (wrapped in *Error) when a line exceeds MaxLine.
var ErrLineTooLong = errors.New("command line too long")

// DecoderOptions tune a Decoder.
type DecoderOptions struct {
	MaxLine    int   // default MaxLineLength
	MaxLiteral int64 // largest literal String/AString read into memory; default MaxStringLiteral
	// Continue is called when the server accepts a synchronizing literal,
	// before its bytes are read: it writes a "+" continuation request and
	// flushes (RFC 9051 §7.5).
	Continue func() error
}

// Decoder reads commands from a client. It is not safe for concurrent use.
type Decoder struct {
	r     *bufio.Reader
	opts  DecoderOptions
	err   error
	line  int // bytes read in the current command, literals excluded
	depth int
	// litTotal counts the bytes of the command's literals read into memory.
	litTotal int64
	// ended: the current command is over (its final CRLF was read, or a
	// synchronizing literal was refused, so nothing more of it will come).
	// DiscardLine then has nothing to skip.
	ended bool
	// pending is a literal whose header was read and whose body was neither
	// read nor rejected; body is the literal being read.
	pending *Literal
	body    *literalReader
	scan    literalScan
}

// literalScan follows the bytes of a line to spot a "{n+}" right before
// its end: the client sends n bytes after it without waiting, and they are
// part of the same command. It sees every byte the decoder consumes, so a
// header split by an error (or by MaxLine) is still found.
type literalScan struct {
	state  uint8 // 0 nothing; 1 in "{digits"; 2 after "+"; 3 after "}"; 4 after "}\r"
	digits int
	n      int64 // saturates at math.MaxInt64
}

const maxInt64 = 1<<63 - 1

func (s *literalScan) feed(b byte) {
	switch {
	case b == '{':
		*s = literalScan{state: 1}
	case s.state == 1 && b >= '0' && b <= '9':
		s.digits++
		d := int64(b - '0')
		if s.n > (maxInt64-d)/10 {
			s.n = maxInt64
		} else {
			s.n = s.n*10 + d
		}
	case s.state == 1 && b == '+' && s.digits > 0:
		s.state = 2
	case s.state == 2 && b == '}':
		s.state = 3
	case s.state == 3 && b == '\r':
		s.state = 4
	default:
		s.state = 0
	}
}

// nonSync reports, at a line feed, whether the line ended with "{n+}".
func (s *literalScan) nonSync() (int64, bool) {
	return s.n, s.state == 3 || s.state == 4
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r *bufio.Reader, opts DecoderOptions) *Decoder {
	if opts.MaxLine <= 0 {
		opts.MaxLine = MaxLineLength
	}
	if opts.MaxLiteral <= 0 {
		opts.MaxLiteral = MaxStringLiteral
	}
	return &Decoder{r: r, opts: opts}
}

// Reader returns the underlying reader (for AUTHENTICATE continuation lines
// and COMPRESS).
func (d *Decoder) Reader() *bufio.Reader { return d.r }

// SetReader replaces the underlying reader (after STARTTLS or COMPRESS).
func (d *Decoder) SetReader(r *bufio.Reader) { d.r = r }

// Err is the first error met since the last Reset.
func (d *Decoder) Err() error { return d.err }

// Reset clears the error and the line state before a new command.
func (d *Decoder) Reset() {
	d.err = nil
	d.line = 0
	d.depth = 0
	d.litTotal = 0
	d.ended = false
	d.pending = nil
	d.body = nil
	d.scan = literalScan{}
}

// Buffered reports whether input is waiting (the client pipelined).
func (d *Decoder) Buffered() bool { return d.r.Buffered() > 0 }

func (d *Decoder) fail(format string, args ...any) bool {
	if d.err == nil {
		d.err = &Error{Msg: fmt.Sprintf(format, args...)}
	}
	return false
}

// fatal records an error the connection cannot recover from; it replaces
// an earlier syntax error but not an earlier fatal one.
func (d *Decoder) fatal(err error) bool {
	if d.err == nil || !isFatal(d.err) {
		d.err = err
	}
	return false
}

func isFatal(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Fatal
	}
	return err != nil
}

// IsFatal reports whether err means the connection cannot go on: an I/O
// error or a fatal syntax error.
func IsFatal(err error) bool { return isFatal(err) }

func (d *Decoder) peek() (byte, bool) {
	if d.err != nil {
		return 0, false
	}
	b, err := d.r.Peek(1)
	if err != nil {
		return 0, d.fatal(err)
	}
	return b[0], true
}

func (d *Decoder) readByte() (byte, bool) {
	if d.err != nil {
		return 0, false
	}
	if d.line >= d.opts.MaxLine {
		d.err = &Error{Msg: ErrLineTooLong.Error()}
		return 0, false
	}
	b, err := d.r.ReadByte()
	if err != nil {
		return 0, d.fatal(err)
	}
	d.line++
	d.ended = false
	d.scan.feed(b)
	if b == '\n' {
		d.scan = literalScan{}
	}
	return b, true
}

// Peek returns the next byte without consuming it.
func (d *Decoder) Peek() (byte, bool) { return d.peek() }

// Special consumes c when it is the next byte.
func (d *Decoder) Special(c byte) bool {
	b, ok := d.peek()
	if !ok || b != c {
		return false
	}
	_, ok = d.readByte()
	return ok
}

// ExpectSpecial consumes c or fails.
func (d *Decoder) ExpectSpecial(c byte) bool {
	if d.Special(c) {
		return true
	}
	if d.err != nil {
		return false
	}
	if c == ' ' {
		return d.fail("expected a space")
	}
	return d.fail("expected %q", c)
}

// SP consumes one space or fails.
func (d *Decoder) SP() bool { return d.ExpectSpecial(' ') }

// AtEOL reports whether the line ends here (CRLF, or a bare LF).
func (d *Decoder) AtEOL() bool {
	b, ok := d.peek()
	return ok && (b == '\r' || b == '\n')
}

// CRLF consumes the end of the command line (a bare LF is accepted too)
// or fails.
func (d *Decoder) CRLF() bool {
	if !d.eol() {
		return false
	}
	d.line = 0
	d.litTotal = 0
	d.ended = true
	return true
}

// eol consumes CRLF or LF.
func (d *Decoder) eol() bool {
	b, ok := d.peek()
	if !ok {
		return false
	}
	switch b {
	case '\r':
		if _, ok := d.readByte(); !ok {
			return false
		}
		return d.ExpectSpecial('\n')
	case '\n':
		_, ok := d.readByte()
		return ok
	}
	return d.fail("expected end of line, got %q", b)
}

// IsAtomChar reports whether b is an ATOM-CHAR (RFC 9051 §9).
func IsAtomChar(b byte) bool {
	switch b {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return b > 0x1f && b < 0x7f
}

// IsAStringChar reports whether b is an ASTRING-CHAR: ATOM-CHAR or "]".
func IsAStringChar(b byte) bool { return b == ']' || IsAtomChar(b) }

// IsListChar reports whether b may appear in a LIST/LSUB mailbox pattern
// (list-char: ATOM-CHAR, list-wildcards or resp-specials).
func IsListChar(b byte) bool { return b == '%' || b == '*' || IsAStringChar(b) }

// Token reads one or more bytes for which valid is true. It fails when
// there is none. Bytes >= 0x80 are never part of a token (see TokenUTF8).
func (d *Decoder) Token(what string, valid func(byte) bool) (string, bool) {
	return d.token(what, func(b byte) bool { return b < 0x80 && valid(b) })
}

func (d *Decoder) token(what string, valid func(byte) bool) (string, bool) {
	var small [64]byte
	buf := small[:0]
	for {
		b, ok := d.peek()
		if !ok {
			return "", false
		}
		if !valid(b) {
			break
		}
		if _, ok := d.readByte(); !ok {
			return "", false
		}
		buf = append(buf, b)
	}
	if len(buf) == 0 {
		b, _ := d.peek()
		if d.err != nil {
			return "", false
		}
		return "", d.fail("expected %s, got %q", what, b)
	}
	return string(buf), true
}

// TokenUTF8 is Token that also accepts bytes >= 0x80 (UTF-8 mailbox names
// under IMAP4rev2 and UTF8=ACCEPT, RFC 9051 §5.1).
func (d *Decoder) TokenUTF8(what string, valid func(byte) bool) (string, bool) {
	return d.token(what, func(b byte) bool { return b >= 0x80 || valid(b) })
}

// Atom reads an atom.
func (d *Decoder) Atom() (string, bool) { return d.Token("an atom", IsAtomChar) }

// Number reads a number (RFC 9051 number: up to 2^32-1).
func (d *Decoder) Number() (uint32, bool) {
	s, ok := d.Token("a number", isDigit)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, d.fail("number out of range: %s", s)
	}
	return uint32(n), true
}

// NZNumber reads a non-zero number.
func (d *Decoder) NZNumber() (uint32, bool) {
	n, ok := d.Number()
	if ok && n == 0 {
		return 0, d.fail("expected a non-zero number")
	}
	return n, ok
}

// Number64 reads a number64 (RFC 9051: up to 2^63-1; MODSEQ values).
func (d *Decoder) Number64() (uint64, bool) {
	s, ok := d.Token("a number", isDigit)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, d.fail("number out of range: %s", s)
	}
	return n, true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// Quoted reads a quoted string. 8-bit bytes are accepted (UTF-8 under
// rev2/UTF8=ACCEPT; callers check further). A line end inside is left
// unread, so that DiscardLine stops there and not at the next command.
func (d *Decoder) Quoted() (string, bool) {
	if !d.ExpectSpecial('"') {
		return "", false
	}
	var sb strings.Builder
	for {
		b, ok := d.quotedChar()
		if !ok {
			return "", false
		}
		switch b {
		case '"':
			return sb.String(), true
		case '\\':
			if b, ok = d.quotedChar(); !ok {
				return "", false
			}
			if b != '"' && b != '\\' {
				return "", d.fail(`only \" and \\ may be escaped in a quoted string`)
			}
		case 0:
			return "", d.fail("NUL in a quoted string")
		}
		sb.WriteByte(b)
	}
}

// quotedChar reads one byte of a quoted string, refusing CR and LF (RFC
// 9051 §9 QUOTED-CHAR) without consuming them.
func (d *Decoder) quotedChar() (byte, bool) {
	b, ok := d.peek()
	if !ok {
		return 0, false
	}
	if b == '\r' || b == '\n' {
		return 0, d.fail("quoted string not terminated")
	}
	return d.readByte()
}

// Literal is a literal's header: {size}, {size+} or ~{size}.
type Literal struct {
	Size    int64
	NonSync bool // {n+} (RFC 7888)
	Binary  bool // ~{n} literal8 (RFC 3516)
}

// LiteralHeader reads "{n}" / "{n+}" / "~{n}" and the CRLF after it. The
// caller then either calls LiteralBody, or rejects it with RejectLiteral
// (DiscardLine also copes with a header left unhandled). A synchronizing
// literal too large to count is refused here; a non-synchronizing one is a
// fatal error.
func (d *Decoder) LiteralHeader() (Literal, bool) {
	var lit Literal
	if d.Special('~') {
		lit.Binary = true
	}
	if !d.ExpectSpecial('{') {
		return lit, false
	}
	s, ok := d.Token("a literal size", isDigit)
	if !ok {
		return lit, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	huge := err != nil || n > 1<<62
	lit.Size = n
	if d.Special('+') {
		lit.NonSync = true
	}
	if huge && lit.NonSync {
		// The client sends an unknowable amount of data right away.
		d.err = &Error{Msg: "literal size out of range", Fatal: true}
		return lit, false
	}
	// The literal's CRLF does not end the command: the line goes on after
	// the literal's bytes.
	if !d.ExpectSpecial('}') || !d.eol() {
		return lit, false
	}
	if huge {
		// A synchronizing literal is only sent after "+": refuse it.
		lit.Size = maxInt64
		d.RejectLiteral(lit, "literal size out of range")
		return lit, false
	}
	d.pending = &lit
	return lit, true
}

// LiteralBody returns a reader of the literal's bytes, after sending the
// continuation request for a synchronizing literal. The caller must read it
// to the end before reading on.
func (d *Decoder) LiteralBody(lit Literal) (io.Reader, bool) {
	if d.err != nil {
		return nil, false
	}
	d.pending = nil
	if !lit.NonSync && d.opts.Continue != nil {
		if err := d.opts.Continue(); err != nil {
			return nil, d.fatal(err)
		}
	}
	d.body = &literalReader{d: d, n: lit.Size}
	return d.body, true
}

type literalReader struct {
	d *Decoder
	n int64
}

func (l *literalReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.d.r.Read(p)
	l.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		l.d.fatal(err)
	}
	return n, err
}

// skipLiteral discards n literal bytes the client sends without waiting;
// a size beyond reason is fatal.
func (d *Decoder) skipLiteral(n int64, msg string) bool {
	if n > 4*MaxNonSyncLiteral+d.opts.MaxLiteral {
		return d.fatal(&Error{Msg: msg, Fatal: true})
	}
	if _, err := io.CopyN(io.Discard, d.r, n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return d.fatal(err)
	}
	return true
}

// RejectLiteral refuses a literal whose header was read. A synchronizing
// literal's bytes never come; a non-synchronizing one's are skipped when
// they are few enough, else the error is fatal. The command's error is set
// to err (a *Error or a message).
func (d *Decoder) RejectLiteral(lit Literal, msg string) {
	d.pending = nil
	if d.err != nil && isFatal(d.err) {
		return
	}
	if lit.NonSync {
		if !d.skipLiteral(lit.Size, msg) {
			return
		}
		// The rest of the command line follows; DiscardLine skips it.
		d.err = &Error{Msg: msg}
		return
	}
	// RFC 9051 §7.5: the client sends a synchronizing literal only after
	// "+", so when it is refused the command is over.
	d.err = &Error{Msg: msg}
	d.ended = true
}

// StringLiteral reads a literal into memory (bounded by MaxLiteral).
func (d *Decoder) stringLiteral() (string, bool) {
	lit, ok := d.LiteralHeader()
	if !ok {
		return "", false
	}
	if lit.Size > d.opts.MaxLiteral {
		d.RejectLiteral(lit, fmt.Sprintf("literal of %d octets is too large here (at most %d)", lit.Size, d.opts.MaxLiteral))
		return "", false
	}
	if budget := max(MaxCommandLiterals, d.opts.MaxLiteral); d.litTotal+lit.Size > budget {
		d.RejectLiteral(lit, fmt.Sprintf("literals of this command exceed %d octets", budget))
		return "", false
	}
	d.litTotal += lit.Size
	r, ok := d.LiteralBody(lit)
	if !ok {
		return "", false
	}
	buf := make([]byte, lit.Size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", false
	}
	d.body = nil
	if !lit.Binary && bytes.IndexByte(buf, 0) >= 0 {
		return "", d.fail("NUL in a literal")
	}
	return string(buf), true
}

// String reads a quoted string or a literal.
func (d *Decoder) String() (string, bool) {
	b, ok := d.peek()
	if !ok {
		return "", false
	}
	switch b {
	case '"':
		return d.Quoted()
	case '{', '~':
		return d.stringLiteral()
	}
	return "", d.fail("expected a string, got %q", b)
}

// AString reads an astring: ASTRING-CHARs (and UTF-8 when utf8 is set) or
// a string.
func (d *Decoder) AString() (string, bool) {
	b, ok := d.peek()
	if !ok {
		return "", false
	}
	if b == '"' || b == '{' {
		return d.String()
	}
	if b == '~' {
		// "~" is an ASTRING-CHAR ("~peter/mail"); only "~{" starts a
		// literal8. The line's end follows, so Peek(2) does not block on a
		// well-behaved client.
		if p, err := d.r.Peek(2); err == nil && p[1] == '{' {
			return d.String()
		}
	}
	return d.TokenUTF8("a string", IsAStringChar)
}

// NString reads NIL or a string; nil is reported as ok with isNil.
func (d *Decoder) NString() (s string, isNil, ok bool) {
	b, ok := d.peek()
	if !ok {
		return "", false, false
	}
	if b == 'N' || b == 'n' {
		a, ok := d.Atom()
		if ok && strings.EqualFold(a, "NIL") {
			return "", true, true
		}
		return "", false, d.fail("expected NIL or a string")
	}
	s, ok = d.String()
	return s, false, ok
}

// List reads "(" [item *(SP item)] ")", calling item for each element.
func (d *Decoder) List(item func() bool) bool {
	if !d.ExpectSpecial('(') {
		return false
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > MaxDepth {
		return d.fail("lists nested too deeply")
	}
	if d.Special(')') {
		return true
	}
	for {
		if !item() {
			return false
		}
		if d.Special(')') {
			return true
		}
		if !d.SP() {
			return false
		}
	}
}

// Enter counts one level of nesting against MaxDepth, for recursive
// grammars such as SEARCH that nest without List. Call Leave after it,
// whatever it returned.
func (d *Decoder) Enter() bool {
	d.depth++
	if d.depth > MaxDepth {
		return d.fail("nested too deeply")
	}
	return true
}

// Leave undoes Enter.
func (d *Decoder) Leave() { d.depth-- }

// DiscardLine skips the rest of the current command, including the bytes of
// non-synchronizing literals on the way. It returns false when the
// connection cannot go on (Err then says why). It consumes nothing when
// the command is already over: after its final CRLF, or after a refused
// synchronizing literal.
func (d *Decoder) DiscardLine() bool {
	if d.err != nil && isFatal(d.err) {
		return false
	}
	if d.ended {
		return true
	}
	if lit := d.pending; lit != nil {
		d.pending = nil
		if !lit.NonSync {
			// No "+" was sent, so the literal will not come.
			d.ended = true
			return true
		}
		if !d.skipLiteral(lit.Size, "literal too large") {
			return false
		}
	}
	if l := d.body; l != nil {
		d.body = nil
		if l.n > 0 {
			// The client sends an accepted literal in full.
			if _, err := io.CopyN(io.Discard, d.r, l.n); err != nil {
				return d.fatal(io.ErrUnexpectedEOF)
			}
		}
	}
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return d.fatal(err)
		}
		if b != '\n' {
			d.scan.feed(b)
			continue
		}
		n, nonSync := d.scan.nonSync()
		d.scan = literalScan{}
		if nonSync {
			if !d.skipLiteral(n, "literal too large") {
				return false
			}
			continue
		}
		d.line = 0
		d.litTotal = 0
		d.ended = true
		return true
	}
}

// ReadLine reads one raw line (for AUTHENTICATE responses, RFC 9051
// §6.2.2), without its CRLF, bounded by MaxLine.
func (d *Decoder) ReadLine() (string, error) {
	var sb strings.Builder
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return "", err
		}
		if b == '\n' {
			d.ended = true
			d.scan = literalScan{}
			return strings.TrimSuffix(sb.String(), "\r"), nil
		}
		if sb.Len() >= d.opts.MaxLine && (b != '\r' || sb.Len() > d.opts.MaxLine) {
			return "", &Error{Msg: ErrLineTooLong.Error(), Fatal: true}
		}
		sb.WriteByte(b)
	}
}

// fixMonth capitalises the month name: IMAP matches it case-insensitively,
// time.Parse does not.
func fixMonth(s string) string {
	i := strings.IndexByte(s, '-')
	if i < 0 || len(s) < i+4 {
		return s
	}
	m := s[i+1 : i+4]
	return s[:i+1] + strings.ToUpper(m[:1]) + strings.ToLower(m[1:]) + s[i+4:]
}

// DateTime reads a quoted date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (day
// may be space-padded), RFC 9051 §9.
func (d *Decoder) DateTime() (time.Time, bool) {
	s, ok := d.Quoted()
	if !ok {
		return time.Time{}, false
	}
	t, err := ParseDateTime(s)
	if err != nil {
		return time.Time{}, d.fail("%v", err)
	}
	return t, true
}

// ParseDateTime parses the inside of an IMAP date-time.
func ParseDateTime(s string) (time.Time, error) {
	s = strings.TrimPrefix(s, " ")
	t, err := time.Parse("2-Jan-2006 15:04:05 -0700", fixMonth(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("bad date-time %q (want \"dd-Mon-yyyy hh:mm:ss +zzzz\")", s)
	}
	return t, nil
}

// Date reads a date (search criteria): d-Mon-yyyy, bare or quoted.
func (d *Decoder) Date() (time.Time, bool) {
	var s string
	var ok bool
	if b, _ := d.peek(); b == '"' {
		s, ok = d.Quoted()
	} else {
		s, ok = d.Atom()
	}
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("2-Jan-2006", fixMonth(s))
	if err != nil {
		return time.Time{}, d.fail("bad date %q (want d-Mon-yyyy)", s)
	}
	return t, true
}
