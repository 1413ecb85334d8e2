package imapwire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// newTestDecoder returns a decoder on input whose Continue counts its calls.
func newTestDecoder(input string, opts DecoderOptions) (*Decoder, *int) {
	calls := new(int)
	if opts.Continue == nil {
		opts.Continue = func() error { *calls++; return nil }
	}
	return NewDecoder(bufio.NewReader(strings.NewReader(input)), opts), calls
}

// rest returns what the decoder has not consumed.
func rest(t *testing.T, d *Decoder) string {
	t.Helper()
	b, err := io.ReadAll(d.Reader())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAtom(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
		rest string
	}{
		{"NOOP\r\n", "NOOP", true, "\r\n"},
		{"x-y.z!#&'+,-./:;<=>?@^_`|~ ", "x-y.z!#&'+,-./:;<=>?@^_`|~", true, " "},
		{"ab(c", "ab", true, "(c"},
		{"ab)c", "ab", true, ")c"},
		{"ab{c", "ab", true, "{c"},
		{"ab%c", "ab", true, "%c"},
		{"ab*c", "ab", true, "*c"},
		{"ab\"c", "ab", true, "\"c"},
		{"ab\\c", "ab", true, "\\c"},
		{"ab]c", "ab", true, "]c"},
		{"ab\x7fc", "ab", true, "\x7fc"},
		{"abé", "ab", true, "é"},
		{"ab\x01", "ab", true, "\x01"},
		{"", "", false, ""},
		{" x", "", false, " x"},
		{"(x", "", false, "(x"},
		{"\r\n", "", false, "\r\n"},
		{"é", "", false, "é"},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.Atom()
		if ok != tt.ok || got != tt.want {
			t.Errorf("Atom(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok != (d.Err() == nil) {
			t.Errorf("Atom(%q): ok %v but Err %v", tt.in, ok, d.Err())
		}
		if r := rest(t, d); r != tt.rest {
			t.Errorf("Atom(%q) left %q, want %q", tt.in, r, tt.rest)
		}
	}
}

func TestAtomAtEOF(t *testing.T) {
	d, _ := newTestDecoder("abc", DecoderOptions{})
	if _, ok := d.Atom(); ok {
		t.Fatal("Atom at EOF succeeded")
	}
	if !errors.Is(d.Err(), io.EOF) || !IsFatal(d.Err()) {
		t.Errorf("Err = %v, want fatal io.EOF", d.Err())
	}
}

func TestTokenUTF8(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"台北 x", "台北", true},
		{"abc]é)", "abc]é", true},
		{"\xff\xfe ", "\xff\xfe", true}, // callers check UTF-8
		{"(台北", "", false},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.TokenUTF8("a name", IsAStringChar)
		if ok != tt.ok || got != tt.want {
			t.Errorf("TokenUTF8(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	// Token never takes 8-bit bytes, whatever valid says.
	d, _ := newTestDecoder("abé", DecoderOptions{})
	if got, ok := d.Token("x", func(byte) bool { return true }); !ok || got != "ab" {
		t.Errorf("Token = %q, %v; want \"ab\", true", got, ok)
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"0 ", 0, true},
		{"1)", 1, true},
		{"007\r\n", 7, true},
		{"4294967295 ", 1<<32 - 1, true},
		{"4294967296 ", 0, false},
		{"99999999999999999999999999 ", 0, false},
		{"-1 ", 0, false},
		{"+1 ", 0, false},
		{"x ", 0, false},
		{" 1", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.Number()
		if ok != tt.ok || got != tt.want {
			t.Errorf("Number(%q) = %d, %v; want %d, %v (err %v)", tt.in, got, ok, tt.want, tt.ok, d.Err())
		}
	}
}

func TestNZNumber(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"1 ", 1, true},
		{"4294967295 ", 1<<32 - 1, true},
		{"0 ", 0, false},
		{"000 ", 0, false},
		{"4294967296 ", 0, false},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.NZNumber()
		if ok != tt.ok || got != tt.want {
			t.Errorf("NZNumber(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNumber64(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0 ", 0, true},
		{"4294967296 ", 1 << 32, true},
		{"9223372036854775807 ", 1<<63 - 1, true},
		{"9223372036854775808 ", 0, false},
		{"18446744073709551615 ", 0, false},
		{"x", 0, false},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.Number64()
		if ok != tt.ok || got != tt.want {
			t.Errorf("Number64(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if !ok && IsFatal(d.Err()) {
			t.Errorf("Number64(%q): fatal error %v", tt.in, d.Err())
		}
	}
}

func TestQuoted(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		ok    bool
		fatal bool
		rest  string
	}{
		{`"" x`, "", true, false, " x"},
		{`"INBOX" x`, "INBOX", true, false, " x"},
		{`"a\"b\\c"`, `a"b\c`, true, false, ""},
		{`"\\"`, `\`, true, false, ""},
		{`"a b (c) {3} * %"`, "a b (c) {3} * %", true, false, ""},
		{`"台北"`, "台北", true, false, ""},
		{"\"\xff\"", "\xff", true, false, ""}, // 8-bit is the caller's business
		{"\"\x01\x7f\"", "\x01\x7f", true, false, ""},
		{`"a\nb"`, "", false, false, `b"`},
		{`"a\`, "", false, true, ""},
		{`"abc`, "", false, true, ""},
		{"\"ab\r\nA2 NOOP\r\n", "", false, false, "\r\nA2 NOOP\r\n"},
		{"\"ab\nA2 NOOP\r\n", "", false, false, "\nA2 NOOP\r\n"},
		{"\"ab\\\nA2 NOOP\r\n", "", false, false, "\nA2 NOOP\r\n"},
		{"\"a\x00b\"", "", false, false, `b"`},
		{`abc`, "", false, false, "abc"},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.Quoted()
		if ok != tt.ok || got != tt.want {
			t.Errorf("Quoted(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if !ok && IsFatal(d.Err()) != tt.fatal {
			t.Errorf("Quoted(%q): error %v, fatal %v; want fatal %v", tt.in, d.Err(), IsFatal(d.Err()), tt.fatal)
		}
		if r := rest(t, d); r != tt.rest {
			t.Errorf("Quoted(%q) left %q, want %q", tt.in, r, tt.rest)
		}
	}
}

// A CR or LF inside a quoted string ends the command; DiscardLine must not
// swallow the next one.
func TestQuotedLineEndRecovery(t *testing.T) {
	for _, in := range []string{
		"A1 LOGIN \"ab\r\nA2 NOOP\r\n",
		"A1 LOGIN \"ab\nA2 NOOP\r\n",
		"A1 LOGIN \"ab\\\r\nA2 NOOP\r\n",
	} {
		d, _ := newTestDecoder(in, DecoderOptions{})
		d.Atom()
		d.SP()
		d.Atom()
		d.SP()
		if _, ok := d.AString(); ok {
			t.Fatalf("%q: AString succeeded", in)
		}
		if !d.DiscardLine() {
			t.Fatalf("%q: DiscardLine: %v", in, d.Err())
		}
		d.Reset()
		if tag, ok := d.Atom(); !ok || tag != "A2" {
			t.Errorf("%q: next tag = %q, %v; want A2", in, tag, ok)
		}
	}
}

// gatedReader hands out its first part at once and the rest only after the
// gate opens, like a client that waits for "+" before sending a literal.
type gatedReader struct {
	t     *testing.T
	parts []string
	open  *bool
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if len(g.parts) == 0 {
		return 0, io.EOF
	}
	if len(g.parts) == 1 && !*g.open {
		g.t.Error("literal read before the continuation request")
		return 0, io.EOF
	}
	n := copy(p, g.parts[0])
	g.parts[0] = g.parts[0][n:]
	if g.parts[0] == "" {
		g.parts = g.parts[1:]
	}
	return n, nil
}

func TestSyncLiteralContinue(t *testing.T) {
	open := false
	calls := 0
	g := &gatedReader{t: t, parts: []string{"A1 LOGIN {5}\r\n", "fred\" {4+}\r\npass\r\n"}, open: &open}
	d := NewDecoder(bufio.NewReader(g), DecoderOptions{Continue: func() error {
		calls++
		open = true
		return nil
	}})
	d.Atom()
	d.SP()
	d.Atom()
	d.SP()
	user, ok := d.AString()
	if !ok || user != "fred\"" {
		t.Fatalf("user = %q, %v (%v)", user, ok, d.Err())
	}
	if calls != 1 {
		t.Errorf("Continue called %d times, want 1", calls)
	}
	d.SP()
	pass, ok := d.AString()
	if !ok || pass != "pass" {
		t.Fatalf("pass = %q, %v (%v)", pass, ok, d.Err())
	}
	if calls != 1 {
		t.Errorf("Continue called %d times after {4+}, want 1", calls)
	}
	if !d.CRLF() {
		t.Fatal(d.Err())
	}
}

func TestContinueError(t *testing.T) {
	boom := errors.New("write failed")
	d, _ := newTestDecoder("{3}\r\nabc", DecoderOptions{Continue: func() error { return boom }})
	if _, ok := d.String(); ok {
		t.Fatal("String succeeded")
	}
	if !errors.Is(d.Err(), boom) || !IsFatal(d.Err()) {
		t.Errorf("Err = %v, want fatal %v", d.Err(), boom)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		ok    bool
		calls int
		rest  string
	}{
		{`"abc" x`, "abc", true, 0, " x"},
		{"{3}\r\nabc x", "abc", true, 1, " x"},
		{"{0}\r\n x", "", true, 1, " x"},
		{"{3+}\r\nabc x", "abc", true, 0, " x"},
		{"{3}\nabc", "abc", true, 1, ""},
		{"{5}\r\na\r\nb\" x", "a\r\nb\"", true, 1, " x"},
		{"{6}\r\n台北", "台北", true, 1, ""},
		{"~{3}\r\na\x00b x", "a\x00b", true, 1, " x"},
		{"~{3+}\r\na\x00b", "a\x00b", true, 0, ""},
		{"{3}\r\na\x00b x", "", false, 1, " x"},
		{"{3}\r\nab", "", false, 1, ""},
		{"{3} \r\nabc", "", false, 0, " \r\nabc"},
		{"{3}x", "", false, 0, "x"},
		{"{}\r\n", "", false, 0, "}\r\n"},
		{"{-1}\r\n", "", false, 0, "-1}\r\n"},
		{"{3+ }\r\n", "", false, 0, " }\r\n"},
		{"~3}\r\n", "", false, 0, "3}\r\n"},
		{"abc", "", false, 0, "abc"},
		{"NIL", "", false, 0, "NIL"},
	}
	for _, tt := range tests {
		d, calls := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.String()
		if ok != tt.ok || got != tt.want {
			t.Errorf("String(%q) = %q, %v; want %q, %v (err %v)", tt.in, got, ok, tt.want, tt.ok, d.Err())
		}
		if *calls != tt.calls {
			t.Errorf("String(%q): Continue called %d times, want %d", tt.in, *calls, tt.calls)
		}
		if r := rest(t, d); r != tt.rest {
			t.Errorf("String(%q) left %q, want %q", tt.in, r, tt.rest)
		}
	}
}

func TestAString(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		ok    bool
		calls int
	}{
		{"INBOX ", "INBOX", true, 0},
		{"a]b)", "a]b", true, 0},
		{"~peter/mail/&U,BTFw- x", "~peter/mail/&U,BTFw-", true, 0},
		{"~ x", "~", true, 0},
		{"台北/日本語 x", "台北/日本語", true, 0},
		{`"a b" x`, "a b", true, 0},
		{"{3}\r\na b x", "a b", true, 1},
		{"{3+}\r\na b x", "a b", true, 0},
		{"~{3}\r\na\x00b", "a\x00b", true, 1},
		{"(a", "", false, 0},
		{"%", "", false, 0},
		{"*", "", false, 0},
		{" ", "", false, 0},
		{"\r\n", "", false, 0},
	}
	for _, tt := range tests {
		d, calls := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.AString()
		if ok != tt.ok || got != tt.want {
			t.Errorf("AString(%q) = %q, %v; want %q, %v (err %v)", tt.in, got, ok, tt.want, tt.ok, d.Err())
		}
		if *calls != tt.calls {
			t.Errorf("AString(%q): Continue called %d times, want %d", tt.in, *calls, tt.calls)
		}
	}
}

func TestNString(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		isNil bool
		ok    bool
	}{
		{"NIL ", "", true, true},
		{"nil)", "", true, true},
		{"Nil\r\n", "", true, true},
		{`"NIL"`, "NIL", false, true},
		{`""`, "", false, true},
		{"{3}\r\nNIL", "NIL", false, true},
		{"{2+}\r\nab", "ab", false, true},
		{"NILS ", "", false, false},
		{"NI ", "", false, false},
		{"nothing ", "", false, false},
		{"abc ", "", false, false},
		{"(", "", false, false},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, isNil, ok := d.NString()
		if ok != tt.ok || got != tt.want || isNil != tt.isNil {
			t.Errorf("NString(%q) = %q, %v, %v; want %q, %v, %v", tt.in, got, isNil, ok, tt.want, tt.isNil, tt.ok)
		}
	}
}

// readTagAndCommand reads "tag SP atom" of the next command after a Reset.
func readTagAndCommand(t *testing.T, d *Decoder) string {
	t.Helper()
	d.Reset()
	tag, ok := d.Atom()
	if !ok || !d.SP() {
		t.Fatalf("reading a tag: %v", d.Err())
	}
	if _, ok := d.Atom(); !ok {
		t.Fatalf("reading a command: %v", d.Err())
	}
	return tag
}

func TestLiteralTooLarge(t *testing.T) {
	opts := DecoderOptions{MaxLiteral: 10}
	t.Run("sync", func(t *testing.T) {
		d, calls := newTestDecoder("A1 LOGIN {11}\r\nA2 NOOP\r\n", opts)
		readTagAndCommand(t, d)
		d.SP()
		if _, ok := d.AString(); ok {
			t.Fatal("AString succeeded")
		}
		if *calls != 0 {
			t.Errorf("Continue called %d times for a refused literal", *calls)
		}
		if d.Err() == nil || IsFatal(d.Err()) {
			t.Fatalf("Err = %v, want a non-fatal error", d.Err())
		}
		if !d.DiscardLine() {
			t.Fatal("DiscardLine failed")
		}
		if !d.DiscardLine() {
			t.Fatal("second DiscardLine failed")
		}
		if tag := readTagAndCommand(t, d); tag != "A2" {
			t.Errorf("next tag %q, want A2", tag)
		}
	})
	t.Run("sync out of int64 range", func(t *testing.T) {
		d, calls := newTestDecoder("A1 LOGIN {99999999999999999999999}\r\nA2 NOOP\r\n", opts)
		readTagAndCommand(t, d)
		d.SP()
		if _, ok := d.AString(); ok || *calls != 0 || IsFatal(d.Err()) {
			t.Fatalf("ok %v, calls %d, err %v", ok, *calls, d.Err())
		}
		if !d.DiscardLine() {
			t.Fatal("DiscardLine failed")
		}
		if tag := readTagAndCommand(t, d); tag != "A2" {
			t.Errorf("next tag %q, want A2", tag)
		}
	})
	t.Run("non-sync small", func(t *testing.T) {
		in := "A1 LOGIN {20+}\r\n" + "0123456789\r\nA9 BAD\r\n" + " x\r\nA2 NOOP\r\n"
		d, calls := newTestDecoder(in, opts)
		readTagAndCommand(t, d)
		d.SP()
		if _, ok := d.AString(); ok {
			t.Fatal("AString succeeded")
		}
		if *calls != 0 || d.Err() == nil || IsFatal(d.Err()) {
			t.Fatalf("calls %d, err %v", *calls, d.Err())
		}
		if r, _ := d.Reader().Peek(4); string(r) != " x\r\n" {
			t.Errorf("after rejecting, next bytes %q, want \" x\\r\\n\"", r)
		}
		if !d.DiscardLine() {
			t.Fatal("DiscardLine failed")
		}
		if tag := readTagAndCommand(t, d); tag != "A2" {
			t.Errorf("next tag %q, want A2", tag)
		}
	})
	for _, size := range []string{"9999999999", "99999999999999999999999"} {
		t.Run("non-sync huge "+size, func(t *testing.T) {
			d, calls := newTestDecoder("A1 LOGIN {"+size+"+}\r\nxxxxxxxx\r\nA2 NOOP\r\n", opts)
			readTagAndCommand(t, d)
			d.SP()
			if _, ok := d.AString(); ok {
				t.Fatal("AString succeeded")
			}
			if *calls != 0 || !IsFatal(d.Err()) {
				t.Fatalf("calls %d, err %v; want a fatal error", *calls, d.Err())
			}
			var e *Error
			if !errors.As(d.Err(), &e) || !e.Fatal {
				t.Errorf("Err = %#v, want a fatal *Error", d.Err())
			}
			if d.DiscardLine() {
				t.Error("DiscardLine succeeded after a fatal error")
			}
		})
	}
}

func TestCommandLiteralBudget(t *testing.T) {
	size := 64 << 10
	n := MaxCommandLiterals/size + 1
	var sb strings.Builder
	sb.WriteString("A1 SEARCH")
	for range n {
		sb.WriteString(" TEXT {65536+}\r\n")
		sb.WriteString(strings.Repeat("x", size))
	}
	sb.WriteString("\r\nA2 NOOP\r\n")
	d, _ := newTestDecoder(sb.String(), DecoderOptions{})
	readTagAndCommand(t, d)
	read := 0
	for d.SP() {
		d.Atom()
		d.SP()
		if _, ok := d.AString(); !ok {
			break
		}
		read++
	}
	if read != n-1 {
		t.Errorf("read %d literals, want %d", read, n-1)
	}
	if d.Err() == nil || IsFatal(d.Err()) {
		t.Fatalf("Err = %v, want a non-fatal error", d.Err())
	}
	if !d.DiscardLine() {
		t.Fatal("DiscardLine failed")
	}
	if tag := readTagAndCommand(t, d); tag != "A2" {
		t.Errorf("next tag %q, want A2", tag)
	}
}

func TestLiteralHeaderAndBody(t *testing.T) {
	tests := []struct {
		in   string
		want Literal
		ok   bool
	}{
		{"{0}\r\n", Literal{Size: 0}, true},
		{"{12}\r\n", Literal{Size: 12}, true},
		{"{12+}\r\n", Literal{Size: 12, NonSync: true}, true},
		{"~{12}\r\n", Literal{Size: 12, Binary: true}, true},
		{"~{12+}\n", Literal{Size: 12, NonSync: true, Binary: true}, true},
		{"{4611686018427387904}\r\n", Literal{Size: 1 << 62}, true},
		{"{12-}\r\n", Literal{}, false},
		{"{12}", Literal{}, false},
		{"~ {12}\r\n", Literal{}, false},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.LiteralHeader()
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("LiteralHeader(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}

	// APPEND streams a literal larger than MaxLiteral.
	msg := strings.Repeat("Subject: x\r\n", 100)
	d, calls := newTestDecoder("{1200}\r\n"+msg+"\r\n", DecoderOptions{MaxLiteral: 10})
	lit, ok := d.LiteralHeader()
	if !ok {
		t.Fatal(d.Err())
	}
	r, ok := d.LiteralBody(lit)
	if !ok {
		t.Fatal(d.Err())
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != msg || *calls != 1 {
		t.Fatalf("body %d bytes, err %v, calls %d", len(b), err, *calls)
	}
	if !d.CRLF() {
		t.Fatal(d.Err())
	}

	// A short body is a fatal error.
	d, _ = newTestDecoder("{10+}\r\nabc", DecoderOptions{})
	lit, _ = d.LiteralHeader()
	r, _ = d.LiteralBody(lit)
	if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) || !IsFatal(d.Err()) {
		t.Errorf("short literal: err %v, decoder err %v", err, d.Err())
	}
}

// RejectLiteral of a synchronizing literal ends the command: the client
// waits for a response and sends nothing more of it.
func TestRejectLiteral(t *testing.T) {
	d, calls := newTestDecoder("A1 APPEND INBOX {500}\r\nA2 NOOP\r\n", DecoderOptions{})
	readTagAndCommand(t, d)
	d.SP()
	d.AString()
	d.SP()
	lit, ok := d.LiteralHeader()
	if !ok {
		t.Fatal(d.Err())
	}
	d.RejectLiteral(lit, "over quota")
	if d.Err() == nil || d.Err().Error() != "over quota" || IsFatal(d.Err()) || *calls != 0 {
		t.Fatalf("err %v, calls %d", d.Err(), *calls)
	}
	if !d.DiscardLine() {
		t.Fatal(d.Err())
	}
	if tag := readTagAndCommand(t, d); tag != "A2" {
		t.Errorf("next tag %q, want A2", tag)
	}
}

func TestList(t *testing.T) {
	// item reads an atom or, recursively, a list; it records what it saw.
	var got []string
	var d *Decoder
	var item func() bool
	item = func() bool {
		if b, _ := d.Peek(); b == '(' {
			got = append(got, "(")
			ok := d.List(item)
			got = append(got, ")")
			return ok
		}
		a, ok := d.Atom()
		if ok {
			got = append(got, a)
		}
		return ok
	}
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"()", "", true},
		{"(a)", "a", true},
		{"(a b c)", "a b c", true},
		{"(a (b (c)) () d)", "a ( b ( c ) ) ( ) d", true},
		{"(a  b)", "a", false},
		{"(a b", "a", false}, // "b" ends at EOF: no atom
		{"(a b\r\n", "a b", false},
		{"( a)", "", false},
		{"(a )", "a", false},
		{"a", "", false},
		{strings.Repeat("(", MaxDepth) + strings.Repeat(")", MaxDepth), "", true},
		{strings.Repeat("(", MaxDepth+1) + strings.Repeat(")", MaxDepth+1), "", false},
	}
	for _, tt := range tests {
		d, _ = newTestDecoder(tt.in, DecoderOptions{})
		got = got[:0]
		ok := d.List(item)
		s := strings.Join(got, " ")
		if !strings.Contains(tt.in, "((((") && (s != tt.want) {
			t.Errorf("List(%q) saw %q, want %q", tt.in, s, tt.want)
		}
		if ok != tt.ok {
			t.Errorf("List(%q) = %v, want %v (err %v)", tt.in, ok, tt.ok, d.Err())
		}
	}
}

func TestListDepth(t *testing.T) {
	in := "A1 X " + strings.Repeat("(", 100000) + "\r\nA2 NOOP\r\n"
	d, _ := newTestDecoder(in, DecoderOptions{MaxLine: 200000})
	readTagAndCommand(t, d)
	d.SP()
	var item func() bool
	item = func() bool { return d.List(item) }
	if d.List(item) {
		t.Fatal("List succeeded")
	}
	if d.Err() == nil || !strings.Contains(d.Err().Error(), "nested") || IsFatal(d.Err()) {
		t.Fatalf("Err = %v, want a non-fatal nesting error", d.Err())
	}
	if d.depth != 0 {
		t.Errorf("depth %d after List returned, want 0", d.depth)
	}
	if !d.DiscardLine() {
		t.Fatal(d.Err())
	}
	if tag := readTagAndCommand(t, d); tag != "A2" {
		t.Errorf("next tag %q, want A2", tag)
	}
}

func TestEnterLeave(t *testing.T) {
	d, _ := newTestDecoder("", DecoderOptions{})
	for i := range MaxDepth {
		if !d.Enter() {
			t.Fatalf("Enter failed at depth %d", i+1)
		}
	}
	if d.Enter() {
		t.Fatal("Enter succeeded beyond MaxDepth")
	}
	for range MaxDepth + 1 {
		d.Leave()
	}
	if d.depth != 0 {
		t.Errorf("depth %d, want 0", d.depth)
	}
}

func TestCRLF(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		rest string
	}{
		{"\r\nA2", true, "A2"},
		{"\nA2", true, "A2"},
		{"\r\r\n", false, "\r\n"},
		{"\rx\n", false, "x\n"},
		{" \r\n", false, " \r\n"},
		{"x", false, "x"},
		{"", false, ""},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		if ok := d.CRLF(); ok != tt.ok {
			t.Errorf("CRLF(%q) = %v, want %v", tt.in, ok, tt.ok)
		}
		if r := rest(t, d); r != tt.rest {
			t.Errorf("CRLF(%q) left %q, want %q", tt.in, r, tt.rest)
		}
	}
	d, _ := newTestDecoder("\r\n\r\n", DecoderOptions{})
	if !d.AtEOL() || !d.CRLF() || !d.AtEOL() {
		t.Error("AtEOL")
	}
}

func TestLineTooLong(t *testing.T) {
	const max = 100
	long := "A1 LOGIN " + strings.Repeat("x", 2*max) + " y\r\n"
	d, _ := newTestDecoder(long+"A2 NOOP\r\n", DecoderOptions{MaxLine: max})
	readTagAndCommand(t, d)
	d.SP()
	if _, ok := d.AString(); ok {
		t.Fatal("AString succeeded")
	}
	if d.Err() == nil || d.Err().Error() != ErrLineTooLong.Error() || IsFatal(d.Err()) {
		t.Fatalf("Err = %v, want a non-fatal %v", d.Err(), ErrLineTooLong)
	}
	if !d.DiscardLine() {
		t.Fatal(d.Err())
	}
	if tag := readTagAndCommand(t, d); tag != "A2" {
		t.Errorf("next tag %q, want A2", tag)
	}

	// Special and CRLF fail at the limit instead of reporting success.
	d, _ = newTestDecoder("ab \r\n", DecoderOptions{MaxLine: 2})
	d.Atom()
	if d.Special(' ') {
		t.Error("Special succeeded beyond MaxLine")
	}
	d, _ = newTestDecoder("ab\nA2", DecoderOptions{MaxLine: 2})
	d.Atom()
	if d.CRLF() {
		t.Error("CRLF succeeded beyond MaxLine")
	}

	// The limit is on the command, literals excluded: text after a literal
	// counts too.
	in := "A1 X {3+}\r\nabc " + strings.Repeat("y", max) + "\r\nA2 NOOP\r\n"
	d, _ = newTestDecoder(in, DecoderOptions{MaxLine: max})
	readTagAndCommand(t, d)
	d.SP()
	if s, ok := d.AString(); !ok || s != "abc" {
		t.Fatalf("AString = %q, %v", s, ok)
	}
	d.SP()
	if _, ok := d.Atom(); ok {
		t.Error("Atom succeeded beyond MaxLine")
	}
	if !d.DiscardLine() {
		t.Fatal(d.Err())
	}
	if tag := readTagAndCommand(t, d); tag != "A2" {
		t.Errorf("next tag %q, want A2", tag)
	}
}

// DiscardLine skips non-synchronizing literals, whose bytes may hold
// anything, even what looks like a command.
func TestDiscardLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// read consumes part of the bad command.
		read func(d *Decoder)
	}{
		{"literal after the error", "A1 FOO bar {11+}\r\nA9 LOGOUT\r\n more {5+}\r\nA8 X\n\r\nA2 NOOP\r\n",
			func(d *Decoder) { d.SP(); d.Number() }},
		{"literal8", "A1 FOO bar ~{12+}\r\n\x00A9 LOGOUT\r\n\r\nA2 NOOP\r\n",
			func(d *Decoder) { d.SP(); d.Number() }},
		{"leading zeros", "A1 FOO bar {0000000000000000000000000000000000000011+}\r\nA9 LOGOUT\r\n\r\nA2 NOOP\r\n",
			func(d *Decoder) { d.SP(); d.Number() }},
		{"bare LF", "A1 FOO bar {11+}\nA9 LOGOUT\r\n\nA2 NOOP\r\n",
			func(d *Decoder) { d.SP(); d.Number() }},
		{"sync literal is not skipped", "A1 FOO bar {11}\r\nA2 NOOP\r\n",
			func(d *Decoder) { d.SP(); d.Number() }},
		{"no error", "A1 FOO bar baz\r\nA2 NOOP\r\n",
			func(d *Decoder) {}},
		{"header read, body not", "A1 FOO {11+}\r\nA9 LOGOUT\r\n x\r\nA2 NOOP\r\n",
			func(d *Decoder) { d.SP(); d.LiteralHeader() }},
		{"sync header read, body not", "A1 FOO {11}\r\nA2 NOOP\r\n",
			func(d *Decoder) { d.SP(); d.LiteralHeader() }},
		{"body partly read", "A1 FOO {11}\r\nA9 LOGOUT\r\n x\r\nA2 NOOP\r\n",
			func(d *Decoder) {
				d.SP()
				lit, _ := d.LiteralHeader()
				r, _ := d.LiteralBody(lit)
				io.ReadFull(r, make([]byte, 3))
			}},
		{"header split by the error", "A1 FOO (a {11+}\r\nA9 LOGOUT\r\n)\r\nA2 NOOP\r\n",
			func(d *Decoder) {
				d.SP()
				d.List(func() bool {
					d.Atom()
					d.SP()
					d.ExpectSpecial('{')
					d.Number()
					return d.ExpectSpecial('}') // fails at "+"
				})
			}},
		{"command already over", "A1 FOO\r\nA2 NOOP\r\n",
			func(d *Decoder) { d.CRLF() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, calls := newTestDecoder(tt.in, DecoderOptions{})
			readTagAndCommand(t, d)
			tt.read(d)
			if !d.DiscardLine() {
				t.Fatalf("DiscardLine: %v", d.Err())
			}
			if !d.DiscardLine() {
				t.Fatalf("second DiscardLine: %v", d.Err())
			}
			if tag := readTagAndCommand(t, d); tag != "A2" {
				t.Errorf("next tag %q, want A2", tag)
			}
			want := 0
			if strings.Contains(tt.name, "partly") {
				want = 1
			}
			if *calls != want {
				t.Errorf("Continue called %d times, want %d", *calls, want)
			}
		})
	}
}

