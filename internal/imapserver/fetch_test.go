package imapserver

import (
	"bufio"
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/internal/store"
)

// fxSimple is a one-part message; delivered with CRLF line ends.
const fxSimple = `From: Alice <alice@example.test>
To: Bob <bob@example.test>, "Carol C." <carol@example.test>
Subject: Hello
Date: Fri, 20 Nov 2026 10:30:00 +0100
Message-ID: <m1@example.test>

Hello Bob.
Second line.
`

const fxSimpleHeader = `From: Alice <alice@example.test>
To: Bob <bob@example.test>, "Carol C." <carol@example.test>
Subject: Hello
Date: Fri, 20 Nov 2026 10:30:00 +0100
Message-ID: <m1@example.test>

`

const fxSimpleText = "Hello Bob.\nSecond line.\n"

const fxSimpleEnvelope = `ENVELOPE ("Fri, 20 Nov 2026 10:30:00 +0100" "Hello" (("Alice" NIL "alice" "example.test")) (("Alice" NIL "alice" "example.test")) (("Alice" NIL "alice" "example.test")) (("Bob" NIL "bob" "example.test")("Carol C." NIL "carol" "example.test")) NIL NIL NIL "<m1@example.test>")`

// fxAlternative has a quoted-printable text part (with a soft line break)
// and an HTML part.
const fxAlternative = `From: Dave <dave@example.test>
To: alice@example.test
Subject: =?utf-8?q?Caf=C3=A9?= menu
Date: Sat, 21 Nov 2026 08:00:00 +0000
Message-ID: <alt@example.test>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 au lait=
 and tea
--b1
Content-Type: text/html; charset=utf-8

<p>Caf&eacute;</p>
--b1--
`

// fxMixed has a base64 attachment whose data holds NUL bytes, and a base64
// text attachment without.
const fxMixed = `From: Erin <erin@example.test>
To: alice@example.test
Subject: Report
Date: Sun, 22 Nov 2026 09:00:00 +0000
Message-ID: <mixed@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=mix

--mix
Content-Type: text/plain

See attached.
--mix
Content-Type: application/octet-stream; name="data.bin"
Content-Disposition: attachment; filename="data.bin"
Content-Transfer-Encoding: base64
Content-Language: en, de
Content-Location: http://example.test/data.bin

AAECAwRoZWxsbwA=
--mix
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename=notes.txt
Content-Transfer-Encoding: base64

aGVsbG8gd29ybGQ=
--mix--
`

// fxNested forwards a multipart/alternative message as message/rfc822.
const fxNested = `From: Heidi <heidi@example.com>
To: Ivan <ivan@example.com>
Subject: Fwd: Meeting notes
Message-ID: <fwd-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

See below.
--outer
Content-Type: message/rfc822
Content-Disposition: inline

From: Judy <judy@example.org>
To: team@example.org
Subject: Meeting notes
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=us-ascii

Budget approved.
--inner
Content-Type: text/html; charset=us-ascii

<p>Budget approved.</p>
--inner--
--outer--
`

// crlf gives s the line ends deliver stores.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// lit is s (made CRLF) as a literal the way client.line returns it.
func lit(s string) string {
	s = crlf(s)
	return fmt.Sprintf("{%d}\r\n%s", len(s), s)
}

// fetchSession delivers the messages to INBOX and returns a logged-in
// session with INBOX selected.
func fetchSession(t *testing.T, msgs ...string) (*testEnv, *client) {
	t.Helper()
	e := newTestEnv(t)
	for _, m := range msgs {
		e.deliver("INBOX", m)
	}
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	c := e.login()
	c.ok("SELECT INBOX")
	return e, c
}

type fetchCase struct {
	cmd      string
	tagged   string
	untagged []string
}

func runFetchCases(t *testing.T, c *client, tests []fetchCase) {
	t.Helper()
	for _, tt := range tests {
		c.expect(tt.cmd, tt.tagged, tt.untagged...)
	}
}

