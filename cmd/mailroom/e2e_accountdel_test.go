package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestDeletedAccountEndsSessions: `mailroom user del`, run as another
// process while bob is logged in over IMAP (selected and idle), POP3 and
// ManageSieve, ends every one of those sessions; bob created again with the
// same address and password sees none of the old account's mail, and the
// old sessions can reach nothing.
func TestDeletedAccountEndsSessions(t *testing.T) {
	in := newInstance(t, "", "")
	in.start()
	deliver := func(rcpt, subj string) { lmtpDeliver(t, in.lmtp, rcpt, subj) }
	deliver("bob@example.test", "bob's old secret")

	selected := dialIMAP(t, in.imap, "bob@example.test", "secret-bob")
	selected.do("SELECT INBOX")
	idle := dialIMAP(t, in.imap, "bob@example.test", "secret-bob")
	idle.do("SELECT INBOX")
	fmt.Fprintf(idle.c, "i1 IDLE\r\n")
	if l := idle.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %s", l)
	}
	pop := dialRaw(t, in.pop3)
	pop.expect("+OK")
	pop.cmd("USER bob@example.test", "+OK")
	pop.cmd("PASS secret-bob", "+OK")
	sieve := dialRaw(t, in.sieve)
	for !strings.HasPrefix(sieve.reply(), "OK") {
	}
	// AUTHENTICATE PLAIN with an initial response (RFC 5804 §2.1).
	sieve.send(`AUTHENTICATE "PLAIN" "` + plainIR("bob@example.test", "secret-bob") + `"`)
	if r := sieve.reply(); !strings.HasPrefix(r, "OK") {
		t.Fatalf("managesieve login: %s", r)
	}

	in.ok("user", "del", "bob@example.test")

	// Each session is told, promptly, and closed.
	waitLine := func(name string, read func() string, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			l := read()
			if strings.HasPrefix(l, want) {
				return
			}
		}
		t.Fatalf("%s never got %q", name, want)
	}
	waitLine("IDLE session", idle.line, "* BYE")
	waitLine("ManageSieve session", sieve.reply, "BYE")
	waitLine("POP3 session", pop.reply, "-ERR [SYS/PERM]")
	// The selected session is told at its next command at the latest.
	fmt.Fprintf(selected.c, "s1 FETCH 1 BODY.PEEK[]\r\n")
	got := []string{}
	for {
		selected.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := selected.r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, strings.TrimRight(l, "\r\n"))
	}
	if len(got) == 0 || !strings.HasPrefix(got[0], "* BYE") || strings.Contains(strings.Join(got, "\n"), "secret") {
		t.Fatalf("selected session after deletion: %q", got)
	}

	// bob again: a new account, empty, with no trace of the old one.
	in.okStdin("secret-bob\n", "user", "add", "bob@example.test", "--password-stdin")
	deliver("bob@example.test", "new bob's first")
	fresh := dialIMAP(t, in.imap, "bob@example.test", "secret-bob")
	fresh.do("SELECT INBOX")
	lines := fresh.do("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	all := strings.Join(lines, "\n")
	if strings.Contains(all, "old secret") || !strings.Contains(all, "new bob's first") {
		t.Fatalf("new bob sees:\n%s", all)
	}
}

// dialRaw connects without reading a greeting (POP3, ManageSieve).
func dialRaw(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// lmtpDeliver delivers one message ("body of " + subj) to rcpt over LMTP
// and requires the 250.
func lmtpDeliver(t *testing.T, addr, rcpt, subj string) {
	t.Helper()
	c := dial(t, addr)
	c.cmd("LHLO client.example.org", "250")
	c.cmd("MAIL FROM:<sender@example.org>", "250")
	c.cmd("RCPT TO:<"+rcpt+">", "250")
	c.cmd("DATA", "354")
	c.send(strings.TrimSuffix(dotStuff(message(subj, "body of "+subj)), "\r\n"))
	c.expect("250")
}
