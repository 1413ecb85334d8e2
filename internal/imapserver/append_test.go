package imapserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
	"mailroom/internal/store"
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
	// Bodies expunged while a view showed them go shortly after the view
	// moves on or closes (store.Live); until then they count as in flight.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rep, err := e.st.Check(bg, false)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(rep.Problems) == 0 && rep.InFlight == 0 {
			return
		}
		if len(rep.Problems) > 0 || time.Now().After(deadline) {
			e.t.Fatalf("store check: %+v", rep)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAppend(t *testing.T) {
	e := newTestEnv(t)
	iv := uidValidityOf(e, "INBOX")
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
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
	c.expect("APPEND INBOX "+appendLitPlus(crlfMsg)+"\r\n"+crlfMsg, "OK [APPENDUID "+iv+" 7]", "* 7 EXISTS", "* 7 RECENT")
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

// TestAppendQuotaConcurrent: N connections APPEND at once into an account
// with room for exactly K more messages. The quota check and the insert
// must be one step in the store: checked apart, concurrent APPENDs all see
// the same room and more than K are stored.
func TestAppendQuotaConcurrent(t *testing.T) {
	const n = 10
	// Every message has the same size, so that a byte quota counts
	// messages exactly.
	msgOf := func(i int) string {
		return fmt.Sprintf("From: bob@example.test\r\nSubject: concurrent %02d\r\n\r\nbody\r\n", i)
	}
	size := int64(len(msgOf(0)))
	tests := []struct {
		name      string
		kind      string // "messages" or "bytes": which limit is reached
		delivered int    // messages already in the account
		room      int    // K: how many more fit
		// slack is the byte quota beyond K more messages: 0 fills it to
		// the byte, size-1 leaves one byte too few for K+1.
		slack int64
	}{
		{"message quota", "messages", 2, 3, 0},
		{"byte quota filled exactly", "bytes", 2, 3, 0},
		{"byte quota one byte short", "bytes", 2, 3, size - 1},
		{"message quota, one left", "messages", 1, 1, 0},
		{"byte quota, one left", "bytes", 4, 1, size - 1},
		{"already full", "messages", 3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			pre := crlf("From: carol@example.test\nSubject: before\n\nalready here\n")
			for range tt.delivered {
				e.deliver("INBOX", pre)
			}
			used := int64(tt.delivered) * int64(len(pre))
			switch tt.kind {
			case "messages":
				if err := e.dir.SetQuota(bg, "alice@example.test", store.QuotaUnlimited, int64(tt.delivered+tt.room)); err != nil {
					t.Fatal(err)
				}
			case "bytes":
				limit := used + int64(tt.room)*size + tt.slack
				if err := e.dir.SetQuota(bg, "alice@example.test", limit, store.QuotaUnlimited); err != nil {
					t.Fatal(err)
				}
			}

			// Log every connection in first, so that the APPENDs, not the
			// logins, are what runs at once.
			clients := make([]*client, n)
			for i := range clients {
				clients[i] = e.login()
			}
			type answer struct {
				tagged string
				err    error
			}
			answers := make([]answer, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					tagged, err := c.appendRaw("c1", "INBOX", msgOf(i))
					answers[i] = answer{tagged, err}
				}()
			}
			close(start)
			wg.Wait()

			var stored []string
			uids := map[string]bool{}
			for i, a := range answers {
				switch {
				case a.err != nil:
					t.Fatalf("connection %d: %v", i, a.err)
				case strings.HasPrefix(a.tagged, "OK [APPENDUID "):
					stored = append(stored, fmt.Sprintf("concurrent %02d", i))
					uid := strings.Fields(a.tagged)[3]
					if uids[uid] {
						t.Errorf("connection %d: UID %s given twice", i, uid)
					}
					uids[uid] = true
				case strings.HasPrefix(a.tagged, "NO [OVERQUOTA]"):
				default:
					t.Errorf("connection %d: %q, want OK [APPENDUID …] or NO [OVERQUOTA]", i, a.tagged)
				}
			}
			if len(stored) != tt.room {
				t.Fatalf("%d APPENDs answered OK, want %d", len(stored), tt.room)
			}

			// The mailbox holds exactly the messages answered OK.
			c := e.login()
			c.ok("EXAMINE INBOX")
			var subjects []string
			for _, l := range c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])") {
				if _, s, ok := strings.Cut(l, "Subject: "); ok {
					s, _, _ = strings.Cut(s, "\r\n")
					if s != "before" {
						subjects = append(subjects, s)
					}
				}
			}
			slices.Sort(subjects)
			if !slices.Equal(subjects, stored) {
				t.Errorf("INBOX holds %q, the APPENDs answered OK were %q", subjects, stored)
			}
			if got := e.messageCount("INBOX"); got != tt.delivered+tt.room {
				t.Errorf("INBOX holds %d messages, want %d", got, tt.delivered+tt.room)
			}

			// Usage is exact: the rejected APPENDs left nothing behind.
			acct, err := e.st.Account(bg, "alice@example.test")
			if err != nil {
				t.Fatal(err)
			}
			wantBytes := used + int64(tt.room)*size
			if acct.UsedMessages != int64(tt.delivered+tt.room) || acct.UsedBytes != wantBytes {
				t.Errorf("account uses %d messages, %d bytes; want %d, %d", acct.UsedMessages, acct.UsedBytes, tt.delivered+tt.room, wantBytes)
			}
			e.checkStoreClean()
		})
	}
}

// appendRaw sends one APPEND with a LITERAL+ literal in a single write
// and returns its tagged answer without the tag. It reports errors
// instead of failing the test, so that it can run outside the test's
// goroutine.
func (c *client) appendRaw(tag, mailbox, msg string) (string, error) {
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.conn, tag+" APPEND "+mailbox+" "+appendLitPlus(msg)+"\r\n"+msg+"\r\n"); err != nil {
		return "", err
	}
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return strings.TrimSuffix(rest, "\r\n"), nil
		}
	}
}

// fullDisk is a store whose disk is full: writes fail with ENOSPC.
type fullDisk struct{ store.Store }

func (f fullDisk) Append(context.Context, int64, []store.AppendMessage, bool) ([]store.AppendResult, error) {
	return nil, fmt.Errorf("store: commit: %w", &os.PathError{Op: "write", Path: "index.db-wal", Err: syscall.ENOSPC})
}

func (f fullDisk) SetFlags(context.Context, int64, int64, []uint32, store.FlagOp, []string, uint64) ([]store.FlagUpdate, []uint32, error) {
	return nil, nil, fmt.Errorf("store: %w", syscall.ENOSPC)
}

// A full disk is a temporary failure (NO [UNAVAILABLE]), not a server bug.
func TestFullDiskIsTemporary(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", "Subject: one\n\nbody\n")
	srv := New(fullDisk{e.st}, e.dir, Options{Hostname: "imap.example.test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AuthFailDelay: time.Millisecond})
	full := &testEnv{t: t, st: e.st, dir: e.dir, srv: srv, addr: servertest.Serve(t, srv), acct: e.acct}
	c := full.login()
	c.ok("SELECT INBOX")
	c.expect("APPEND INBOX "+appendLitPlus(crlfMsg)+"\r\n"+crlfMsg, "NO [UNAVAILABLE]")
	c.expect("STORE 1 +FLAGS (\\Seen)", "NO [UNAVAILABLE]")
}