func TestFetchSimple(t *testing.T) {
	_, c := fetchSession(t, fxSimple)
	size := len(crlf(fxSimple))
	bs := `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 26 2`
	runFetchCases(t, c, []fetchCase{
		{"FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE)", "OK", []string{
			fmt.Sprintf(`* 1 FETCH (UID 1 FLAGS () RFC822.SIZE %d INTERNALDATE "20-Nov-2026 10:30:00 +0100")`, size)}},
		{"fetch 1 envelope", "OK", []string{"* 1 FETCH (" + fxSimpleEnvelope + ")"}},
		{"FETCH 1 FAST", "OK", []string{
			fmt.Sprintf(`* 1 FETCH (FLAGS () INTERNALDATE "20-Nov-2026 10:30:00 +0100" RFC822.SIZE %d)`, size)}},
		{"FETCH 1 ALL", "OK", []string{
			fmt.Sprintf(`* 1 FETCH (FLAGS () INTERNALDATE "20-Nov-2026 10:30:00 +0100" RFC822.SIZE %d %s)`, size, fxSimpleEnvelope)}},
		{"FETCH 1 FULL", "OK", []string{
			fmt.Sprintf(`* 1 FETCH (FLAGS () INTERNALDATE "20-Nov-2026 10:30:00 +0100" RFC822.SIZE %d %s BODY %s))`, size, fxSimpleEnvelope, bs)}},
		{"FETCH 1 BODY", "OK", []string{"* 1 FETCH (BODY " + bs + "))"}},
		{"FETCH 1 BODYSTRUCTURE", "OK", []string{"* 1 FETCH (BODYSTRUCTURE " + bs + " NIL NIL NIL NIL))"}},
		{"UID FETCH 1 FLAGS", "OK", []string{"* 1 FETCH (UID 1 FLAGS ())"}},
		{"UID FETCH 1 (FLAGS UID)", "OK", []string{"* 1 FETCH (UID 1 FLAGS ())"}},
		{"UID FETCH 5:7 FLAGS", "OK", nil},
		{"FETCH 1 BODY.PEEK[]", "OK", []string{"* 1 FETCH (BODY[] " + lit(fxSimple) + ")"}},
		{"FETCH 1 BODY.PEEK[HEADER]", "OK", []string{"* 1 FETCH (BODY[HEADER] " + lit(fxSimpleHeader) + ")"}},
		{"FETCH 1 BODY.PEEK[TEXT]", "OK", []string{"* 1 FETCH (BODY[TEXT] " + lit(fxSimpleText) + ")"}},
		// RFC 9051 §6.4.5: part 1 of a non-multipart message is its body.
		{"FETCH 1 BODY.PEEK[1]", "OK", []string{"* 1 FETCH (BODY[1] " + lit(fxSimpleText) + ")"}},
		{"FETCH 1 BODY.PEEK[1.MIME]", "OK", []string{"* 1 FETCH (BODY[1.MIME] " + lit(fxSimpleHeader) + ")"}},
		{"FETCH 1 (BODY.PEEK[2] BODY.PEEK[1.HEADER] BODY.PEEK[1.1])", "OK", []string{
			`* 1 FETCH (BODY[2] "" BODY[1.HEADER] "" BODY[1.1] "")`}},
		// Field names match case-insensitively and are echoed as sent;
		// the blank line ends every header subset.
		{"FETCH 1 BODY.PEEK[HEADER.FIELDS (subject FROM x-none)]", "OK", []string{
			"* 1 FETCH (BODY[HEADER.FIELDS (subject FROM x-none)] " + lit("From: Alice <alice@example.test>\nSubject: Hello\n\n") + ")"}},
		{`FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT ("To" MESSAGE-ID date)]`, "OK", []string{
			"* 1 FETCH (BODY[HEADER.FIELDS.NOT (To MESSAGE-ID date)] " + lit("From: Alice <alice@example.test>\nSubject: Hello\n\n") + ")"}},
		{"FETCH 1 BODY.PEEK[HEADER.FIELDS (X-None)]", "OK", []string{
			"* 1 FETCH (BODY[HEADER.FIELDS (X-None)] " + lit("\n") + ")"}},
		// Partial fetches (RFC 9051 §6.4.5): only the origin is echoed.
		{"FETCH 1 BODY.PEEK[TEXT]<0.5>", "OK", []string{"* 1 FETCH (BODY[TEXT]<0> {5}\r\nHello)"}},
		{"FETCH 1 BODY.PEEK[TEXT]<6.1000>", "OK", []string{"* 1 FETCH (BODY[TEXT]<6> " + lit(fxSimpleText[6:]) + ")"}},
		{"FETCH 1 BODY.PEEK[TEXT]<100000.10>", "OK", []string{`* 1 FETCH (BODY[TEXT]<100000> "")`}},
		{"FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]<9.5>", "OK", []string{"* 1 FETCH (BODY[HEADER.FIELDS (Subject)]<9> {5}\r\nHello)"}},
		{"FETCH 1 RFC822.HEADER", "OK", []string{"* 1 FETCH (RFC822.HEADER " + lit(fxSimpleHeader) + ")"}},
		{"FETCH 1 RFC822.SIZE", "OK", []string{fmt.Sprintf("* 1 FETCH (RFC822.SIZE %d)", size)}},
		{"FETCH 1 (PREVIEW BINARY.SIZE[1] BINARY.SIZE[])", "OK", []string{
			fmt.Sprintf(`* 1 FETCH (PREVIEW "Hello Bob. Second line." BINARY.SIZE[1] 26 BINARY.SIZE[] %d)`, size)}},
		{"FETCH 1 PREVIEW (LAZY)", "OK", []string{`* 1 FETCH (PREVIEW "Hello Bob. Second line.")`}},
		{"FETCH 1 (PREVIEW (LAZY) UID)", "OK", []string{`* 1 FETCH (PREVIEW "Hello Bob. Second line." UID 1)`}},
		{"FETCH 1 BINARY.PEEK[1]<6.4>", "OK", []string{"* 1 FETCH (BINARY[1]<6> {4}\r\nBob.)"}},
		{"FETCH 1 FLAGS", "OK", []string{`* 1 FETCH (FLAGS ())`}},
		// Nothing so far set \Seen; RFC822 does.
		{"FETCH 1 RFC822", "OK", []string{`* 1 FETCH (RFC822 ` + lit(fxSimple) + ` FLAGS (\Seen))`}},
		{"FETCH 1 RFC822", "OK", []string{`* 1 FETCH (RFC822 ` + lit(fxSimple) + `)`}},
	})
}

