package imapwire

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzDecoder from decoderSessions")

// decoderSessions are client transcripts: a desktop client's start-up and
// sync, then odd but valid input, then broken input. Each becomes a file of
// the seed corpus; each of their lines is also added with f.Add.
var decoderSessions = map[string]string{
	"thunderbird-startup": "1 capability\r\n" +
		"2 authenticate PLAIN\r\n" +
		"AGZyZWRAZXhhbXBsZS5vcmcAaHVudGVyMg==\r\n" +
		"3 ID (\"name\" \"Thunderbird\" \"version\" \"128.5.2\")\r\n" +
		"4 ENABLE QRESYNC UTF8=ACCEPT\r\n" +
		"5 namespace\r\n" +
		"6 list (subscribed) \"\" \"*\" return (special-use)\r\n" +
		"7 select \"INBOX\" (CONDSTORE)\r\n" +
		"8 UID fetch 1:* (FLAGS) (CHANGEDSINCE 123)\r\n" +
		"9 UID fetch 4290:4295 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n" +
		"10 IDLE\r\n" +
		"DONE\r\n" +
		"11 getquotaroot \"INBOX\"\r\n" +
		"12 STATUS \"Sent\" (UIDNEXT MESSAGES UNSEEN RECENT HIGHESTMODSEQ)\r\n" +
		"13 logout\r\n",
	"thunderbird-append": "21 append \"Sent\" (\\Seen) \"14-Jul-2025 10:00:00 +0200\" {123+}\r\n" +
		"From: Fred <fred@example.org>\r\nTo: joe@example.org\r\nSubject: hello\r\nDate: Mon, 14 Jul 2025 10:00:00 +0200\r\n\r\nHi Joe,\r\nFred.\r\n" +
		"\r\n" +
		"22 append \"Drafts\" (\\Draft $MDNSent) {40}\r\n" +
		"Subject: draft\r\n\r\nstill writing\r\n...\r\n" +
		"\r\n" +
		"23 APPEND INBOX ~{8+}\r\n\x00\x01bin\r\n\xff\r\n" +
		"24 APPEND saved-messages (\\Seen) \" 4-Jul-2025 01:02:03 -0000\" {5+}\r\nhello CATENATE\r\n",
	"search-store-expunge": "31 UID SEARCH OR (UNSEEN) NOT HEADER \"Subject\" \"foo\" SINCE 1-Jan-2025\r\n" +
		"32 UID SEARCH RETURN (SAVE) CHARSET UTF-8 TEXT {6+}\r\n台北\r\n" +
		"33 UID FETCH $ (FLAGS)\r\n" +
		"34 uid store 1:3,5 +FLAGS.SILENT (\\Deleted)\r\n" +
		"35 UID EXPUNGE 1:3\r\n" +
		"36 UID MOVE 5 \"Trash\"\r\n" +
		"37 UID COPY *:4 \"[Gmail]/All Mail\"\r\n" +
		"38 SEARCH NOT (OR FROM \"a\" (TO \"b\" CC c)) LARGER 1000 UID 2,4:7,9\r\n" +
		"39 STORE 2 FLAGS.SILENT ()\r\n",
	"qresync-select": "41 SELECT \"&U,BTFw-\" (QRESYNC (67890007 90060115194045000 41,43:211,214:541))\r\n" +
		"42 EXAMINE ~peter/mail/&ZeVnLIqe-\r\n" +
		"43 CREATE \"Entw&APw-rfe\"\r\n" +
		"44 RENAME {3}\r\nold {3+}\r\nnew\r\n" +
		"45 LOGIN {4}\r\nfred {7}\r\nhunter2\r\n" +
		"46 LSUB \"\" %\r\n" +
		"47 SETMETADATA INBOX (/private/comment NIL /shared/x {2+}\r\nab)\r\n" +
		"48 noop\n" +
		"49 check\r\n",
	"broken": "51 LOGIN \"fred\r\n" +
		"52 LOGIN {99999999999+}\r\nabc\r\n",
	"broken-recoverable": "61 FOO bar {11+}\r\n62 LOGOUT\r\n more\r\n" +
		"63 LOGIN {100000}\r\n" +
		"64 SELECT (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((x\r\n" +
		"65 FETCH 0:4 FLAGS\r\n" +
		"66 FETCH 1: FLAGS\r\n" +
		"67 FETCH 4294967296 FLAGS\r\n" +
		"68 SELECT \"a\\b\"\r\n" +
		"69 APPEND x \"31-Feb-2025 00:00:00 +0000\" {0}\r\n\r\n" +
		"70 NOOP\r\n",
}

