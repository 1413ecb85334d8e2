package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what a client may send. RFC 5804 sets none beyond the 32-bit
// literal length (§4, number); these keep the memory and time spent on one
// connection small.
const (
	// MaxLineLength bounds the octets of one command or SASL response
	// outside literal data. The longest command a client needs is
	// RENAMESCRIPT with two quoted names.
	MaxLineLength = 8 * 1024
	// MaxStringLength bounds any string but a script (names, SASL data,
	// NOOP tags) when sent as a literal. Larger literals are read and
	// discarded and the command is refused.
	MaxStringLength = 64 * 1024
	// MaxNameLength bounds script names in octets. RFC 5804 §1.6 puts no
	// limit on names; 512 octets hold any name a person would type.
	MaxNameLength = 512
	// maxLiteralDiscard is the largest literal the server reads and throws
	// away to answer NO and stay in step with the client. For a larger one
	// it answers BYE and closes the connection instead.
	maxLiteralDiscard = 16 << 20
	// maxQuoted is the longest quoted string (RFC 5804 §4: quoted =
	// DQUOTE *1024QUOTED-CHAR DQUOTE) the server sends; longer strings are
	// sent as literals. Quoted strings from clients are only bounded by
	// MaxLineLength.
	maxQuoted = 1024
	// maxArgs bounds the arguments of one command (no command takes more
	// than two), so that one command holds at most maxArgs strings of
	// MaxStringLength (or one script): the arguments after it, literals
	// too, are read and thrown away, and the command is refused.
	maxArgs = 4
)

// token is one element of a command line: an atom (the command name, a
// number) or a string (quoted or literal, RFC 5804 §4).
type token struct {
	s        string
	isString bool
	tooBig   bool // a literal over its limit, read and thrown away: s is empty
}

// command is one parsed command.
type command struct {
	name string // upper case
	args []token
}

// syntaxError is a malformed command. The rest of the command has been
// skipped; the connection goes on.
type syntaxError string

func (e syntaxError) Error() string { return string(e) }

// fatalError is input the server cannot get back in step with (a line
// too long, a literal too big to skip): the connection ends with BYE.
type fatalError struct {
	code, text string
}

func (e *fatalError) Error() string { return e.text }

var (
	errLineTooLong = &fatalError{text: "Line too long"}
	errHugeLiteral = &fatalError{code: codeQuotaSize, text: "Literal too big"}
)

// parser reads commands (RFC 5804 §4 command) and SASL responses from the
// client.
type parser struct {
	r *bufio.Reader
	// scriptLimit is the largest script literal accepted:
	// Options.MaxScriptSize after login, MaxStringLength before (scripts
	// are refused then anyway).
	scriptLimit int64
	n           int  // octets of the current line outside literal data
	eol         bool // the current line's LF has been read
}

func (p *parser) readByte() (byte, error) {
	b, err := p.r.ReadByte()
	if err != nil {
		return 0, err
	}
	p.n++
	if p.n > MaxLineLength {
		return 0, errLineTooLong
	}
	if b == '\n' {
		p.eol = true
	}
	return b, nil
}

// readCommand reads one command. Errors are a syntaxError (the command was
// skipped to its end), a *fatalError, or a read error.
func (p *parser) readCommand() (*command, error) {
	toks, err := p.readLine(true, func(toks []token) int64 {
		// RFC 5804 §2.6 PUTSCRIPT <name> <script>, §2.12 CHECKSCRIPT <script>.
		switch strings.ToUpper(toks[0].s) {
		case "PUTSCRIPT":
			if len(toks) == 2 {
				return p.scriptLimit
			}
		case "CHECKSCRIPT":
			if len(toks) == 1 {
				return p.scriptLimit
			}
		}
		return MaxStringLength
	})
	if err != nil {
		return nil, err
	}
	return &command{name: strings.ToUpper(toks[0].s), args: toks[1:]}, nil
}

// readSASLResponse reads a client's line during AUTHENTICATE: one string
// (RFC 5804 §2.1).
func (p *parser) readSASLResponse() (token, error) {
	toks, err := p.readLine(false, func([]token) int64 { return MaxStringLength })
	if err != nil {
		return token{}, err
	}
	if len(toks) != 1 || !toks[0].isString {
		return token{}, syntaxError("Expected one string")
	}
	return toks[0], nil
}