func TestFetchSyntax(t *testing.T) {
	_, c := fetchSession(t, fxSimple)
	for _, cmd := range []string{
		"FETCH 1 (ALL)",
		"FETCH 1 ()",
		"FETCH 1 FOO",
		"FETCH 1 (FLAGS",
		"FETCH 1 BODY[HEADER.FIELDS ()]",
		"FETCH 1 BODY[HEADER.FIELDS]",
		"FETCH 1 BODY[MIME]",
		"FETCH 1 BODY[1.]",
		"FETCH 1 BODY[0]",
		"FETCH 1 BODY[1.FOO]",
		"FETCH 1 BODY[]<1.0>",
		"FETCH 1 BODY[]<1>",
		"FETCH 1 BODY.PEEK",
		"FETCH 1 BINARY[HEADER]",
		"FETCH 1 BINARY.SIZE",
		"FETCH 1 FLAGS (FOO)",
		"FETCH 1 FLAGS (CHANGEDSINCE)",
		"FETCH 1 PREVIEW (FAST)",
		"FETCH 2 FLAGS",
		"FETCH 0 FLAGS",
		"FETCH 1:* FLAGS extra",
		"UID FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)",
	} {
		c.expect(cmd, "BAD")
	}
	c.expect("NOOP", "OK")
}

func TestFetchSeen(t *testing.T) {
	e, c := fetchSession(t, fxSimple, fxSimple)
	e.deliver("INBOX", fxSimple, `\Flagged`)
	c.ok("NOOP")
	runFetchCases(t, c, []fetchCase{
		{"FETCH 1 (BODY.PEEK[] BINARY.PEEK[1] RFC822.HEADER BODY.PEEK[TEXT])", "OK", []string{
			"* 1 FETCH (BODY[] " + lit(fxSimple) + " BINARY[1] " + lit(fxSimpleText) +
				" RFC822.HEADER " + lit(fxSimpleHeader) + " BODY[TEXT] " + lit(fxSimpleText) + ")"}},
		{"FETCH 1 FLAGS", "OK", []string{`* 1 FETCH (FLAGS ())`}},
		{"FETCH 1 BODY[TEXT]<0.5>", "OK", []string{`* 1 FETCH (BODY[TEXT]<0> {5}` + "\r\n" + `Hello FLAGS (\Seen))`}},
		{"FETCH 1 BODY[TEXT]<0.5>", "OK", []string{`* 1 FETCH (BODY[TEXT]<0> {5}` + "\r\n" + `Hello)`}},
		// FLAGS asked for: sent once, with the new value.
		{"FETCH 2:3 (FLAGS BINARY[1]<0.5>)", "OK", []string{
			`* 2 FETCH (FLAGS (\Seen) BINARY[1]<0> {5}` + "\r\nHello)",
			`* 3 FETCH (FLAGS (\Flagged \Seen \Recent) BINARY[1]<0> {5}` + "\r\nHello)"}},
	})
	// Another session learns the change.
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	c2 := e.login()
	c2.ok("SELECT INBOX")
	c2.expect("FETCH 1:3 FLAGS", "OK", `* 1 FETCH (FLAGS (\Seen))`, `* 2 FETCH (FLAGS (\Seen))`, `* 3 FETCH (FLAGS (\Flagged \Seen))`)

	// With CONDSTORE, the implicit FLAGS come with UID and MODSEQ (RFC
	// 7162 §3.1).
	e.deliver("INBOX", fxSimple)
	c.ok("NOOP")
	c.ok("ENABLE CONDSTORE")
	u, tagged := c.do("FETCH 4 RFC822.TEXT")
	if !strings.HasPrefix(tagged, "OK") || len(u) != 1 ||
		!strings.HasPrefix(u[0], "* 4 FETCH (RFC822.TEXT "+lit(fxSimpleText)+` FLAGS (\Seen \Recent) UID 4 MODSEQ (`) {
		t.Fatalf("%q %q", u, tagged)
	}

	// EXAMINE is read-only: nothing is set.
	e.deliver("INBOX", fxSimple)
	c3 := e.login()
	c3.ok("EXAMINE INBOX")
	c3.expect("FETCH 5 BODY[TEXT]", "OK", "* 5 FETCH (BODY[TEXT] "+lit(fxSimpleText)+")")
	// Nobody has claimed message 5: EXAMINE shows it \Recent without
	// taking it (RFC 3501 §6.3.2).
	c3.expect("FETCH 5 FLAGS", "OK", "* 5 FETCH (FLAGS (\\Recent))")
}

