package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTLS does STARTTLS on c and returns a client over TLS.
func (c *client) startTLS(pool *x509.CertPool) *client {
	c.t.Helper()
	c.send("STARTTLS")
	c.expect(`OK "Begin TLS negotiation now"`)
	return c.handshake(pool)
}

func (c *client) handshake(pool *x509.CertPool) *client {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{ServerName: "localhost", RootCAs: pool})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	return &client{t: c.t, conn: tc, r: bufio.NewReader(tc)}
}

func TestStartTLS(t *testing.T) {
	cert, pool, _ := selfSigned(t)
	opts := Options{
		TLSConfig:      &tls.Config{Certificates: []tls.Certificate{cert}},
		AllowPlaintext: func(net.Addr) bool { return false },
	}
	ts := startServer(t, newFakeBackend(), opts)
	c := dial(t, ts.addr)
	if !strings.Contains(c.greeting, "\"STARTTLS\"\r\n") {
		t.Fatalf("greeting lacks STARTTLS:\n%s", c.greeting)
	}
	c.send(`AUTHENTICATE "PLAIN" "` + plain("", "alice", "secret") + `"`)
	c.expect(`NO (ENCRYPT-NEEDED) "Use STARTTLS before logging in with a password"`)

	tc := c.startTLS(pool)
	// RFC 5804 §2.2: capabilities again, without STARTTLS, then OK.
	tc.expect(lines(capsPreAuth, `OK "TLS started"`)...)
	tc.send("STARTTLS")
	tc.expect(`NO "TLS is already in use"`)
	tc.login("alice", "secret")
	tc.send("CAPABILITY")
	tc.expect(lines(capsAlice, `OK`)...)
	tc.send("LOGOUT")
	tc.expect(`OK "Logout completed"`)
	tc.expectClosed()
	if !strings.Contains(ts.logs.String(), "TLS started") {
		t.Errorf("no TLS log line:\n%s", ts.logs)
	}
}

