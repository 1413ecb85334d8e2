package message

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func fixtures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	return files
}

func mustParse(t testing.TB, data []byte) *Structure {
	t.Helper()
	s, err := Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := checkStructure(data, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGolden parses every fixture and compares the structure, as JSON, with
// testdata/NAME.golden (go test -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	for _, file := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s := mustParse(t, data)
			got := toJSON(t, s)
			golden := strings.TrimSuffix(file, ".eml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("structure differs from %s (run with -update to accept):\n%s", golden, got)
			}
			// Reading one byte at a time gives the same result.
			s2, err := Parse(iotest.OneByteReader(bytes.NewReader(data)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(toJSON(t, s2), got) {
				t.Errorf("one byte reads give another structure")
			}
		})
	}
}

func toJSON(t testing.TB, s *Structure) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// section returns the bytes an IMAP FETCH BODY[section] would, for the
// section texts this package maps to offsets.
func section(t *testing.T, data []byte, s *Structure, sec string) string {
	t.Helper()
	var path []int
	spec := ""
	for _, f := range strings.Split(sec, ".") {
		if f == "" {
			continue
		}
		n := 0
		isNum := true
		for _, c := range f {
			if c < '0' || c > '9' {
				isNum = false
				break
			}
			n = n*10 + int(c-'0')
		}
		if !isNum {
			spec = f
			break
		}
		path = append(path, n)
	}
	p, ok := s.Part(path)
	if !ok {
		t.Fatalf("section %q: no such part", sec)
	}
	header := func(p *Part) string { return string(data[p.Start:p.BodyStart]) }
	body := func(p *Part) string { return string(data[p.BodyStart:p.End()]) }
	switch spec {
	case "":
		if len(path) == 0 {
			return string(data)
		}
		return body(p)
	case "MIME":
		return header(p)
	case "HEADER", "TEXT":
		if len(path) > 0 {
			if p.Message == nil {
				t.Fatalf("section %q: not a message/rfc822 part", sec)
			}
			p = &p.Message.Root
		}
		if spec == "HEADER" {
			return header(p)
		}
		return body(p)
	}
	t.Fatalf("bad section %q", sec)
	return ""
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// TestSections checks offsets by slicing the file, as BODY[section] does.
func TestSections(t *testing.T) {
	tests := []struct {
		file, section, want string
	}{
		{"simple.eml", "1", crlf("Hi Bob,\n\nAre we still on for lunch tomorrow at noon?\n\nAlice\n")},
		{"simple.eml", "TEXT", crlf("Hi Bob,\n\nAre we still on for lunch tomorrow at noon?\n\nAlice\n")},
		{"alternative.eml", "1.MIME", crlf("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n")},
		{"alternative.eml", "1", crlf("Good news =E2=80=93 your order #778 is on its way.=20\nTrack it here: https://shop.example/track?id=3D778&lang=3Den\n\nThanks for shopping with us!")},
		{"alternative.eml", "2", crlf("<html><head><style>p {color: red}</style></head><body><p>Good news =E2=80=\n=93 your order <b>#778</b> is on its way.</p></body></html>")},
		{"mixed-attachment.eml", "1", crlf("Here is the report you asked for.\n")},
		{"mixed-attachment.eml", "2.MIME", crlf("Content-Type: application/pdf; name=\"report.pdf\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"report.pdf\"; size=600\nContent-ID: <part2.rep@example.net>\nContent-Description: Quarterly report\nContent-Language: en, de\nContent-Location: http://example.net/report.pdf\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n\n")},
		{"nested-rfc822.eml", "1", "See the forwarded message below."},
		{"nested-rfc822.eml", "2.MIME", crlf("Content-Type: message/rfc822\nContent-Disposition: inline\n\n")},
		{"nested-rfc822.eml", "2.HEADER", crlf("Date: Thu, 4 Jan 2024 17:00:00 +0000\nFrom: Judy <judy@example.org>\nSender: secretary@example.org\nTo: team@example.org\nSubject: Meeting notes\nMessage-ID: <notes-42@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=inner\n\n")},
		{"nested-rfc822.eml", "2.TEXT", crlf("--inner\nContent-Type: text/plain; charset=us-ascii\n\n1. Budget approved.\n2. Launch moved to March.\n--inner\nContent-Type: text/html; charset=us-ascii\n\n<p>1. Budget approved.</p><p>2. Launch moved to March.</p>\n--inner--")},
		{"nested-rfc822.eml", "2.1", crlf("1. Budget approved.\n2. Launch moved to March.")},
		{"nested-rfc822.eml", "2.1.MIME", crlf("Content-Type: text/plain; charset=us-ascii\n\n")},
		{"nested-rfc822.eml", "2.2", "<p>1. Budget approved.</p><p>2. Launch moved to March.</p>"},
		{"digest.eml", "1", crlf("From: kim@example.com\nSubject: First post\nDate: Fri, 5 Jan 2024 10:00:00 +0000\n\nHello list.")},
		{"digest.eml", "1.MIME", "\r\n"},
		{"digest.eml", "1.1", "Hello list."},
		{"digest.eml", "2.HEADER", crlf("From: leo@example.com\nSubject: Re: First post\nDate: Fri, 5 Jan 2024 11:00:00 +0000\nIn-Reply-To: <first@example.com>\n\n")},
		{"digest.eml", "2.TEXT", "Hello Kim."},
		{"digest.eml", "3", "Footer: unsubscribe at https://lists.example/"},
		{"bare-lf.eml", "1", "line one\nline two\n"},
		{"bare-lf.eml", "1.MIME", "Content-Type: text/plain\n\n"},
		{"bare-lf.eml", "2", "--- a/x\n+++ b/x"},
		{"bare-lf.eml", "TEXT", "preamble\n--lf\nContent-Type: text/plain\n\nline one\nline two\n\n--lf\nContent-Type: text/x-patch; name=fix.patch\nContent-Disposition: attachment; filename=fix.patch\n\n--- a/x\n+++ b/x\n--lf--\nepilogue\n"},
		{"broken-mime.eml", "1", "First part."},
		{"broken-mime.eml", "2", "This inner multipart never shows its boundary."},
		{"broken-mime.eml", "3", crlf("PGI+VHJ1bmNhdGVkPC9iPg==\n")},
		{"rfc2231.eml", "2", "AAECAwQ="},
		{"rfc822-attachment-only.eml", "1", crlf("From: original@example.com\nTo: forwarder@example.com\nSubject: hello\n\nOriginal body.\n")},
		{"rfc822-attachment-only.eml", "1.1", crlf("Original body.\n")},
		{"rfc822-attachment-only.eml", "TEXT", crlf("From: original@example.com\nTo: forwarder@example.com\nSubject: hello\n\nOriginal body.\n")},
		{"no-boundary.eml", "1", crlf("--something\nContent-Type: text/plain\n\ntext\n--something--\n")},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.section, func(t *testing.T) {
			data := readFixture(t, tt.file)
			s := mustParse(t, data)
			if got := section(t, data, s, tt.section); got != tt.want {
				t.Errorf("BODY[%s] = %q, want %q", tt.section, got, tt.want)
			}
		})
	}
}

