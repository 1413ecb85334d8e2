package imapserver

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

var crlfMsg = strings.ReplaceAll(simpleMsg, "\n", "\r\n")

func appendLit(body string) string { return "{" + strconv.Itoa(len(body)) + "}" }

func appendLitPlus(body string) string { return "{" + strconv.Itoa(len(body)) + "+}" }

// write sends raw bytes.
func (c *client) writeRaw(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// expectLine reads one line and checks its prefix.
func (c *client) expectLinePrefix(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want prefix %q", l, prefix)
	}
	return l
}

func (e *testEnv) messageCount(mailbox string) int {
	e.t.Helper()
	return len(e.uidsOf(mailbox))
}

// checkStore fails when the store has orphans or problems (a half-stored
// APPEND).
func (e *testEnv) checkStoreClean() {
	e.t.Helper()
	rep, err := e.st.Check(bg, false)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(rep.Problems) > 0 || rep.InFlight > 0 {
		e.t.Fatalf("store check: %+v", rep)
	}
}

func TestAppend(t *testing.T) {
	e := newTestEnv(t)
	iv := uidValidityOf(e, "INBOX")
	c := e.login()

	// Synchronizing literal: "+" first.
	c.send(`a1 APPEND INBOX (\Seen $Work) "21-Nov-2026 09:15:00 +0100" ` + appendLit(crlfMsg))
	c.expectLinePrefix("+ ")
	c.writeRaw(crlfMsg + "\r\n")
	c.expectLinePrefix("a1 OK [APPENDUID " + iv + " 1] APPEND completed")

	// LITERAL+ (RFC 7888): no continuation.
	c.writeRaw("a2 APPEND INBOX " + appendLitPlus(crlfMsg) + "\r\n" + crlfMsg + "\r\n")
	c.expectLinePrefix("a2 OK [APPENDUID " + iv + " 2]")

	// MULTIAPPEND (RFC 3502), mixing literal kinds; literal8 as is.
	c.writeRaw("a3 APPEND INBOX " + appendLitPlus(crlfMsg) + "\r\n" + crlfMsg + ` ($X) ~` + appendLit("bin\x00ary") + "\r\n")
	c.expectLinePrefix("+ ")
	c.writeRaw("bin\x00ary (\\Draft) " + appendLitPlus("x") + "\r\nx\r\n")
	c.expectLinePrefix("a3 OK [APPENDUID " + iv + " 3:5]")

	msgs, err := e.st.MessagesByUID(bg, e.acct.ID, mailboxIDOf(e, "INBOX"), []uint32{1, 4})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(msgs[0].Flags, " "); got != `$Work \Seen` {
		t.Errorf("flags %q", got)
	}
	if want := time.Date(2026, 11, 21, 9, 15, 0, 0, time.FixedZone("", 3600)); !msgs[0].InternalDate.Equal(want) {
		t.Errorf("date %v", msgs[0].InternalDate)
	}
	if _, off := msgs[0].InternalDate.Zone(); off != 3600 {
		t.Errorf("zone offset %d", off)
	}
	if msgs[0].Size != int64(len(crlfMsg)) || msgs[1].Size != 7 {
		t.Errorf("sizes %d %d", msgs[0].Size, msgs[1].Size)
	}

	// Missing mailbox: TRYCREATE before the literal is sent; with LITERAL+
	// the bytes are read past and the session goes on.
	c.send("a4 APPEND Nope " + appendLit(crlfMsg))
	c.expectLinePrefix("a4 NO [TRYCREATE]")
	c.writeRaw("a5 APPEND Nope " + appendLitPlus(crlfMsg) + "\r\n" + crlfMsg + "\r\n")
	c.expectLinePrefix("a5 NO [TRYCREATE]")
	c.expect("NOOP", "OK")

	// Syntax errors.
	c.expect("APPEND INBOX", "BAD")
	c.expect("APPEND INBOX (\\Seen)", "BAD")
	c.expect(`APPEND INBOX "bad date" {1+}`+"\r\nx", "BAD")
	c.expect("APPEND INBOX UTF8 (~{1+}\r\nx)", "BAD")
	c.expect("NOOP", "OK")

	// UTF8 (RFC 9755) after ENABLE UTF8=ACCEPT.
	c.ok("ENABLE UTF8=ACCEPT")
	c.expect("APPEND INBOX UTF8 (~"+appendLitPlus(crlfMsg)+"\r\n"+crlfMsg+")", "OK [APPENDUID "+iv+" 6]")

	// In the selected state, to the selected mailbox: EXISTS by sync.
	c.ok("SELECT INBOX")
	c.expect("APPEND INBOX "+appendLitPlus(crlfMsg)+"\r\n"+crlfMsg, "OK [APPENDUID "+iv+" 7]", "* 7 EXISTS", "* 1 RECENT")
	if n := e.messageCount("INBOX"); n != 7 {
		t.Fatalf("%d messages", n)
	}
	e.checkStoreClean()
}

