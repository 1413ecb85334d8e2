package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func encode(utf8 bool, f func(e *Encoder)) (string, error) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	e := NewEncoder(w)
	e.UTF8 = utf8
	f(e)
	err := e.Flush()
	return buf.String(), err
}

func TestEncoderString(t *testing.T) {
	long := strings.Repeat("a", 1024)
	tests := []struct {
		in   string
		utf8 bool
		want string
	}{
		{"", false, `""`},
		{"INBOX", false, `"INBOX"`},
		{"a b", false, `"a b"`},
		{`a"b\c`, false, `"a\"b\\c"`},
		{"a\rb", false, "{3}\r\na\rb"},
		{"a\nb", false, "{3}\r\na\nb"},
		{"a\x00b", false, "{3}\r\na\x00b"},
		{"a\x01\x7fb", false, "\"a\x01\x7fb\""},
		{"台北", false, "{6}\r\n台北"},
		{"台北", true, `"台北"`},
		{"a\xffb", true, "{3}\r\na\xffb"},
		{"台\r北", true, "{7}\r\n台\r北"},
		{long, false, `"` + long + `"`},
		{long + "b", false, "{1025}\r\n" + long + "b"},
	}
	for _, tt := range tests {
		got, err := encode(tt.utf8, func(e *Encoder) { e.String(tt.in) })
		if err != nil || got != tt.want {
			t.Errorf("String(%q, utf8=%v) = %q, %v; want %q", tt.in, tt.utf8, got, err, tt.want)
		}
	}
}