// A "{n+}" header cut in two by MaxLine is still skipped.
func TestDiscardLineHeaderAtMaxLine(t *testing.T) {
	prefix := "A1 FOO "
	for cut := 1; cut <= len("{11+}\r"); cut++ {
		in := prefix + "{11+}\r\nA9 LOGOUT\r\n\r\nA2 NOOP\r\n"
		d, _ := newTestDecoder(in, DecoderOptions{MaxLine: len(prefix) + cut})
		readTagAndCommand(t, d)
		d.SP()
		d.AString()
		if d.Err() == nil {
			t.Fatalf("cut %d: no error", cut)
		}
		if !d.DiscardLine() {
			t.Fatalf("cut %d: DiscardLine: %v", cut, d.Err())
		}
		if tag := readTagAndCommand(t, d); tag != "A2" {
			t.Errorf("cut %d: next tag %q, want A2", cut, tag)
		}
	}
}

func TestDiscardLineEOF(t *testing.T) {
	for _, in := range []string{"A1 FOO bar", "A1 FOO {5+}\r\nab", "A1 FOO {99999999+}\r\n"} {
		d, _ := newTestDecoder(in, DecoderOptions{})
		readTagAndCommand(t, d)
		d.SP()
		d.Number()
		if d.DiscardLine() {
			t.Errorf("%q: DiscardLine succeeded", in)
		}
		if !IsFatal(d.Err()) {
			t.Errorf("%q: Err = %v, want fatal", in, d.Err())
		}
	}
}