func mailboxIDOf(e *testEnv, name string) int64 {
	e.t.Helper()
	mb, err := e.st.Mailbox(bg, e.acct.ID, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return mb.ID
}

func TestAppendTooBig(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.MaxMessageSize = 1000 })
	c := e.login()
	big := strings.Repeat("x", 1001)

	c.send("a1 APPEND INBOX " + appendLit(big))
	c.expectLinePrefix("a1 NO [TOOBIG]")
	// LITERAL+ over the limit: small enough to be skipped, the session
	// goes on.
	c.writeRaw("a2 APPEND INBOX " + appendLitPlus(big) + "\r\n" + big + "\r\n")
	c.expectLinePrefix("a2 NO [TOOBIG]")
	c.expect("NOOP", "OK")

	// MULTIAPPEND, second message too big: nothing is stored.
	c.send("a3 APPEND INBOX " + appendLit(crlfMsg))
	c.expectLinePrefix("+ ")
	c.writeRaw(crlfMsg + " " + appendLit(big) + "\r\n")
	c.expectLinePrefix("a3 NO [TOOBIG]")
	c.writeRaw("a4 APPEND INBOX " + appendLitPlus(crlfMsg) + "\r\n" + crlfMsg + " " + appendLitPlus(big) + "\r\n" + big + " {1+}\r\nx\r\n")
	c.expectLinePrefix("a4 NO [TOOBIG]")
	c.expect("NOOP", "OK")
	if n := e.messageCount("INBOX"); n != 0 {
		t.Fatalf("%d messages stored", n)
	}
	e.checkStoreClean()

	// A huge LITERAL+ cannot be skipped: NO, then the session ends.
	c.writeRaw("a5 APPEND INBOX {999999999+}\r\n")
	c.expectLinePrefix("a5 NO [TOOBIG]")
	c.expectLinePrefix("* BYE")
}

func TestAppendOverQuota(t *testing.T) {
	e := newTestEnv(t)
	if err := e.dir.SetQuota(bg, "alice@example.test", int64(2*len(crlfMsg)+10), 0); err != nil {
		t.Fatal(err)
	}
	iv := uidValidityOf(e, "INBOX")
	c := e.login()
	c.expect("APPEND INBOX "+appendLitPlus(crlfMsg)+"\r\n"+crlfMsg, "OK [APPENDUID "+iv+" 1]")
	// Two more do not fit together: neither is stored.
	c.writeRaw("a1 APPEND INBOX " + appendLitPlus(crlfMsg) + "\r\n" + crlfMsg + " " + appendLitPlus(crlfMsg) + "\r\n" + crlfMsg + "\r\n")
	c.expectLinePrefix("a1 NO [OVERQUOTA]")
	c.send("a2 APPEND INBOX " + appendLit(crlfMsg) + " " + appendLit(crlfMsg))
	c.expectLinePrefix("a2 BAD")
	c.send("a3 APPEND INBOX " + appendLit(crlfMsg))
	c.expectLinePrefix("+ ")
	c.writeRaw(crlfMsg + " " + appendLit(crlfMsg) + "\r\n")
	c.expectLinePrefix("a3 NO [OVERQUOTA]")
	if n := e.messageCount("INBOX"); n != 1 {
		t.Fatalf("%d messages stored", n)
	}
	c.expect("APPEND INBOX "+appendLitPlus(crlfMsg)+"\r\n"+crlfMsg, "OK [APPENDUID "+iv+" 2]")
	c.expect("APPEND INBOX {11}", "NO [OVERQUOTA]")

	// The store's own check, when the quota shrinks while the literal is
	// on its way, is the same answer.
	if err := e.dir.SetQuota(bg, "alice@example.test", 0, 3); err != nil {
		t.Fatal(err)
	}
	c.send("a4 APPEND INBOX " + appendLit(crlfMsg))
	c.expectLinePrefix("+ ")
	if err := e.dir.SetQuota(bg, "alice@example.test", 0, 2); err != nil {
		t.Fatal(err)
	}
	c.writeRaw(crlfMsg + "\r\n")
	c.expectLinePrefix("a4 NO [OVERQUOTA]")
	if n := e.messageCount("INBOX"); n != 2 {
		t.Fatalf("%d messages stored", n)
	}
	e.checkStoreClean()
}
