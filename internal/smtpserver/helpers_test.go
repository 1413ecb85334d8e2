package smtpserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mailroom/internal/delivery"
	"mailroom/internal/server/servertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const localDomain = "example.org"

// errInternal is what the fake's "broken" user fails with; its text must
// never reach a client.
var errInternal = errors.New("db: connection refused to secret-host:5432")

// fakeDeliverer accepts recipients at example.org: alice, bob, carol, dave,
// erin, ü and user* (any other local part: no such user; any other domain:
// relaying denied; "full": 452 4.2.2; "fullperm": 552 5.2.2; "broken": an
// internal error). Deliver reads the body to the end and records it.
type fakeDeliverer struct {
	mu sync.Mutex
	// rcptResult is Deliver's per-recipient result, by recipient.
	rcptResult map[string]error
	// allErr, when set, is Deliver's second result.
	allErr error
	// hook, when set, replaces Deliver.
	hook func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error)
	// started receives a value when Deliver is called, if not nil.
	started chan struct{}

	checked   []string
	delivered []delivered
	readErrs  []error
}

type delivered struct {
	env  delivery.Envelope
	body string
}

func newFake() *fakeDeliverer { return &fakeDeliverer{rcptResult: map[string]error{}} }

func (f *fakeDeliverer) CheckRecipient(ctx context.Context, env *delivery.Envelope, rcpt string) error {
	f.mu.Lock()
	f.checked = append(f.checked, rcpt)
	f.mu.Unlock()
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		return delivery.ErrBadAddress
	}
	local, domain := rcpt[:at], rcpt[at+1:]
	if !strings.EqualFold(domain, localDomain) {
		return delivery.ErrRelayDenied
	}
	if strings.HasPrefix(local, "user") {
		return nil
	}
	switch local {
	case "alice", "bob", "carol", "dave", "erin", "ü":
		return nil
	case "full":
		return delivery.ErrMailboxFullTemp
	case "fullperm":
		return delivery.ErrMailboxFullPerm
	case "broken":
		return errInternal
	default:
		return delivery.ErrNoSuchUser
	}
}

func (f *fakeDeliverer) Deliver(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.hook != nil {
		return f.hook(ctx, env, body)
	}
	data, err := io.ReadAll(body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.readErrs = append(f.readErrs, err)
		return nil, err
	}
	if f.allErr != nil {
		return nil, f.allErr
	}
	errs := make([]error, len(env.Recipients))
	for i, r := range env.Recipients {
		errs[i] = f.rcptResult[r]
	}
	f.delivered = append(f.delivered, delivered{env: *env, body: string(data)})
	return errs, nil
}

func (f *fakeDeliverer) deliveries() []delivered {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]delivered(nil), f.delivered...)
}

func (f *fakeDeliverer) readErrors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.readErrs...)
}

type testServer struct {
	*servertest.Running
	srv  *Server
	addr string
	logs *servertest.LogBuffer
	d    *fakeDeliverer
}

// startServer serves d on a loopback port until the test ends.
func startServer(t testing.TB, d *fakeDeliverer, opts Options) *testServer {
	t.Helper()
	logs := &servertest.LogBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Hostname == "" {
		opts.Hostname = "mx.example.org"
	}
	if opts.MaxMessageSize == 0 {
		opts.MaxMessageSize = 1000
	}
	ts := &testServer{srv: New(d, opts), logs: logs, d: d}
	ts.Running = servertest.Start(t, ts.srv)
	ts.addr = ts.Addr
	return ts
}

// client is a raw line-level SMTP client.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("220 ")
	return c
}

// send writes s followed by CRLF.
func (c *client) send(s string) {
	c.t.Helper()
	c.write(s + "\r\n")
}

func (c *client) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", abbrev(s), err)
	}
}

// reply reads one (possibly multi-line) reply and returns its lines.
func (c *client) reply() ([]string, error) {
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return lines, err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return lines, nil
		}
	}
}

// expect reads one reply and checks that its last line starts with prefix.
// It returns the reply's lines.
func (c *client) expect(prefix string) []string {
	c.t.Helper()
	lines, err := c.reply()
	if err != nil {
		c.t.Fatalf("reading reply (want %q): %v (got %q)", prefix, err, lines)
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, prefix) {
		c.t.Fatalf("reply %q, want prefix %q", lines, prefix)
	}
	return lines
}

// expectClosed checks that the server closes the connection, after at
// most a few more replies.
func (c *client) expectClosed() {
	c.t.Helper()
	for range 5 {
		if _, err := c.reply(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isConnReset(err) {
				return
			}
			c.t.Fatalf("waiting for the server to close: %v", err)
		}
	}
	c.t.Fatalf("server did not close the connection")
}

func isConnReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func abbrev(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
