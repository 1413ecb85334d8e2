package imapserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"mailroom/internal/message"
	"mailroom/internal/server/servertest"
)

// maxHeapGrowth bounds what one hostile session may leave or hold on the
// heap of the process (server and test client together).
const maxHeapGrowth = 64 << 20

func checkHeap(t *testing.T, what string, before uint64) {
	t.Helper()
	after := servertest.HeapInUse()
	if after > before && after-before > maxHeapGrowth {
		t.Errorf("%s: heap grew by %d MB", what, (after-before)>>20)
	}
}

// healthy checks that a new connection logs in and works.
func (e *testEnv) healthy(t *testing.T) {
	t.Helper()
	c := e.login()
	c.ok("SELECT INBOX")
	c.ok("FETCH 1 (FLAGS)")
	c.ok("LOGOUT")
}

// readToClose reads what the server sends until it closes the connection
// (within d) and returns it.
func readToClose(t *testing.T, c *client, d time.Duration) string {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	rest, err := io.ReadAll(c.r)
	if err != nil && !isReset(err) {
		t.Fatalf("connection not closed within %v: %v (read %q)", d, err, abbrev(string(rest)))
	}
	return string(rest)
}

func isReset(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}

func abbrev(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// writeAll sends raw bytes without failing the test when the server has
// already closed the connection.
func writeAll(c *client, data string) error {
	c.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	_, err := io.WriteString(c.conn, data)
	return err
}

func TestHostileHugeLiteralAnnouncement(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	before := servertest.HeapInUse()

	// A synchronizing literal is refused before its bytes come: no "+".
	c := e.login()
	for _, hdr := range []string{"{2147483648}", "{9223372036854775807}", "{99999999999999999999999}", "~{2147483648}"} {
		c.send("h APPEND INBOX " + hdr)
		l := c.line()
		if !strings.HasPrefix(l, "h NO") && !strings.HasPrefix(l, "h BAD") {
			t.Fatalf("APPEND %s: %q, want NO or BAD without a continuation", hdr, l)
		}
		c.ok("NOOP")
	}
	// The same as a mailbox name or a search string.
	for _, cmd := range []string{"SELECT {2147483648}", "LOGIN {2147483648}", "SEARCH SUBJECT {2147483648}", "STATUS {2147483648}"} {
		c.send("h " + cmd)
		if l := c.line(); !strings.HasPrefix(l, "h NO") && !strings.HasPrefix(l, "h BAD") {
			t.Fatalf("%s: %q", cmd, l)
		}
		c.ok("NOOP")
	}
	c.ok("LOGOUT")

	// A non-synchronizing one cannot be skipped: BYE and close, without
	// waiting for the 2 GB.
	for _, cmd := range []string{"APPEND INBOX {2147483648+}", "SELECT {2147483648+}", "APPEND INBOX {99999999999999999999999+}"} {
		c := e.login()
		start := time.Now()
		c.send("h " + cmd)
		rest := readToClose(t, c, 5*time.Second)
		if !strings.Contains(rest, "* BYE") {
			t.Errorf("%s: %q, want BYE", cmd, rest)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: closed after %v", cmd, d)
		}
	}
	checkHeap(t, "huge literals", before)
	e.healthy(t)
}

func TestHostileNesting(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	before := servertest.HeapInUse()
	c := e.login()
	c.ok("SELECT INBOX")
	deep := strings.Repeat("(", 100_000)
	for _, cmd := range []string{
		"SEARCH " + deep,
		"SEARCH " + deep + "ALL" + strings.Repeat(")", 100_000),
		"SEARCH " + strings.Repeat("NOT ", 30_000) + "ALL",
		"SEARCH " + strings.Repeat("OR ALL ", 10_000) + "ALL",
		"FETCH 1 " + deep,
		"FETCH 1 (BODY[HEADER.FIELDS " + deep + "])",
		"STORE 1 FLAGS " + deep,
		"LIST " + deep,
		"SELECT INBOX " + deep,
	} {
		start := time.Now()
		_, tagged := c.do(cmd)
		if !strings.HasPrefix(tagged, "BAD") && !strings.HasPrefix(tagged, "OK") {
			t.Errorf("%s…: %q", abbrev(cmd)[:40], tagged)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s…: %v", abbrev(cmd)[:40], d)
		}
		c.ok("NOOP")
	}
	c.ok("LOGOUT")
	checkHeap(t, "nesting", before)
	e.healthy(t)
}

// TestHostileMillionParts: a delivered message of a million MIME parts is
// stored with the parser's caps, and FETCH answers in bounded time.
func TestHostileMillionParts(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	t.Cleanup(servertest.CheckLeaks(t))
	e := newTestEnv(t)
	const n = 1_000_000
	var b strings.Builder
	b.WriteString("Subject: many parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range n {
		b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	b.WriteString("--b--\r\n")
	raw := b.String()
	start := time.Now()
	e.deliver("INBOX", raw)
	t.Logf("%d parts, %d MB: delivered in %v", n, len(raw)>>20, time.Since(start))
	raw, b = "", strings.Builder{}
	e.deliver("INBOX", simpleMsg)

	before := servertest.HeapInUse()
	c := e.login()
	c.ok("SELECT INBOX")
	for _, tt := range []struct {
		cmd  string
		want string
		max  int // bytes of the response
	}{
		{"FETCH 1 (BODYSTRUCTURE)", "BODYSTRUCTURE", 4 << 20},
		{"FETCH 1 (BODY)", "BODY", 4 << 20},
		{"FETCH 1 (ENVELOPE RFC822.SIZE)", "many parts", 4 << 10},
		{fmt.Sprintf("FETCH 1 (BODY.PEEK[%d.MIME] BODY.PEEK[%d])", message.MaxParts-1, message.MaxParts-1), "BODY[", 4 << 10},
		{"FETCH 1 (BODY.PEEK[500000])", "", 4 << 10},
		{"FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[2])", "BINARY", 4 << 10},
		{"FETCH 1 (PREVIEW)", "PREVIEW", 4 << 10},
		{"SEARCH BODY needle-not-there", "* SEARCH", 64},
	} {
		start := time.Now()
		u, tagged := c.do(tt.cmd)
		d := time.Since(start)
		size := len(strings.Join(u, "\n"))
		t.Logf("%s: %v, %d bytes, %s", tt.cmd, d, size, tagged)
		if d > 10*time.Second {
			t.Errorf("%s took %v", tt.cmd, d)
		}
		if !strings.HasPrefix(tagged, "OK") && !strings.HasPrefix(tagged, "NO") {
			t.Errorf("%s: %q", tt.cmd, tagged)
		}
		if tt.want != "" && !strings.Contains(strings.Join(u, "\n"), tt.want) {
			t.Errorf("%s: %q lacks %q", tt.cmd, abbrev(strings.Join(u, "\n")), tt.want)
		}
		if size > tt.max {
			t.Errorf("%s: %d bytes of response", tt.cmd, size)
		}
	}
	c.ok("LOGOUT")
	checkHeap(t, "million parts", before)
	e.healthy(t)
}

func TestHostileEncodings(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	c := e.login()
	c.ok("SELECT INBOX")
	for _, cmd := range []string{
		"SEARCH SUBJECT \"\xff\xfe\xc0\"",
		"SEARCH CHARSET UTF-8 SUBJECT \"\xed\xa0\x80\"",
		"SEARCH CHARSET UTF-8 BODY " + litp("\xf8\x88\x80\x80\x80"),
		"SEARCH HEADER \"\xff\" \"\xff\"",
		"SEARCH CHARSET \"\xff\" ALL",
		"STORE 1 +FLAGS (\xff)",
		"ID (\"name\" \"\xff\xfe\")",
		"SELECT \"\xff\"",
		"CREATE \"&Jjo\"",
		"CREATE \"&AGEAYgBj-\"",
		"CREATE \"&-&\"",
		"CREATE \"&" + strings.Repeat("A", 60_000) + "\"",
	} {
		_, tagged := c.do(cmd)
		if strings.HasPrefix(tagged, "BAD") {
			c.ok("NOOP")
		}
	}
	c.ok("ENABLE UTF8=ACCEPT")
	c.ok("SELECT INBOX")
	for _, cmd := range []string{
		"SEARCH SUBJECT \"\xff\xfe\xc0\"",
		"CREATE \"\xff\"", "CREATE \"a\xc3\"", "CREATE " + litp("\xed\xa0\x80"),
		"APPEND \"\xc0\x80\" " + litp("Subject: x\r\n\r\n"),
		"LIST \"\xff\" \"*\"", "LIST \"\" \"\xff*\"",
		"STATUS \"\xff\" (MESSAGES)",
	} {
		_, tagged := c.do(cmd)
		if strings.HasPrefix(tagged, "BAD") {
			c.ok("NOOP")
		}
	}
	mbs, err := e.st.Mailboxes(bg, e.acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		if !strings.HasPrefix(mb.Name, "INBOX") && strings.ContainsAny(mb.Name, "\xff\xc0\xc3\xed") {
			t.Errorf("mailbox %q created", mb.Name)
		}
	}
	c.ok("LOGOUT")
	e.healthy(t)
}

func TestHostileLongLines(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	before := servertest.HeapInUse()

	// A 100 KB mailbox name, every way it can be sent.
	c := e.login()
	long := strings.Repeat("m", 100<<10)
	for _, cmd := range []string{
		"SELECT " + long, "CREATE \"" + long + "\"", "STATUS " + long + " (MESSAGES)",
		"LIST \"\" " + long, "RENAME INBOX " + long,
	} {
		_, tagged := c.do(cmd)
		if !strings.HasPrefix(tagged, "BAD") && !strings.HasPrefix(tagged, "NO") {
			t.Errorf("%s…: %q", cmd[:10], tagged)
		}
		c.ok("NOOP")
	}
	c.send("s CREATE {102400}")
	if l := c.line(); !strings.HasPrefix(l, "s NO") && !strings.HasPrefix(l, "s BAD") {
		t.Fatalf("CREATE {102400}: %q", l)
	}
	c.ok("NOOP")

	// A 10 MB line, then its end: BAD, and the session goes on.
	line := "n NOOP " + strings.Repeat("x", 10<<20)
	if err := writeAll(c, line+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if l := c.line(); !strings.HasPrefix(l, "n BAD") {
		t.Fatalf("10 MB line: %q", l)
	}
	c.ok("NOOP")
	// Before login too.
	c2 := e.dial()
	if err := writeAll(c2, strings.Repeat("y", 10<<20)+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if l := c2.line(); !strings.Contains(l, "BAD") {
		t.Fatalf("10 MB line before login: %q", l)
	}
	c2.ok("LOGIN alice@example.test " + quote(testPassword))
	c.ok("LOGOUT")
	c2.ok("LOGOUT")

	// A 10 MB line that never ends: the session ends with the client.
	c3 := e.login()
	if err := writeAll(c3, "z NOOP "+strings.Repeat("x", 10<<20)); err != nil {
		t.Fatal(err)
	}
	c3.conn.(*net.TCPConn).CloseWrite()
	readToClose(t, c3, 5*time.Second)

	// A 10 MB AUTHENTICATE continuation line.
	c4 := e.dial()
	c4.send("a AUTHENTICATE PLAIN")
	if l := c4.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("AUTHENTICATE: %q", l)
	}
	if err := writeAll(c4, strings.Repeat("A", 10<<20)+"\r\n"); err == nil {
		rest := readToClose(t, c4, 5*time.Second)
		if strings.Contains(rest, "SERVERBUG") || !strings.Contains(rest, "BYE") {
			t.Errorf("long AUTHENTICATE line: %q", abbrev(rest))
		}
	}
	checkHeap(t, "long lines", before)
	e.healthy(t)
}

func TestHostileManyLiterals(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	before := servertest.HeapInUse()
	c := e.login()
	c.ok("SELECT INBOX")
	const n = 10_000
	for _, tt := range []struct {
		name string
		cmd  string
	}{
		{"SEARCH", "SEARCH " + strings.Repeat("SUBJECT {1+}\r\nx ", n) + "ALL"},
		{"SEARCH OR", "SEARCH " + strings.Repeat("OR SUBJECT {1+}\r\nx ", n) + "ALL"},
		{"MULTIAPPEND", "APPEND INBOX" + strings.Repeat(" {16+}\r\nSubject: x\r\n\r\nx", n)},
		{"big literals", "SEARCH " + strings.Repeat("SUBJECT {60000+}\r\n"+strings.Repeat("x", 60000)+" ", 40) + "ALL"},
		{"STORE", "STORE 1 FLAGS (" + strings.Repeat("{1+}\r\nx ", n) + ")"},
		{"ID", "ID (" + strings.Repeat("{1+}\r\nk {1+}\r\nv ", n) + ")"},
	} {
		start := time.Now()
		if err := writeAll(c, fmt.Sprintf("m %s\r\n", tt.cmd)); err != nil {
			t.Fatal(err)
		}
		var tagged string
		for {
			l := c.line()
			if strings.HasPrefix(l, "m ") {
				tagged = l
				break
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: %v", tt.name, d)
		}
		t.Logf("%s: %s", tt.name, tagged)
		c.ok("NOOP")
	}
	if u := c.ok("STATUS INBOX (MESSAGES)"); u[0] != "* STATUS INBOX (MESSAGES 1)" {
		t.Errorf("messages appended: %q", u)
	}
	c.ok("LOGOUT")
	checkHeap(t, "many literals", before)
	e.healthy(t)
}

// TestHostileJunk sends random binary junk, then checks the server.
func TestHostileJunk(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	for _, in := range []string{
		"\x00\x00\x00\x00\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 500), // a TLS hello
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		strings.Repeat("\r\n", 100_000),
		strings.Repeat("a ", 100_000) + "\r\n",
		strings.Repeat("{", 10_000) + "\r\n",
		"a LOGIN {5}\r\n",
	} {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(conn)
		go func() {
			io.WriteString(conn, in)
			conn.(*net.TCPConn).CloseWrite()
		}()
		// The server may close before reading all: a reset is fine.
		if _, err := io.Copy(io.Discard, r); err != nil && !isReset(err) {
			t.Errorf("%q: %v", abbrev(in), err)
		}
		conn.Close()
	}
	e.healthy(t)
}
