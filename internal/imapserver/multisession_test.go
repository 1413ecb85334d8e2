package imapserver

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailroom/internal/store"
)

// TestDeletedMailboxIdsDoNotLeak is the reproduction of a leak between
// accounts: bob fills a mailbox, reads it and deletes it; alice's new
// mailboxes must show her messages only, never bob's sizes, flags or bodies.
func TestDeletedMailboxIdsDoNotLeak(t *testing.T) {
	e := newIsolationEnv(t)
	bobc := e.dial()
	bobc.ok("LOGIN bob@example.test " + quote("bob's password"))
	bobc.ok("CREATE Secret")
	for i := range 3 {
		msg := fmt.Sprintf("Subject: %s %d\r\n\r\nbob's body %d, padded %s\r\n", bobSecret, i, i, strings.Repeat("x", 100*i))
		bobc.ok("APPEND Secret (\\Flagged) " + litp(msg))
	}
	bobc.ok("SELECT Secret")
	bobc.ok("FETCH 1:* (FLAGS RFC822.SIZE BODY[])")
	bobc.ok("UNSELECT")
	bobc.ok("DELETE Secret")

	alice := e.login()
	for round := range 3 {
		name := fmt.Sprintf("Mine%d", round)
		alice.ok("CREATE " + name)
		alice.ok("APPEND " + name + " " + litp("Subject: alice\r\n\r\nalice's\r\n"))
		u := alice.ok("SELECT " + name)
		if !slices.Contains(u, "* 1 EXISTS") {
			t.Fatalf("round %d: SELECT %s: %q", round, name, u)
		}
		alice.expect("UID FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[])", "OK",
			"* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE 27 BODY[] {27}\r\nSubject: alice\r\n\r\nalice's\r\n)")
		alice.ok("UNSELECT")
		alice.ok("DELETE " + name)
		// bob does the same again, so ids keep coming and going.
		bobc.ok("CREATE Secret")
		bobc.ok("APPEND Secret " + litp("Subject: "+bobSecret+"\r\n\r\nbob again\r\n"))
		bobc.ok("DELETE Secret")
	}
}

// TestSelectedMailboxDeletedAndRecreated: a session whose selected mailbox
// another session deletes and creates again is told and ended; it never
// shows the new mailbox's messages under the old UIDVALIDITY.
func TestSelectedMailboxDeletedAndRecreated(t *testing.T) {
	e := newTestEnv(t)
	a := e.login()
	b := e.login()
	a.ok("CREATE Folder")
	for range 3 {
		a.ok("APPEND Folder " + litp("Subject: old\r\n\r\nold\r\n"))
	}
	a.ok("SELECT Folder")
	b.ok("DELETE Folder")
	b.ok("CREATE Folder")
	for range 3 {
		b.ok("APPEND Folder " + litp("Subject: new\r\n\r\nnew\r\n"))
	}
	// FETCH by number may not report expunges (RFC 9051 §7.5.1): the old
	// messages are still readable, and only they.
	u0 := a.ok("FETCH 1:* (UID BODY.PEEK[TEXT])")
	if strings.Contains(strings.Join(u0, "\n"), "new") || len(u0) != 3 {
		t.Fatalf("old session's FETCH: %q", u0)
	}
	// The next command that may report expunges says goodbye.
	a.send("t100 NOOP")
	var got []string
	a.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := a.r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, strings.TrimRight(l, "\r\n"))
	}
	if len(got) == 0 || !strings.HasPrefix(got[0], "* BYE ") {
		t.Fatalf("session of a deleted mailbox got %q", got)
	}
	if strings.Contains(strings.Join(got, "\n"), "new") || strings.Contains(strings.Join(got, "\n"), "EXISTS") {
		t.Fatalf("old session saw the new mailbox: %q", got)
	}
	// A fresh session sees the new mailbox, with a new UIDVALIDITY.
	c := e.login()
	u := c.ok("SELECT Folder")
	if !slices.Contains(u, "* 3 EXISTS") {
		t.Fatalf("new SELECT: %q", u)
	}
	c.expect("FETCH 1 BODY.PEEK[TEXT]", "OK", "* 1 FETCH (BODY[TEXT] {5}\r\nnew\r\n)")
}

