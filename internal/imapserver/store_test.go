package imapserver

import (
	"fmt"
	"strings"
	"testing"

	"mailroom/internal/store"
)

// modseqs returns the MODSEQ of each message of a mailbox by UID.
func (e *testEnv) modseqs(mailbox string) map[uint32]uint64 {
	e.t.Helper()
	mb, err := e.st.Mailbox(bg, e.acct.ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	list, err := e.st.ChangedSince(bg, e.acct.ID, mb.ID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[uint32]uint64{}
	for _, m := range list {
		out[m.UID] = m.ModSeq
	}
	return out
}

// uidsOf lists the UIDs of a mailbox in the store.
func (e *testEnv) uidsOf(mailbox string) []uint32 {
	e.t.Helper()
	mb, err := e.st.Mailbox(bg, e.acct.ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	list, err := e.st.ChangedSince(bg, e.acct.ID, mb.ID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []uint32
	for _, m := range list {
		out = append(out, m.UID)
	}
	return out
}

func TestStoreFlags(t *testing.T) {
	e := newTestEnv(t)
	for range 3 {
		e.deliver("INBOX", simpleMsg)
	}
	e.selectOnce("INBOX")
	a := e.login()
	b := e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")

	a.expect(`STORE 1 +FLAGS (\Seen)`, "OK", `* 1 FETCH (FLAGS (\Seen))`)
	// A keyword new to the mailbox is announced with FLAGS and
	// PERMANENTFLAGS (RFC 9051 §7.3.5).
	a.expect(`STORE 1:2 FLAGS.SILENT ($Work)`, "OK",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)] flags and keywords can be stored`)
	a.expect(`UID STORE 3 +FLAGS (\Answered \Seen)`, "OK", `* 3 FETCH (FLAGS (\Answered \Seen) UID 3)`)
	a.expect(`UID STORE 3 -FLAGS \Seen`, "OK", `* 3 FETCH (FLAGS (\Answered) UID 3)`)
	// Flags as a bare list; the unchanged message still gets its FETCH.
	a.expect(`STORE 1,2 +flags \Flagged $X`, "OK",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work $X)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work $X \*)] flags and keywords can be stored`,
		`* 1 FETCH (FLAGS ($Work $X \Flagged))`,
		`* 2 FETCH (FLAGS ($Work $X \Flagged))`)
	a.expect(`STORE 2 +FLAGS ($X)`, "OK", `* 2 FETCH (FLAGS ($Work $X \Flagged))`)
	a.expect(`STORE 1 FLAGS ()`, "OK", `* 1 FETCH (FLAGS ())`)

	// The other session learns it at its next command.
	// Message 1 is back to no flags: nothing to report.
	b.expect("NOOP", "OK",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work $X)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work $X \*)] flags and keywords can be stored`,
		`* 2 FETCH (UID 2 FLAGS ($Work $X \Flagged))`,
		`* 3 FETCH (UID 3 FLAGS (\Answered))`)
	b.expect("NOOP", "OK")

	// A change by another session is reported even with .SILENT, since
	// the client cannot work it out.
	b.ok(`STORE 3 +FLAGS.SILENT ($Other)`)
	a.expect(`STORE 3 +FLAGS.SILENT (\Draft)`, "OK",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Other $Work $X)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Other $Work $X \*)] flags and keywords can be stored`,
		`* 3 FETCH (FLAGS ($Other \Answered \Draft))`)
	a.expect("NOOP", "OK")
	b.expect("NOOP", "OK", `* 3 FETCH (UID 3 FLAGS ($Other \Answered \Draft))`)

	a.expect(`STORE 1 +FLAGS (\Recent)`, "BAD")
	a.expect(`STORE 4 +FLAGS (\Seen)`, "BAD")
	a.expect(`STORE 1 BOGUS (\Seen)`, "BAD")
	a.expect(`STORE 1 +FLAGS (\Seen`, "BAD")
	a.expect(`STORE 1 (FOO 1) +FLAGS (\Seen)`, "BAD")
	a.expect(`UID STORE 99 +FLAGS (\Seen)`, "OK")
	a.expect(`STORE 1 +FLAGS ()`, "OK", `* 1 FETCH (FLAGS ())`)

	c := e.login()
	c.ok("EXAMINE INBOX")
	c.expect(`STORE 1 +FLAGS (\Seen)`, "NO")
	c.expect(`UID STORE 1 +FLAGS (\Seen)`, "NO")
	c.expect(`EXPUNGE`, "NO")
	c.expect(`UID EXPUNGE 1`, "NO")
	c.expect(`MOVE 1 Archive`, "NO")
	c.expect(`COPY 1 Archive`, "OK [COPYUID ")
}