func TestEncoderQuoted(t *testing.T) {
	got, _ := encode(false, func(e *Encoder) { e.Quoted(`\"x"\`) })
	if want := `"\\\"x\"\\"`; got != want {
		t.Errorf("Quoted = %s, want %s", got, want)
	}
}

func TestEncoderAString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"INBOX", "INBOX"},
		{"a]b", "a]b"},
		{"~peter/mail", "~peter/mail"},
		{"", `""`},
		{"a b", `"a b"`},
		{"a(b", `"a(b"`},
		{"a{b", `"a{b"`},
		{"a%b", `"a%b"`},
		{"a*b", `"a*b"`},
		{`a"b`, `"a\"b"`},
		{"NIL", `"NIL"`},
		{"nil", `"nil"`},
		{"nIl", `"nIl"`},
		{"NILS", "NILS"},
		{"a\r\nb", "{4}\r\na\r\nb"},
		{strings.Repeat("x", 257), `"` + strings.Repeat("x", 257) + `"`},
	}
	for _, tt := range tests {
		got, _ := encode(false, func(e *Encoder) { e.AString(tt.in) })
		if got != tt.want {
			t.Errorf("AString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncoderNString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "NIL"},
		{"x", `"x"`},
		{"NIL", `"NIL"`},
	}
	for _, tt := range tests {
		got, _ := encode(false, func(e *Encoder) { e.NString(tt.in) })
		if got != tt.want {
			t.Errorf("NString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncoderChain(t *testing.T) {
	got, err := encode(false, func(e *Encoder) {
		e.Star().Number(3).SP().Atom("EXISTS").CRLF()
		e.Star().Atom("OK").SP().Special('[').Atom("HIGHESTMODSEQ").SP().Number64(1<<63 - 1).Special(']').CRLF()
		e.Star().Int64(-5).SP().Int64(7).SP().NIL().SP().Raw("x").Bytes([]byte("y")).CRLF()
		e.Number(1<<32 - 1).CRLF()
	})
	want := "* 3 EXISTS\r\n* OK [HIGHESTMODSEQ 9223372036854775807]\r\n* 0 7 NIL xy\r\n4294967295\r\n"
	if err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

func TestEncoderLiteral(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		data    string
		binary  bool
		want    string
		wantErr bool
		sticky  bool
	}{
		{"exact", 5, "hello", false, "{5}\r\nhello", false, false},
		{"empty", 0, "", false, "{0}\r\n", false, false},
		{"binary", 3, "a\x00b", true, "~{3}\r\na\x00b", false, false},
		{"short", 10, "hello", false, "{10}\r\nhello", true, true},
		{"long", 3, "hello", false, "{3}\r\nhel", true, false},
		{"negative", -1, "", false, "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			e := NewEncoder(w)
			err := e.Literal(tt.size, strings.NewReader(tt.data), tt.binary)
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrLiteralSize) {
				t.Errorf("err = %v, want ErrLiteralSize", err)
			}
			if (e.Err() != nil) != tt.sticky {
				t.Errorf("Err() = %v, want sticky %v", e.Err(), tt.sticky)
			}
			w.Flush()
			if buf.String() != tt.want {
				t.Errorf("wrote %q, want %q", buf.String(), tt.want)
			}
		})
	}

	// An error from the reader is returned and is sticky.
	boom := errors.New("disk error")
	var buf bytes.Buffer
	e := NewEncoder(bufio.NewWriter(&buf))
	if err := e.Literal(10, io.MultiReader(strings.NewReader("abc"), errReader{boom}), false); !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v", err, boom)
	}
	if !errors.Is(e.Err(), boom) {
		t.Errorf("Err() = %v, want %v", e.Err(), boom)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestEncoderStickyError(t *testing.T) {
	boom := errors.New("connection reset")
	e := NewEncoder(bufio.NewWriterSize(errWriter{boom}, 16))
	e.Star().Atom(strings.Repeat("x", 100)).CRLF()
	if !errors.Is(e.Err(), boom) {
		t.Fatalf("Err() = %v, want %v", e.Err(), boom)
	}
	if err := e.Flush(); !errors.Is(err, boom) {
		t.Errorf("Flush = %v", err)
	}
	if err := e.Literal(1, strings.NewReader("x"), false); !errors.Is(err, boom) {
		t.Errorf("Literal = %v", err)
	}
}

func TestEncoderSetWriter(t *testing.T) {
	var a, b bytes.Buffer
	wa := bufio.NewWriter(&a)
	e := NewEncoder(wa)
	if e.Writer() != wa {
		t.Error("Writer")
	}
	e.Atom("x")
	e.Flush()
	e.SetWriter(bufio.NewWriter(&b))
	e.Atom("y")
	e.Flush()
	if a.String() != "x" || b.String() != "y" {
		t.Errorf("a %q, b %q", a.String(), b.String())
	}
}

func TestEncoderDateTime(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(1996, 7, 17, 2, 44, 25, 0, time.FixedZone("", -7*3600)), `"17-Jul-1996 02:44:25 -0700"`},
		{time.Date(2026, 1, 2, 3, 4, 5, 999, time.UTC), `"02-Jan-2026 03:04:05 +0000"`},
		{time.Date(2026, 12, 31, 23, 59, 59, 0, time.FixedZone("", 5*3600+1800)), `"31-Dec-2026 23:59:59 +0530"`},
	}
	for _, tt := range tests {
		got, _ := encode(false, func(e *Encoder) { e.DateTime(tt.t) })
		if got != tt.want {
			t.Errorf("DateTime(%v) = %s, want %s", tt.t, got, tt.want)
		}
		// The decoder reads back the same instant.
		d, _ := newTestDecoder(got, DecoderOptions{})
		back, ok := d.DateTime()
		if !ok || !back.Equal(tt.t.Truncate(time.Second)) {
			t.Errorf("DateTime(%s) read back as %v, %v", got, back, ok)
		}
	}
}

// What the encoder writes, the decoder reads back (NUL excepted: it may
// only appear in literal8).
func TestEncoderDecoderRoundTrip(t *testing.T) {
	inputs := []string{
		"", "INBOX", "NIL", "a b", `"\`, "a\r\nb", "台北/日本語", "\xff\xfe",
		"~peter", strings.Repeat("z", 2000), "]", "a]b", "{5}", "{5+}\r\n",
	}
	for _, utf8 := range []bool{false, true} {
		for _, in := range inputs {
			for _, kind := range []string{"String", "AString", "NString"} {
				out, _ := encode(utf8, func(e *Encoder) {
					switch kind {
					case "String":
						e.String(in)
					case "AString":
						e.AString(in)
					case "NString":
						e.NString(in)
					}
					e.CRLF()
				})
				d, _ := newTestDecoder(out, DecoderOptions{})
				var got string
				var ok bool
				switch kind {
				case "String":
					got, ok = d.String()
				case "AString":
					got, ok = d.AString()
				case "NString":
					var isNil bool
					got, isNil, ok = d.NString()
					if isNil != (in == "") {
						t.Errorf("NString(%q): isNil %v", in, isNil)
					}
				}
				if !ok || got != in || !d.CRLF() {
					t.Errorf("%s(%q, utf8=%v) wrote %q, read back %q, %v (%v)", kind, in, utf8, out, got, ok, d.Err())
				}
			}
		}
	}
}