// TestExpungedElsewhereStaysReadable: three sessions on one INBOX. What one
// expunges stays readable (FETCH, SEARCH, flags) to the others until each is
// told at a point where RFC 9051 §7.5.1 allows EXPUNGE, after which the
// body goes.
func TestExpungedElsewhereStaysReadable(t *testing.T) {
	e := newTestEnv(t)
	for i := 1; i <= 3; i++ {
		e.deliver("INBOX", fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i))
	}
	a, b, c := e.login(), e.login(), e.login()
	for _, s := range []*client{a, b, c} {
		s.ok("SELECT INBOX")
	}
	a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
	a.expect("EXPUNGE", "OK", "* 2 EXPUNGE")
	// b and c still have message 2 (UID 2); FETCH, STORE and SEARCH do not
	// report expunges (RFC 9051 §7.5.1), and answer OK.
	b.expect("FETCH 2 (UID BODY.PEEK[TEXT])", "OK", "* 2 FETCH (UID 2 BODY[TEXT] {8}\r\nbody 2\r\n)")
	// (b has not been told of a's \Deleted either: FETCH by number does
	// not sync.)
	b.expect("FETCH 2 (FLAGS)", "OK", `* 2 FETCH (FLAGS ())`)
	b.expect("SEARCH BODY \"body 2\"", "OK", "* SEARCH 2")
	b.expect("STORE 2 +FLAGS.SILENT (\\Seen)", "OK")
	c.expect("UID FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])", "OK",
		"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {15}\r\nSubject: m2\r\n\r\n)", "* 2 EXPUNGE")
	// b is told at its next NOOP; then 2 is what was 3.
	b.expect("NOOP", "OK", "* 2 EXPUNGE")
	b.expect("FETCH 2 (UID)", "OK", "* 2 FETCH (UID 3)")
	a.ok("LOGOUT")
	b.ok("LOGOUT")
	c.ok("LOGOUT")
	e.checkStoreClean()
}

// mixClient is a small IMAP client for the concurrent mix: it reports
// errors instead of failing the test from its goroutine.
type mixClient struct {
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func (m *mixClient) cmd(line string, lit string) (untagged []string, tagged string, err error) {
	m.n++
	tag := "m" + strconv.Itoa(m.n)
	m.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if lit != "" {
		_, err = fmt.Fprintf(m.conn, "%s %s {%d+}\r\n%s\r\n", tag, line, len(lit), lit)
	} else {
		_, err = fmt.Fprintf(m.conn, "%s %s\r\n", tag, line)
	}
	if err != nil {
		return nil, "", err
	}
	for {
		var b strings.Builder
		for {
			l, err := m.r.ReadString('\n')
			if err != nil {
				return nil, "", err
			}
			b.WriteString(l)
			if n, ok := literalSuffix(strings.TrimSuffix(l, "\r\n")); ok {
				if _, err := io.CopyN(&b, m.r, int64(n)); err != nil {
					return nil, "", err
				}
				continue
			}
			break
		}
		l := strings.TrimSuffix(b.String(), "\r\n")
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" "), nil
		}
		untagged = append(untagged, l)
	}
}