func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecoder")
	for name, session := range decoderSessions {
		path := filepath.Join(dir, name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", session)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (err %v); run go test -run TestSeedCorpus -update-corpus", path, err)
		}
	}
}

// Limits small enough that the fuzzer reaches them.
const (
	fuzzMaxLine    = 512
	fuzzMaxLiteral = 64
	maxFuzzInput   = 768
)

// commandReader drives a small command grammar over a Decoder, as a server
// would, and checks the decoder's invariants.
type commandReader struct {
	t     *testing.T
	d     *Decoder
	cmd   string
	calls int
}

func (c *commandReader) checkLen(s string) {
	if len(s) > max(fuzzMaxLine, fuzzMaxLiteral) {
		c.t.Fatalf("read a %d-byte string", len(s))
	}
}

// item reads one list element.
func (c *commandReader) item() bool {
	d := c.d
	b, ok := d.Peek()
	if !ok {
		return false
	}
	switch {
	case b == '(':
		return d.List(c.item)
	case b == 'N' || b == 'n':
		s, _, ok := d.NString()
		c.checkLen(s)
		return ok
	case IsSeqSetStart(b):
		return c.seqSet()
	}
	s, ok := d.AString()
	c.checkLen(s)
	return ok
}

func (c *commandReader) seqSet() bool {
	set, ok := c.d.SeqSet()
	if !ok {
		return false
	}
	// What String writes, SeqSet reads back the same.
	d := NewDecoder(bufio.NewReaderSize(strings.NewReader(set.String()+" "), 16), DecoderOptions{})
	back, ok := d.SeqSet()
	if !ok || !reflect.DeepEqual(back, set) {
		c.t.Fatalf("SeqSet %+v formats as %q, which reads back as %+v, %v", set, set.String(), back, ok)
	}
	for _, r := range set.Resolve(100) {
		if r.Start > r.Stop || !set.Contains(r.Start, 100) || !set.Contains(r.Stop, 100) {
			c.t.Fatalf("Resolve(%v) gave %v", set, r)
		}
	}
	return true
}

