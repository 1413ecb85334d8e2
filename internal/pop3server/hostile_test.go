package pop3server

import (
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
)

// maxHeapGrowth bounds what the hostile sessions may leave on the heap.
const maxHeapGrowth = 64 << 20

// drainToClose reads until the server closes the connection (or d passes,
// which fails the test) and returns what it sent. A reset counts as a
// close: the server may close with unread input.
func (c *client) drainToClose(d time.Duration) string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	rest, err := io.ReadAll(c.br)
	if err != nil && !strings.Contains(err.Error(), "connection reset") {
		c.t.Fatalf("connection not closed within %v: %v (read %q)", d, err, abbrev(string(rest)))
	}
	return string(rest)
}

func abbrev(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func (c *client) write(s string) error {
	c.nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	_, err := io.WriteString(c.nc, s)
	return err
}

// healthy checks that a new session logs in and lists the maildrop.
func healthy(t *testing.T, ts *testServer) {
	t.Helper()
	c := dial(t, ts.addr)
	c.login(alice)
	if r := c.cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("STAT after hostile input: %q", r)
	}
	if r := c.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT: %q", r)
	}
	c.closed(5 * time.Second)
}

func TestHostileInput(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	f := newFixture(t)
	f.deliver(t, f.alice, "INBOX", "Subject: hi\r\n\r\nhello\r\n")
	ts := startServer(t, f, Options{})
	before := servertest.HeapInUse()

	// Long lines: refused; the session either goes on or ends, and never
	// takes the line into memory whole.
	for _, tt := range []struct {
		name string
		send string
	}{
		{"10 MB line", "USER " + strings.Repeat("a", 10<<20) + "\r\n"},
		{"10 MB PASS", "USER " + alice + "\r\nPASS " + strings.Repeat("p", 10<<20) + "\r\n"},
		{"10 MB AUTH initial response", "AUTH PLAIN " + strings.Repeat("A", 10<<20) + "\r\n"},
		{"10 MB AUTH continuation", "AUTH PLAIN\r\n" + strings.Repeat("A", 10<<20) + "\r\n"},
		{"NUL and 8-bit", "USER \x00\xff\xfe\r\nPASS \x00\r\n"},
		{"many empty lines", strings.Repeat("\r\n", 10_000)},
		{"bare CRs", strings.Repeat("\r", 100_000) + "\n"},
		{"TLS hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 500)},
		{"HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"huge numbers", "USER " + alice + "\r\nPASS " + password + "\r\nRETR 99999999999999999999\r\nTOP 1 99999999999999999999\r\nLIST -1\r\nDELE 4294967297\r\nUIDL 0\r\n"},
		{"AUTH junk", "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x00", 3000))) + "\r\nAUTH PLAIN =\r\nAUTH X-UNKNOWN\r\nAUTH PLAIN\r\n*\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			start := time.Now()
			go func() {
				c.write(tt.send)
				c.nc.(*net.TCPConn).CloseWrite()
			}()
			rest := c.drainToClose(10 * time.Second)
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("took %v", d)
			}
			if strings.Contains(rest, "+OK maildrop") && !strings.Contains(tt.name, "huge numbers") {
				t.Errorf("logged in: %q", abbrev(rest))
			}
		})
	}

	// After a long line, the same session still answers properly.
	c := dial(t, ts.addr)
	if err := c.write("NOOP " + strings.Repeat("x", 1<<20) + "\r\n"); err != nil {
		t.Fatal(err)
	}
	if r := c.line(); !strings.HasPrefix(r, "-ERR") {
		t.Fatalf("long line: %q", r)
	}
	c.login(alice)
	if r := c.cmd("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Fatalf("STAT: %q", r)
	}
	if r := c.cmd("QUIT"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("QUIT: %q", r)
	}

	if after := servertest.HeapInUse(); after > before && after-before > maxHeapGrowth {
		t.Errorf("heap grew by %d MB", (after-before)>>20)
	}
	healthy(t, ts)
	logs := ts.logs.String()
	if strings.Contains(logs, "panic") {
		t.Errorf("panic logged:\n%s", abbrev(logs))
	}
	// Passwords stay out of the debug trace, however long.
	for _, secret := range []string{password, "pppppppp"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}
