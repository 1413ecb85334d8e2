package imapserver

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/internal/server/servertest"
)

func noPlaintext(net.Addr) bool { return false }

// capsOf returns the capability list of a "* CAPABILITY …" line as a set.
func capsOf(t testing.TB, untagged []string) map[string]bool {
	t.Helper()
	for _, l := range untagged {
		if rest, ok := strings.CutPrefix(l, "* CAPABILITY "); ok {
			m := map[string]bool{}
			for _, c := range strings.Fields(rest) {
				m[c] = true
			}
			return m
		}
	}
	t.Fatalf("no CAPABILITY in %q", untagged)
	return nil
}

// startTLS runs STARTTLS on a raw client and continues it over TLS.
func (c *client) startTLS(cfg *tls.Config) *client {
	c.t.Helper()
	c.expect("STARTTLS", "OK")
	if c.r.Buffered() > 0 {
		c.t.Fatalf("server sent data after the STARTTLS OK")
	}
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	return &client{t: c.t, conn: tc, r: bufio.NewReader(tc), n: c.n}
}

// Capabilities and login commands before and after STARTTLS, from a client
// outside the trusted networks.
func TestStartTLSCapabilities(t *testing.T) {
	srvTLS, cliTLS := servertest.TLS(t)
	e := newTestEnv(t, func(o *Options) {
		o.TLSConfig = srvTLS
		o.AllowPlaintext = noPlaintext
	})
	c := e.dial()
	caps := capsOf(t, c.ok("CAPABILITY"))
	if !caps["STARTTLS"] || !caps["LOGINDISABLED"] || caps["AUTH=PLAIN"] {
		t.Fatalf("capabilities before TLS: %v", caps)
	}
	// RFC 9051 §6.2.3: LOGIN and AUTHENTICATE PLAIN are refused in the clear.
	c.expect("LOGIN alice@example.test "+quote(testPassword), "NO [PRIVACYREQUIRED]")
	c.expect("AUTHENTICATE PLAIN "+plainIR("alice@example.test", testPassword), "NO [PRIVACYREQUIRED]")
	c.expect("STARTTLS extra", "BAD")

	tc := c.startTLS(cliTLS)
	caps = capsOf(t, tc.ok("CAPABILITY"))
	if caps["STARTTLS"] || caps["LOGINDISABLED"] || !caps["AUTH=PLAIN"] {
		t.Fatalf("capabilities under TLS: %v", caps)
	}
	tc.expect("STARTTLS", "BAD")
	tc.expect("AUTHENTICATE PLAIN "+plainIR("alice@example.test", testPassword), "OK")
	tc.ok("SELECT INBOX")
	// Only before login (RFC 9051 §6.2.1).
	tc.expect("STARTTLS", "BAD")
	tc.expect("LOGOUT", "OK", "* BYE logging out")
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// A trusted client may log in in the clear; STARTTLS is still offered.
func TestStartTLSTrustedNetwork(t *testing.T) {
	srvTLS, _ := servertest.TLS(t)
	e := newTestEnv(t, func(o *Options) {
		o.TLSConfig = srvTLS
		o.AllowPlaintext = func(a net.Addr) bool { return a.(*net.TCPAddr).IP.IsLoopback() }
	})
	c := e.dial()
	caps := capsOf(t, c.ok("CAPABILITY"))
	if !caps["STARTTLS"] || caps["LOGINDISABLED"] || !caps["AUTH=PLAIN"] {
		t.Fatalf("capabilities: %v", caps)
	}
	c.ok("LOGIN alice@example.test " + quote(testPassword))
	c.expect("STARTTLS", "BAD")
}

// Without a TLSConfig there is no STARTTLS, and an untrusted client cannot
// log in at all.
func TestLoginDisabledWithoutTLS(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.AllowPlaintext = noPlaintext })
	c := e.dial()
	caps := capsOf(t, c.ok("CAPABILITY"))
	if caps["STARTTLS"] || !caps["LOGINDISABLED"] || caps["AUTH=PLAIN"] {
		t.Fatalf("capabilities: %v", caps)
	}
	c.expect("STARTTLS", "BAD")
	c.expect("LOGIN alice@example.test "+quote(testPassword), "NO [PRIVACYREQUIRED]")
	c.expect("AUTHENTICATE PLAIN "+plainIR("alice@example.test", testPassword), "NO [PRIVACYREQUIRED]")
	c.expect("SELECT INBOX", "BAD")
}

