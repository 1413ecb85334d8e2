package main

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// imapConn is a minimal IMAP client for end-to-end checks against the
// binary (the protocol tests live in internal/imapserver).
type imapConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
	n int
}

func dialIMAP(t *testing.T, addr, user, pass string) *imapConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ic := &imapConn{t: t, c: c, r: bufio.NewReader(c)}
	ic.line()
	ic.do(fmt.Sprintf("LOGIN %q %q", user, pass))
	return ic
}

func (ic *imapConn) line() string {
	ic.t.Helper()
	ic.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	l, err := ic.r.ReadString('\n')
	if err != nil {
		ic.t.Fatalf("imap read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// do runs a command that must succeed and returns its untagged lines.
func (ic *imapConn) do(cmd string) []string {
	ic.t.Helper()
	ic.n++
	tag := fmt.Sprintf("e%d", ic.n)
	fmt.Fprintf(ic.c, "%s %s\r\n", tag, cmd)
	var out []string
	for {
		l := ic.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				ic.t.Fatalf("%s: %s", cmd, l)
			}
			return out
		}
		out = append(out, l)
	}
}

// TestIMAPSeesDeliveries: mail taken over LMTP by the running binary is
// served over IMAP, announced live to an IDLE session, and readable with
// curl, a client no one here wrote.
func TestIMAPSeesDeliveries(t *testing.T) {
	in := newInstance(t, "", "")
	in.start()
	idle := dialIMAP(t, in.imap, "alice@example.test", "secret-alice")
	idle.do("SELECT INBOX")
	fmt.Fprintf(idle.c, "i IDLE\r\n")
	if l := idle.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}

	c := dial(t, in.lmtp)
	c.cmd("LHLO client.example.org", "250")
	c.cmd("MAIL FROM:<sender@example.org>", "250")
	c.cmd("RCPT TO:<alice@example.test>", "250")
	c.cmd("DATA", "354")
	c.send(strings.TrimSuffix(dotStuff(message("over imap", "hello from lmtp")), "\r\n"))
	c.expect("250")

	if l := idle.line(); l != "* 1 EXISTS" {
		t.Fatalf("IDLE update: %q", l)
	}
	fmt.Fprintf(idle.c, "DONE\r\n")

	curl := needTool(t, "curl")
	out, err := exec.Command(curl, "-sS", "--url", "imap://"+in.imap+"/INBOX;UID=1",
		"--user", "alice@example.test:secret-alice").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello from lmtp") || !strings.Contains(string(out), "Subject: over imap") {
		t.Fatalf("curl: %v\n%s", err, out)
	}
}

// TestPOP3BesideIMAP: the same mailbox over POP3 (curl) and IMAP.
func TestPOP3BesideIMAP(t *testing.T) {
	curl := needTool(t, "curl")
	in := newInstance(t, "", "")
	in.start()
	for _, subj := range []string{"first", "second"} {
		lmtpDeliver(t, in.lmtp, "bob@example.test", subj)
	}
	out, err := exec.Command(curl, "-sS", "--url", "pop3://"+in.pop3+"/2", "--user", "bob@example.test:secret-bob").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "body of second") {
		t.Fatalf("curl pop3: %v\n%s", err, out)
	}
	out, err = exec.Command(curl, "-sS", "--url", "pop3://"+in.pop3+"/", "--user", "bob@example.test:secret-bob").CombinedOutput()
	if err != nil || len(strings.Fields(string(out))) != 4 {
		t.Fatalf("curl pop3 LIST: %v\n%s", err, out)
	}
	ic := dialIMAP(t, in.imap, "bob@example.test", "secret-bob")
	if u := ic.do("STATUS INBOX (MESSAGES)"); u[0] != "* STATUS INBOX (MESSAGES 2)" {
		t.Fatalf("%q", u)
	}
}
