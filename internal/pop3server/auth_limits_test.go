package pop3server

import (
	"encoding/base64"
	"testing"
	"time"

	"mailroom/internal/limits"
)

func TestPreAuthCommandLimit(t *testing.T) {
	ts := startServer(t, newFixture(t), Options{MaxPreAuthCommands: 3})
	c := dial(t, ts.addr)
	for range 3 {
		c.send("CAPA")
		c.response(true)
	}
	c.send("CAPA")
	if l := c.line(); l != "-ERR too many commands before login, closing connection" {
		t.Fatalf("4th command: %q", l)
	}
	if _, err := c.br.ReadByte(); err == nil {
		t.Fatal("connection still open")
	}
}

// TestLockoutLooksLikeWrongPassword: a locked-out account answers like a
// wrong password, even to the right one.
func TestLockoutLooksLikeWrongPassword(t *testing.T) {
	logins := limits.NewLogins(limits.LoginOptions{FreeFailures: 100, Delay: time.Second, LockoutFailures: 2, Lockout: time.Minute})
	ts := startServer(t, newFixture(t), Options{Logins: logins})
	c := dial(t, ts.addr)
	for range 2 {
		c.send("USER " + alice)
		c.line()
		c.send("PASS wrong")
		if l := c.line(); l != "-ERR [AUTH] authentication failed" {
			t.Fatalf("wrong password: %q", l)
		}
	}
	c = dial(t, ts.addr) // a new connection from the same address
	c.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+alice+"\x00"+password)))
	if l := c.line(); l != "-ERR [AUTH] authentication failed" {
		t.Fatalf("right password while locked out: %q", l)
	}
}
