package imapserver

import (
	"slices"
	"strings"
	"testing"
)

const simpleMsg = "From: Bob <bob@example.test>\nTo: alice@example.test\nSubject: hello\nDate: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-ID: <1@example.test>\n\nHi Alice\n"

func TestSelectExamine(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg, `\Seen`)
	e.deliver("INBOX", simpleMsg, "$Work")
	mb, _ := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	c := e.login()
	uv := itoa(uint64(mb.UIDValidity))
	// The first SELECT takes the mail no session has seen (RFC 3501
	// §2.3.2); the EXAMINE after it finds none.
	c.expect("SELECT INBOX", "OK [READ-WRITE]",
		"* 2 EXISTS",
		"* 2 RECENT",
		"* OK [UNSEEN 2] first unseen",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)] flags and keywords can be stored`,
		"* OK [UIDVALIDITY "+uv+"] UIDs valid",
		"* OK [UIDNEXT 3] predicted next UID",
	)
	c.expect("EXAMINE Nope", "NO [NONEXISTENT]", "* OK [CLOSED] previous mailbox closed")
	c.expect("NOOP", "OK")
	c.expect("EXAMINE INBOX (CONDSTORE)", "OK [READ-ONLY]",
		"* 2 EXISTS",
		"* 0 RECENT",
		"* OK [UNSEEN 2] first unseen",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)`,
		`* OK [PERMANENTFLAGS ()] read-only mailbox`,
		"* OK [UIDVALIDITY "+uv+"] UIDs valid",
		"* OK [UIDNEXT 3] predicted next UID",
		"* OK [HIGHESTMODSEQ "+itoa(mb.HighestModSeq)+"] highest",
	)
	c.expect("SELECT INBOX (QRESYNC (1 1))", "BAD")
	c.expect("UNSELECT", "OK")
	c.expect("CLOSE", "BAD")
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

func TestNewMailLiveToOtherSession(t *testing.T) {
	e := newTestEnv(t)
	a := e.login()
	b := e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	e.deliver("INBOX", simpleMsg)
	u := a.ok("NOOP")
	if strings.Join(u, "|") != "* 1 EXISTS|* 1 RECENT" {
		t.Fatalf("a: %q", u)
	}
	u = b.ok("NOOP")
	if strings.Join(u, "|") != "* 1 EXISTS|* 0 RECENT" {
		t.Fatalf("b: %q", u)
	}
}

func TestMailboxCommands(t *testing.T) {
	e := newTestEnv(t)
	c := e.login()
	c.ok("CREATE Lists/Go")
	c.expect("CREATE Lists", "NO [ALREADYEXISTS]")
	c.expect("CREATE inbox", "NO [ALREADYEXISTS]")
	c.expect(`CREATE "Bad//Name"`, "NO [CANNOT]")
	c.expect(`CREATE "&Jjo"`, "NO [CANNOT]")
	c.ok(`CREATE "&ZeVnLIqe-"`)
	c.ok(`CREATE Receipts (USE (\Flagged))`)
	c.expect(`CREATE Odd (USE (\Bogus))`, "NO [USEATTR]")
	c.expect(`LIST "" "*"`, "OK",
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren \Archive) "/" Archive`,
		`* LIST (\HasNoChildren \Drafts) "/" Drafts`,
		`* LIST (\HasNoChildren \Junk) "/" Junk`,
		`* LIST (\HasChildren) "/" Lists`,
		`* LIST (\HasNoChildren) "/" Lists/Go`,
		`* LIST (\HasNoChildren \Flagged) "/" Receipts`,
		`* LIST (\HasNoChildren \Sent) "/" Sent`,
		`* LIST (\HasNoChildren \Trash) "/" Trash`,
		`* LIST (\HasNoChildren) "/" &ZeVnLIqe-`,
	)
	c.expect(`LIST "" ""`, "OK", `* LIST (\Noselect) "/" ""`)
	// "~" is an atom character: ~foo is a pattern, not a literal8
	// (RFC 3501 §9 list-mailbox; literal8 is only APPEND data, RFC 3516).
	c.expect(`LIST "" ~foo`, "OK")
	c.ok(`CREATE ~peter`)
	c.expect(`LIST "" ~pet*`, "OK", `* LIST (\HasNoChildren) "/" ~peter`)
	c.expect(`LIST ~ ~peter`, "OK")
	c.ok(`DELETE ~peter`)
	c.expect(`LIST "" "%"`, "OK",
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren \Archive) "/" Archive`,
		`* LIST (\HasNoChildren \Drafts) "/" Drafts`,
		`* LIST (\HasNoChildren \Junk) "/" Junk`,
		`* LIST (\HasChildren) "/" Lists`,
		`* LIST (\HasNoChildren \Flagged) "/" Receipts`,
		`* LIST (\HasNoChildren \Sent) "/" Sent`,
		`* LIST (\HasNoChildren \Trash) "/" Trash`,
		`* LIST (\HasNoChildren) "/" &ZeVnLIqe-`,
	)
	c.ok("SUBSCRIBE Lists/Go")
	c.expect(`LIST (SUBSCRIBED RECURSIVEMATCH) "" "Lists"`, "OK", `* LIST (\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))`)
	c.expect(`LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES UIDNEXT))`, "OK",
		`* LIST (\HasNoChildren \Archive) "/" Archive`,
		`* STATUS Archive (MESSAGES 0 UIDNEXT 1)`,
		`* LIST (\HasNoChildren \Drafts) "/" Drafts`,
		`* STATUS Drafts (MESSAGES 0 UIDNEXT 1)`,
		`* LIST (\HasNoChildren \Junk) "/" Junk`,
		`* STATUS Junk (MESSAGES 0 UIDNEXT 1)`,
		`* LIST (\HasNoChildren \Flagged) "/" Receipts`,
		`* STATUS Receipts (MESSAGES 0 UIDNEXT 1)`,
		`* LIST (\HasNoChildren \Sent) "/" Sent`,
		`* STATUS Sent (MESSAGES 0 UIDNEXT 1)`,
		`* LIST (\HasNoChildren \Trash) "/" Trash`,
		`* STATUS Trash (MESSAGES 0 UIDNEXT 1)`,
	)
	c.expect(`LSUB "" "L*"`, "OK", `* LSUB () "/" Lists/Go`)
	c.ok("DELETE Lists")
	c.expect(`LIST "" "Lists*"`, "OK", `* LIST (\Noselect \HasChildren) "/" Lists`, `* LIST (\HasNoChildren) "/" Lists/Go`)
	c.ok("RENAME Lists/Go Work/Go")
	c.expect("RENAME Nope Other", "NO [NONEXISTENT]")
	c.expect("DELETE INBOX", "NO")
	c.ok("UNSUBSCRIBE Work/Go")
	e.deliver("INBOX", simpleMsg)
	c.expect("STATUS INBOX (MESSAGES UNSEEN DELETED SIZE RECENT)", "OK", "* STATUS INBOX (MESSAGES 1 UNSEEN 1 DELETED 0 SIZE "+itoa(uint64(len(strings.ReplaceAll(simpleMsg, "\n", "\r\n"))))+" RECENT 1)")
	c.ok("ENABLE UTF8=ACCEPT")
	c.expect(`LIST "" "日*"`, "OK", `* LIST (\HasNoChildren) "/" "日本語"`)
}