// TestConcurrentMix runs the mixed multi-session load of mailload imapmix
// in miniature, under -race in CI: sessions on one INBOX fetch ranges and
// bodies, store flags, delete and expunge, append and NOOP at the same time.
// Every command must answer OK (a message expunged by another session stays
// readable until this one is told), and at the end every session's view,
// once synced, equals the store.
func TestConcurrentMix(t *testing.T) {
	e := newTestEnv(t)
	for i := range 20 {
		e.deliver("INBOX", fmt.Sprintf("Subject: seed %d\r\n\r\nseed body %d\r\n", i, i))
	}
	const sessions = 6
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	type result struct {
		ops  int
		errs []string
	}
	results := make([]result, sessions)
	clients := make([]*mixClient, sessions)
	for i := range clients {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		mc := &mixClient{conn: conn, r: bufio.NewReader(conn)}
		if _, err := mc.r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"LOGIN alice@example.test " + quote(testPassword), "SELECT INBOX"} {
			if _, tagged, err := mc.cmd(cmd, ""); err != nil || !strings.HasPrefix(tagged, "OK") {
				t.Fatalf("%s: %s %v", cmd, tagged, err)
			}
		}
		clients[i] = mc
	}
	exists := func(untagged []string, n int) int {
		for _, l := range untagged {
			f := strings.Fields(l)
			if len(f) == 3 && f[2] == "EXISTS" {
				n, _ = strconv.Atoi(f[1])
			}
			if len(f) == 3 && f[2] == "EXPUNGE" {
				n--
			}
		}
		return n
	}
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mc, res := clients[i], &results[i]
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			n := 20 // messages in this session's view, from EXISTS/EXPUNGE
			for time.Now().Before(deadline) {
				var line, lit string
				seq := 1 + rng.IntN(max(n, 1))
				switch k := rng.IntN(10); {
				case n == 0 || k == 0:
					line, lit = "APPEND INBOX (\\Seen)", fmt.Sprintf("Subject: s%d\r\n\r\nfrom %d\r\n", i, i)
				case k <= 2:
					line = fmt.Sprintf("FETCH %d:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)", max(1, n-5))
				case k <= 4:
					line = fmt.Sprintf("FETCH %d (BODY.PEEK[])", seq)
				case k == 5:
					line = fmt.Sprintf("STORE %d +FLAGS ($Mix%d)", seq, i)
				case k == 6:
					line = fmt.Sprintf("STORE %d +FLAGS.SILENT (\\Deleted)", seq)
				case k == 7:
					line = "EXPUNGE"
				case k == 8:
					line = "SEARCH BODY body"
				default:
					line = "NOOP"
				}
				untagged, tagged, err := mc.cmd(line, lit)
				if err != nil {
					res.errs = append(res.errs, line+": "+err.Error())
					return
				}
				res.ops++
				if !strings.HasPrefix(tagged, "OK") {
					res.errs = append(res.errs, line+": "+tagged)
				}
				n = exists(untagged, n)
			}
		}()
	}
	wg.Wait()
	total := 0
	for i, r := range results {
		total += r.ops
		for _, err := range r.errs {
			t.Errorf("session %d: %s", i, err)
		}
	}
	t.Logf("%d commands in %v over %d sessions", total, dur, sessions)

	// Every view, once it may be told everything, equals the store.
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.st.Messages(bg, e.acct.ID, mb.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, m := range rows {
		want = append(want, fmt.Sprintf("* %d FETCH (UID %d FLAGS (%s))", i+1, m.UID, strings.Join(m.Flags, " ")))
	}
	for i, mc := range clients {
		if _, tagged, err := mc.cmd("NOOP", ""); err != nil || !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("session %d NOOP: %s %v", i, tagged, err)
		}
		u, tagged, err := mc.cmd("FETCH 1:* (UID FLAGS)", "")
		if len(rows) == 0 {
			continue
		}
		if err != nil || !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("session %d FETCH: %s %v", i, tagged, err)
		}
		view := strings.NewReplacer(` \Recent`, "", `\Recent`, "").Replace(strings.Join(u, "\n"))
		if view != strings.Join(want, "\n") {
			t.Errorf("session %d's view:\n%s\nstore:\n%s", i, view, strings.Join(want, "\n"))
		}
		mc.cmd("LOGOUT", "")
	}
	e.checkStoreClean()
	_ = store.ErrNotFound
}