func TestStickyErrors(t *testing.T) {
	d, calls := newTestDecoder("x 1 \"q\" {1}\r\na (a) 1:2 \r\n", DecoderOptions{})
	if _, ok := d.Number(); ok {
		t.Fatal("Number succeeded")
	}
	first := d.Err()
	checks := []struct {
		name string
		ok   bool
	}{
		{"Atom", func() bool { _, ok := d.Atom(); return ok }()},
		{"SP", d.SP()},
		{"Special", d.Special('x')},
		{"Number", func() bool { _, ok := d.Number(); return ok }()},
		{"Number64", func() bool { _, ok := d.Number64(); return ok }()},
		{"Quoted", func() bool { _, ok := d.Quoted(); return ok }()},
		{"String", func() bool { _, ok := d.String(); return ok }()},
		{"AString", func() bool { _, ok := d.AString(); return ok }()},
		{"NString", func() bool { _, _, ok := d.NString(); return ok }()},
		{"LiteralHeader", func() bool { _, ok := d.LiteralHeader(); return ok }()},
		{"LiteralBody", func() bool { _, ok := d.LiteralBody(Literal{Size: 1}); return ok }()},
		{"List", d.List(func() bool { return true })},
		{"SeqSet", func() bool { _, ok := d.SeqSet(); return ok }()},
		{"DateTime", func() bool { _, ok := d.DateTime(); return ok }()},
		{"Date", func() bool { _, ok := d.Date(); return ok }()},
		{"AtEOL", d.AtEOL()},
		{"CRLF", d.CRLF()},
	}
	for _, c := range checks {
		if c.ok {
			t.Errorf("%s succeeded after an error", c.name)
		}
	}
	if d.Err() != first {
		t.Errorf("Err changed from %v to %v", first, d.Err())
	}
	if *calls != 0 {
		t.Errorf("Continue called %d times", *calls)
	}
	if r := rest(t, d); r != "x 1 \"q\" {1}\r\na (a) 1:2 \r\n" {
		t.Errorf("input consumed after the error: %q left", r)
	}
}