func TestFetchMultipart(t *testing.T) {
	_, c := fetchSession(t, fxAlternative, fxMixed)
	runFetchCases(t, c, []fetchCase{
		{"FETCH 1 BODYSTRUCTURE", "OK", []string{`* 1 FETCH (BODYSTRUCTURE (` +
			`("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 28 2 NIL NIL NIL NIL)` +
			`("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 18 1 NIL NIL NIL NIL)` +
			` "ALTERNATIVE" ("BOUNDARY" "b1") NIL NIL NIL))`}},
		{"FETCH 1 BODY", "OK", []string{`* 1 FETCH (BODY (` +
			`("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 28 2)` +
			`("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 18 1)` +
			` "ALTERNATIVE"))`}},
		{"FETCH 1 ENVELOPE", "OK", []string{`* 1 FETCH (ENVELOPE ("Sat, 21 Nov 2026 08:00:00 +0000" "=?utf-8?q?Caf=C3=A9?= menu" ` +
			`(("Dave" NIL "dave" "example.test")) (("Dave" NIL "dave" "example.test")) (("Dave" NIL "dave" "example.test")) ` +
			`((NIL NIL "alice" "example.test")) NIL NIL NIL "<alt@example.test>"))`}},
		{"FETCH 1 (BODY.PEEK[1] BINARY.PEEK[1] BINARY.SIZE[1])", "OK", []string{
			"* 1 FETCH (BODY[1] " + lit("Caf=C3=A9 au lait=\n and tea") + " BINARY[1] {21}\r\nCaf\xc3\xa9 au lait and tea BINARY.SIZE[1] 21)"}},
		{"FETCH 1 BODY.PEEK[2.MIME]", "OK", []string{"* 1 FETCH (BODY[2.MIME] " + lit("Content-Type: text/html; charset=utf-8\n\n") + ")"}},
		{"FETCH 1 PREVIEW", "OK", []string{"* 1 FETCH (PREVIEW {21}\r\nCaf\xc3\xa9 au lait and tea)"}},
		{"FETCH 2 BODYSTRUCTURE", "OK", []string{`* 2 FETCH (BODYSTRUCTURE (` +
			`("TEXT" "PLAIN" NIL NIL NIL "7BIT" 13 1 NIL NIL NIL NIL)` +
			`("APPLICATION" "OCTET-STREAM" ("NAME" "data.bin") NIL NIL "BASE64" 16 NIL ("ATTACHMENT" ("FILENAME" "data.bin")) ("en" "de") "http://example.test/data.bin")` +
			`("TEXT" "PLAIN" ("NAME" "notes.txt") NIL NIL "BASE64" 16 1 NIL ("ATTACHMENT" ("FILENAME" "notes.txt")) NIL NIL)` +
			` "MIXED" ("BOUNDARY" "mix") NIL NIL NIL))`}},
		// RFC 3516: decoded data with NUL goes out as a literal8.
		{"FETCH 2 (BINARY.PEEK[2] BINARY.SIZE[2])", "OK", []string{
			"* 2 FETCH (BINARY[2] ~{11}\r\n\x00\x01\x02\x03\x04hello\x00 BINARY.SIZE[2] 11)"}},
		{"FETCH 2 BINARY.PEEK[2]<5.5>", "OK", []string{"* 2 FETCH (BINARY[2]<5> {5}\r\nhello)"}},
		{"FETCH 2 BINARY.PEEK[2]<4.2>", "OK", []string{"* 2 FETCH (BINARY[2]<4> {2}\r\n\x04h)"}},
		{"FETCH 2 BINARY.PEEK[2]<9.5>", "OK", []string{"* 2 FETCH (BINARY[2]<9> ~{2}\r\no\x00)"}},
		{"FETCH 2 BINARY.PEEK[2]<40.2>", "OK", []string{`* 2 FETCH (BINARY[2]<40> "")`}},
		{"FETCH 2 (BINARY.PEEK[3] BODY.PEEK[3] BINARY.PEEK[4] BINARY.SIZE[4])", "OK", []string{
			`* 2 FETCH (BINARY[3] {11}` + "\r\nhello world BODY[3] {16}\r\naGVsbG8gd29ybGQ=" + ` BINARY[4] "" BINARY.SIZE[4] 0)`}},
		{"FETCH 2 BINARY[3]", "OK", []string{`* 2 FETCH (BINARY[3] {11}` + "\r\nhello world" + ` FLAGS (\Seen))`}},
	})
}

