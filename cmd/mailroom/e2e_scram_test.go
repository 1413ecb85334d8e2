package main

import (
	"bufio"
	"encoding/base64"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailroom/internal/sasl/sasltest"
)

// scramConn is a bare line-based protocol connection.
type scramConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialScram(t *testing.T, addr string) *scramConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return &scramConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (l *scramConn) line() string {
	l.t.Helper()
	s, err := l.r.ReadString('\n')
	if err != nil {
		l.t.Fatalf("read: %v (%q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

func (l *scramConn) send(s string) {
	l.t.Helper()
	if _, err := l.c.Write([]byte(s + "\r\n")); err != nil {
		l.t.Fatal(err)
	}
}

func scramEnc(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func scramDec(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

// imapSCRAM logs in over IMAP with SCRAM-SHA-256 and returns the tagged
// response.
func imapSCRAM(t *testing.T, addr, user, pass string) string {
	c := dialScram(t, addr)
	if g := c.line(); !strings.Contains(g, "AUTH=SCRAM-SHA-256") {
		t.Fatalf("imap greeting %q", g)
	}
	sc := &sasltest.SCRAMClient{User: user, Password: pass}
	c.send("a AUTHENTICATE SCRAM-SHA-256 " + scramEnc(sc.First()))
	l := c.line()
	if !strings.HasPrefix(l, "+ ") {
		return l
	}
	final, err := sc.Final(scramDec(t, l[2:]))
	if err != nil {
		t.Fatal(err)
	}
	c.send(scramEnc(final))
	if l = c.line(); !strings.HasPrefix(l, "+ ") {
		return l
	}
	if err := sc.Verify(scramDec(t, l[2:])); err != nil {
		t.Fatal(err)
	}
	c.send("")
	return c.line()
}

// TestSCRAMEndToEnd: accounts made with `mailroom user add` log in with
// SCRAM-SHA-256 over IMAP, POP3 and ManageSieve; `user passwd` replaces
// the keys.
func TestSCRAMEndToEnd(t *testing.T) {
	in := newInstance(t, "", "")
	in.start()
	defer in.stop()

	if got := imapSCRAM(t, in.imap, "alice@example.test", "secret-alice"); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("imap SCRAM: %q", got)
	}
	if got := imapSCRAM(t, in.imap, "alice@example.test", "wrong"); !strings.HasPrefix(got, "a NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("imap SCRAM wrong password: %q", got)
	}
	if got := imapSCRAM(t, in.imap, "nobody@example.test", "secret-alice"); !strings.HasPrefix(got, "a NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("imap SCRAM unknown user: %q", got)
	}

	// POP3 (RFC 5034).
	p := dialScram(t, in.pop3)
	p.line()
	sc := &sasltest.SCRAMClient{User: "bob@example.test", Password: "secret-bob"}
	p.send("AUTH SCRAM-SHA-256 " + scramEnc(sc.First()))
	l := p.line()
	if !strings.HasPrefix(l, "+ ") {
		t.Fatalf("pop3: %q", l)
	}
	final, err := sc.Final(scramDec(t, l[2:]))
	if err != nil {
		t.Fatal(err)
	}
	p.send(scramEnc(final))
	if l = p.line(); !strings.HasPrefix(l, "+ ") || sc.Verify(scramDec(t, l[2:])) != nil {
		t.Fatalf("pop3 server-final: %q", l)
	}
	p.send("")
	if l = p.line(); !strings.HasPrefix(l, "+OK maildrop has") {
		t.Fatalf("pop3 login: %q", l)
	}

	// ManageSieve (RFC 5804 §2.1): the server-final-message comes with OK.
	m := dialScram(t, in.sieve)
	for l := m.line(); !strings.HasPrefix(l, "OK"); l = m.line() {
		if strings.HasPrefix(l, `"SASL"`) && !strings.Contains(l, "SCRAM-SHA-256") {
			t.Fatalf("managesieve %q", l)
		}
	}
	sc = &sasltest.SCRAMClient{User: "carol@example.test", Password: "secret-carol"}
	m.send(`AUTHENTICATE "SCRAM-SHA-256" "` + scramEnc(sc.First()) + `"`)
	l = m.line()
	final, err = sc.Final(scramDec(t, strings.Trim(l, `"`)))
	if err != nil {
		t.Fatalf("managesieve server-first %q: %v", l, err)
	}
	m.send(`"` + scramEnc(final) + `"`)
	l = m.line()
	v := regexp.MustCompile(`^OK \(SASL "([^"]+)"\)`).FindStringSubmatch(l)
	if v == nil || sc.Verify(scramDec(t, v[1])) != nil {
		t.Fatalf("managesieve login: %q", l)
	}
	m.send("LISTSCRIPTS")
	if l = m.line(); l != "OK" {
		t.Fatalf("LISTSCRIPTS: %q", l)
	}

	// A new password replaces the keys at once.
	in.okStdin("n3w-alice\n", "user", "passwd", "alice@example.test", "--password-stdin")
	if got := imapSCRAM(t, in.imap, "alice@example.test", "secret-alice"); !strings.HasPrefix(got, "a NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("imap SCRAM old password: %q", got)
	}
	if got := imapSCRAM(t, in.imap, "alice@example.test", "n3w-alice"); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("imap SCRAM new password: %q", got)
	}
}