func TestPartPath(t *testing.T) {
	data := readFixture(t, "nested-rfc822.eml")
	s := mustParse(t, data)
	tests := []struct {
		path []int
		want *Part
	}{
		{nil, &s.Root},
		{[]int{1}, &s.Root.Parts[0]},
		{[]int{2}, &s.Root.Parts[1]},
		{[]int{2, 1}, &s.Root.Parts[1].Message.Root.Parts[0]},
		{[]int{2, 2}, &s.Root.Parts[1].Message.Root.Parts[1]},
		{[]int{3}, nil},
		{[]int{0}, nil},
		{[]int{1, 1}, nil},
		{[]int{2, 3}, nil},
		{[]int{2, 1, 1}, nil},
	}
	for _, tt := range tests {
		got, ok := s.Part(tt.path)
		if ok != (tt.want != nil) || got != tt.want {
			t.Errorf("Part(%v) = %p, %v; want %p", tt.path, got, ok, tt.want)
		}
	}
	// A non-multipart message: part 1 is the body itself.
	s = mustParse(t, readFixture(t, "simple.eml"))
	if p, ok := s.Part([]int{1}); !ok || p != &s.Root {
		t.Errorf("Part([1]) of a single-part message = %p, %v", p, ok)
	}
	if _, ok := s.Part([]int{2}); ok {
		t.Error("Part([2]) of a single-part message exists")
	}
	if _, ok := s.Part([]int{1, 1}); ok {
		t.Error("Part([1 1]) of a text/plain message exists")
	}
}