// TestStartTLSInjection checks that commands pipelined after STARTTLS, in
// the clear, are not run once TLS is up.
func TestStartTLSInjection(t *testing.T) {
	cert, pool, _ := selfSigned(t)
	b := newFakeBackend()
	ts := startServer(t, b, Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	c := dial(t, ts.addr)
	c.send("STARTTLS\r\nAUTHENTICATE \"PLAIN\" \"" + plain("", "alice", "secret") + "\"\r\nPUTSCRIPT \"injected\" \"keep;\"")
	c.expect(`OK "Begin TLS negotiation now"`)
	tc := c.handshake(pool)
	tc.expect(lines(capsPreAuth, `OK "TLS started"`)...)
	tc.send("LISTSCRIPTS")
	tc.expect(respLogInFirst)
	tc.login("alice", "secret")
	tc.send("LISTSCRIPTS")
	tc.expect(`OK`)
}

func TestStartTLSHandshakeFails(t *testing.T) {
	cert, _, _ := selfSigned(t)
	ts := startServer(t, newFakeBackend(), Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	c := dial(t, ts.addr)
	c.send("STARTTLS")
	c.expect(`OK "Begin TLS negotiation now"`)
	c.send("CAPABILITY") // not a ClientHello
	c.expectClosed()
	waitFor(t, "handshake failure log", func() bool { return strings.Contains(ts.logs.String(), "TLS handshake failed") })
	// The server goes on.
	c2 := dial(t, ts.addr)
	c2.send("NOOP")
	c2.expect(`OK "Done"`)
}

func TestLongLine(t *testing.T) {
	ts := startServer(t, newFakeBackend(), Options{})
	other := dial(t, ts.addr)
	c := dial(t, ts.addr)
	c.write("NOOP \"" + strings.Repeat("x", MaxLineLength) + "\"\r\n")
	c.expect(`BYE "Line too long"`)
	c.expectClosed()
	// A line just under the limit is fine.
	c2 := dial(t, ts.addr)
	tag := strings.Repeat("y", MaxLineLength-len("NOOP \"\"\r\n"))
	c2.send(`NOOP "` + tag + `"`)
	c2.expect(`OK (TAG {`+strconv.Itoa(len(tag))+`}`, tag+`) "Done"`)
	other.send("NOOP")
	other.expect(`OK "Done"`)
}

func TestHugeLiteral(t *testing.T) {
	for _, tc := range []struct{ name, send, want string }{
		{"beyond 32 bits", `PUTSCRIPT "x" {9999999999+}`, `BYE (QUOTA/MAXSIZE) "Literal too big"`},
		{"beyond discard limit", `PUTSCRIPT "x" {4000000000+}`, `BYE (QUOTA/MAXSIZE) "Literal too big"`},
		{"in a bad command", `FOO {9999999999+}`, `BYE (QUOTA/MAXSIZE) "Literal too big"`},
		{"in a bad command, big", `FOO x" {99999999+}`, `BYE (QUOTA/MAXSIZE) "Literal too big"`},
		{"name", `GETSCRIPT {9999999999}`, `BYE (QUOTA/MAXSIZE) "Literal too big"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, newFakeBackend(), Options{})
			c := dial(t, ts.addr)
			c.login("alice", "secret")
			c.send(tc.send)
			c.expect(tc.want)
			c.expectClosed()
		})
	}
}

// TestLiteralOverLimit checks that a literal over its limit (but small
// enough to skip) is read without being kept, and the session goes on.
func TestLiteralOverLimit(t *testing.T) {
	b := newFakeBackend()
	ts := startServer(t, b, Options{MaxScriptSize: 100})
	c := dial(t, ts.addr)
	c.login("alice", "secret")
	big := strings.Repeat("x", 5<<20)
	c.send(`PUTSCRIPT "big" ` + lit(big))
	c.expect(`NO (QUOTA/MAXSIZE) "Script larger than the limit of 100 octets"`)
	c.send(`NOOP ` + lit(strings.Repeat("t", MaxStringLength+1)))
	c.expect(`NO "Tag too long"`)
	c.send(`PUTSCRIPT "small" "keep;"`)
	c.expect(`OK`)
	if s, _ := b.state("alice"); len(s) != 1 {
		t.Errorf("scripts %v", s)
	}
}

func TestPreAuthTimeout(t *testing.T) {
	ts := startServer(t, newFakeBackend(), Options{PreAuthTimeout: 200 * time.Millisecond, IdleTimeout: 5 * time.Second})
	silent := dial(t, ts.addr)
	start := time.Now()
	silent.expect(`BYE "Timeout, closing connection"`)
	silent.expectClosed()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout after %v", d)
	}
	// A client sending a command slowly is cut off too.
	slow := dial(t, ts.addr)
	slow.write("NOO")
	slow.expect(`BYE "Timeout, closing connection"`)
	// After login the longer timeout applies.
	other := dial(t, ts.addr)
	other.login("alice", "secret")
	time.Sleep(400 * time.Millisecond)
	other.send("NOOP")
	other.expect(`OK "Done"`)
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, newFakeBackend(), Options{IdleTimeout: 200 * time.Millisecond})
	c := dial(t, ts.addr)
	c.login("alice", "secret")
	c.expect(`BYE "Timeout, closing connection"`)
	c.expectClosed()
	if !strings.Contains(ts.logs.String(), "reason=timeout") {
		t.Errorf("no timeout log:\n%s", ts.logs)
	}
}

// TestSessionsIndependent runs misbehaving clients next to a good one.
func TestSessionsIndependent(t *testing.T) {
	b := newFakeBackend()
	ts := startServer(t, b, Options{PreAuthTimeout: time.Second})
	good := dial(t, ts.addr)
	good.login("alice", "secret")
	bob := dial(t, ts.addr)
	bob.login("bob", "hunter2")

	junk := dial(t, ts.addr)
	junk.write("\x00\xff\x16\x03\x01 garbage {5+}\r\n")
	silent := dial(t, ts.addr)
	_ = silent
	half := dial(t, ts.addr)
	half.write(`PUTSCRIPT "x" {100+}` + "\r\nkeep")

	good.send(`PUTSCRIPT "mine" "keep;"`)
	good.expect(`OK`)
	bob.send(`PUTSCRIPT "bobs" "discard;"`)
	bob.expect(`OK`)
	good.send(`SETACTIVE "mine"`)
	good.expect(`OK`)
	good.send(`LISTSCRIPTS`)
	good.expect(`"mine" ACTIVE`, `OK`)
	bob.send(`LISTSCRIPTS`)
	bob.expect(`"bobs"`, `OK`)

	// Two sessions of one user see each other's changes.
	good2 := dial(t, ts.addr)
	good2.login("alice", "secret")
	good2.send(`GETSCRIPT "mine"`)
	good2.expect(`{5}`, `keep;`, `OK`)
}

func TestShutdown(t *testing.T) {
	b := newFakeBackend()
	b.authStarted = make(chan struct{}, 1)
	b.authBlock = make(chan struct{})
	ts := startServer(t, b, Options{})
	idle := dial(t, ts.addr)
	busy := dial(t, ts.addr)
	busy.send(`AUTHENTICATE "PLAIN" "` + plain("", "alice", "secret") + `"`)
	<-b.authStarted

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- ts.srv.Shutdown(ctx)
	}()
	idle.expect(`BYE "Server shutting down"`)
	idle.expectClosed()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v during a command", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(b.authBlock)
	busy.expect(`OK "Logged in"`, `BYE "Server shutting down"`)
	busy.expectClosed()
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	// New connections are refused.
	if c, err := net.Dial("tcp", ts.addr); err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n > 0 || !errors.Is(err, io.EOF) && !isConnReset(err) {
			t.Errorf("connection after Shutdown: read %d, %v", n, err)
		}
		c.Close()
	}
}

func TestShutdownDeadline(t *testing.T) {
	b := newFakeBackend()
	b.authStarted = make(chan struct{}, 1)
	b.authBlock = make(chan struct{}) // never closed: Authenticate waits for ctx
	ts := startServer(t, b, Options{})
	busy := dial(t, ts.addr)
	busy.send(`AUTHENTICATE "PLAIN" "` + plain("", "alice", "secret") + `"`)
	<-b.authStarted
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want deadline exceeded", err)
	}
	busy.expectClosed()
}

func TestAuthFailDelay(t *testing.T) {
	ts := startServer(t, newFakeBackend(), Options{AuthFailDelay: 300 * time.Millisecond})
	c := dial(t, ts.addr)
	start := time.Now()
	c.send(`AUTHENTICATE "PLAIN" "` + plain("", "alice", "wrong") + `"`)
	c.expect(`NO "Authentication failed"`)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("failure answered after %v", d)
	}
	start = time.Now()
	c.login("alice", "secret")
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("success answered after %v", d)
	}
}

// TestLogs checks what reaches the logs: one line per internal error, and
// no passwords or scripts.
func TestLogs(t *testing.T) {
	ts := startServer(t, newFakeBackend(), Options{})
	c := dial(t, ts.addr)
	c.send(`AUTHENTICATE "PLAIN" "` + plain("", "alice", "secret") + `"`)
	c.expect(`OK "Logged in"`)
	c.send(`PUTSCRIPT "s" "discard; # private-content"`)
	c.expect(`OK`)
	c.send(`UNAUTHENTICATE`)
	c.expect(`OK "Logged out"`)
	c.login("flaky", "flaky")
	c.send(`LISTSCRIPTS`)
	c.expectPrefix(`NO (TRYLATER)`)
	c.send("LOGOUT")
	c.expect(`OK "Logout completed"`)
	c.expectClosed()
	waitFor(t, "connection closed log", func() bool { return strings.Contains(ts.logs.String(), "connection closed") })
	logs := ts.logs.String()
	for _, secret := range []string{"secret", plain("", "alice", "secret"), "private-content"} {
		if strings.Contains(strings.ReplaceAll(logs, "secret-host", ""), secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	if n := strings.Count(logs, "backend error"); n != 1 {
		t.Errorf("%d backend error lines, want 1:\n%s", n, logs)
	}
	for _, want := range []string{"user=alice", "user=flaky", `script=s`, "<redacted>", "<script, 26 octets>", "cid=", "remote=127.0.0.1:"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}