func TestReset(t *testing.T) {
	d, _ := newTestDecoder("x NOOP\r\n", DecoderOptions{})
	d.Number()
	if d.Err() == nil {
		t.Fatal("no error")
	}
	d.Reset()
	if d.Err() != nil {
		t.Fatalf("Err after Reset = %v", d.Err())
	}
	if a, ok := d.Atom(); !ok || a != "x" {
		t.Fatalf("Atom after Reset = %q, %v", a, ok)
	}
}

func TestReadLine(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		fatal bool
		rest  string
	}{
		{"AGZyZWQAcGFzcw==\r\nA2", "AGZyZWQAcGFzcw==", false, "A2"},
		{"*\nA2", "*", false, "A2"},
		{"\r\n", "", false, ""},
		{"a\rb\r\n", "a\rb", false, ""},
		{strings.Repeat("x", 16) + "\r\n", strings.Repeat("x", 16), false, ""},
		{strings.Repeat("x", 16) + "\n", strings.Repeat("x", 16), false, ""},
		{strings.Repeat("x", 17) + "\r\n", "", true, "\r\n"},
		{strings.Repeat("x", 16) + "\rx\r\n", "", true, "\r\n"},
		{"abc", "", true, ""},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{MaxLine: 16})
		got, err := d.ReadLine()
		if got != tt.want || (err != nil) != tt.fatal || (err != nil && !IsFatal(err)) {
			t.Errorf("ReadLine(%q) = %q, %v; want %q, fatal %v", tt.in, got, err, tt.want, tt.fatal)
		}
		if r := rest(t, d); r != tt.rest {
			t.Errorf("ReadLine(%q) left %q, want %q", tt.in, r, tt.rest)
		}
	}
	// After an AUTHENTICATE response line the command is over.
	d, _ := newTestDecoder("A1 AUTHENTICATE PLAIN\r\ndGVzdA==\r\nA2 NOOP\r\n", DecoderOptions{})
	readTagAndCommand(t, d)
	d.SP()
	d.Atom()
	d.CRLF()
	if _, err := d.ReadLine(); err != nil {
		t.Fatal(err)
	}
	if !d.DiscardLine() {
		t.Fatal(d.Err())
	}
	if tag := readTagAndCommand(t, d); tag != "A2" {
		t.Errorf("next tag %q, want A2", tag)
	}
}

