package imapserver

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestLoginAndCapability(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial()
	u, tagged := c.do("CAPABILITY")
	if len(u) != 1 || !strings.Contains(u[0], "IMAP4rev2") || !strings.Contains(u[0], "AUTH=PLAIN") || !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("%q %q", u, tagged)
	}
	c.expect("SELECT INBOX", "BAD")
	c.expect("LOGIN alice@example.test wrong", "NO [AUTHENTICATIONFAILED]")
	c.expect("LOGIN nobody@example.test wrong", "NO [AUTHENTICATIONFAILED]")
	c.expect(`LOGIN "alice@example.test" "secret pass"`, "OK [CAPABILITY IMAP4rev1 IMAP4rev2")
	c.expect("LOGIN alice@example.test x", "BAD")
	c.expect("NAMESPACE", "OK", `* NAMESPACE (("" "/")) NIL NIL`)
	c.expect(`ID ("name" "test" "version" NIL)`, "OK", `* ID ("name" "mailroom")`)
	c.expect("ID NIL", "OK", `* ID ("name" "mailroom")`)
	c.expect("ENABLE CONDSTORE foo", "OK", "* ENABLED CONDSTORE")
	c.expect("ENABLE CONDSTORE", "OK", "* ENABLED")
	c.expect("FOO", "BAD")
	c.expect("LOGOUT", "OK", "* BYE logging out")
}

func TestAuthenticatePlain(t *testing.T) {
	e := newTestEnv(t)
	ir := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00" + testPassword))
	c := e.dial()
	c.expect("AUTHENTICATE PLAIN "+ir, "OK")

	c = e.dial()
	c.send("a AUTHENTICATE PLAIN")
	if l := c.line(); l != "+ " {
		t.Fatalf("continuation %q", l)
	}
	c.send(ir)
	if l := c.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatal(l)
	}

	c = e.dial()
	c.send("a AUTHENTICATE PLAIN")
	c.line()
	c.send("*")
	if l := c.line(); !strings.HasPrefix(l, "a BAD") {
		t.Fatal(l)
	}
	bad := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00nope"))
	c.expect("AUTHENTICATE PLAIN "+bad, "NO [AUTHENTICATIONFAILED]")
}

func TestBadInputKeepsServing(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial()
	c.send("a1 LOGIN {999999999}")
	if l := c.line(); !strings.HasPrefix(l, "a1 BAD") && !strings.HasPrefix(l, "a1 NO") {
		t.Fatal(l)
	}
	c.send("a2 LOGIN " + strings.Repeat("x", 70000))
	if l := c.line(); !strings.HasPrefix(l, "a2 BAD") {
		t.Fatal(l)
	}
	c.expect("NOOP", "OK")
	c.send("a3 NOOP {5+}")
	c.send("hello")
	if l := c.line(); !strings.HasPrefix(l, "a3 BAD") {
		t.Fatal(l)
	}
	c.expect("NOOP", "OK")
	c2 := e.login()
	c2.expect("NOOP", "OK")
}
