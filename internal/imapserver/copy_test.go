package imapserver

import (
	"testing"
)

func uidValidityOf(e *testEnv, mailbox string) string {
	e.t.Helper()
	mb, err := e.st.Mailbox(bg, e.acct.ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	return itoa(uint64(mb.UIDValidity))
}

func TestCopy(t *testing.T) {
	e := newTestEnv(t)
	for range 4 {
		e.deliver("INBOX", simpleMsg)
	}
	av := uidValidityOf(e, "Archive")
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	a := e.login()
	a.ok("SELECT INBOX")
	a.expect("COPY 2:3 Archive", "OK [COPYUID "+av+" 2:3 1:2]")
	a.expect("UID COPY 4,1 Archive", "OK [COPYUID "+av+" 1,4 3,4]")
	a.expect("UID COPY 99 Archive", "OK COPY completed")
	a.expect("COPY 1 Nope", "NO [TRYCREATE]")
	a.expect("UID COPY 99 Nope", "NO [TRYCREATE]")
	a.expect("COPY 5 Archive", "BAD")
	a.expect("COPY 1", "BAD")
	// Into the selected mailbox itself: new messages, reported by sync.
	iv := uidValidityOf(e, "INBOX")
	a.expect("COPY 1 INBOX", "OK [COPYUID "+iv+" 1 5]", "* 5 EXISTS", "* 1 RECENT")
	if got := e.uidsOf("Archive"); len(got) != 4 {
		t.Fatalf("Archive %v", got)
	}

	// RFC 9208: copies count against the quota; nothing is copied.
	if err := e.dir.SetQuota(bg, "alice@example.test", 0, 10); err != nil {
		t.Fatal(err)
	}
	a.expect("COPY 1:2 Archive", "NO [OVERQUOTA]")
	a.expect("COPY 1 Archive", "OK [COPYUID "+av+" 1 5]")
	if got := e.uidsOf("Archive"); len(got) != 5 {
		t.Fatalf("Archive %v", got)
	}
}

// MOVE: untagged COPYUID, then expunges; the other session on the source
// sees EXPUNGE, a third on the destination sees EXISTS.
func TestMove(t *testing.T) {
	e := newTestEnv(t)
	for range 4 {
		e.deliver("INBOX", simpleMsg)
	}
	av := uidValidityOf(e, "Archive")
	a := e.login()
	b := e.login()
	c := e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	c.ok("SELECT Archive")

	a.expect("MOVE 2:3 Archive", "OK",
		"* OK [COPYUID "+av+" 2:3 1:2] moved",
		"* 3 EXPUNGE",
		"* 2 EXPUNGE")
	b.expect("NOOP", "OK", "* 3 EXPUNGE", "* 2 EXPUNGE")
	c.expect("NOOP", "OK", "* 2 EXISTS", "* 2 RECENT")

	a.ok("ENABLE QRESYNC")
	a.expect("UID MOVE 4 Archive", "OK",
		"* OK [COPYUID "+av+" 4 3] moved",
		"* VANISHED 4")
	a.expect("UID MOVE 4 Archive", "OK MOVE completed")
	a.expect("MOVE 1 Nope", "NO [TRYCREATE]")
	// Into the mailbox it is in (RFC 6851 §3.3): a new UID, COPYUID, the
	// old one expunged, the new one announced.
	iv := uidValidityOf(e, "INBOX")
	a.expect("MOVE 1 INBOX", "OK",
		"* OK [COPYUID "+iv+" 1 5] moved",
		"* VANISHED 1",
		"* 1 EXISTS", "* 1 RECENT")
	a.expect("UID FETCH 1:* (UID)", "OK", "* 1 FETCH (UID 5)")
	b.expect("NOOP", "OK", "* 2 EXPUNGE", "* 1 EXPUNGE", "* 1 EXISTS", "* 0 RECENT")
	c.expect("NOOP", "OK", "* 3 EXISTS", "* 3 RECENT")

	// Quota does not stop a move: usage does not change.
	if err := e.dir.SetQuota(bg, "alice@example.test", 0, 4); err != nil {
		t.Fatal(err)
	}
	c.expect("MOVE 1:* INBOX", "OK",
		"* OK [COPYUID "+uidValidityOf(e, "INBOX")+" 1:3 6:8] moved",
		"* 3 EXPUNGE", "* 2 EXPUNGE", "* 1 EXPUNGE")
	if got := e.uidsOf("INBOX"); len(got) != 4 {
		t.Fatalf("INBOX %v", got)
	}
	b.expect("NOOP", "OK", "* 4 EXISTS", "* 3 RECENT")
}

// A message another session expunged is still in this session's view
// until it is told (RFC 9051 §7.5.1), and COPY and MOVE of it copy it
// from the view: same bytes, flags and date, with COPYUID for all.
func TestCopyOfMessageExpungedElsewhere(t *testing.T) {
	for _, cmd := range []string{"COPY", "MOVE"} {
		t.Run(cmd, func(t *testing.T) {
			e := newTestEnv(t)
			raws := []string{
				"Subject: one\r\n\r\nfirst\r\n",
				"Subject: two\r\n\r\nsecond, expunged elsewhere\r\n",
				"Subject: three\r\n\r\nthird\r\n",
			}
			e.deliver("INBOX", raws[0])
			e.deliver("INBOX", raws[1], `\Flagged`)
			e.deliver("INBOX", raws[2])
			av := uidValidityOf(e, "Archive")
			e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
			a := e.login()
			b := e.login()
			a.ok("SELECT INBOX")
			b.ok("SELECT INBOX")
			b.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
			b.expect("EXPUNGE", "OK", "* 2 EXPUNGE")
			// a has not been told yet: it copies all three, and learns
			// of the expunge after.
			want := "[COPYUID " + av + " 1,2,3 1,3,2]"
			if cmd == "COPY" {
				a.expect("COPY 1:3 Archive", "OK "+want, "* 2 EXPUNGE")
			} else {
				a.expect("MOVE 1:3 Archive", "OK", "* OK "+want+" moved", "* 3 EXPUNGE", "* 2 EXPUNGE", "* 1 EXPUNGE")
			}
			e.selectOnce("Archive")
			c := e.login()
			c.ok("SELECT Archive")
			for uid, raw := range map[int]string{1: raws[0], 2: raws[2], 3: raws[1]} {
				flags := ""
				if uid == 3 {
					flags = `\Flagged`
				}
				c.expect("UID FETCH "+itoa(uint64(uid))+" (FLAGS INTERNALDATE BODY.PEEK[])", "OK",
					"* "+itoa(uint64(uid))+" FETCH (UID "+itoa(uint64(uid))+" FLAGS ("+flags+") INTERNALDATE \"20-Nov-2026 10:30:00 +0100\" BODY[] "+lit(raw)+")")
			}
			e.checkStoreClean()
		})
	}
}
