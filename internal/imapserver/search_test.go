package imapserver

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/internal/imapwire"
	"mailroom/internal/message"
	"mailroom/internal/store"
)

// searchFixture is one message of the search mailbox, in testdata/search.
type searchFixture struct {
	file  string
	date  time.Time // internal date
	flags []string
}

// The search mailbox: sequence numbers 1-5 hold UIDs 2-6 (UID 1 is
// expunged first, so that UIDs and sequence numbers differ).
var searchFixtures = []searchFixture{
	{"plain.eml", time.Date(2026, 11, 20, 10, 30, 0, 0, time.FixedZone("", 3600)), []string{`\Seen`}},
	// 21 Nov in its own zone, 20 Nov in UTC.
	{"utf8-base64.eml", time.Date(2026, 11, 21, 0, 30, 0, 0, time.FixedZone("", 3600)), []string{`\Flagged`, "$Work"}},
	{"latin1-qp.eml", time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), []string{`\Answered`, `\Draft`}},
	{"mixed.eml", time.Date(2026, 12, 1, 12, 0, 0, 0, time.FixedZone("", -8*3600)), nil},
	// 20 Nov in its own zone, 21 Nov in UTC.
	{"no-date.eml", time.Date(2026, 11, 20, 23, 0, 0, 0, time.FixedZone("", -5*3600)), []string{`\Deleted`}},
}

func readSearchFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "search", name))
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")
	return strings.ReplaceAll(raw, "@BASE64@", base64.StdEncoding.EncodeToString([]byte("Eine Überraschung für dich.\r\nViele Grüße\r\n")))
}

