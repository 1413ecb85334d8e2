package imapwire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Encoder writes responses. Write errors are sticky: after one, writes do
// nothing and Err reports it. Calls chain:
//
//	enc.Star().Number(3).SP().Atom("EXISTS").CRLF()
type Encoder struct {
	w   *bufio.Writer
	err error
	// UTF8 lets strings carry UTF-8 as quoted strings (IMAP4rev2 and
	// UTF8=ACCEPT, RFC 9051 §6.3.1 / RFC 9755); otherwise 8-bit text goes
	// out as a literal.
	UTF8 bool
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w *bufio.Writer) *Encoder { return &Encoder{w: w} }

// Writer returns the underlying writer.
func (e *Encoder) Writer() *bufio.Writer { return e.w }

// SetWriter replaces the underlying writer (after STARTTLS or COMPRESS).
func (e *Encoder) SetWriter(w *bufio.Writer) { e.w = w }

// Err is the first write error.
func (e *Encoder) Err() error { return e.err }

func (e *Encoder) raw(s string) *Encoder {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
	return e
}

func (e *Encoder) byte(b byte) *Encoder {
	if e.err == nil {
		e.err = e.w.WriteByte(b)
	}
	return e
}

// Raw writes s as is (the caller guarantees it is valid here).
func (e *Encoder) Raw(s string) *Encoder { return e.raw(s) }

// Bytes writes b as is.
func (e *Encoder) Bytes(b []byte) *Encoder {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
	return e
}

// Star starts an untagged response: "* ".
func (e *Encoder) Star() *Encoder { return e.raw("* ") }

// SP writes a space.
func (e *Encoder) SP() *Encoder { return e.byte(' ') }

// Special writes one byte such as '(' or ')'.
func (e *Encoder) Special(b byte) *Encoder { return e.byte(b) }

// Atom writes an atom (the caller guarantees it is one).
func (e *Encoder) Atom(s string) *Encoder { return e.raw(s) }

// Number writes a number.
func (e *Encoder) Number(n uint32) *Encoder {
	if e.err == nil {
		_, e.err = e.w.Write(strconv.AppendUint(e.w.AvailableBuffer(), uint64(n), 10))
	}
	return e
}

// Number64 writes a number64.
func (e *Encoder) Number64(n uint64) *Encoder {
	if e.err == nil {
		_, e.err = e.w.Write(strconv.AppendUint(e.w.AvailableBuffer(), n, 10))
	}
	return e
}

// Int64 writes a non-negative int64 (sizes).
func (e *Encoder) Int64(n int64) *Encoder {
	if n < 0 {
		n = 0
	}
	return e.Number64(uint64(n))
}

// NIL writes NIL.
func (e *Encoder) NIL() *Encoder { return e.raw("NIL") }

// CRLF ends a line.
func (e *Encoder) CRLF() *Encoder { return e.raw("\r\n") }

// Flush flushes the writer.
func (e *Encoder) Flush() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// quotable reports whether s can be sent as a quoted string.
func (e *Encoder) quotable(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b == '\r' || b == '\n' || b == 0 {
			return false
		}
		if b >= 0x80 && !e.UTF8 {
			return false
		}
	}
	return !e.UTF8 || utf8.ValidString(s)
}

// Quoted writes s as a quoted string; the caller guarantees quotable text.
func (e *Encoder) Quoted(s string) *Encoder {
	e.byte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			e.byte('\\')
		}
		e.byte(s[i])
	}
	return e.byte('"')
}

// String writes s as a quoted string when it can, else as a literal.
func (e *Encoder) String(s string) *Encoder {
	if e.quotable(s) {
		return e.Quoted(s)
	}
	e.byte('{').Number64(uint64(len(s))).raw("}\r\n")
	return e.raw(s)
}

// NString writes NIL for "" and a string otherwise.
func (e *Encoder) NString(s string) *Encoder {
	if s == "" {
		return e.NIL()
	}
	return e.String(s)
}

// AString writes s as an atom when it is one, else as a string.
func (e *Encoder) AString(s string) *Encoder {
	if s == "" || len(s) > 256 {
		return e.String(s)
	}
	for i := 0; i < len(s); i++ {
		if !IsAStringChar(s[i]) {
			return e.String(s)
		}
	}
	if strings.EqualFold(s, "NIL") {
		// An atom NIL would read as nil where an nstring may also appear.
		return e.Quoted(s)
	}
	return e.raw(s)
}

// ErrLiteralSize is returned by Literal when the reader does not hold
// exactly size bytes.
var ErrLiteralSize = errors.New("literal data does not match its size")

// Literal writes a literal header then size bytes from r. With binary, it is
// a literal8 (RFC 3516). It returns the error of r or of the writer.
//
// When r ends early the client would wait for bytes that never come, so the
// error is sticky and the connection must end. When r holds more than size
// bytes, exactly size are written, the stream stays in step, and an error
// wrapping ErrLiteralSize tells the caller its size was wrong.
func (e *Encoder) Literal(size int64, r io.Reader, binary bool) error {
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrLiteralSize, size)
	}
	if binary {
		e.byte('~')
	}
	e.byte('{').Int64(size).raw("}\r\n")
	if e.err != nil {
		return e.err
	}
	n, err := io.CopyN(e.w, r, size)
	if n < size {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: %d of %d bytes", ErrLiteralSize, n, size)
		}
		e.err = err
		return err
	}
	if err != nil {
		return err
	}
	var one [1]byte
	if m, _ := io.ReadFull(r, one[:]); m > 0 {
		return fmt.Errorf("%w: more than %d bytes", ErrLiteralSize, size)
	}
	return nil
}

// DateTime writes a quoted date-time (RFC 9051 §9).
func (e *Encoder) DateTime(t time.Time) *Encoder {
	return e.byte('"').raw(t.Format("02-Jan-2006 15:04:05 -0700")).byte('"')
}
