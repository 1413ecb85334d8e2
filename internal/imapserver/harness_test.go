package imapserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mailroom/internal/directory"
	"mailroom/internal/message"
	"mailroom/internal/server/servertest"
	"mailroom/internal/store"
	"mailroom/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var bg = context.Background()

const testPassword = "secret pass"

// testEnv is a running server on loopback with one account,
// alice@example.test (password testPassword).
type testEnv struct {
	t    testing.TB
	st   store.Store
	dir  *directory.Directory
	srv  *Server
	addr string
	acct *store.Account
}

var cheapHash = directory.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newTestEnv(t testing.TB, opts ...func(*Options)) *testEnv {
	t.Helper()
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(st, directory.Options{RecipientDelimiter: "+", HashParams: &cheapHash})
	if err := dir.AddDomain(bg, "example.test"); err != nil {
		t.Fatal(err)
	}
	acct, err := dir.AddAccount(bg, "alice@example.test", testPassword, store.QuotaDefault, store.QuotaDefault)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Hostname:      "imap.example.test",
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		AuthFailDelay: time.Millisecond,
		PollInterval:  100 * time.Millisecond,
	}
	if os.Getenv("IMAP_TEST_LOG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, f := range opts {
		f(&o)
	}
	t.Cleanup(func() { st.Close() })
	srv := New(st, dir, o)
	return &testEnv{t: t, st: st, dir: dir, srv: srv, addr: servertest.Serve(t, srv), acct: acct}
}

// deliver stores a message in a mailbox as delivery would (parsed
// structure, CRLF line ends) and returns its UID.
func (e *testEnv) deliver(mailbox, raw string, flags ...string) uint32 {
	e.t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	mb, err := e.st.Mailbox(bg, e.acct.ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	ref, st := e.putBody(e.t, raw)
	res, err := e.st.Append(bg, e.acct.ID, []store.AppendMessage{{
		MailboxID: mb.ID, Body: ref, Flags: flags,
		InternalDate: time.Date(2026, 11, 20, 10, 30, 0, 0, time.FixedZone("", 3600)),
		Structure:    st.Encode(),
	}}, false)
	if err != nil {
		e.t.Fatal(err)
	}
	return res[0].UID
}

// putBody stores raw as a message body and parses it, as delivery does.
func (e *testEnv) putBody(tb testing.TB, raw string) (store.BlobRef, *message.Structure) {
	tb.Helper()
	w, err := e.st.NewBody(bg)
	if err != nil {
		tb.Fatal(err)
	}
	io.WriteString(w, raw)
	ref, err := w.Commit()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := message.Parse(strings.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return ref, st
}

// client is a raw IMAP connection for transcript tests.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
}

// dial connects and reads the greeting.
func (e *testEnv) dial() *client {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	c := &client{t: e.t, conn: conn, r: bufio.NewReader(conn)}
	if g := c.line(); !strings.HasPrefix(g, "* OK ") {
		e.t.Fatalf("greeting %q", g)
	}
	return c
}

// login dials and logs in as alice.
func (e *testEnv) login() *client {
	c := e.dial()
	c.ok("LOGIN alice@example.test " + quote(testPassword))
	return c
}

// selectOnce has a session SELECT mailbox and log out, taking its \Recent
// messages (RFC 3501 §2.3.2), so that the next session finds none.
func (e *testEnv) selectOnce(mailbox string) {
	e.t.Helper()
	c := e.login()
	c.ok("SELECT " + mailbox)
	c.do("LOGOUT")
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// send writes a raw line (CRLF added).
func (c *client) send(line string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// line reads one response line (without CRLF); literals are returned
// inline, so "{5}\r\nhello" reads as one line "…{5}\r\nhello…".
func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (after %q)", err, b.String()+l)
		}
		b.WriteString(l)
		s := strings.TrimSuffix(l, "\r\n")
		if n, ok := literalSuffix(s); ok {
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				c.t.Fatal(err)
			}
			b.Write(buf)
			continue
		}
		return strings.TrimSuffix(b.String(), "\r\n")
	}
}

func literalSuffix(s string) (int, bool) {
	if !strings.HasSuffix(s, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(s, '{')
	if i < 0 {
		return 0, false
	}
	var n int
	if _, err := fmt.Sscanf(s[i+1:len(s)-1], "%d", &n); err != nil {
		return 0, false
	}
	return n, true
}

// do sends a tagged command and returns the untagged lines and the tagged
// line.
func (c *client) do(cmd string) (untagged []string, tagged string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("t%d", c.n)
	c.send(tag + " " + cmd)
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// ok runs cmd and fails the test unless it answers OK.
func (c *client) ok(cmd string) []string {
	c.t.Helper()
	u, tagged := c.do(cmd)
	if !strings.HasPrefix(tagged, "OK") {
		c.t.Fatalf("%s: %s (untagged %q)", cmd, tagged, u)
	}
	return u
}

// expect runs cmd and checks the untagged lines exactly and the tagged
// line's prefix.
func (c *client) expect(cmd string, taggedPrefix string, untagged ...string) {
	c.t.Helper()
	u, tagged := c.do(cmd)
	if !strings.HasPrefix(tagged, taggedPrefix) {
		c.t.Fatalf("%s: tagged %q, want prefix %q (untagged %q)", cmd, tagged, taggedPrefix, u)
	}
	if strings.Join(u, "\n") != strings.Join(untagged, "\n") {
		c.t.Fatalf("%s: untagged\n%s\nwant\n%s", cmd, strings.Join(u, "\n"), strings.Join(untagged, "\n"))
	}
}