// appendAt stores a message with the given internal date and returns its
// UID and size.
func (e *testEnv) appendAt(mailbox, raw string, date time.Time, flags ...string) (uint32, int64) {
	e.t.Helper()
	mb, err := e.st.Mailbox(bg, e.acct.ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	ref, st := e.putBody(e.t, raw)
	res, err := e.st.Append(bg, e.acct.ID, []store.AppendMessage{{
		MailboxID: mb.ID, Body: ref, Flags: flags, InternalDate: date, Structure: st.Encode(),
	}}, false)
	if err != nil {
		e.t.Fatal(err)
	}
	return res[0].UID, ref.Size
}

// searchEnv fills INBOX with searchFixtures and returns the sizes and
// MODSEQs of messages 1-5.
func searchEnv(t *testing.T) (e *testEnv, sizes []int64, modseqs []uint64) {
	e = newTestEnv(t)
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	first := e.deliver("INBOX", "Subject: gone\n\ngone\n")
	if _, err := e.st.Expunge(bg, e.acct.ID, mb.ID, []uint32{first}); err != nil {
		t.Fatal(err)
	}
	for _, f := range searchFixtures {
		_, size := e.appendAt("INBOX", readSearchFixture(t, f.file), f.date, f.flags...)
		sizes = append(sizes, size)
	}
	msgs, err := e.st.Messages(bg, e.acct.ID, mb.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		modseqs = append(modseqs, m.ModSeq)
	}
	return e, sizes, modseqs
}

// searchCase is one command of a transcript: "@tag@" in want stands for
// the command's tag.
type searchCase struct {
	cmd    string
	tagged string // prefix of the tagged response
	want   []string
}

func runSearchCases(t *testing.T, c *client, tests []searchCase) {
	t.Helper()
	for _, tt := range tests {
		tag := fmt.Sprintf("t%d", c.n+1)
		want := make([]string, len(tt.want))
		for i, w := range tt.want {
			want[i] = strings.ReplaceAll(w, "@tag@", tag)
		}
		tagged := tt.tagged
		if tagged == "" {
			tagged = "OK"
		}
		c.expect(tt.cmd, tagged, want...)
	}
}

func TestSearchCriteria(t *testing.T) {
	e, sizes, modseqs := searchEnv(t)
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	c := e.login()
	c.ok("SELECT INBOX")
	yesterday := time.Now().Add(-24 * time.Hour).Format("2-Jan-2006")
	tests := []searchCase{
		{cmd: "SEARCH ALL", want: []string{"* SEARCH 1 2 3 4 5"}},
		{cmd: "SEARCH SEEN", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH UNSEEN", want: []string{"* SEARCH 2 3 4 5"}},
		{cmd: "SEARCH FLAGGED", want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH UNFLAGGED", want: []string{"* SEARCH 1 3 4 5"}},
		{cmd: "SEARCH ANSWERED", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH UNANSWERED", want: []string{"* SEARCH 1 2 4 5"}},
		{cmd: "SEARCH DRAFT", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH UNDRAFT", want: []string{"* SEARCH 1 2 4 5"}},
		{cmd: "SEARCH DELETED", want: []string{"* SEARCH 5"}},
		{cmd: "SEARCH undeleted", want: []string{"* SEARCH 1 2 3 4"}},
		{cmd: "SEARCH KEYWORD $Work", want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH KEYWORD $work", want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH UNKEYWORD $Work", want: []string{"* SEARCH 1 3 4 5"}},
		{cmd: "SEARCH NEW", want: []string{"* SEARCH"}},
		{cmd: "SEARCH RECENT", want: []string{"* SEARCH"}},
		{cmd: "SEARCH OLD", want: []string{"* SEARCH 1 2 3 4 5"}},
		// Dates in the message's own zone (RFC 9051 §6.4.4).
		{cmd: "SEARCH BEFORE 20-Nov-2026", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH ON 20-Nov-2026", want: []string{"* SEARCH 1 5"}},
		{cmd: `SEARCH ON "21-nov-2026"`, want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH SINCE 21-Nov-2026", want: []string{"* SEARCH 2 4"}},
		{cmd: "SEARCH SENTBEFORE 20-Nov-2026", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH SENTON 20-Nov-2026", want: []string{"* SEARCH 1 5"}}, // 5 has no Date:
		{cmd: "SEARCH SENTON 1-Dec-2026", want: []string{"* SEARCH 4"}},
		{cmd: "SEARCH SENTSINCE 21-Nov-2026", want: []string{"* SEARCH 2 4"}},
		{cmd: "SEARCH SAVEDSINCE " + yesterday, want: []string{"* SEARCH 1 2 3 4 5"}},
		{cmd: "SEARCH SAVEDBEFORE " + yesterday, want: []string{"* SEARCH"}},
		{cmd: "SEARCH SAVEDON 1-Jan-2000", want: []string{"* SEARCH"}},
		{cmd: "SEARCH SAVEDATESUPPORTED", want: []string{"* SEARCH 1 2 3 4 5"}},
		{cmd: fmt.Sprintf("SEARCH LARGER %d", sizes[3]-1), want: []string{"* SEARCH 4"}},
		{cmd: fmt.Sprintf("SEARCH LARGER %d", sizes[3]), want: []string{"* SEARCH"}},
		{cmd: fmt.Sprintf("SEARCH SMALLER %d", sizes[4]+1), want: []string{"* SEARCH 5"}},
		// Addresses and subject, RFC 2047 decoded, case-insensitive.
		{cmd: "SEARCH FROM alice", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH FROM EXAMPLE.TEST", want: []string{"* SEARCH 1 2 3 4 5"}},
		{cmd: "SEARCH CHARSET UTF-8 FROM " + litp("JÜRGEN"), want: []string{"* SEARCH 2"}},
		{cmd: `SEARCH FROM "alice example"`, want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH TO bob", want: []string{"* SEARCH 1 4 5"}},
		{cmd: "SEARCH CC carol", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH BCC boss", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH SUBJECT hello", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH CHARSET UTF-8 SUBJECT " + litp("köln"), want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH SUBJECT " + litp("KÖLN"), want: []string{"* SEARCH 2"}},
		{cmd: `SEARCH SUBJECT ""`, want: []string{"* SEARCH 1 2 3 4 5"}},
		{cmd: "SEARCH SUBJECT inner", want: []string{"* SEARCH"}},
		{cmd: "SEARCH CHARSET us-ascii SUBJECT HELLO", want: []string{"* SEARCH 1"}},
		// HEADER: from the envelope, or from the header block.
		{cmd: `SEARCH HEADER X-Custom ""`, want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH HEADER x-custom YES", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH HEADER X-Custom no", want: []string{"* SEARCH"}},
		{cmd: "SEARCH HEADER Subject report", want: []string{"* SEARCH 4"}},
		{cmd: "SEARCH HEADER Message-ID m1@", want: []string{"* SEARCH 1"}},
		{cmd: `SEARCH HEADER Date ""`, want: []string{"* SEARCH 1 2 3 4"}},
		{cmd: "SEARCH HEADER X-Priority 1", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH HEADER From juergen", want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH HEADER From " + litp("Müller"), want: []string{"* SEARCH 2"}},
		{cmd: `SEARCH HEADER "X-Missing" ""`, want: []string{"* SEARCH"}},
		// BODY and TEXT: decoded text parts only.
		{cmd: "SEARCH BODY fox", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH BODY hello", want: []string{"* SEARCH"}},
		{cmd: "SEARCH TEXT hello", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH TEXT x-custom", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH CHARSET UTF-8 BODY " + litp("üBERRASCHUNG"), want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH CHARSET UTF-8 BODY " + litp("grüße"), want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH CHARSET UTF-8 BODY " + litp("CAFÉ CRÈME"), want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH CHARSET UTF-8 BODY " + litp("ÉCLAIRS"), want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH BODY secretword", want: []string{"* SEARCH"}},
		{cmd: `SEARCH BODY "inner text"`, want: []string{"* SEARCH 4"}},
		{cmd: `SEARCH BODY "Inner Subject"`, want: []string{"* SEARCH 4"}},
		{cmd: `SEARCH BODY ""`, want: []string{"* SEARCH 1 2 3 4 5"}},
		// OR, NOT, lists, sequence sets.
		{cmd: "SEARCH OR SEEN FLAGGED", want: []string{"* SEARCH 1 2"}},
		{cmd: "SEARCH NOT SEEN", want: []string{"* SEARCH 2 3 4 5"}},
		{cmd: "SEARCH NOT NOT SEEN", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH OR (SEEN FROM alice) NOT (OR BODY fox SUBJECT menu)", want: []string{"* SEARCH 1 2 4 5"}},
		{cmd: "SEARCH (OR DELETED (FLAGGED (KEYWORD $Work))) NOT BODY nothing", want: []string{"* SEARCH 2 5"}},
		{cmd: "SEARCH OR OR SEEN DRAFT OR DELETED BODY fox", want: []string{"* SEARCH 1 3 5"}},
		{cmd: "SEARCH 2:3", want: []string{"* SEARCH 2 3"}},
		{cmd: "SEARCH *", want: []string{"* SEARCH 5"}},
		{cmd: "SEARCH 1,4:*", want: []string{"* SEARCH 1 4 5"}},
		{cmd: "SEARCH 3:2 UNFLAGGED", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH NOT 1:3", want: []string{"* SEARCH 4 5"}},
		{cmd: "SEARCH 9", want: []string{"* SEARCH"}},
		{cmd: "SEARCH UID 3:4", want: []string{"* SEARCH 2 3"}},
		{cmd: "SEARCH UID 1,6", want: []string{"* SEARCH 5"}},
		{cmd: "UID SEARCH UID 3:4", want: []string{"* SEARCH 3 4"}},
		{cmd: "UID SEARCH FLAGGED", want: []string{"* SEARCH 3"}},
		{cmd: "UID SEARCH 1:2", want: []string{"* SEARCH 2 3"}},
		{cmd: "UID SEARCH SUBJECT menu", want: []string{"* SEARCH 4"}},
		// MODSEQ (RFC 7162 §3.1.5): the first one enables CONDSTORE.
		{cmd: fmt.Sprintf("SEARCH MODSEQ %d", modseqs[3]), want: []string{
			fmt.Sprintf("* OK [HIGHESTMODSEQ %d] CONDSTORE enabled", modseqs[4]),
			fmt.Sprintf("* SEARCH 4 5 (MODSEQ %d)", modseqs[4]),
		}},
		{cmd: fmt.Sprintf(`SEARCH MODSEQ "/flags/\\draft" all %d DRAFT`, modseqs[0]), want: []string{fmt.Sprintf("* SEARCH 3 (MODSEQ %d)", modseqs[2])}},
		{cmd: fmt.Sprintf("UID SEARCH MODSEQ %d", modseqs[4]+1), want: []string{"* SEARCH"}},
		{cmd: "SEARCH RETURN (MIN) MODSEQ 0", want: []string{fmt.Sprintf(`* ESEARCH (TAG "@tag@") MIN 1 MODSEQ %d`, modseqs[0])}},
		{cmd: "SEARCH RETURN (MAX COUNT) MODSEQ 0", want: []string{fmt.Sprintf(`* ESEARCH (TAG "@tag@") MAX 5 COUNT 5 MODSEQ %d`, modseqs[4])}},
		// Charsets.
		{cmd: "SEARCH CHARSET KOI8-R SUBJECT x", tagged: "NO [BADCHARSET (UTF-8 US-ASCII)]"},
		{cmd: "SEARCH CHARSET " + litp("UTF-8") + " SUBJECT x", want: []string{"* SEARCH"}},
	}
	runSearchCases(t, c, tests)
}

func TestSearchSyntax(t *testing.T) {
	e, _, _ := searchEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	for _, cmd := range []string{
		"SEARCH",
		"SEARCH ",
		"SEARCH FOO",
		"SEARCH ALL ",
		"SEARCH ALL  SEEN",
		"SEARCH SINCE 32-Foo-2026",
		"SEARCH SINCE",
		"SEARCH (SEEN",
		"SEARCH ()",
		"SEARCH SEEN)",
		"SEARCH OR SEEN",
		"SEARCH NOT",
		"SEARCH LARGER x",
		"SEARCH LARGER -1",
		"SEARCH OLDER 0",
		"SEARCH UID 0",
		"SEARCH UID",
		"SEARCH 0",
		"SEARCH 1:",
		"SEARCH KEYWORD \\Seen",
		`SEARCH HEADER "a b" x`,
		"SEARCH HEADER Subject",
		"SEARCH SUBJECT",
		`SEARCH SUBJECT "unterminated`,
		`SEARCH MODSEQ "/flags/x" nobody 1`,
		"SEARCH MODSEQ x",
		"SEARCH RETURN (FOO) ALL",
		"SEARCH RETURN ALL",
		"SEARCH RETURN (MIN)",
		"SEARCH CHARSET",
		"SEARCH CHARSET UTF-8",
		"SEARCH " + strings.Repeat("NOT ", 100) + "ALL",
		"SEARCH " + strings.Repeat("(", 100) + "ALL" + strings.Repeat(")", 100),
		"SEARCH " + strings.Repeat("OR ALL ", 70) + "ALL",
		"SEARCH " + strings.Repeat("ALL ", 5000) + "ALL",
		"SEARCH SUBJECT " + strings.Repeat("x", 70000),
		"SEARCH CHARSET UTF-8 SUBJECT \"\xff\"",
	} {
		c.expect(cmd, "BAD")
		c.expect("NOOP", "OK") // under MaxBadCommands
	}
	// Literal refused in a bad command; the session goes on.
	c.expect("NOOP", "OK")
	c.expect("SEARCH SUBJECT "+litp("abc")+" FOO", "BAD")
	c.expect("SEARCH SEEN", "OK", "* SEARCH 1")
	// A synchronizing literal gets a continuation.
	c.send("s1 SEARCH CHARSET UTF-8 SUBJECT {5}")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation %q", l)
	}
	c.send("köln")
	if l := c.line(); l != "* SEARCH 2" {
		t.Fatalf("%q", l)
	}
	if l := c.line(); !strings.HasPrefix(l, "s1 OK") {
		t.Fatalf("%q", l)
	}
	// SEARCH needs a selected mailbox.
	c2 := e.login()
	c2.expect("SEARCH ALL", "BAD")
}

func TestESearch(t *testing.T) {
	e, _, _ := searchEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	runSearchCases(t, c, []searchCase{
		{cmd: "SEARCH RETURN (MIN MAX COUNT) UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") MIN 2 MAX 5 COUNT 4`}},
		{cmd: "SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") MIN 2 MAX 5 COUNT 4 ALL 2:5`}},
		{cmd: "SEARCH RETURN () UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") ALL 2:5`}},
		{cmd: "SEARCH RETURN (ALL) 1,3,5", want: []string{`* ESEARCH (TAG "@tag@") ALL 1,3,5`}},
		{cmd: "UID SEARCH RETURN (ALL) UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") UID ALL 3:6`}},
		{cmd: "UID SEARCH RETURN (min max) UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") UID MIN 3 MAX 6`}},
		{cmd: "SEARCH RETURN (COUNT MIN MAX ALL) SUBJECT nosuch", want: []string{`* ESEARCH (TAG "@tag@") COUNT 0`}},
		{cmd: "SEARCH RETURN (MIN) SUBJECT nosuch", want: []string{`* ESEARCH (TAG "@tag@")`}},
		{cmd: "SEARCH RETURN (COUNT) CHARSET UTF-8 BODY fox", want: []string{`* ESEARCH (TAG "@tag@") COUNT 1`}},
	})

	// IMAP4rev2: SEARCH always answers ESEARCH (RFC 9051 §6.4.4).
	c2 := e.login()
	c2.expect("ENABLE IMAP4rev2", "OK", "* ENABLED IMAP4rev2")
	c2.ok("SELECT INBOX")
	runSearchCases(t, c2, []searchCase{
		{cmd: "SEARCH UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") ALL 2:5`}},
		{cmd: "UID SEARCH UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") UID ALL 3:6`}},
		{cmd: "SEARCH SUBJECT nosuch", want: []string{`* ESEARCH (TAG "@tag@")`}},
		{cmd: "UID SEARCH SUBJECT nosuch", want: []string{`* ESEARCH (TAG "@tag@") UID`}},
		{cmd: "SEARCH RETURN (COUNT) ALL", want: []string{`* ESEARCH (TAG "@tag@") COUNT 5`}},
		{cmd: "SEARCH SUBJECT " + litp("Köln"), want: []string{`* ESEARCH (TAG "@tag@") ALL 2`}},
	})
}

func TestSearchSave(t *testing.T) {
	e, _, _ := searchEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	runSearchCases(t, c, []searchCase{
		// RFC 5182 §2.1: SAVE alone answers nothing.
		{cmd: "SEARCH RETURN (SAVE) FLAGGED"},
		{cmd: "SEARCH $", want: []string{"* SEARCH 2"}},
		{cmd: "UID SEARCH UID $", want: []string{"* SEARCH 3"}},
		{cmd: "FETCH $ (UID)", want: []string{"* 2 FETCH (UID 3)"}},
		// "$" in a SAVE search is the previous result.
		{cmd: "SEARCH RETURN (SAVE) OR $ SEEN"},
		{cmd: "SEARCH $", want: []string{"* SEARCH 1 2"}},
		{cmd: "SEARCH NOT $", want: []string{"* SEARCH 3 4 5"}},
		// RFC 5182 §2.4: with MIN/MAX only what they return is saved.
		{cmd: "SEARCH RETURN (SAVE MIN) UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") MIN 2`}},
		{cmd: "SEARCH $", want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH RETURN (MAX SAVE MIN) UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") MIN 2 MAX 5`}},
		{cmd: "UID SEARCH $", want: []string{"* SEARCH 3 6"}},
		{cmd: "UID SEARCH RETURN (SAVE MAX) UID 4", want: []string{`* ESEARCH (TAG "@tag@") UID MAX 4`}},
		{cmd: "SEARCH $", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH RETURN (SAVE MIN COUNT) UNSEEN", want: []string{`* ESEARCH (TAG "@tag@") MIN 2 COUNT 4`}},
		{cmd: "SEARCH $", want: []string{"* SEARCH 2 3 4 5"}},
		// A failed SEARCH with SAVE empties "$".
		{cmd: "SEARCH RETURN (SAVE) FOO", tagged: "BAD"},
		{cmd: "SEARCH $", want: []string{"* SEARCH"}},
		{cmd: "SEARCH RETURN (SAVE) ALL"},
		{cmd: "SEARCH RETURN (SAVE) CHARSET X ALL", tagged: "NO [BADCHARSET"},
		{cmd: "SEARCH $", want: []string{"* SEARCH"}},
		{cmd: "SEARCH RETURN (SAVE) SEEN"},
		{cmd: "SEARCH RETURN (SAVE) 9:10"},
		{cmd: "SEARCH $ ALL", want: []string{"* SEARCH"}},
	})
}

func TestSearchRecentAndWithin(t *testing.T) {
	e := newTestEnv(t)
	now := time.Now()
	e.appendAt("INBOX", "Subject: old\r\n\r\nold\r\n", now.Add(-48*time.Hour))
	e.selectOnce("INBOX")
	c := e.login()
	c.ok("SELECT INBOX")
	e.appendAt("INBOX", "Subject: new\r\n\r\nnew\r\n", now.Add(-time.Hour))
	e.appendAt("INBOX", "Subject: new seen\r\n\r\nnew\r\n", now.Add(-time.Minute), `\Seen`)
	c.ok("NOOP")
	runSearchCases(t, c, []searchCase{
		{cmd: "SEARCH RECENT", want: []string{"* SEARCH 2 3"}},
		{cmd: "SEARCH NEW", want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH OLD", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH NOT RECENT", want: []string{"* SEARCH 1"}},
		// RFC 5032 WITHIN.
		{cmd: "SEARCH YOUNGER 86400", want: []string{"* SEARCH 2 3"}},
		{cmd: "SEARCH OLDER 86400", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH YOUNGER 600", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH OLDER 600 YOUNGER 7200", want: []string{"* SEARCH 2"}},
	})
}

// A message expunged by another session stays in this session's view
// until it may be told; searching it must not fail.
func TestSearchExpungedElsewhere(t *testing.T) {
	e, _, _ := searchEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	mb, _ := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if _, err := e.st.Expunge(bg, e.acct.ID, mb.ID, []uint32{3}); err != nil {
		t.Fatal(err)
	}
	// The view still has message 2 (UID 3): it is searched like the
	// others (from its body, its row being gone) until the session is
	// told of the expunge.
	c.expect("SEARCH FROM example.test", "OK", "* SEARCH 1 2 3 4 5")
	c.expect("SEARCH FLAGGED", "OK", "* SEARCH 2")
	c.expect("UID SEARCH BODY fox", "OK", "* SEARCH 2", "* 2 EXPUNGE")
}

func TestSearchGoIMAPClient(t *testing.T) {
	e, _, _ := searchEnv(t)
	cl, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("alice@example.test", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := cl.Search(&imap.SearchCriteria{
		Header:  []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "köln"}},
		NotFlag: []imap.Flag{imap.FlagSeen},
	}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := data.AllSeqNums(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("seq nums %v", got)
	}
	data, err = cl.UIDSearch(&imap.SearchCriteria{
		Or: [][2]imap.SearchCriteria{{{Body: []string{"fox"}}, {Flag: []imap.Flag{imap.FlagDeleted}}}},
	}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.Min != 2 || data.Max != 6 || data.Count != 2 {
		t.Fatalf("min %d max %d count %d", data.Min, data.Max, data.Count)
	}
	if err := cl.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestTextMatcher(t *testing.T) {
	text := "Grüße aus Köln, STRASSE und Straße"
	for _, tt := range []struct {
		needle string
		want   bool
	}{
		{"köln", true}, {"GRÜSSE", false}, {"grüße", true}, {"straße", true},
		{"strasse", true}, {"köln,  ", false}, {"e und s", true}, {"x", false},
	} {
		// Every split of the text into two pieces, also inside a rune.
		for cut := 0; cut <= len(text); cut++ {
			m := &textMatcher{needle: []byte(foldString(tt.needle))}
			_, err1 := m.Write([]byte(text[:cut]))
			var err2 error
			if err1 == nil {
				_, err2 = m.Write([]byte(text[cut:]))
			}
			got := err1 == errFound || err2 == errFound || m.finish()
			if got != tt.want {
				t.Fatalf("%q in %q cut at %d: %v", tt.needle, text, cut, got)
			}
		}
	}
}

func TestLatin1Reader(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"caf\xe9", "café"},
		{"café", "café"},
		{"a\xff\xfeb", "aÿþb"},
		{"mixed é and \xe9", "mixed é and é"},
		{"cut \xc3", "cut Ã"},
	} {
		for _, size := range []int{1, 2, 3, 100} {
			r := &latin1Reader{r: &chunkReader{s: tt.in, n: size}}
			b, err := io.ReadAll(r)
			if err != nil || string(b) != tt.want {
				t.Fatalf("%q (chunks of %d): %q, %v", tt.in, size, b, err)
			}
		}
	}
}

// litp writes s as a non-synchronizing literal (RFC 7888).
func litp(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

type chunkReader struct {
	s string
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[n:]
	return n, nil
}

func TestSplitHeader(t *testing.T) {
	got := splitHeader([]byte("Subject: a\r\n b\r\nX-Empty:\r\nbogus line\r\nTo : c\r\n\r\nbody: no\r\n"))
	want := []headerField{{"Subject", "a b"}, {"X-Empty", ""}, {"To", "c"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%q", got)
	}
}

func TestSentDay(t *testing.T) {
	internal := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		date string
		want int
	}{
		{"Fri, 20 Nov 2026 23:30:00 -0800", 20261120},
		{"20 Nov 2026 01:00:00 +1400", 20261120},
		{"Fri, 20 Nov 2026 10:30:00 +0100 (CET)", 20261120},
		{"Fri,  20 Nov 2026 10:30 GMT", 20261120},
		{"garbage", 20260304},
		{"", 20260304},
	} {
		if got := sentDay(tt.date, internal); got != tt.want {
			t.Errorf("%q: %d, want %d", tt.date, got, tt.want)
		}
	}
}

// BenchmarkSearchHeader100k searches a mailbox of 100,000 small messages
// over a real socket: a HEADER search answered from the stored envelopes,
// and a FROM search that matches every message.
func BenchmarkSearchHeader100k(b *testing.B) {
	const total, batch = 100_000, 1000
	e := newTestEnv(b)
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	date := time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)
	msgs := make([]store.AppendMessage, batch)
	for start := 0; start < total; start += batch {
		errs := make(chan error, batch)
		sem := make(chan struct{}, 32) // fsyncs in parallel
		for k := range batch {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				n := start + k
				subject := fmt.Sprintf("Message number %d", n)
				if n%1000 == 999 {
					subject += " with a needle"
				}
				raw := fmt.Sprintf("From: User %d <user%d@example.test>\r\nTo: alice@example.test\r\nSubject: %s\r\nDate: Fri, 20 Nov 2026 10:30:00 +0000\r\nMessage-ID: <%d@example.test>\r\n\r\nBody of message %d.\r\n", n, n, subject, n, n)
				w, err := e.st.NewBody(bg)
				if err != nil {
					errs <- err
					return
				}
				io.WriteString(w, raw)
				ref, err := w.Commit()
				if err != nil {
					errs <- err
					return
				}
				st, err := message.Parse(strings.NewReader(raw))
				if err != nil {
					errs <- err
					return
				}
				msgs[k] = store.AppendMessage{MailboxID: mb.ID, Body: ref, InternalDate: date, Structure: st.Encode()}
				errs <- nil
			}()
		}
		for range batch {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		if _, err := e.st.Append(bg, e.acct.ID, msgs, false); err != nil {
			b.Fatal(err)
		}
	}
	c := e.login()
	c.ok("SELECT INBOX")
	for _, bm := range []struct {
		name, cmd string
		matches   int
	}{
		{"HeaderSubject", `SEARCH HEADER Subject "needle"`, total / 1000},
		{"FromAll", "SEARCH FROM x", total},
		{"FromOne", "SEARCH FROM user4242@", 1},
		{"Flags", "SEARCH UNSEEN", total},
	} {
		b.Run(bm.name, func(b *testing.B) {
			c.t = b
			for b.Loop() {
				u := c.ok(bm.cmd)
				if len(u) != 1 || strings.Count(u[0], " ")-1 != bm.matches {
					b.Fatalf("%s: %d matches", bm.cmd, strings.Count(u[0], " ")-1)
				}
			}
		})
	}
}

// FuzzSearchProgram feeds arguments of SEARCH to the parser, and what
// parses to the evaluator of the cheap keys over a small view.
func FuzzSearchProgram(f *testing.F) {
	for _, seed := range []string{
		" ALL", " RETURN (MIN MAX COUNT ALL SAVE) CHARSET UTF-8 OR FROM bob NOT (SUBJECT \"hi\" 1:3,*) HEADER X-Foo \"\"",
		" UID $ MODSEQ \"/flags/\\\\seen\" all 12 SINCE 1-Jan-2026 NOT BEFORE \"2-feb-2026\"",
		" OR OR SEEN DRAFT OR DELETED BODY fox", " SUBJECT {5+}\r\nK\xc3\xb6ln LARGER 100 SMALLER 9",
		" YOUNGER 60 OLDER 10 SAVEDSINCE 1-Jan-2000 SAVEDATESUPPORTED KEYWORD $Work UNKEYWORD x NEW OLD RECENT",
		" ((((ALL))))", " NOT NOT NOT 5:1", " RETURN () TEXT x",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		br := bufio.NewReader(bytes.NewReader(append(input, "\r\n"...)))
		s := &session{dec: imapwire.NewDecoder(br, imapwire.DecoderOptions{})}
		s.sel = &selected{}
		for i := range 7 {
			s.sel.msgs = append(s.sel.msgs, msg{UID: uint32(2*i + 1), ModSeq: uint64(i), Size: int64(100 * i), Flags: []string{`\Seen`}})
			if i > 4 {
				s.sel.setRecent(uint32(2*i + 1))
			}
		}
		s.searchRes = []uint32{3, 5}
		req, err := s.readSearch()
		if err != nil {
			return
		}
		if req.program.prepare() != nil {
			return
		}
		e := &searchEval{s: s, now: time.Now(), saved: s.searchRes}
		e.resolveSets(req.program)
		for i := range s.sel.msgs {
			e.cheap(req.program, &msgCtx{seq: uint32(i + 1), m: &s.sel.msgs[i]})
		}
	})
}

// TestSearchBodyStreams searches a large base64 body (the needle at its
// end, so it crosses buffer boundaries) and a KOI8-R body.
func TestSearchBodyStreams(t *testing.T) {
	e := newTestEnv(t)
	var text strings.Builder
	for text.Len() < 3<<20 {
		text.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n")
	}
	text.WriteString("Zum Schluss eine Überraschung.\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(text.String()))
	var wrapped strings.Builder
	for len(enc) > 76 {
		wrapped.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	wrapped.WriteString(enc + "\r\n")
	e.deliver("INBOX", "Subject: big\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n"+wrapped.String())
	e.deliver("INBOX", "Subject: koi8\nContent-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n\n\xf0\xd2\xc9\xd7\xc5\xd4 \xcd\xc9\xd2\n")
	c := e.login()
	c.ok("SELECT INBOX")
	runSearchCases(t, c, []searchCase{
		{cmd: "SEARCH CHARSET UTF-8 BODY " + litp("EINE ÜBERRASCHUNG"), want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH BODY adipiscing", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH CHARSET UTF-8 BODY " + litp("привет МИР"), want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH BODY nowhere", want: []string{"* SEARCH"}},
	})
}
