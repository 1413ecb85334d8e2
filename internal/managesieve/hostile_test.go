package managesieve

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
)

// maxHeapGrowth bounds what the hostile sessions may leave on the heap.
const maxHeapGrowth = 64 << 20

// drainToClose reads until the server closes (a reset counts) and
// returns what it sent; d passing fails the test.
func (c *client) drainToClose(d time.Duration) string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	rest, err := io.ReadAll(c.r)
	if err != nil && !isConnReset(err) {
		c.t.Fatalf("connection not closed within %v: %v (read %q)", d, err, abbrev(string(rest)))
	}
	return string(rest)
}

// healthy checks that a new session logs in and works.
func healthy(t *testing.T, ts *testServer) {
	t.Helper()
	c := dial(t, ts.addr)
	c.login("alice", "secret")
	c.send("LISTSCRIPTS")
	if r, err := c.response(); err != nil || !strings.HasSuffix(r, "OK\r\n") {
		t.Fatalf("LISTSCRIPTS: %q, %v", r, err)
	}
	c.send("LOGOUT")
	c.expectPrefix("OK")
}

// A command with many 64 KiB literals is refused once it has more
// arguments than any command takes; the literals after that are read and
// thrown away, not held (before login too).
func TestManyLiteralArguments(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	ts := startServer(t, newFakeBackend(), Options{})
	c := dial(t, ts.addr)
	go func() {
		c.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
		lit := " {65536+}\r\n" + strings.Repeat("x", 65536)
		io.WriteString(c.conn, "NOOP"+strings.Repeat(lit, 200)+"\r\nNOOP\r\n")
	}()
	c.expectPrefix(`NO "Syntax error: Too many arguments"`)
	c.expectPrefix("OK")
}

// Debug logging shows a long argument as its length, not its bytes.
func TestLongArgumentsNotLogged(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	ts := startServer(t, newFakeBackend(), Options{})
	c := dial(t, ts.addr)
	long := strings.Repeat("q", 60000)
	c.write("NOOP {60000+}\r\n" + long + "\r\n")
	c.expectPrefix("OK")
	c.send("LOGOUT")
	c.expectPrefix("OK")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ts.logs.String(), "<60000 octets>") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "NOOP <60000 octets>") {
		t.Errorf("command not logged with its length:\n%s", abbrev(logs))
	}
	if strings.Contains(logs, strings.Repeat("q", 1000)) {
		t.Errorf("long argument logged whole (%d bytes of logs)", len(logs))
	}
}

func TestHostileInput(t *testing.T) {
	t.Cleanup(servertest.CheckLeaks(t))
	ts := startServer(t, newFakeBackend(), Options{})
	before := servertest.HeapInUse()
	login := `AUTHENTICATE "PLAIN" "` + plain("", "alice", "secret") + "\"\r\n"

	// Each input is sent whole, then the client's side is closed: the
	// server must end the session promptly, and must not answer OK to a
	// login it never got.
	for _, tt := range []struct {
		name string
		send string
		// bye: the server must say BYE before closing.
		bye bool
	}{
		{"huge literal announced", login + "PUTSCRIPT \"x\" {2147483648+}\r\n", true},
		{"huge sync literal announced", login + "PUTSCRIPT \"x\" {2147483648}\r\n", true},
		{"literal size overflow", "NOOP {99999999999999999999999999+}\r\n", true},
		{"literal before login", "AUTHENTICATE \"PLAIN\" {2147483648+}\r\n", true},
		{"10 MB line", "NOOP \"" + strings.Repeat("a", 10<<20) + "\"\r\n", false},
		{"10 MB atom", strings.Repeat("A", 10<<20) + "\r\n", false},
		{"10 MB SASL response", "AUTHENTICATE \"PLAIN\"\r\n\"" + strings.Repeat("A", 10<<20) + "\"\r\n", false},
		{"many literals", login + "HAVESPACE " + strings.Repeat("{1+}\r\nx ", 10_000) + "\r\n", false},
		{"NUL and 8-bit", "NOOP \"\x00\xff\"\r\nAUTHENTICATE \"\xff\" \"\x00\"\r\n", false},
		{"junk", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 500), false},
		{"HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"empty lines", strings.Repeat("\r\n", 10_000), false},
		{"unterminated quote", "NOOP \"abc\r\nNOOP\r\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			start := time.Now()
			go func() {
				c.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
				io.WriteString(c.conn, tt.send)
				c.conn.(*net.TCPConn).CloseWrite()
			}()
			rest := c.drainToClose(10 * time.Second)
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("took %v", d)
			}
			if tt.bye && !strings.Contains(rest, "BYE") {
				t.Errorf("no BYE: %q", abbrev(rest))
			}
		})
	}

	// A huge literal announcement gets BYE at once, without the client
	// sending the data or closing its side.
	c := dial(t, ts.addr)
	c.login("alice", "secret")
	start := time.Now()
	c.send(`PUTSCRIPT "x" {2147483648+}`)
	if rest := c.drainToClose(5 * time.Second); !strings.Contains(rest, "BYE") {
		t.Errorf("huge literal: %q", rest)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("BYE after %v", d)
	}

	// A line over MaxLineLength ends the session with BYE.
	c = dial(t, ts.addr)
	c.login("alice", "secret")
	c.write("NOOP \"" + strings.Repeat("n", 100<<10) + "\"\r\n")
	c.expectPrefix("BYE")

	// After a refused long literal, the session goes on.
	c = dial(t, ts.addr)
	c.login("alice", "secret")
	c.write("NOOP " + lit(strings.Repeat("n", 100<<10)) + "\r\n")
	c.expectPrefix("NO")
	c.write("PUTSCRIPT " + lit(strings.Repeat("n", 100<<10)) + " " + lit("keep;") + "\r\n")
	c.expectPrefix("NO")
	c.send("PUTSCRIPT \"s\" " + lit("keep;"))
	c.expectPrefix("OK")
	c.send("LOGOUT")
	c.expectPrefix("OK")

	if after := servertest.HeapInUse(); after > before && after-before > maxHeapGrowth {
		t.Errorf("heap grew by %d MB", (after-before)>>20)
	}
	healthy(t, ts)
	logs := ts.logs.String()
	if strings.Contains(logs, "panic") {
		t.Errorf("panic logged:\n%s", abbrev(logs))
	}
	if strings.Contains(logs, plain("", "alice", "secret")) || strings.Contains(logs, "secret\"") {
		t.Errorf("logs contain the password")
	}
}