func TestStoreUnchangedSince(t *testing.T) {
	e := newTestEnv(t)
	for range 3 {
		e.deliver("INBOX", simpleMsg)
	}
	ms := e.modseqs("INBOX")
	e.selectOnce("INBOX")
	a := e.login()
	b := e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	b.ok(`STORE 2 +FLAGS.SILENT ($B)`)
	m2 := e.modseqs("INBOX")[2]

	// Message 2 changed after MODSEQ ms[3]: it fails, the others change
	// and, CONDSTORE being on now, get a FETCH with MODSEQ even with .SILENT
	// (RFC 7162 §3.1.3).
	a.expect("STORE 1:3 (UNCHANGEDSINCE "+itoa(ms[3])+`) +FLAGS.SILENT (\Deleted)`, "OK [MODIFIED 2]",
		"* 1 FETCH (MODSEQ ("+itoa(m2+1)+"))",
		"* 3 FETCH (MODSEQ ("+itoa(m2+1)+"))")
	a.expect("NOOP", "OK",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $B)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $B \*)] flags and keywords can be stored`,
		"* 2 FETCH (UID 2 FLAGS ($B) MODSEQ ("+itoa(m2)+"))")

	// UID STORE: MODIFIED lists UIDs; non-silent FETCH carries UID and MODSEQ.
	a.expect("UID STORE 1:3 (UNCHANGEDSINCE "+itoa(m2)+`) +FLAGS (\Seen)`, "OK [MODIFIED 1,3]",
		"* 2 FETCH (FLAGS ($B \\Seen) UID 2 MODSEQ ("+itoa(m2+2)+"))")
	// UNCHANGEDSINCE 0 always fails.
	a.expect(`UID STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (\Seen)`, "OK [MODIFIED 1:3]")
	a.expect(`STORE 2:3 (UNCHANGEDSINCE 0) +FLAGS (\Seen)`, "OK [MODIFIED 2:3]")
	a.expect(`STORE 2 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\Seen)`, "BAD")
	// Without a change, nothing moves and .SILENT says nothing.
	a.expect(`STORE 2 +FLAGS.SILENT (\Seen)`, "OK")

	b.expect("NOOP", "OK",
		`* 1 FETCH (UID 1 FLAGS (\Deleted))`,
		`* 2 FETCH (UID 2 FLAGS ($B \Seen))`,
		`* 3 FETCH (UID 3 FLAGS (\Deleted))`)
}

func TestExpunge(t *testing.T) {
	e := newTestEnv(t)
	for range 5 {
		e.deliver("INBOX", simpleMsg)
	}
	e.selectOnce("INBOX")
	a := e.login()
	b := e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")

	a.ok(`STORE 2,4 +FLAGS.SILENT (\Deleted)`)
	a.expect("EXPUNGE", "OK", "* 4 EXPUNGE", "* 2 EXPUNGE")
	a.expect("EXPUNGE", "OK")
	b.expect("NOOP", "OK", "* 4 EXPUNGE", "* 2 EXPUNGE")
	// Now UIDs 1, 3, 5 at 1, 2, 3.

	// UID EXPUNGE removes only \Deleted messages of the set, as the store
	// has them now: b cleared \Deleted on UID 5 behind a's back.
	a.ok(`STORE 1:3 +FLAGS.SILENT (\Deleted)`)
	b.ok(`UID STORE 5 -FLAGS.SILENT (\Deleted)`)
	a.expect("UID EXPUNGE 3:5", "OK", "* 2 EXPUNGE", `* 2 FETCH (UID 5 FLAGS ())`)
	// b learnt of a's \Deleted at its own UID STORE.
	b.expect("NOOP", "OK", "* 2 EXPUNGE")
	a.expect("UID EXPUNGE 99", "OK")
	a.expect("UID EXPUNGE x", "BAD")
	a.expect("EXPUNGE 1", "BAD")

	// QRESYNC: VANISHED and HIGHESTMODSEQ.
	a.ok("ENABLE QRESYNC")
	a.expect("EXPUNGE", "OK [HIGHESTMODSEQ "+itoa(highestModSeqOf(e, "INBOX")+1)+"]", "* VANISHED 1")
	b.expect("NOOP", "OK", "* 1 EXPUNGE")
	if got := e.uidsOf("INBOX"); len(got) != 1 || got[0] != 5 {
		t.Fatalf("left %v", got)
	}
	// CLOSE expunges silently.
	a.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	a.expect("CLOSE", "OK")
	if got := e.uidsOf("INBOX"); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
	b.expect("NOOP", "OK", "* 1 EXPUNGE")
}

func highestModSeqOf(e *testEnv, mailbox string) uint64 {
	mb, err := e.st.Mailbox(bg, e.acct.ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	return mb.HighestModSeq
}

// Keywords are bounded per message (store.MaxKeywords, MaxKeywordLength)
// and per mailbox (maxMailboxKeywords): past a bound, NO [LIMIT] and
// nothing changes.
func TestKeywordLimits(t *testing.T) {
	e := newTestEnv(t)
	for range 5 {
		e.deliver("INBOX", "Subject: k\n\nbody\n")
	}
	c := e.login()
	c.ok("SELECT INBOX")
	kws := func(prefix string, n int) string {
		var b []string
		for i := range n {
			b = append(b, fmt.Sprintf("%s%d", prefix, i))
		}
		return strings.Join(b, " ")
	}
	c.ok("STORE 1 +FLAGS.SILENT (" + kws("a", store.MaxKeywords) + ")")
	c.expect("STORE 1 +FLAGS.SILENT (one-more)", "NO [LIMIT]")
	c.expect("STORE 2 +FLAGS.SILENT ("+strings.Repeat("k", store.MaxKeywordLength+1)+")", "NO [LIMIT]")
	untagged := c.ok("FETCH 1:2 FLAGS")
	if n := strings.Count(untagged[0], "a"); n != store.MaxKeywords || strings.Contains(untagged[0], "one-more") {
		t.Fatalf("message 1 after the refused STORE: %q", untagged[0])
	}
	if strings.Contains(untagged[1], "kkkk") {
		t.Fatalf("message 2 got the long keyword: %q", untagged[1])
	}
	lit := crlfMsg
	c.expect("APPEND INBOX ("+kws("z", store.MaxKeywords+1)+") "+appendLitPlus(lit)+"\r\n"+lit, "NO [LIMIT]")
	if got := len(c.ok("SEARCH ALL")); got != 1 {
		t.Fatalf("SEARCH: %d lines", got)
	}
	// Per mailbox: 4 × 64 distinct keywords fill it.
	for i, p := range []string{"b", "c", "d"} {
		c.ok(fmt.Sprintf("STORE %d +FLAGS.SILENT (%s)", i+2, kws(p, store.MaxKeywords)))
	}
	c.expect("STORE 5 +FLAGS.SILENT (fresh)", "NO [LIMIT]")
	c.ok("STORE 5 +FLAGS.SILENT (a1 b2)") // keywords already in use are fine
}