func TestFetchNested(t *testing.T) {
	_, c := fetchSession(t, fxNested)
	inner := "From: Judy <judy@example.org>\nTo: team@example.org\nSubject: Meeting notes\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=inner\n\n"
	innerText := "--inner\nContent-Type: text/plain; charset=us-ascii\n\nBudget approved.\n--inner\nContent-Type: text/html; charset=us-ascii\n\n<p>Budget approved.</p>\n--inner--"
	runFetchCases(t, c, []fetchCase{
		{"FETCH 1 BODYSTRUCTURE", "OK", []string{`* 1 FETCH (BODYSTRUCTURE (` +
			`("TEXT" "PLAIN" NIL NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)` +
			`("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ` + fmt.Sprint(len(crlf(inner+innerText))) + ` ` +
			`(NIL "Meeting notes" (("Judy" NIL "judy" "example.org")) (("Judy" NIL "judy" "example.org")) (("Judy" NIL "judy" "example.org")) ((NIL NIL "team" "example.org")) NIL NIL NIL NIL) ` +
			`(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 16 1 NIL NIL NIL NIL)` +
			`("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 23 1 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "inner") NIL NIL NIL) ` +
			`15 NIL ("INLINE" NIL) NIL NIL)` +
			` "MIXED" ("BOUNDARY" "outer") NIL NIL NIL))`}},
		{"FETCH 1 BODY.PEEK[2]", "OK", []string{"* 1 FETCH (BODY[2] " + lit(inner+innerText) + ")"}},
		{"FETCH 1 BODY.PEEK[2.HEADER]", "OK", []string{"* 1 FETCH (BODY[2.HEADER] " + lit(inner) + ")"}},
		{"FETCH 1 BODY.PEEK[2.TEXT]", "OK", []string{"* 1 FETCH (BODY[2.TEXT] " + lit(innerText) + ")"}},
		{"FETCH 1 BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]", "OK", []string{
			"* 1 FETCH (BODY[2.HEADER.FIELDS (SUBJECT)] " + lit("Subject: Meeting notes\n\n") + ")"}},
		{"FETCH 1 BODY.PEEK[2.MIME]", "OK", []string{
			"* 1 FETCH (BODY[2.MIME] " + lit("Content-Type: message/rfc822\nContent-Disposition: inline\n\n") + ")"}},
		// The parts of a message/rfc822 part are those of its message.
		{"FETCH 1 BODY.PEEK[2.1]", "OK", []string{"* 1 FETCH (BODY[2.1] {16}\r\nBudget approved.)"}},
		{"FETCH 1 BODY.PEEK[2.2.MIME]", "OK", []string{
			"* 1 FETCH (BODY[2.2.MIME] " + lit("Content-Type: text/html; charset=us-ascii\n\n") + ")"}},
		{"FETCH 1 (BODY.PEEK[2.1.HEADER] BODY.PEEK[2.3] BODY.PEEK[1.TEXT] BODY.PEEK[3])", "OK", []string{
			`* 1 FETCH (BODY[2.1.HEADER] "" BODY[2.3] "" BODY[1.TEXT] "" BODY[3] "")`}},
		{"FETCH 1 BINARY.SIZE[2.2]", "OK", []string{"* 1 FETCH (BINARY.SIZE[2.2] 23)"}},
	})
}

func TestFetchUnknownCTE(t *testing.T) {
	const raw = "From: a@example.test\nSubject: uu\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n`\nend\n"
	_, c := fetchSession(t, raw, fxSimple)
	c.expect("FETCH 1 BINARY.PEEK[1]", "NO [UNKNOWN-CTE]")
	c.expect("FETCH 1 BINARY.SIZE[1]", "NO [UNKNOWN-CTE]")
	// The other messages are still answered (RFC 9051 §6.4.5).
	c.expect("FETCH 1:2 BINARY.SIZE[1]", "NO [UNKNOWN-CTE]", "* 2 FETCH (BINARY.SIZE[1] 26)")
	c.expect("FETCH 1 BODY.PEEK[1]", "OK", "* 1 FETCH (BODY[1] "+lit("begin 644 x\n`\nend\n")+")")
	c.expect("FETCH 1 FLAGS", "OK", "* 1 FETCH (FLAGS ())")
}

func TestFetchUTF8(t *testing.T) {
	const raw = "From: J\xc3\xb6rg <j@example.test>\nSubject: Gr\xc3\xbc\xc3\x9fe\nContent-Type: text/plain; name*=utf-8''%C3%A9t%C3%A9.txt\n\nx\n"
	_, c := fetchSession(t, raw)
	env := func(subject, name string) string {
		return `* 1 FETCH (ENVELOPE (NIL ` + subject + ` ((` + name + ` NIL "j" "example.test")) ((` + name + ` NIL "j" "example.test")) ((` + name + ` NIL "j" "example.test")) NIL NIL NIL NIL NIL))`
	}
	// 8-bit text goes out as a literal; parameters in RFC 2231 form.
	c.expect("FETCH 1 ENVELOPE", "OK", env("{7}\r\nGr\xc3\xbc\xc3\x9fe", "{5}\r\nJ\xc3\xb6rg"))
	c.expect("FETCH 1 BODYSTRUCTURE", "OK", `* 1 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("NAME*" "utf-8''%C3%A9t%C3%A9.txt") NIL NIL "7BIT" 3 1 NIL NIL NIL NIL))`)
	c.ok("ENABLE UTF8=ACCEPT")
	c.expect("FETCH 1 ENVELOPE", "OK", env("\"Gr\xc3\xbc\xc3\x9fe\"", "\"J\xc3\xb6rg\""))
	c.expect("FETCH 1 BODYSTRUCTURE", "OK", "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"NAME\" \"\xc3\xa9t\xc3\xa9.txt\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL))")
}

