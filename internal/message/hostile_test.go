package message

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// repeatReader yields s n times without holding more than s.
type repeatReader struct {
	s   string
	n   int
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && r.n > 0 {
		c := copy(p, r.s[r.off:])
		p, total, r.off = p[c:], total+c, r.off+c
		if r.off == len(r.s) {
			r.off, r.n = 0, r.n-1
		}
	}
	if total == 0 && r.n == 0 {
		return 0, io.EOF
	}
	return total, nil
}

func repeat(s string, n int) io.Reader { return &repeatReader{s: s, n: n} }

// parseMeasured parses r and reports the bytes allocated while doing so.
func parseMeasured(t *testing.T, r io.Reader) (*Structure, uint64, time.Duration) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	s, err := Parse(r)
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	return s, after.TotalAlloc - before.TotalAlloc, d
}

func maxDepth(p *Part, d int) int {
	m := d
	for i := range p.Parts {
		m = max(m, maxDepth(&p.Parts[i], d+1))
	}
	if p.Message != nil {
		m = max(m, maxDepth(&p.Message.Root, d+1))
	}
	return m
}

func TestMillionParts(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 1_000_000
	head := "Subject: many parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	part := "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
	r := io.MultiReader(strings.NewReader(head), repeat(part, n), strings.NewReader("--b--\r\n"))
	s, alloc, d := parseMeasured(t, r)
	t.Logf("%d parts (%d MB): %v, %d MB allocated", n, (len(head)+n*len(part))>>20, d, alloc>>20)
	if len(s.Root.Parts) != MaxParts-1 || !s.Truncated {
		t.Errorf("%d parts, truncated %v; want %d, true", len(s.Root.Parts), s.Truncated, MaxParts-1)
	}
	if want := int64(len(head) + n*len(part) + 7); s.Size != want || s.Root.End() != want {
		t.Errorf("Size %d, root end %d, want %d", s.Size, s.Root.End(), want)
	}
	if alloc > 64<<20 {
		t.Errorf("allocated %d MB", alloc>>20)
	}
	if d > 20*time.Second {
		t.Errorf("took %v", d)
	}
	// The last part kept is followed by the skipped rest.
	last := s.Root.Parts[len(s.Root.Parts)-1]
	if last.BodySize != 1 || last.Type != "text" {
		t.Errorf("last part %+v", last)
	}
}