// arg reads one argument after a space.
func (c *commandReader) arg(n int) bool {
	d := c.d
	b, ok := d.Peek()
	if !ok {
		return false
	}
	switch {
	case b == '(':
		return d.List(c.item)
	case c.cmd == "APPEND" && (b == '{' || b == '~'):
		lit, ok := d.LiteralHeader()
		if !ok {
			return false
		}
		if lit.Size > 1024 {
			d.RejectLiteral(lit, "message too large")
			return false
		}
		before := c.calls
		r, ok := d.LiteralBody(lit)
		if !ok {
			return false
		}
		if want := before + btoi(!lit.NonSync); c.calls != want {
			c.t.Fatalf("Continue called %d times for %+v, want %d", c.calls-before, lit, want-before)
		}
		_, err := io.Copy(io.Discard, r)
		return err == nil
	case c.cmd == "APPEND" && b == '"' && n >= 2:
		_, ok := d.DateTime()
		return ok
	case c.cmd == "SEARCH" && b >= '0' && b <= '9' && n >= 2:
		_, ok := d.Date()
		return ok
	case b == 'N' || b == 'n':
		s, _, ok := d.NString()
		c.checkLen(s)
		return ok
	case IsSeqSetStart(b):
		return c.seqSet()
	}
	s, ok := d.AString()
	c.checkLen(s)
	return ok
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// command reads one command; false means the connection is over.
func (c *commandReader) command() bool {
	d := c.d
	d.Reset()
	var lineErr error // ReadLine's errors are returned, not kept
	ok := func() bool {
		tag, ok := d.Token("a tag", func(b byte) bool { return b != '+' && IsAStringChar(b) })
		if !ok || !d.SP() {
			return false
		}
		c.checkLen(tag)
		cmd, ok := d.Atom()
		if !ok {
			return false
		}
		c.cmd = strings.ToUpper(cmd)
		if c.cmd == "UID" {
			if !d.SP() {
				return false
			}
			if cmd, ok = d.Atom(); !ok {
				return false
			}
			c.cmd = strings.ToUpper(cmd)
		}
		for n := 0; !d.AtEOL(); n++ {
			if !d.SP() || !c.arg(n) {
				return false
			}
		}
		if !d.CRLF() {
			return false
		}
		switch c.cmd {
		case "AUTHENTICATE":
			var line string
			if line, lineErr = d.ReadLine(); lineErr != nil {
				return false
			}
			c.checkLen(line)
		case "IDLE":
			if _, lineErr = d.ReadLine(); lineErr != nil {
				return false
			}
		}
		return true
	}()
	if ok {
		if d.Err() != nil {
			c.t.Fatalf("command read with error %v", d.Err())
		}
		if d.depth != 0 {
			c.t.Fatalf("depth %d after a command", d.depth)
		}
		return true
	}
	if lineErr != nil {
		if !IsFatal(lineErr) {
			c.t.Fatalf("ReadLine: non-fatal error %v", lineErr)
		}
		return false
	}
	if d.Err() == nil {
		c.t.Fatal("a step failed without an error")
	}
	if !d.DiscardLine() {
		if !IsFatal(d.Err()) {
			c.t.Fatalf("DiscardLine failed with a non-fatal error %v", d.Err())
		}
		return false
	}
	return true
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func runDecoder(t *testing.T, data []byte) {
	cr := &countingReader{r: bytes.NewReader(data)}
	c := &commandReader{t: t}
	c.d = NewDecoder(bufio.NewReaderSize(cr, 64), DecoderOptions{
		MaxLine:    fuzzMaxLine,
		MaxLiteral: fuzzMaxLiteral,
		Continue:   func() error { c.calls++; return nil },
	})
	// Every command consumes at least one byte, or ends the connection.
	for i := 0; ; i++ {
		if i > len(data)+1 {
			t.Fatalf("%d commands from %d bytes", i, len(data))
		}
		consumed := cr.n - c.d.Reader().Buffered()
		if !c.command() {
			break
		}
		if cr.n-c.d.Reader().Buffered() == consumed {
			t.Fatalf("command %d consumed nothing", i)
		}
	}
}

func FuzzDecoder(f *testing.F) {
	for _, session := range decoderSessions {
		f.Add([]byte(session))
		for _, line := range strings.SplitAfter(session, "\n") {
			f.Add([]byte(line))
		}
	}
	f.Add([]byte("A1 X " + strings.Repeat("(", 2*MaxDepth) + "\r\nA2 NOOP\r\n")) // TestListDepth has 100,000
	f.Add([]byte("A1 LOGIN " + strings.Repeat("x", 2*fuzzMaxLine) + " {3+}\r\nabc\r\nA2 NOOP\r\n"))
	f.Add([]byte("A1 LOGIN {" + strings.Repeat("0", 40) + "3+}\r\nabc\r\nA2 NOOP\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Limits are small, so small inputs reach them; larger ones only
		// slow the search down (minimizing them takes minutes).
		if len(data) > maxFuzzInput {
			return
		}
		runDecoder(t, data)
	})
}

func TestDecoderSessions(t *testing.T) {
	for name, session := range decoderSessions {
		t.Run(name, func(t *testing.T) { runDecoder(t, []byte(session)) })
	}
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{
		"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "&-", "", "INBOX", "&Jjo", "&AGE-",
		"&Jjo-&Jjo-", "&Jjp-", "&2D0-", "&2D3eAA-", "é", "a\x01", "&Jjo-&-&Jjo-",
		"~peter/mail/台北/日本語", "Entwürfe", "\U0001F600", "a&b", "&&--",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := DecodeMUTF7(s); err == nil {
			if !utf8.ValidString(dec) {
				t.Fatalf("DecodeMUTF7(%q) = %q: not UTF-8", s, dec)
			}
			if enc := EncodeMUTF7(dec); enc != s {
				t.Fatalf("EncodeMUTF7(DecodeMUTF7(%q)) = EncodeMUTF7(%q) = %q", s, dec, enc)
			}
		} else if err != ErrBadMUTF7 {
			t.Fatalf("DecodeMUTF7(%q): error %v", s, err)
		}
		if !utf8.ValidString(s) || strings.ContainsFunc(s, isControl) {
			return
		}
		enc := EncodeMUTF7(s)
		dec, err := DecodeMUTF7(enc)
		if err != nil || dec != s {
			t.Fatalf("DecodeMUTF7(EncodeMUTF7(%q)) = DecodeMUTF7(%q) = %q, %v", s, enc, dec, err)
		}
	})
}