func TestFetchModSeq(t *testing.T) {
	e, c := fetchSession(t, fxSimple, fxSimple, fxSimple)
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.st.ChangedSince(bg, e.acct.ID, mb.ID, 0)
	if err != nil || len(rows) != 3 {
		t.Fatal(rows, err)
	}
	hi := mb.HighestModSeq
	m1, m2, m3 := rows[0].ModSeq, rows[1].ModSeq, rows[2].ModSeq
	// FETCH MODSEQ enables CONDSTORE (RFC 7162 §3.1).
	c.expect("FETCH 1 MODSEQ", "OK",
		fmt.Sprintf("* OK [HIGHESTMODSEQ %d] CONDSTORE enabled", hi),
		fmt.Sprintf("* 1 FETCH (MODSEQ (%d))", m1))
	ups, _, err := e.st.SetFlags(bg, e.acct.ID, mb.ID, []uint32{2}, store.FlagsAdd, []string{`\Flagged`}, 0)
	if err != nil {
		t.Fatal(err)
	}
	m2 = ups[0].ModSeq
	c.expect("NOOP", "OK", fmt.Sprintf(`* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (%d))`, m2))
	runFetchCases(t, c, []fetchCase{
		// RFC 7162 §3.1.4.1: only what changed, with MODSEQ.
		{fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", hi), "OK", []string{
			fmt.Sprintf(`* 2 FETCH (FLAGS (\Flagged) MODSEQ (%d))`, m2)}},
		{fmt.Sprintf("UID FETCH 1:* FLAGS (CHANGEDSINCE %d)", hi), "OK", []string{
			fmt.Sprintf(`* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (%d))`, m2)}},
		{fmt.Sprintf("FETCH 1:* (MODSEQ FLAGS) (CHANGEDSINCE %d)", m2), "OK", nil},
		{"FETCH 1:3 (UID MODSEQ) (changedsince 0)", "OK", []string{
			fmt.Sprintf("* 1 FETCH (UID 1 MODSEQ (%d))", m1),
			fmt.Sprintf("* 2 FETCH (UID 2 MODSEQ (%d))", m2),
			fmt.Sprintf("* 3 FETCH (UID 3 MODSEQ (%d))", m3)}},
		{fmt.Sprintf("FETCH 1:3 (UID MODSEQ) (CHANGEDSINCE %d)", m1), "OK", []string{
			fmt.Sprintf("* 2 FETCH (UID 2 MODSEQ (%d))", m2),
			fmt.Sprintf("* 3 FETCH (UID 3 MODSEQ (%d))", m3)}},
	})

	// CHANGEDSINCE enables CONDSTORE too.
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	c2 := e.login()
	c2.ok("SELECT INBOX")
	c2.expect(fmt.Sprintf("FETCH 1:* UID (CHANGEDSINCE %d)", hi), "OK",
		fmt.Sprintf("* OK [HIGHESTMODSEQ %d] CONDSTORE enabled", m2),
		fmt.Sprintf("* 2 FETCH (UID 2 MODSEQ (%d))", m2))
}