// readLine reads tokens separated by single spaces up to CRLF. A command
// starts with an atom; a SASL response is one string. limit gives the
// largest literal accepted for the next token, given the tokens so far.
// On a syntax error the rest of the line (and any literal it announces) is
// skipped.
func (p *parser) readLine(command bool, limit func([]token) int64) ([]token, error) {
	p.n, p.eol = 0, false
	toks, err := p.tokens(command, limit)
	var se syntaxError
	if errors.As(err, &se) && !p.eol {
		if err := p.skipLine(); err != nil {
			return nil, err
		}
	}
	return toks, err
}

func (p *parser) tokens(command bool, limit func([]token) int64) ([]token, error) {
	var toks []token
	if command {
		atom, err := p.readAtom()
		if err != nil {
			return nil, err
		}
		if atom == "" {
			return nil, syntaxError("Expected a command name")
		}
		toks = append(toks, token{s: atom})
	} else {
		t, err := p.readToken(limit(toks))
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
	}
	for {
		b, err := p.readByte()
		if err != nil {
			return nil, err
		}
		switch b {
		case '\r':
			// Bare LF is accepted too; CR must be followed by LF.
			if b, err = p.readByte(); err != nil {
				return nil, err
			}
			if b != '\n' {
				return nil, syntaxError("CR not followed by LF")
			}
			return toks, nil
		case '\n':
			return toks, nil
		case ' ':
			if len(toks) > maxArgs {
				return nil, syntaxError("Too many arguments")
			}
			t, err := p.readToken(limit(toks))
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
		default:
			return nil, syntaxError("Expected a space or the end of the line")
		}
	}
}

// readToken reads a quoted string, a literal or an atom.
func (p *parser) readToken(literalLimit int64) (token, error) {
	b, err := p.r.Peek(1)
	if err != nil {
		return token{}, err
	}
	switch b[0] {
	case '"':
		p.readByte()
		s, err := p.readQuoted()
		return token{s: s, isString: true}, err
	case '{':
		p.readByte()
		return p.readLiteral(literalLimit)
	}
	atom, err := p.readAtom()
	if err != nil {
		return token{}, err
	}
	if atom == "" {
		return token{}, syntaxError("Expected a string")
	}
	return token{s: atom}, nil
}

// isAtomChar reports whether b may be part of a command name or number.
func isAtomChar(b byte) bool {
	return b > ' ' && b < 0x7f && !strings.ContainsRune("\"{}()\\", rune(b))
}

func (p *parser) readAtom() (string, error) {
	var sb strings.Builder
	for {
		b, err := p.r.Peek(1)
		if err != nil {
			return "", err
		}
		if !isAtomChar(b[0]) {
			return sb.String(), nil
		}
		if _, err := p.readByte(); err != nil {
			return "", err
		}
		sb.WriteByte(b[0])
	}
}

// readQuoted reads a quoted string after its opening DQUOTE. RFC 5804 §4:
// QUOTED-CHAR = SAFE-UTF8-CHAR / "\" QUOTED-SPECIALS; no NUL, CR or LF.
func (p *parser) readQuoted() (string, error) {
	var sb strings.Builder
	for {
		b, err := p.readByte()
		if err != nil {
			return "", err
		}
		switch b {
		case '"':
			s := sb.String()
			if !utf8.ValidString(s) {
				return "", syntaxError("Quoted string is not valid UTF-8")
			}
			return s, nil
		case '\\':
			if b, err = p.readByte(); err != nil {
				return "", err
			}
			if b != '"' && b != '\\' {
				return "", syntaxError(`Only \" and \\ may be escaped in a quoted string`)
			}
		case 0, '\r', '\n':
			return "", syntaxError("NUL, CR or LF in a quoted string")
		}
		sb.WriteByte(b)
	}
}