// TestStartTLSInjection: commands pipelined behind STARTTLS in the clear
// are dropped, not run after the handshake (RFC 3207 §4.2,
// CVE-2011-0411).
func TestStartTLSInjection(t *testing.T) {
	srvTLS, cliTLS := servertest.TLS(t)
	e := newTestEnv(t, func(o *Options) { o.TLSConfig = srvTLS })
	c := e.dial()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, "a STARTTLS\r\nb LOGIN alice@example.test "+quote(testPassword)+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if l := c.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(c.conn, cliTLS)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s := &client{t: t, conn: tc, r: bufio.NewReader(tc)}
	// Still not logged in: b never ran, and nothing answers to it.
	u, tagged := s.do("SELECT INBOX")
	if !strings.HasPrefix(tagged, "BAD") || len(u) != 0 {
		t.Fatalf("SELECT after injected LOGIN: %q %q", u, tagged)
	}
	s.ok("LOGIN alice@example.test " + quote(testPassword))
}

// A client that sends STARTTLS and then no handshake, or garbage, is
// dropped without harm to the server.
func TestStartTLSBadHandshake(t *testing.T) {
	srvTLS, _ := servertest.TLS(t)
	e := newTestEnv(t, func(o *Options) { o.TLSConfig = srvTLS })
	c := e.dial()
	c.expect("STARTTLS", "OK")
	c.send("c CAPABILITY")
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The server answers the plain-text "handshake" with a TLS alert at
	// most, then closes.
	if _, err := io.ReadAll(c.conn); err != nil {
		t.Fatal(err)
	}
	e.dial().ok("NOOP")
}

// listenTLS serves e.srv on an implicit TLS listener too (imaps).
func (e *testEnv) listenTLS(cfg *tls.Config) string {
	e.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { e.srv.Serve(tls.NewListener(l, cfg)); close(done) }()
	e.t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

// TestImplicitTLS: on an implicit TLS listener (RFC 8314) the session is
// under TLS from the greeting on: no STARTTLS, AUTH=PLAIN even for a
// client outside the trusted networks.
func TestImplicitTLS(t *testing.T) {
	srvTLS, cliTLS := servertest.TLS(t)
	e := newTestEnv(t, func(o *Options) {
		o.TLSConfig = srvTLS
		o.AllowPlaintext = noPlaintext
	})
	addr := e.listenTLS(srvTLS)

	gc, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: cliTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	if err := gc.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	caps := gc.Caps()
	if caps.Has(imap.CapStartTLS) || caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.AuthCap("PLAIN")) {
		t.Fatalf("capabilities: %v", caps)
	}
	if err := gc.Login("alice@example.test", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := gc.Logout().Wait(); err != nil {
		t.Fatal(err)
	}

	// A client speaking plain text to the TLS port gets no greeting and is
	// closed; the listener goes on serving.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(raw, "a LOGIN alice@example.test x\r\n")
	if b, _ := io.ReadAll(raw); strings.Contains(string(b), "OK") {
		t.Fatalf("plain text on the TLS port answered %q", b)
	}
	tc, err := tls.Dial("tcp", addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: tc, r: bufio.NewReader(tc)}
	t.Cleanup(func() { tc.Close() })
	if g := c.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") || strings.Contains(g, "STARTTLS") {
		t.Fatalf("greeting %q", g)
	}
	c.ok("LOGIN alice@example.test " + quote(testPassword))
}

// STARTTLS with go-imap v2's client, then a login and a fetch.
func TestStartTLSGoIMAP(t *testing.T) {
	srvTLS, cliTLS := servertest.TLS(t)
	e := newTestEnv(t, func(o *Options) {
		o.TLSConfig = srvTLS
		o.AllowPlaintext = noPlaintext
	})
	e.deliver("INBOX", "Subject: over TLS\n\nhello\n")

	// Without STARTTLS the client cannot log in.
	plain, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	err = plain.Login("alice@example.test", testPassword).Wait()
	var ierr *imap.Error
	if !errors.As(err, &ierr) || ierr.Code != imap.ResponseCodePrivacyRequired {
		t.Fatalf("plain LOGIN: %v", err)
	}

	gc, err := imapclient.DialStartTLS(e.addr, &imapclient.Options{TLSConfig: cliTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	caps, err := gc.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if caps.Has(imap.CapStartTLS) || !caps.Has(imap.AuthCap("PLAIN")) {
		t.Fatalf("capabilities after STARTTLS: %v", caps)
	}
	if err := gc.Login("alice@example.test", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := gc.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Envelope.Subject != "over TLS" {
		t.Fatalf("fetch: %+v", msgs)
	}
	if err := gc.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}
