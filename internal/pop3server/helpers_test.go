package pop3server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
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
	code := m.Run()
	// Fixtures shared by benchmarks live for the whole process.
	closeSharedFixtures()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

var bg = context.Background()

// cheapHash keeps argon2id fast under the race detector.
var cheapHash = &directory.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const (
	alice    = "alice@example.org"
	bob      = "bob@example.org"
	password = "s3cret pass"
)

// fixture is a real SQLite store with the accounts alice and bob (both
// with password) at example.org.
type fixture struct {
	st    *sqlite.Store
	dir   *directory.Directory
	alice *store.Account
	bob   *store.Account
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f, err := openFixture(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	return f
}

func openFixture(dir string) (*fixture, error) {
	st, err := sqlite.Open(dir, sqlite.Options{})
	if err != nil {
		return nil, err
	}
	d := directory.New(st, directory.Options{HashParams: cheapHash})
	f := &fixture{st: st, dir: d}
	if err := d.AddDomain(bg, "example.org"); err != nil {
		st.Close()
		return nil, err
	}
	if f.alice, err = d.AddAccount(bg, alice, password, store.QuotaUnlimited, store.QuotaUnlimited); err == nil {
		f.bob, err = d.AddAccount(bg, bob, password, store.QuotaUnlimited, store.QuotaUnlimited)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return f, nil
}

// newAppend writes content as a body and returns the message to append
// to the mailbox, with its parsed structure, as delivery does.
func newAppend(st store.Store, mailboxID int64, content string) (store.AppendMessage, error) {
	w, err := st.NewBody(bg)
	if err != nil {
		return store.AppendMessage{}, err
	}
	if _, err := io.WriteString(w, content); err != nil {
		w.Abort()
		return store.AppendMessage{}, err
	}
	ref, err := w.Commit()
	if err != nil {
		return store.AppendMessage{}, err
	}
	s, err := message.Parse(strings.NewReader(content))
	if err != nil {
		return store.AppendMessage{}, err
	}
	return store.AppendMessage{MailboxID: mailboxID, Body: ref, InternalDate: time.Now(), Structure: s.Encode()}, nil
}

// deliver stores content in the account's mailbox.
func (f *fixture) deliver(t testing.TB, acc *store.Account, mailbox, content string) store.AppendResult {
	t.Helper()
	mb := f.mailbox(t, acc, mailbox)
	am, err := newAppend(f.st, mb.ID, content)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.st.Append(bg, acc.ID, []store.AppendMessage{am}, true)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func (f *fixture) mailbox(t testing.TB, acc *store.Account, name string) *store.Mailbox {
	t.Helper()
	mb, err := f.st.Mailbox(bg, acc.ID, name)
	if err != nil {
		t.Fatalf("mailbox %s: %v", name, err)
	}
	return mb
}

// messages lists a mailbox as IMAP sees it.
func (f *fixture) messages(t testing.TB, acc *store.Account, mailbox string) []store.Message {
	t.Helper()
	msgs, err := f.st.Messages(bg, acc.ID, f.mailbox(t, acc, mailbox).ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// newTestLogger logs everything, debug included, as text into w.
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testServer struct {
	*servertest.Running
	srv  *Server
	addr string
	f    *fixture
	logs *servertest.LogBuffer
}

// startServer serves f's store on a loopback port until the test ends.
// Test defaults: Hostname pop.example.org, a 10ms AuthFailDelay, debug
// logging into ts.logs.
func startServer(t testing.TB, f *fixture, opts Options) *testServer {
	t.Helper()
	logs := &servertest.LogBuffer{}
	if opts.Logger == nil {
		opts.Logger = newTestLogger(logs)
	}
	if opts.Hostname == "" {
		opts.Hostname = "pop.example.org"
	}
	if opts.AuthFailDelay == 0 {
		opts.AuthFailDelay = 10 * time.Millisecond
	}
	ts := &testServer{srv: New(f.st, f.dir, opts), f: f, logs: logs}
	ts.Running = servertest.Start(t, ts.srv)
	ts.addr = ts.Addr
	return ts
}

// client is a raw POP3 client over a real socket.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// dial connects and checks the greeting.
func dial(t testing.TB, addr string) *client {
	t.Helper()
	c := dialRaw(t, addr)
	if g := c.line(); g != "+OK pop.example.org POP3 server ready" {
		t.Fatalf("greeting %q", g)
	}
	return c
}

func dialRaw(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// line reads one line, which must end with CRLF, and returns it without.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (after %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line without CRLF: %q", l)
	}
	return l[:len(l)-2]
}

// response reads a reply: one line, or with multi and +OK, the lines up to
// and including the terminating ".", joined with "\n".
func (c *client) response(multi bool) string {
	c.t.Helper()
	first := c.line()
	if !multi || !strings.HasPrefix(first, "+OK") {
		return first
	}
	lines := []string{first}
	for {
		l := c.line()
		lines = append(lines, l)
		if l == "." {
			return strings.Join(lines, "\n")
		}
	}
}

// isMulti tells whether cmd gets a multi-line reply on success.
func isMulti(cmd string) bool {
	f := strings.Fields(strings.ToUpper(cmd))
	if len(f) == 0 {
		return false
	}
	switch f[0] {
	case "CAPA", "RETR", "TOP":
		return true
	case "LIST", "UIDL", "AUTH":
		return len(f) == 1
	}
	return false
}

// cmd sends a command and reads its reply.
func (c *client) cmd(s string) string {
	c.t.Helper()
	c.send(s)
	return c.response(isMulti(s))
}

// expect sends a command and checks its reply.
func (c *client) expect(s, want string) {
	c.t.Helper()
	if got := c.cmd(s); got != want {
		c.t.Errorf("%s:\n got %q\nwant %q", s, got, want)
	}
}

// login logs in with USER/PASS and checks for +OK.
func (c *client) login(user string) string {
	c.t.Helper()
	c.expect("USER "+user, "+OK send PASS")
	r := c.cmd("PASS " + password)
	if !strings.HasPrefix(r, "+OK ") {
		c.t.Fatalf("login %s: %q", user, r)
	}
	return r
}

// closed checks that the server closes the connection (EOF, no more
// data) within d.
func (c *client) closed(d time.Duration) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	rest, err := io.ReadAll(c.br)
	if err != nil {
		c.t.Errorf("connection not closed by the server: %v (read %q)", err, rest)
	} else if len(rest) > 0 {
		c.t.Errorf("unexpected data before close: %q", rest)
	}
}

// Fixtures shared by the benchmarks of one process, closed by TestMain.
var (
	sharedMu      sync.Mutex
	sharedClosers []func()
)

func closeSharedFixtures() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for _, c := range sharedClosers {
		c()
	}
	sharedClosers = nil
}

// quietLogger discards everything, for benchmarks.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