// readLiteralHeader reads the rest of "{" number ["+"] "}" CRLF. RFC 5804
// §4 defines literal-c2s with "+" for clients and literal-s2c without it
// for servers, and has no continuation request: a client never waits
// before sending literal data. "{n}" from a client is therefore read just
// like "{n+}", without waiting or answering, for clients that use the
// IMAP form.
func (p *parser) readLiteralHeader() (int64, error) {
	var digits []byte
	for {
		b, err := p.readByte()
		if err != nil {
			return 0, err
		}
		if b >= '0' && b <= '9' {
			digits = append(digits, b)
			continue
		}
		if b == '+' {
			if b, err = p.readByte(); err != nil {
				return 0, err
			}
		}
		if b != '}' || len(digits) == 0 {
			return 0, syntaxError("Malformed literal")
		}
		break
	}
	b, err := p.readByte()
	if err == nil && b == '\r' {
		b, err = p.readByte()
	}
	if err != nil {
		return 0, err
	}
	if b != '\n' {
		return 0, syntaxError("Literal length not followed by CRLF")
	}
	// That LF ends the literal's header, not the line: a syntax error
	// later in the line still skips to its end (readLine).
	p.eol = false
	// number: a 32-bit unsigned number (RFC 5804 §4). A longer one cannot
	// be skipped reliably.
	n, err := strconv.ParseUint(string(digits), 10, 32)
	if err != nil {
		return 0, errHugeLiteral
	}
	return int64(n), nil
}

// readLiteral reads a literal after its "{". One over limit is discarded
// (up to maxLiteralDiscard) and returned with tooBig set.
func (p *parser) readLiteral(limit int64) (token, error) {
	n, err := p.readLiteralHeader()
	if err != nil {
		return token{}, err
	}
	if n > limit {
		if err := p.discard(n); err != nil {
			return token{}, err
		}
		return token{isString: true, tooBig: true}, nil
	}
	// Grow the buffer as the data comes rather than trusting n: a client
	// that announces a large literal and sends little costs little.
	var sb strings.Builder
	if _, err := io.CopyN(&sb, p.r, n); err != nil {
		return token{}, eofIsUnexpected(err)
	}
	return token{s: sb.String(), isString: true}, nil
}

func (p *parser) discard(n int64) error {
	if n > maxLiteralDiscard {
		return errHugeLiteral
	}
	_, err := p.r.Discard(int(n))
	return eofIsUnexpected(err)
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// skipLine throws away the rest of a bad command: up to the end of the
// line, and when the line ends with a literal announcement, the literal
// and the line after it too, so that literal data is never taken for
// commands.
func (p *parser) skipLine() error {
	var tail []byte // the last octets of the line, to spot "{n+}"
	for {
		b, err := p.readByte()
		if err != nil {
			return err
		}
		if b != '\n' {
			if len(tail) >= 16 {
				tail = tail[1:]
			}
			tail = append(tail, b)
			continue
		}
		n, ok := literalAnnouncement(tail)
		if !ok {
			return nil
		}
		if n < 0 {
			return errHugeLiteral
		}
		if err := p.discard(n); err != nil {
			return err
		}
		tail = tail[:0]
		p.eol = false
	}
}

// literalAnnouncement finds "{n}" or "{n+}" (and an optional CR) at the end
// of line. n is -1 for a number too big.
func literalAnnouncement(line []byte) (n int64, ok bool) {
	s := strings.TrimSuffix(string(line), "\r")
	if !strings.HasSuffix(s, "}") {
		return 0, false
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "}"), "+")
	i := strings.LastIndexByte(s, '{')
	if i < 0 || i == len(s)-1 {
		return 0, false
	}
	digits := s[i+1:]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return -1, true
	}
	return int64(v), true
}

// quotable reports whether s can be sent as a quoted string (RFC 5804 §4:
// at most 1024 SAFE-UTF8-CHARs, escapes apart).
func quotable(s string) bool {
	if len(s) > maxQuoted || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsAny(s, "\x00\r\n")
}

// appendString appends s as a quoted string if it can be one, else as a
// literal (literal-s2c, RFC 5804 §4).
func appendString(dst []byte, s string) []byte {
	if !quotable(s) {
		return appendLiteral(dst, s)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

func appendLiteral(dst []byte, s string) []byte {
	dst = fmt.Appendf(dst, "{%d}\r\n", len(s))
	return append(dst, s...)
}

// appendResponse appends r and its CRLF (RFC 5804 §1.3, §4 response-ok,
// response-nobye).
func appendResponse(dst []byte, r response) []byte {
	dst = append(dst, r.status...)
	if r.code != "" {
		dst = append(dst, " ("...)
		dst = append(dst, r.code...)
		dst = append(dst, ')')
	}
	if r.text != "" {
		dst = append(dst, ' ')
		dst = appendString(dst, r.text)
	}
	return append(dst, "\r\n"...)
}

// codeWithString formats a response code that carries a string (TAG,
// SASL).
func codeWithString(code, s string) string {
	return string(appendString([]byte(code+" "), s))
}
