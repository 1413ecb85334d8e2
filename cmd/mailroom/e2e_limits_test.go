package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func dialFromLine(t *testing.T, addr, from string) (net.Conn, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v (read %q)", addr, err, l)
	}
	return c, strings.TrimRight(l, "\r\n")
}

// TestConnectionLimits: [limits] max_connections_per_ip holds over every
// listener together, and each protocol says it is busy in its own words.
func TestConnectionLimits(t *testing.T) {
	in := newInstance(t, "", "\n[limits]\nmax_connections_per_ip = 3\n")
	in.start()
	defer in.stop()
	for range 3 {
		if _, g := dialFromLine(t, in.imap, "127.0.0.2"); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("imap greeting %q", g)
		}
	}
	tests := []struct{ name, addr, want string }{
		{"imap", in.imap, "* BYE too many connections"},
		{"pop3", in.pop3, "-ERR [SYS/TEMP] too many connections"},
		{"smtp", in.smtp, "421 4.7.0 too many connections"},
		{"lmtp", in.lmtp, "421 4.7.0 too many connections"},
		{"managesieve", in.sieve, `BYE "too many connections"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, l := dialFromLine(t, tt.addr, "127.0.0.2")
			if l != tt.want {
				t.Fatalf("over the limit: %q, want %q", l, tt.want)
			}
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("refused connection left open")
			}
		})
	}
	// Another address is served.
	if _, g := dialFromLine(t, in.imap, "127.0.0.3"); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("other address: %q", g)
	}
}

// TestLoginLockoutEndToEnd: after [limits] lockout_failures wrong
// passwords from one address, even the right password fails from there,
// with the answer of a wrong one, while the owner logs in from another.
func TestLoginLockoutEndToEnd(t *testing.T) {
	in := newInstance(t, "", "\n[limits]\nlockout_failures = 2\nlogin_delay = \"10ms\"\nlogin_max_delay = \"20ms\"\nlogin_free_failures = 1\n")
	in.start()
	defer in.stop()
	c, g := dialFromLine(t, in.imap, "127.0.0.2")
	if !strings.HasPrefix(g, "* OK") {
		t.Fatal(g)
	}
	r := bufio.NewReader(c)
	login := func(tag, pass string) string {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte(tag + " LOGIN alice@example.test " + pass + "\r\n")); err != nil {
			t.Fatal(err)
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(l, tag+" ") {
				return strings.TrimRight(strings.TrimPrefix(l, tag+" "), "\r\n")
			}
		}
	}
	const failed = "NO [AUTHENTICATIONFAILED] invalid credentials"
	for i, tag := range []string{"a", "b"} {
		if got := login(tag, "wrong"); got != failed {
			t.Fatalf("attempt %d: %q", i, got)
		}
	}
	if got := login("c", "secret-alice"); got != failed {
		t.Fatalf("right password while locked out: %q", got)
	}
	dialIMAP(t, in.imap, "alice@example.test", "secret-alice") // from 127.0.0.1
}