func TestDeepNesting(t *testing.T) {
	const n = 100_000
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	buf.WriteString("\r\ninnermost\r\n")
	data := buf.Bytes()
	s, alloc, d := parseMeasured(t, bytes.NewReader(data))
	t.Logf("%d levels: %v, %d KB allocated", n, d, alloc>>10)
	if err := checkStructure(data, s); err != nil {
		t.Fatal(err)
	}
	if got := maxDepth(&s.Root, 0); got != MaxDepth || !s.Truncated {
		t.Errorf("depth %d, truncated %v", got, s.Truncated)
	}

	buf.Reset()
	for range n {
		buf.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	buf.WriteString("Subject: deepest\r\n\r\nhi\r\n")
	data = buf.Bytes()
	s = mustParse(t, data)
	if got := maxDepth(&s.Root, 0); got != MaxDepth || !s.Truncated {
		t.Errorf("message/rfc822 depth %d, truncated %v", got, s.Truncated)
	}
	p := &s.Root
	for p.Message != nil {
		p = &p.Message.Root
	}
	if p.Type != "message" || p.BodyStart != int64((MaxDepth+1)*len("Content-Type: message/rfc822\r\n\r\n")) {
		t.Errorf("innermost parsed part %+v", p)
	}
}

func TestHugeHeaderLine(t *testing.T) {
	const n = 10 << 20
	r := io.MultiReader(strings.NewReader("From: a@b\r\nSubject: "), repeat("a", n),
		strings.NewReader("\r\nX-Other: "), repeat("b", n), strings.NewReader("\r\n\r\nbody\r\n"))
	s, alloc, _ := parseMeasured(t, r)
	if len(s.Envelope.Subject) != MaxHeaderValue-len("Subject: ") || strings.Trim(s.Envelope.Subject, "a") != "" {
		t.Errorf("Subject of %d bytes", len(s.Envelope.Subject))
	}
	if s.Root.BodySize != 6 || s.Root.Lines != 1 || s.Preview != "body" {
		t.Errorf("root %+v, preview %q", s.Root, s.Preview)
	}
	if alloc > 4<<20 {
		t.Errorf("allocated %d KB for a 20 MB header", alloc>>10)
	}
	// A huge header name and many fields.
	r = io.MultiReader(repeat("X", n), strings.NewReader(": v\r\n"), repeat("X-Field: value\r\n", 500_000), strings.NewReader("\r\n"))
	s, alloc, _ = parseMeasured(t, r)
	if len(s.HeaderNames) != 1 || alloc > 4<<20 {
		t.Errorf("header names %q, %d KB allocated", s.HeaderNames, alloc>>10)
	}
}

func TestHugeBodyLine(t *testing.T) {
	// A 10 MB line in a multipart, with the boundary right after it.
	r := io.MultiReader(strings.NewReader("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
		repeat("QUJD", 10<<18), strings.NewReader("\r\n--x--\r\n"))
	s, alloc, _ := parseMeasured(t, r)
	p := s.Root.Parts[0]
	if p.BodySize != 10<<20 || p.DecodedSize != 3*10<<18 || p.Lines != 1 {
		t.Errorf("part %+v", p)
	}
	if alloc > 4<<20 {
		t.Errorf("allocated %d KB", alloc>>10)
	}
}

// TestCRLFAcrossBuffer puts the CR of a long line's CRLF at the end of the
// read buffer, with a boundary after: the CRLF must still go with the
// boundary.
func TestCRLFAcrossBuffer(t *testing.T) {
	for _, size := range []int{16, 64, readBufSize} {
		for shift := -3; shift <= 3; shift++ {
			head := "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n"
			n := 3*size - (len(head) % size) - 1 + shift
			if n < 1 {
				continue
			}
			line := strings.Repeat("y", n)
			data := []byte(head + line + "\r\n--x\r\n\r\nz\r\n--x--")
			s, err := parseReader(bufio.NewReaderSize(bytes.NewReader(data), size))
			if err != nil {
				t.Fatal(err)
			}
			if err := checkStructure(data, s); err != nil {
				t.Fatalf("size %d shift %d: %v", size, shift, err)
			}
			if len(s.Root.Parts) != 2 {
				t.Fatalf("size %d shift %d: %d parts", size, shift, len(s.Root.Parts))
			}
			p := &s.Root.Parts[0]
			if got := string(data[p.BodyStart:p.End()]); got != line {
				t.Errorf("size %d shift %d: body %d bytes, want %d", size, shift, len(got), len(line))
			}
		}
	}
}

func TestMetaBudget(t *testing.T) {
	// Many parts with big parameters: the kept strings stay within MaxMeta.
	long := strings.Repeat("p", 60<<10)
	part := "--b\r\nContent-Type: text/plain; name=\"" + long + "\"\r\nContent-Description: " + long[:1000] + "\r\n\r\nx\r\n"
	r := io.MultiReader(strings.NewReader("Content-Type: multipart/mixed; boundary=b\r\n\r\n"), repeat(part, 200))
	s, _, _ := parseMeasured(t, r)
	if len(s.Root.Parts) != 200 || !s.Truncated {
		t.Fatalf("%d parts, truncated %v", len(s.Root.Parts), s.Truncated)
	}
	if n := len(s.Encode()); n > MaxMeta+200*200 {
		t.Errorf("encoded structure of %d bytes", n)
	}
	// Many addresses.
	to := "To: " + strings.Repeat("a@b, ", 60<<10/5) + "\r\n\r\n"
	s = mustParse(t, []byte(to))
	if len(s.Envelope.To) != maxAddresses {
		t.Errorf("%d addresses", len(s.Envelope.To))
	}
}

func TestHostileSmall(t *testing.T) {
	inputs := []string{
		"",
		"\r\n",
		"\n",
		"no header, no blank line",
		"Subject: only a header",
		"Subject: x\r\n\r\n",
		"\x00\x00\x00\r\n\r\n\x00",
		"Subject: \x00nul\x00\r\nFrom: \x00@\x00\r\n\r\nbody\x00\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--b--\r\nQUJD",
		"Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=\r\n--b--  \r\n=41 \r\n",
		"Content-Type: message/rfc822\r\n\r\n",
		"Content-Type: message/rfc822\r\n",
		"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp4",
		"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n--d\r\n\r\nSubject: y\r\n\r\n--d--",
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\nx\r\n--a--\r\n--a--\r\n",
		"Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--ab\r\n--a\r\n--ab--\r\n",
		"Content-Type: text/plain; charset=x-nonexistent\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n\xff\xfe\r\n",
		"Content-Type: text/html; charset=utf-16\r\nContent-Transfer-Encoding: base64\r\n\r\n//48AGIAPgBoAGkAPAAvAGIAPgA=\r\n",
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n/w==",
		"Content-Type: text/html\r\n\r\n<script>" + strings.Repeat("<title>", 1000),
		" folded first line\r\n\tmore\r\n\r\nbody",
		"From: \"unterminated\r\nTo: (unterminated comment\r\nCc: <\r\nBcc: @@@,,,::;;;<<>>\r\nReply-To: ;\r\nSender: g:a@b,\r\n\r\n",
		"Content-Type: (comment) text / plain (c) ; charset = \"utf-8\" (c)\r\n\r\n\xc3\xa9",
		"Content-Disposition: ; ; = ; =x\r\nContent-Language: ,,, (x) en ,\r\n\r\n",
		strings.Repeat("--b\r\n", 100),
		"\r\n--b\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=b\n\n--b\r\n\r\nmixed\n--b--\r",
		"Content-Type: multipart/mixed; boundary=b\r\r\n\r\n--b\r\r\n\r\nx\r\r\n--b--\r\r\n",
	}
	for i, in := range inputs {
		data := []byte(in)
		s, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if err := checkStructure(data, s); err != nil {
			t.Errorf("%d %q: %v", i, in, err)
		}
		for _, size := range []int{16, 17, 19} {
			s, err := parseReader(bufio.NewReaderSize(bytes.NewReader(data), size))
			if err != nil {
				t.Fatal(err)
			}
			if err := checkStructure(data, s); err != nil {
				t.Errorf("%d %q, buffer %d: %v", i, in, size, err)
			}
		}
	}
}

func TestFallbacks(t *testing.T) {
	s := mustParse(t, readFixture(t, "no-boundary.eml"))
	if s.Root.Type != "text" || s.Root.Subtype != "plain" || len(s.Root.Parts) != 0 {
		t.Errorf("multipart without boundary: %s/%s with %d parts", s.Root.Type, s.Root.Subtype, len(s.Root.Parts))
	}
	s = mustParse(t, readFixture(t, "broken-mime.eml"))
	if len(s.Root.Parts) != 3 || s.Root.Parts[1].Type != "text" || s.Root.Parts[2].Subtype != "html" {
		t.Errorf("broken MIME parts %+v", s.Root.Parts)
	}
	// An encoded message/rfc822 is not parsed.
	s = mustParse(t, []byte("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp4\r\n"))
	if s.Root.Message != nil || s.Root.DecodedSize != 15 {
		t.Errorf("base64 message/rfc822: %+v", s.Root)
	}
	// Bad Content-Type: the default.
	s = mustParse(t, []byte("Content-Type: garbage\r\n\r\nx"))
	if s.Root.Type != "text" || s.Root.Subtype != "plain" || s.Root.Param("charset") != "us-ascii" {
		t.Errorf("bad Content-Type gives %+v", s.Root)
	}
}

type errAfter struct {
	r   io.Reader
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

func TestReaderError(t *testing.T) {
	boom := errors.New("boom")
	data := readFixture(t, "mixed-attachment.eml")
	for _, r := range []io.Reader{
		&errAfter{bytes.NewReader(data), boom},
		&errAfter{iotest.HalfReader(bytes.NewReader(data)), boom},
		iotest.ErrReader(boom),
	} {
		if s, err := Parse(r); !errors.Is(err, boom) || s != nil {
			t.Errorf("Parse = %v, %v; want the reader's error", s, err)
		}
	}
	if _, err := Parse(iotest.TimeoutReader(bytes.NewReader(data))); !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("Parse = %v, want timeout", err)
	}
}

func TestParseConcurrent(t *testing.T) {
	var all [][]byte
	for _, f := range fixtures(t) {
		all = append(all, readFixture(t, filepathBase(f)))
	}
	done := make(chan error)
	for i := range 8 {
		go func() {
			for j := range 20 {
				data := all[(i+j)%len(all)]
				s, err := Parse(bytes.NewReader(data))
				if err == nil {
					err = checkStructure(data, s)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func filepathBase(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }
