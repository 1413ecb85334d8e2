package imapserver

import (
	"fmt"
	"strings"
	"testing"

	"mailroom/internal/store"
)

// TestQresyncRoundTrip: a client that knew (UIDVALIDITY, HIGHESTMODSEQ)
// gets exactly the VANISHED UIDs and the changed flags since, nothing more
// (RFC 7162 §3.2.5).
func TestQresyncRoundTrip(t *testing.T) {
	e := newTestEnv(t)
	for range 6 {
		e.deliver("INBOX", simpleMsg)
	}
	mb, _ := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	known := mb.HighestModSeq

	// Changes while the client is away: flag 2 and 5, expunge 3 and 6,
	// one new message (7), and an old change before `known` stays unsaid.
	if _, _, err := e.st.SetFlags(bg, e.acct.ID, mb.ID, []uint32{2, 5}, store.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Expunge(bg, e.acct.ID, mb.ID, []uint32{3, 6}); err != nil {
		t.Fatal(err)
	}
	e.deliver("INBOX", simpleMsg, `\Flagged`)
	mb, _ = e.st.Mailbox(bg, e.acct.ID, "INBOX")
	list, _ := e.st.ChangedSince(bg, e.acct.ID, mb.ID, 0)
	modseq := map[uint32]uint64{}
	for _, m := range list {
		modseq[m.UID] = m.ModSeq
	}

	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	c := e.login()
	c.expect("ENABLE QRESYNC", "OK", "* ENABLED QRESYNC")
	u, tagged := c.do(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", mb.UIDValidity, known))
	if tagged[:2] != "OK" {
		t.Fatal(tagged)
	}
	want := []string{
		"* VANISHED (EARLIER) 3,6",
		fmt.Sprintf(`* 2 FETCH (UID 2 FLAGS (\Seen) MODSEQ (%d))`, modseq[2]),
		fmt.Sprintf(`* 4 FETCH (UID 5 FLAGS (\Seen) MODSEQ (%d))`, modseq[5]),
		fmt.Sprintf(`* 5 FETCH (UID 7 FLAGS (\Flagged) MODSEQ (%d))`, modseq[7]),
	}
	got := u[len(u)-len(want):]
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("SELECT QRESYNC responses:\n%q\nwant tail\n%q", u, want)
		}
	}
	// Restricted to the UIDs the client knows about.
	c.ok("UNSELECT")
	u, _ = c.do(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:4))", mb.UIDValidity, known))
	found := 0
	for _, l := range u {
		switch l {
		case "* VANISHED (EARLIER) 3":
			found++
		case fmt.Sprintf(`* 2 FETCH (UID 2 FLAGS (\Seen) MODSEQ (%d))`, modseq[2]):
			found++
		default:
			if len(l) > 5 && (l[:5] == "* VAN" || (len(l) > 8 && l[len(l)-1] == ')' && strings.Contains(l, "FETCH"))) {
				t.Fatalf("unexpected %q", l)
			}
		}
	}
	if found != 2 {
		t.Fatalf("known-uids restriction: %q", u)
	}
	// A wrong UIDVALIDITY gets no resync data.
	c.ok("UNSELECT")
	u, _ = c.do(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", mb.UIDValidity+1, known))
	for _, l := range u {
		if strings.Contains(l, "VANISHED") || strings.Contains(l, "FETCH") {
			t.Fatalf("resync with a stale UIDVALIDITY: %q", u)
		}
	}
}