func TestDateTime(t *testing.T) {
	pdt := time.FixedZone("", -7*3600)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{`"17-Jul-1996 02:44:25 -0700"`, time.Date(1996, 7, 17, 2, 44, 25, 0, pdt), true},
		{`" 7-Jul-1996 02:44:25 -0700"`, time.Date(1996, 7, 7, 2, 44, 25, 0, pdt), true},
		{`"07-Jul-1996 02:44:25 -0700"`, time.Date(1996, 7, 7, 2, 44, 25, 0, pdt), true},
		{`"17-jul-1996 02:44:25 -0700"`, time.Date(1996, 7, 17, 2, 44, 25, 0, pdt), true},
		{`"17-JUL-1996 02:44:25 +0000"`, time.Date(1996, 7, 17, 2, 44, 25, 0, time.UTC), true},
		{`"29-Feb-2024 23:59:59 +1400"`, time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("", 14*3600)), true},
		{`"30-Feb-2024 00:00:00 +0000"`, time.Time{}, false},
		{`"17-Jly-1996 02:44:25 -0700"`, time.Time{}, false},
		{`"17-Jul-96 02:44:25 -0700"`, time.Time{}, false},
		{`"17-Jul-1996 02:44:25"`, time.Time{}, false},
		{`"17-Jul-1996 02:44:25 PDT"`, time.Time{}, false},
		{`"17-Jul-1996 25:44:25 -0700"`, time.Time{}, false},
		{`"17-Jul-1996 02:44:25 -0700 "`, time.Time{}, false},
		{`"  7-Jul-1996 02:44:25 -0700"`, time.Time{}, false},
		{`"17-Jul-1996T02:44:25 -0700"`, time.Time{}, false},
		{`""`, time.Time{}, false},
		{`"-"`, time.Time{}, false},
		{"\"17-\xff\xfe-1996 02:44:25 -0700\"", time.Time{}, false},
		{`17-Jul-1996`, time.Time{}, false},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.DateTime()
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("DateTime(%s) = %v, %v; want %v, %v (err %v)", tt.in, got, ok, tt.want, tt.ok, d.Err())
		}
		if ok {
			if _, off := got.Zone(); func() int { _, o := tt.want.Zone(); return o }() != off {
				t.Errorf("DateTime(%s): zone offset %d", tt.in, off)
			}
		}
		if !ok && IsFatal(d.Err()) {
			t.Errorf("DateTime(%s): fatal %v", tt.in, d.Err())
		}
	}
}

func TestDate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1-Feb-1994 ", time.Date(1994, 2, 1, 0, 0, 0, 0, time.UTC), true},
		{"01-feb-1994)", time.Date(1994, 2, 1, 0, 0, 0, 0, time.UTC), true},
		{`"1-Feb-1994"`, time.Date(1994, 2, 1, 0, 0, 0, 0, time.UTC), true},
		{"31-Dec-9999\r\n", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), true},
		{"1-Feb-94 ", time.Time{}, false},
		{"32-Jan-1994 ", time.Time{}, false},
		{"1-Feb-1994x ", time.Time{}, false},
		{"Feb-1-1994 ", time.Time{}, false},
		{"(1-Feb-1994)", time.Time{}, false},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.Date()
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("Date(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSpecialAndExpect(t *testing.T) {
	d, _ := newTestDecoder("( x", DecoderOptions{})
	if d.Special(')') || d.Err() != nil {
		t.Fatal("Special(')') matched '(' or set an error")
	}
	if !d.Special('(') || !d.SP() {
		t.Fatal(d.Err())
	}
	if d.ExpectSpecial(')') || d.Err() == nil || !strings.Contains(d.Err().Error(), `')'`) {
		t.Errorf("ExpectSpecial: err %v", d.Err())
	}
	d, _ = newTestDecoder("x", DecoderOptions{})
	if d.SP() || d.Err() == nil || d.Err().Error() != "expected a space" {
		t.Errorf("SP: err %v", d.Err())
	}
}

func TestBuffered(t *testing.T) {
	d, _ := newTestDecoder("A1 NOOP\r\nA2 NOOP\r\n", DecoderOptions{})
	readTagAndCommand(t, d)
	d.CRLF()
	if !d.Buffered() {
		t.Error("Buffered = false with a pipelined command")
	}
	readTagAndCommand(t, d)
	d.CRLF()
	if d.Buffered() {
		t.Error("Buffered = true at the end")
	}
}

func TestSetReader(t *testing.T) {
	d, _ := newTestDecoder("A1 STARTTLS\r\ngarbage", DecoderOptions{})
	readTagAndCommand(t, d)
	d.CRLF()
	d.SetReader(bufio.NewReader(strings.NewReader("A2 NOOP\r\n")))
	if tag := readTagAndCommand(t, d); tag != "A2" {
		t.Errorf("tag %q", tag)
	}
}