func TestEnvelope(t *testing.T) {
	s := mustParse(t, readFixture(t, "encoded-words.eml"))
	e := s.Envelope
	if want := "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?="; e.Subject != want {
		t.Errorf("Subject = %q, want the raw value %q", e.Subject, want)
	}
	if want := "If you can read this you understand the example."; DecodeHeader(e.Subject) != want {
		t.Errorf("DecodeHeader(Subject) = %q, want %q", DecodeHeader(e.Subject), want)
	}
	if len(e.From) != 1 || e.From[0].Name != "=?ISO-8859-1?Q?Andr=E9?= Pirard" || e.From[0].Mailbox != "PIRARD" || e.From[0].Host != "vm1.ulg.ac.be" {
		t.Errorf("From = %+v", e.From)
	}
	if DecodeHeader(e.From[0].Name) != "André Pirard" {
		t.Errorf("decoded name %q", DecodeHeader(e.From[0].Name))
	}
	if len(e.Sender) != 1 || e.Sender[0] != e.From[0] || len(e.ReplyTo) != 1 || e.ReplyTo[0] != e.From[0] {
		t.Errorf("Sender %+v, ReplyTo %+v: want From", e.Sender, e.ReplyTo)
	}

	s = mustParse(t, readFixture(t, "mixed-attachment.eml"))
	e = s.Envelope
	if e.InReplyTo != "<req-9@example.com>" || e.MessageID != "<rep-1@example.net>" || e.Date != "Thu, 4 Jan 2024 12:00:00 -0500" {
		t.Errorf("envelope strings %+v", e)
	}
	want := []Address{{Name: "Erin", Mailbox: "erin", Host: "example.com"}, {Mailbox: "frank", Host: "example.com"}}
	if !equalAddrs(e.To, want) {
		t.Errorf("To = %+v, want %+v", e.To, want)
	}
	if len(e.Bcc) != 1 || e.Bcc[0].Mailbox != "hidden" {
		t.Errorf("Bcc = %+v", e.Bcc)
	}

	s = mustParse(t, readFixture(t, "nested-rfc822.eml"))
	m := s.Root.Parts[1].Message
	if m == nil || m.Envelope.Subject != "Meeting notes" || m.Envelope.Sender[0].Mailbox != "secretary" || m.Envelope.From[0].Mailbox != "judy" {
		t.Errorf("embedded envelope %+v", m)
	}
}