// TestSubscriptionList: subscriptions are names (RFC 9051 §6.3.7), so a
// deleted mailbox stays subscribed and LIST (SUBSCRIBED) shows it
// \NonExistent (RFC 5258 §3.1); LSUB with "%" shows the unsubscribed parent
// of a subscribed child \Noselect (RFC 3501 §6.3.9); RECURSIVEMATCH gives a
// parent CHILDINFO only for a subscribed child that is not itself returned
// (RFC 5258 §3.5).
func TestSubscriptionList(t *testing.T) {
	e := newTestEnv(t)
	c := e.login()
	for _, n := range []string{"a", "a/b", "x", "x/gone", "x/kept"} {
		c.ok("CREATE " + n)
	}
	for _, n := range []string{"a/b", "x/gone", "x/kept"} {
		c.ok("SUBSCRIBE " + n)
	}
	c.ok("DELETE x/gone")
	c.expect(`LIST (SUBSCRIBED) "" x/*`, "OK",
		`* LIST (\NonExistent \Subscribed) "/" x/gone`,
		`* LIST (\HasNoChildren \Subscribed) "/" x/kept`)
	c.expect(`LSUB "" a/%`, "OK", `* LSUB () "/" a/b`)
	c.expect(`LSUB "" %`, "OK",
		`* LSUB () "/" INBOX`, `* LSUB () "/" Archive`, `* LSUB () "/" Drafts`, `* LSUB () "/" Junk`,
		`* LSUB () "/" Sent`, `* LSUB () "/" Trash`,
		`* LSUB (\Noselect) "/" a`, `* LSUB (\Noselect) "/" x`)
	c.expect(`LSUB "" x/*`, "OK", `* LSUB (\Noselect) "/" x/gone`, `* LSUB () "/" x/kept`)
	// "a" is returned for a/b, which "%" leaves out; with "a/b" among the
	// patterns it would be redundant.
	c.expect(`LIST (SUBSCRIBED RECURSIVEMATCH) "" (a x/gone)`, "OK",
		`* LIST (\HasChildren) "/" a ("CHILDINFO" ("SUBSCRIBED"))`,
		`* LIST (\NonExistent \Subscribed) "/" x/gone`)
	c.expect(`LIST (SUBSCRIBED RECURSIVEMATCH) "" (a a/b)`, "OK",
		`* LIST (\HasNoChildren \Subscribed) "/" a/b`)
	c.expect(`LIST (SUBSCRIBED RECURSIVEMATCH) "" *`, "OK",
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`,
		`* LIST (\HasNoChildren \Subscribed \Archive) "/" Archive`,
		`* LIST (\HasNoChildren \Subscribed \Drafts) "/" Drafts`,
		`* LIST (\HasNoChildren \Subscribed \Junk) "/" Junk`,
		`* LIST (\HasNoChildren \Subscribed \Sent) "/" Sent`,
		`* LIST (\HasNoChildren \Subscribed \Trash) "/" Trash`,
		`* LIST (\HasNoChildren \Subscribed) "/" a/b`,
		`* LIST (\NonExistent \Subscribed) "/" x/gone`,
		`* LIST (\HasNoChildren \Subscribed) "/" x/kept`)
	// Created again, the name is subscribed again; unsubscribed, it is gone
	// from the list whether or not it exists.
	c.ok("CREATE x/gone")
	c.expect(`LIST (SUBSCRIBED) "" x/gone`, "OK", `* LIST (\HasNoChildren \Subscribed) "/" x/gone`)
	c.ok("DELETE x/gone")
	c.ok("UNSUBSCRIBE x/gone")
	c.expect(`LIST (SUBSCRIBED) "" x/*`, "OK", `* LIST (\HasNoChildren \Subscribed) "/" x/kept`)
	// A second session sees the same list.
	c2 := e.login()
	c2.expect(`LSUB "" x/*`, "OK", `* LSUB () "/" x/kept`)
}

// TestRecent: \Recent (RFC 3501 §2.3.2) belongs to the first session that
// SELECTs a mailbox after the mail arrived, also when it arrived while no
// session had the mailbox selected. EXAMINE shows it without taking it
// (§6.3.2); STATUS (RECENT) counts what no SELECT has taken (§6.3.10);
// SEARCH RECENT, NEW and OLD follow the session's own \Recent (§6.4.4).
func TestRecent(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	e.deliver("INBOX", simpleMsg, `\Seen`)
	a, b, c := e.login(), e.login(), e.login()

	a.expect("STATUS INBOX (RECENT)", "OK", "* STATUS INBOX (RECENT 2)")
	u := a.ok("EXAMINE INBOX")
	if !slices.Contains(u, "* 2 RECENT") {
		t.Fatalf("EXAMINE: %q", u)
	}
	a.expect("SEARCH RECENT", "OK", "* SEARCH 1 2")
	a.expect("SEARCH NEW", "OK", "* SEARCH 1")
	a.expect("SEARCH OLD", "OK", "* SEARCH")
	a.expect("FETCH 1:2 FLAGS", "OK", `* 1 FETCH (FLAGS (\Recent))`, `* 2 FETCH (FLAGS (\Seen \Recent))`)
	b.expect("STATUS INBOX (RECENT)", "OK", "* STATUS INBOX (RECENT 2)")

	u = b.ok("SELECT INBOX")
	if !slices.Contains(u, "* 2 RECENT") {
		t.Fatalf("SELECT: %q", u)
	}
	b.expect("SEARCH RECENT", "OK", "* SEARCH 1 2")
	a.ok("UNSELECT")
	a.expect("STATUS INBOX (RECENT)", "OK", "* STATUS INBOX (RECENT 0)")
	b.expect("STATUS INBOX (RECENT)", "OK", "* STATUS INBOX (RECENT 2)") // its own

	u = c.ok("SELECT INBOX")
	if !slices.Contains(u, "* 0 RECENT") {
		t.Fatalf("second SELECT: %q", u)
	}
	c.expect("SEARCH RECENT", "OK", "* SEARCH")
	c.expect("SEARCH OLD", "OK", "* SEARCH 1 2")
	c.expect("FETCH 1 FLAGS", "OK", `* 1 FETCH (FLAGS ())`)

	// New mail while both have it selected: the first to notice takes it.
	e.deliver("INBOX", simpleMsg)
	b.expect("NOOP", "OK", "* 3 EXISTS", "* 3 RECENT")
	c.expect("NOOP", "OK", "* 3 EXISTS", "* 0 RECENT")
	c.expect("SEARCH NEW", "OK", "* SEARCH")
	b.expect("SEARCH NEW", "OK", "* SEARCH 1 3")
	a.expect("STATUS INBOX (RECENT)", "OK", "* STATUS INBOX (RECENT 0)")
	// What b took while selected reaches the store when it leaves, so a
	// restarted server (or another node) does not give it out again.
	b.ok("UNSELECT")
	if mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX"); err != nil || mb.FirstRecent != 4 {
		t.Fatalf("stored first recent UID %d, %v; want 4", mb.FirstRecent, err)
	}
}