func TestFetchVanished(t *testing.T) {
	e := newTestEnv(t)
	for range 5 {
		e.deliver("INBOX", fxSimple)
	}
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	c := e.login()
	c.expect("FETCH 1 FLAGS", "BAD")
	c.ok("ENABLE QRESYNC")
	c.ok("SELECT INBOX")
	hi := mb.HighestModSeq
	if _, err := e.st.Expunge(bg, e.acct.ID, mb.ID, []uint32{2, 5}); err != nil {
		t.Fatal(err)
	}
	ups, _, err := e.st.SetFlags(bg, e.acct.ID, mb.ID, []uint32{3}, store.FlagsAdd, []string{`\Answered`}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.expect("NOOP", "OK", "* VANISHED 2,5", fmt.Sprintf(`* 2 FETCH (UID 3 FLAGS (\Answered) MODSEQ (%d))`, ups[0].ModSeq))
	runFetchCases(t, c, []fetchCase{
		{fmt.Sprintf("UID FETCH 1:* FLAGS (CHANGEDSINCE %d VANISHED)", hi), "OK", []string{
			"* VANISHED (EARLIER) 2,5",
			fmt.Sprintf(`* 2 FETCH (UID 3 FLAGS (\Answered) MODSEQ (%d))`, ups[0].ModSeq)}},
		{fmt.Sprintf("UID FETCH 3:4 FLAGS (VANISHED CHANGEDSINCE %d)", hi), "OK", []string{
			fmt.Sprintf(`* 2 FETCH (UID 3 FLAGS (\Answered) MODSEQ (%d))`, ups[0].ModSeq)}},
		{fmt.Sprintf("UID FETCH 5 FLAGS (CHANGEDSINCE %d VANISHED)", hi), "OK", []string{"* VANISHED (EARLIER) 5"}},
		{fmt.Sprintf("UID FETCH 1:* FLAGS (CHANGEDSINCE %d VANISHED)", ups[0].ModSeq), "OK", nil},
		// RFC 7162 §3.2.6: BAD without UID or without CHANGEDSINCE.
		{fmt.Sprintf("FETCH 1:* FLAGS (CHANGEDSINCE %d VANISHED)", hi), "BAD", nil},
		{"UID FETCH 1:* FLAGS (VANISHED)", "BAD", nil},
	})
}

func TestFetchMissingBody(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", fxSimple)
	e.deliver("INBOX", fxSimple)
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.st.MessagesByUID(bg, e.acct.ID, mb.ID, []uint32{1})
	if err != nil || len(msgs) != 1 {
		t.Fatal(msgs, err)
	}
	// The store lives in a sibling of every t.TempDir of this test.
	root := filepath.Dir(t.TempDir())
	removed := false
	index := ""
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == msgs[0].BlobID {
			removed = os.Remove(path) == nil
		}
		if err == nil && d.Name() == "index.db" {
			index = path
		}
		return nil
	})
	if !removed && index != "" {
		// A small body is kept in the index.
		db, err := sql.Open("sqlite", "file:"+index+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		res, err := db.Exec("DELETE FROM inline_bodies WHERE id = ?", msgs[0].BlobID)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := res.RowsAffected()
		removed = n == 1
		db.Close()
	}
	if !removed {
		t.Fatal("body not found")
	}
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	c := e.login()
	c.ok("SELECT INBOX")
	c.expect("FETCH 1:2 (FLAGS BODY.PEEK[TEXT])", "NO [UNAVAILABLE]",
		"* 2 FETCH (FLAGS () BODY[TEXT] "+lit(fxSimpleText)+")")
	// What needs no body is still there.
	c.expect("FETCH 1:2 (UID ENVELOPE)", "OK",
		"* 1 FETCH (UID 1 "+fxSimpleEnvelope+")",
		"* 2 FETCH (UID 2 "+fxSimpleEnvelope+")")
	// Expunged by another session: the view still has it.
	if _, err := e.st.Expunge(bg, e.acct.ID, mb.ID, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	// It stays readable until this session is told (RFC 9051 §7.5.1):
	// structure, envelope and body.
	c.expect("FETCH 2 (ENVELOPE BODY.PEEK[TEXT])", "OK",
		"* 2 FETCH ("+fxSimpleEnvelope+" BODY[TEXT] "+lit(fxSimpleText)+")")
	c.expect("FETCH 2 BODYSTRUCTURE", "OK",
		`* 2 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 26 2 NIL NIL NIL NIL))`)
	c.expect("FETCH 2 UID", "OK", "* 2 FETCH (UID 2)")
	// A command that may report expunges does, and then it is gone.
	c.expect("NOOP", "OK", "* 2 EXPUNGE")
}

// TestFetchGoIMAPClient reads messages with the go-imap v2 client and checks
// what it decodes.
func TestFetchGoIMAPClient(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", fxSimple)
	e.deliver("INBOX", fxMixed)
	e.deliver("INBOX", fxNested)
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	c, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.test", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	fields := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	text := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 5}}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{header, fields, text, partial},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.UID != 1 || len(m.Flags) != 0 || m.RFC822Size != int64(len(crlf(fxSimple))) {
		t.Errorf("uid %d flags %v size %d", m.UID, m.Flags, m.RFC822Size)
	}
	if want := "2026-11-20T10:30:00+01:00"; m.InternalDate.Format("2006-01-02T15:04:05Z07:00") != want {
		t.Errorf("internal date %v", m.InternalDate)
	}
	env := m.Envelope
	if env.Subject != "Hello" || env.MessageID != "m1@example.test" || len(env.To) != 2 ||
		env.To[1].Name != "Carol C." || env.To[1].Addr() != "carol@example.test" || env.From[0].Addr() != "alice@example.test" {
		t.Errorf("envelope %+v", env)
	}
	if got := string(m.FindBodySection(header)); got != crlf(fxSimpleHeader) {
		t.Errorf("header %q", got)
	}
	if got := string(m.FindBodySection(fields)); got != "Subject: Hello\r\n\r\n" {
		t.Errorf("header fields %q", got)
	}
	if got := string(m.FindBodySection(text)); got != crlf(fxSimpleText) {
		t.Errorf("text %q", got)
	}
	if got := string(m.FindBodySection(partial)); got != "Alice" {
		t.Errorf("partial %q", got)
	}
	if bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.MediaType() != "text/plain" || bs.Size != 26 || bs.Text == nil || bs.Text.NumLines != 2 {
		t.Errorf("body structure %#v", m.BodyStructure)
	}

	mp, ok := msgs[1].BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.MediaType() != "multipart/mixed" || len(mp.Children) != 3 {
		t.Fatalf("body structure %#v", msgs[1].BodyStructure)
	}
	att := mp.Children[1].(*imap.BodyStructureSinglePart)
	if att.MediaType() != "application/octet-stream" || att.Encoding != "BASE64" || att.Params["name"] != "data.bin" ||
		att.Extended == nil || att.Extended.Disposition == nil || att.Extended.Disposition.Params["filename"] != "data.bin" ||
		strings.Join(att.Extended.Language, ",") != "en,de" || att.Extended.Location != "http://example.test/data.bin" {
		t.Errorf("attachment %#v %#v", att, att.Extended)
	}
	if mp.Extended == nil || mp.Extended.Params["boundary"] != "mix" {
		t.Errorf("multipart extension %#v", mp.Extended)
	}

	fwd := msgs[2].BodyStructure.(*imap.BodyStructureMultiPart).Children[1].(*imap.BodyStructureSinglePart)
	if fwd.MessageRFC822 == nil || fwd.MessageRFC822.Envelope.Subject != "Meeting notes" ||
		fwd.MessageRFC822.BodyStructure.MediaType() != "multipart/alternative" {
		t.Errorf("forwarded %#v", fwd)
	}

	// BINARY: decoded, NUL bytes and all (literal8).
	bin := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	nested := &imap.FetchItemBodySection{Part: []int{2, 1}, Peek: true}
	nestedHeader := &imap.FetchItemBodySection{Part: []int{2}, Specifier: imap.PartSpecifierHeader, Peek: true}
	msgs, err = c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{
		BinarySection:     []*imap.FetchItemBinarySection{bin},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(msgs[0].FindBinarySection(bin)); got != "\x00\x01\x02\x03\x04hello\x00" {
		t.Errorf("binary %q", got)
	}
	if n, ok := msgs[0].FindBinarySectionSize([]int{2}); !ok || n != 11 {
		t.Errorf("binary size %d %v", n, ok)
	}
	msgs, err = c.Fetch(imap.SeqSetNum(3), &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{nested, nestedHeader},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(msgs[0].FindBodySection(nested)); got != "Budget approved." {
		t.Errorf("nested part %q", got)
	}
	if got := string(msgs[0].FindBodySection(nestedHeader)); !strings.HasPrefix(got, "From: Judy") || !strings.HasSuffix(got, "\r\n\r\n") {
		t.Errorf("nested header %q", got)
	}

	// A non-peek fetch sets \Seen and the client learns it.
	msgs, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs[0].Flags) != 1 || msgs[0].Flags[0] != imap.FlagSeen {
		t.Errorf("flags after fetch %v", msgs[0].Flags)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

// fetchBenchMailbox fills INBOX with n small messages, appended in batches
// of 1000 with parsed structures; the messages of a batch share one body.
func fetchBenchMailbox(b *testing.B, e *testEnv, n int) {
	b.Helper()
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	date := time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)
	for done := 0; done < n; {
		k := min(1000, n-done)
		raw := crlf(fmt.Sprintf("From: Sender %d <s%d@example.test>\nTo: alice@example.test\nSubject: message batch %d\nDate: Fri, 20 Nov 2026 10:30:00 +0000\nMessage-ID: <%d@example.test>\n\nHello.\n", done, done, done, done))
		ref, ms := e.putBody(b, raw)
		enc := ms.Encode()
		batch := make([]store.AppendMessage, k)
		for i := range batch {
			batch[i] = store.AppendMessage{MailboxID: mb.ID, Body: ref, InternalDate: date, Structure: enc}
			if i%3 == 0 {
				batch[i].Flags = []string{`\Seen`}
			}
		}
		if _, err := e.st.Append(bg, e.acct.ID, batch, false); err != nil {
			b.Fatal(err)
		}
		done += k
	}
}

// benchFetch runs cmd on c b.N times, reading every response line, and
// checks that it returned want untagged lines.
func benchFetch(b *testing.B, c *client, cmd string, want int) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tag := fmt.Sprintf("b%d ", i)
		c.send(tag + cmd)
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Minute))
		lines := 0
		for {
			l, err := c.r.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				b.Fatal(err)
			}
			if bytes.HasPrefix(l, []byte(tag)) {
				if !bytes.HasPrefix(l[len(tag):], []byte("OK")) {
					b.Fatalf("%s", l)
				}
				break
			}
			if err == nil {
				lines++
			}
		}
		if lines != want {
			b.Fatalf("%d lines, want %d", lines, want)
		}
	}
}

const benchMessages = 100_000

func BenchmarkFetchFlags100k(b *testing.B) {
	e := newTestEnv(b)
	fetchBenchMailbox(b, e, benchMessages)
	c := e.login()
	c.ok("SELECT INBOX")
	// A sub-benchmark, so that the mailbox is filled only once.
	b.Run("UID_FETCH_1:*_(FLAGS)", func(b *testing.B) {
		benchFetch(b, c, "UID FETCH 1:* (FLAGS)", benchMessages)
	})
}

func BenchmarkFetchEnvelope100k(b *testing.B) {
	e := newTestEnv(b)
	fetchBenchMailbox(b, e, benchMessages)
	c := e.login()
	c.ok("SELECT INBOX")
	b.Run("FETCH_1:*_(ENVELOPE)", func(b *testing.B) {
		benchFetch(b, c, "FETCH 1:* (ENVELOPE)", benchMessages)
	})
}