func equalAddrs(a, b []Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGroupAddresses(t *testing.T) {
	s := mustParse(t, readFixture(t, "group-addresses.eml"))
	e := s.Envelope
	wantTo := []Address{
		{Mailbox: "A Group", GroupStart: true},
		{Name: "Chris Jones", Mailbox: "c", Host: "public.example"},
		{Mailbox: "joe", Host: "example.org"},
		{Name: "John", Mailbox: "jdoe", Host: "one.test"},
		{GroupEnd: true},
	}
	if !equalAddrs(e.To, wantTo) {
		t.Errorf("To = %+v\nwant %+v", e.To, wantTo)
	}
	wantCc := []Address{{Mailbox: "Hidden recipients", GroupStart: true}, {GroupEnd: true}}
	if !equalAddrs(e.Cc, wantCc) {
		t.Errorf("Cc = %+v, want %+v", e.Cc, wantCc)
	}
	wantBcc := []Address{{Mailbox: "undisclosed-recipients", GroupStart: true}, {GroupEnd: true}}
	if !equalAddrs(e.Bcc, wantBcc) {
		t.Errorf("Bcc = %+v, want %+v", e.Bcc, wantBcc)
	}
	wantFrom := []Address{{Name: "Pete", Mailbox: "pete", Host: "silly.test"}}
	if !equalAddrs(e.From, wantFrom) {
		t.Errorf("From = %+v, want %+v", e.From, wantFrom)
	}
	wantReplyTo := []Address{
		{Name: "Doe, Jane", Mailbox: "jane", Host: "example.com"},
		{Mailbox: "garbage here", Host: MissingHost},
		{Route: "@route.example,@r2.example", Mailbox: "bob", Host: "example.com"},
		{Mailbox: "jim", Host: MissingHost},
	}
	if !equalAddrs(e.ReplyTo, wantReplyTo) {
		t.Errorf("ReplyTo = %+v\nwant %+v", e.ReplyTo, wantReplyTo)
	}
	if e.MessageID != "<testabcd.1234@silly.test>" {
		t.Errorf("MessageID %q", e.MessageID)
	}
}

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"", nil},
		{"a@b", []Address{{Mailbox: "a", Host: "b"}}},
		{"<a@b>", []Address{{Mailbox: "a", Host: "b"}}},
		{`"Last, First" <a@b>, c@d`, []Address{{Name: "Last, First", Mailbox: "a", Host: "b"}, {Mailbox: "c", Host: "d"}}},
		{"a@b (Comment Name)", []Address{{Name: "Comment Name", Mailbox: "a", Host: "b"}}},
		{"John Smith john.smith@example.com", []Address{{Name: "John Smith", Mailbox: "john.smith", Host: "example.com"}}},
		{`"quoted local"@example.com`, []Address{{Mailbox: `"quoted local"`, Host: "example.com"}}},
		{"user@[192.0.2.1]", []Address{{Mailbox: "user", Host: "[192.0.2.1]"}}},
		{"<>", nil},
		{"Name <>", []Address{{Name: "Name", Mailbox: MissingMailbox, Host: MissingHost}}},
		{"<@example.com>", []Address{{Mailbox: MissingMailbox, Host: "example.com"}}},
		{"localonly", []Address{{Mailbox: "localonly", Host: MissingHost}}},
		{",,, a@b ,,", []Address{{Mailbox: "a", Host: "b"}}},
		{"g: a@b", []Address{{Mailbox: "g", GroupStart: true}, {Mailbox: "a", Host: "b"}, {GroupEnd: true}}},
		{"g:;;;", []Address{{Mailbox: "g", GroupStart: true}, {GroupEnd: true}}},
		{"<a@b", []Address{{Mailbox: "a", Host: "b"}}},
		{`"unterminated <a@b>`, []Address{{Mailbox: "unterminated <a@b>", Host: MissingHost}}},
		{"=?utf-8?q?J=C3=B6rg?= <j@x.de>", []Address{{Name: "=?utf-8?q?J=C3=B6rg?=", Mailbox: "j", Host: "x.de"}}},
		{"Mr. J. Q. Public <jqp@example.com>", []Address{{Name: "Mr. J. Q. Public", Mailbox: "jqp", Host: "example.com"}}},
		{"a@b@c", []Address{{Mailbox: "a@b", Host: "c"}}},
	}
	for _, tt := range tests {
		if got := parseAddressList(tt.in); !equalAddrs(got, tt.want) {
			t.Errorf("parseAddressList(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParams(t *testing.T) {
	s := mustParse(t, readFixture(t, "rfc2231.eml"))
	p1 := &s.Root.Parts[0]
	if got := p1.Param("title"); got != "été chaud" {
		t.Errorf("title = %q", got)
	}
	if got := p1.Param("charset"); got != "us-ascii" {
		t.Errorf("charset = %q", got)
	}
	p2 := &s.Root.Parts[1]
	if got := p2.Param("name"); got != "日本語.txt" {
		t.Errorf("name = %q", got)
	}
	if got := p2.DispositionParam("filename"); got != "very long file name.bin" {
		t.Errorf("filename = %q", got)
	}
	if p2.DecodedSize != 5 {
		t.Errorf("DecodedSize = %d", p2.DecodedSize)
	}

	tests := []struct {
		in   string
		want [][2]string
	}{
		{"text/plain", nil},
		{"text/plain; charset=UTF-8", [][2]string{{"charset", "UTF-8"}}},
		{`text/plain; CHARSET="utf-8" (comment); format=flowed`, [][2]string{{"charset", "utf-8"}, {"format", "flowed"}}},
		{`text/plain; name="a \"quoted\" name"`, [][2]string{{"name", `a "quoted" name`}}},
		{"text/plain; a=1; a=2", [][2]string{{"a", "1"}}},
		{"text/plain; junk; b=2", [][2]string{{"b", "2"}}},
		{"text/plain; b=2 c=3", [][2]string{{"b", "2"}, {"c", "3"}}},
		{`text/plain; name="unterminated`, [][2]string{{"name", "unterminated"}}},
		{"text/plain; name*=utf-8''%F0%9F%98%80", [][2]string{{"name", "😀"}}},
		{"text/plain; name*=bogus-charset''caf%E9", [][2]string{{"name", "café"}}},
		{"text/plain; name*=utf-8''a%00b%0D%0Ac", [][2]string{{"name", "a b  c"}}},
		{"text/plain; name*1=b; name*0=a", [][2]string{{"name", "ab"}}},
		{"text/plain; name*1=b", [][2]string{{"name", "b"}}},
		{"text/plain; n*01=x", [][2]string{{"n*01", "x"}}},
		{"text/plain; boundary=----=_Part_1", [][2]string{{"boundary", "----=_Part_1"}}},
	}
	for _, tt := range tests {
		_, _, got, ok := parseContentType(tt.in)
		if !ok || !equalParams(got, tt.want) {
			t.Errorf("parseContentType(%q) params = %q (ok %v), want %q", tt.in, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "text", "text/", "/plain", "te xt/plain", "text/pl\xe9in", "text:plain"} {
		if typ, sub, _, ok := parseContentType(bad); ok {
			t.Errorf("parseContentType(%q) = %q/%q, want invalid", bad, typ, sub)
		}
	}
}

func equalParams(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecodeHeader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"=?UTF-8?Q?caf=C3=A9?=", "café"},
		{"=?utf-8?b?Y2Fmw6k=?=", "café"},
		{"=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"},
		{"=?ISO-8859-1?Q?a?=  \r\n =?ISO-8859-1?Q?b?= c", "ab c"},
		{"x =?ISO-8859-1?Q?a_b?= y", "x a b y"},
		{"=?utf-8?B?4oKs?= and =?utf-8?B?4oKs?=", "€ and €"},
		// A character split across two words.
		{"=?utf-8?B?4g==?= =?utf-8?B?gqw=?=", "€"},
		{"=?unknown-cs?Q?caf=E9?=", "café"},
		{"=?utf-8?X?bad?=", "=?utf-8?X?bad?="},
		{"=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"},
		{"=?utf-8*en?Q?lang?=", "lang"},
		{"caf\xe9", "café"},
		{"=?iso-2022-jp?B?GyRCJEgkNhsoQg==?=", "とざ"},
		{"=?windows-1252?Q?=93quoted=94?=", "“quoted”"},
	}
	for _, tt := range tests {
		if got := DecodeHeader(tt.in); got != tt.want {
			t.Errorf("DecodeHeader(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPreview(t *testing.T) {
	tests := []struct{ file, want string }{
		{"simple.eml", "Hi Bob, Are we still on for lunch tomorrow at noon? Alice"},
		{"alternative.eml", "Good news – your order #778 is on its way. Track it here: https://shop.example/track?id=778&lang=en Thanks for shopping with us!"},
		{"html-only.eml", "Café & crème — this week’s top<stories> More!"},
		{"encoded-words.eml", "Voilà un texte en français, avec des accents."},
		{"nested-rfc822.eml", "See the forwarded message below."},
		{"8bit-headers.eml", "Schöne Grüße und bis bald."},
		{"rfc822-attachment-only.eml", ""},
		{"broken-mime.eml", "First part."},
		{"no-boundary.eml", "--something Content-Type: text/plain text --something--"},
	}
	for _, tt := range tests {
		s := mustParse(t, readFixture(t, tt.file))
		if s.Preview != tt.want {
			t.Errorf("%s: Preview = %q, want %q", tt.file, s.Preview, tt.want)
		}
	}
	long := "Subject: x\r\n\r\n" + strings.Repeat("word ", 100)
	s := mustParse(t, []byte(long))
	if n := len([]rune(s.Preview)); n < PreviewRunes-5 || n > PreviewRunes || strings.HasSuffix(s.Preview, " ") {
		t.Errorf("long preview has %d runes: %q", n, s.Preview)
	}
}

func TestStripHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>a</p><p>b</p>", " a  b "},
		{"a<b>b</b>c", "abc"},
		{"1 < 2 &amp; 3 > 2", "1 < 2 & 3 > 2"},
		{`<a title="x>y">link</a>`, "link"},
		{"<style>x</style>y<script>z", "y"},
		{"<title>t", "t"},
		{"<!-- c -->d<!-- e", "d"},
		{"<!DOCTYPE html>x", "x"},
	}
	for _, tt := range tests {
		if got := stripHTML(tt.in); got != tt.want {
			t.Errorf("stripHTML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDelimiterLineBreaks checks that the line break before a delimiter
// belongs to the delimiter (RFC 2046 §5.1.1), also after a close delimiter
// and for empty bodies.
func TestDelimiterLineBreaks(t *testing.T) {
	data := []byte(crlf("Content-Type: multipart/mixed; boundary=outer\n\n" +
		"--outer\nContent-Type: multipart/mixed; boundary=inner\n\n--inner\n\nx\n--inner--\n--outer\n\n--outer\nContent-Type: text/plain\n--outer--\nepilogue"))
	s := mustParse(t, data)
	tests := []struct{ section, want string }{
		{"1", crlf("--inner\n\nx\n--inner--")},
		{"1.1", "x"},
		{"1.1.MIME", "\r\n"},
		{"2", ""},
		{"2.MIME", "\r\n"},
		{"3", ""},
		{"3.MIME", "Content-Type: text/plain\r\n"},
		{"TEXT", string(data[strings.Index(string(data), "--outer"):])},
	}
	for _, tt := range tests {
		if got := section(t, data, s, tt.section); got != tt.want {
			t.Errorf("BODY[%s] = %q, want %q", tt.section, got, tt.want)
		}
	}
	if p, _ := s.Part([]int{1}); p.Lines != 4 {
		t.Errorf("lines of 1: %d", p.Lines)
	}
}
