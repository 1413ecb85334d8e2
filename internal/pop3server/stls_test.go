package pop3server

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
)

func noPlaintext(net.Addr) bool { return false }

// capaAuthTLS is capaAuth under TLS, with SCRAM-SHA-256-PLUS.
var capaAuthTLS = strings.Replace(capaAuth, "SASL SCRAM-SHA-256", "SASL SCRAM-SHA-256-PLUS SCRAM-SHA-256", 1)

// CAPA lines before login: with STLS offered and plain text refused
// (capaSTLS), and under TLS (capaAuthTLS).
const capaSTLS = "+OK capability list follows\nTOP\nUIDL\nSASL SCRAM-SHA-256\nSTLS\nRESP-CODES\nAUTH-RESP-CODE\nPIPELINING\nEXPIRE 0\nIMPLEMENTATION mailroom\n."

// tlsHandshake continues c over TLS after the server's +OK to STLS.
func (c *client) tlsHandshake(cfg *tls.Config) *client {
	c.t.Helper()
	if c.br.Buffered() > 0 {
		c.t.Fatalf("server sent data after the STLS +OK")
	}
	tc := tls.Client(c.nc, cfg)
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	return &client{t: c.t, nc: tc, br: bufio.NewReader(tc)}
}

// RFC 2595 §4: STLS in AUTHORIZATION state; CAPA before and after.
func TestSTLS(t *testing.T) {
	f := newFixture(t)
	f.deliver(t, f.alice, "INBOX", "Subject: secret\r\n\r\nover TLS\r\n")
	srvTLS, cliTLS := servertest.TLS(t)
	ts := startServer(t, f, Options{TLSConfig: srvTLS, AllowPlaintext: noPlaintext})
	c := dial(t, ts.addr)
	c.expect("CAPA", capaSTLS)
	c.expect("USER "+alice, "-ERR [AUTH] plaintext authentication is not allowed on this connection")
	c.expect("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHMzY3JldCBwYXNz", "-ERR [AUTH] plaintext authentication is not allowed on this connection")
	c.expect("STLS now", "-ERR STLS takes no argument")
	c.expect("STLS", "+OK begin TLS negotiation")
	tc := c.tlsHandshake(cliTLS)
	tc.expect("CAPA", capaAuthTLS)
	tc.expect("STLS", "-ERR command not permitted when TLS active")
	tc.login(alice)
	tc.expect("CAPA", capaTrans)
	tc.expect("STLS", "-ERR command not valid in TRANSACTION state")
	if r := tc.cmd("RETR 1"); !strings.Contains(r, "over TLS") {
		t.Fatalf("RETR: %q", r)
	}
	tc.expect("QUIT", "+OK pop.example.org POP3 server signing off (1 messages left)")
	tc.closed(5 * time.Second)
}

// Without a TLSConfig there is no STLS.
func TestSTLSUnavailable(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	c.expect("CAPA", capaAuth)
	c.expect("STLS", "-ERR unknown command")
	c.login(alice)
}

// A trusted client sees STLS beside USER and SASL.
func TestSTLSTrusted(t *testing.T) {
	f := newFixture(t)
	srvTLS, _ := servertest.TLS(t)
	ts := startServer(t, f, Options{TLSConfig: srvTLS})
	c := dial(t, ts.addr)
	c.expect("CAPA", strings.Replace(capaAuth, "PLAIN LOGIN\n", "PLAIN LOGIN\nSTLS\n", 1))
}

// TestSTLSInjection: commands pipelined behind STLS in the clear are
// dropped, not run under TLS (RFC 3207 §4.2, CVE-2011-0411).
func TestSTLSInjection(t *testing.T) {
	f := newFixture(t)
	srvTLS, cliTLS := servertest.TLS(t)
	ts := startServer(t, f, Options{TLSConfig: srvTLS})
	c := dial(t, ts.addr)
	if _, err := io.WriteString(c.nc, "STLS\r\nUSER "+alice+"\r\nPASS "+password+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if l := c.line(); l != "+OK begin TLS negotiation" {
		t.Fatalf("STLS: %q", l)
	}
	tc := c.tlsHandshake(cliTLS)
	// Not logged in, and USER was forgotten.
	tc.expect("STAT", "-ERR command not valid in AUTHORIZATION state")
	tc.expect("PASS "+password, "-ERR send USER first")
	tc.login(alice)
	if !strings.Contains(ts.logs.String(), "discarding octets pipelined after STARTTLS") {
		t.Errorf("no discard logged:\n%s", ts.logs)
	}
}

// A client that answers +OK with plain text fails the handshake and is
// closed; the server goes on.
func TestSTLSBadHandshake(t *testing.T) {
	f := newFixture(t)
	srvTLS, _ := servertest.TLS(t)
	ts := startServer(t, f, Options{TLSConfig: srvTLS})
	c := dial(t, ts.addr)
	c.expect("STLS", "+OK begin TLS negotiation")
	c.send("CAPA")
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c.br); err != nil {
		t.Fatal(err)
	}
	dial(t, ts.addr).login(alice)
}

// TestPOP3S: on an implicit TLS listener (RFC 8314) USER and SASL are
// offered even outside the trusted networks, and STLS is not.
func TestPOP3S(t *testing.T) {
	f := newFixture(t)
	f.deliver(t, f.alice, "INBOX", "Subject: one\r\n\r\nimplicit\r\n")
	srvTLS, cliTLS := servertest.TLS(t)
	ts := startServer(t, f, Options{TLSConfig: srvTLS, AllowPlaintext: noPlaintext})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { ts.srv.Serve(tls.NewListener(l, srvTLS)); close(done) }()
	t.Cleanup(func() { l.Close(); <-done })

	tc, err := tls.Dial("tcp", l.Addr().String(), cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &client{t: t, nc: tc, br: bufio.NewReader(tc)}
	if g := c.line(); g != "+OK pop.example.org POP3 server ready" {
		t.Fatalf("greeting %q", g)
	}
	c.expect("CAPA", capaAuthTLS)
	c.expect("STLS", "-ERR command not permitted when TLS active")
	c.login(alice)
	if r := c.cmd("RETR 1"); !strings.Contains(r, "implicit") {
		t.Fatalf("RETR: %q", r)
	}
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (1 messages left)")
	c.closed(5 * time.Second)

	// Plain text on the TLS port: no greeting, closed.
	raw := dialRaw(t, l.Addr().String())
	raw.send("USER " + alice)
	if b, _ := io.ReadAll(raw.br); strings.Contains(string(b), "+OK") {
		t.Fatalf("plain text on the TLS port answered %q", b)
	}
}
