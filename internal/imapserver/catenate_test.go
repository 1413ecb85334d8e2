package imapserver

import (
	"strings"
	"testing"
)

// TestCatenate: APPEND of a message made of literals and of parts of
// stored messages named by IMAP URLs (RFC 4469, RFC 5092), stored byte for
// byte; a URL of another account, a stale UIDVALIDITY or a missing message
// is NO [BADURL] and nothing is stored.
func TestCatenate(t *testing.T) {
	e := newTestEnv(t)
	src := "From: a@example.test\r\nSubject: source\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b\r\nContent-Type: application/pdf\r\n\r\nPDFDATA\r\n--b--\r\n"
	e.deliver("INBOX", src)
	iv := uidValidityOf(e, "INBOX")
	dv := uidValidityOf(e, "Drafts")
	c := e.login()
	header := src[:strings.Index(src, "\r\n\r\n")+4]
	text := "Forwarded:\r\n"
	c.expect(`APPEND Drafts (\Draft) CATENATE (URL "/INBOX;UIDVALIDITY=`+iv+`/;UID=1/;SECTION=HEADER" TEXT {12+}`+"\r\n"+text+
		` URL "/INBOX/;UID=1/;SECTION=1" URL "imap://alice%40example.test@imap.example.test/INBOX/;UID=1/;SECTION=2/;PARTIAL=0.3")`,
		"OK [APPENDUID "+dv+" 1]")
	c.ok("SELECT Drafts")
	want := header + text + "first part" + "PDF"
	u := c.ok("FETCH 1 (FLAGS BODY.PEEK[])")
	if len(u) != 1 || !strings.Contains(u[0], `FLAGS (\Draft \Recent)`) || !strings.HasSuffix(u[0], "BODY[] {"+itoa(uint64(len(want)))+"}\r\n"+want+")") {
		t.Fatalf("stored %q, want %q", u, want)
	}
	// HEADER.FIELDS and MIME sections; MULTIAPPEND with a plain literal.
	c.expect(`APPEND Drafts CATENATE (URL "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)" URL "/INBOX/;UID=1/;SECTION=2.MIME" TEXT {1+}`+"\r\n"+`x)`+
		` {5+}`+"\r\nplain", "OK [APPENDUID "+dv+" 2:3]", "* 3 EXISTS", "* 3 RECENT")
	u = c.ok("UID FETCH 2 BODY.PEEK[]")
	if want := "Subject: source\r\n\r\nContent-Type: application/pdf\r\n\r\nx"; len(u) != 1 || !strings.HasSuffix(u[0], "BODY[] {"+itoa(uint64(len(want)))+"}\r\n"+want+")") {
		t.Fatalf("fields and MIME: %q", u)
	}

	// Refused, with nothing stored.
	for _, url := range []string{
		"/INBOX;UIDVALIDITY=1/;UID=1",              // stale UIDVALIDITY
		"/INBOX/;UID=99",                           // no such message
		"/Nope/;UID=1",                             // no such mailbox
		"imap://bob%40example.test@h/INBOX/;UID=1", // another account
		"/INBOX/;UID=1/;URLAUTH=anonymous",         // URLAUTH is not here
		"/INBOX/;UID=1/;SECTION=9",                 // no such part
		"INBOX/;UID=1",                             // not a path
	} {
		c.expect(`APPEND Drafts CATENATE (TEXT {1+}`+"\r\nx"+` URL "`+url+`")`, "NO [BADURL "+url+"]")
	}
	// A synchronizing literal after a refused URL is refused too; the
	// session goes on.
	c.send(`s1 APPEND Drafts CATENATE (URL "/INBOX/;UID=99" TEXT {5}`)
	if l := c.line(); !strings.HasPrefix(l, "s1 NO [BADURL /INBOX/;UID=99]") {
		t.Fatalf("%q", l)
	}
	c.expect("NOOP", "OK")
	c.expect("APPEND Drafts CATENATE ()", "BAD")
	c.expect("APPEND Drafts CATENATE (FOO {1+}\r\nx)", "BAD")
	c.expect("STATUS Drafts (MESSAGES)", "OK", "* STATUS Drafts (MESSAGES 3)")
}
