package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSieveFiltersOverManageSieve: a script uploaded with sieve-connect
// (a client no one here wrote) files a mailing-list message delivered over
// LMTP into "Lists", where IMAP sees it.
func TestSieveFiltersOverManageSieve(t *testing.T) {
	sc, err := exec.LookPath("sieve-connect")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sieve-connect is not installed")
		}
		t.Skip("sieve-connect is not installed")
	}
	in := newInstance(t, "", "")
	in.start()
	script := filepath.Join(in.dir, "lists.sieve")
	os.WriteFile(script, []byte(`require ["fileinto", "mailbox"];
if exists "List-Id" {
  fileinto :create "Lists";
}
`), 0o644)
	host, port, _ := net.SplitHostPort(in.sieve)
	try := func(args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		all := append([]string{"--nosrv", "--server", host, "--port", port, "--user", "alice@example.test",
			"--passwordfd", "0", "--authmech", "PLAIN", "--notlsverify"}, args...)
		cmd := exec.CommandContext(ctx, sc, all...)
		cmd.Stdin = strings.NewReader("secret-alice\n")
		cmd.Env = append(os.Environ(), "HOME="+in.dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := try(args...)
		if err != nil {
			t.Fatalf("sieve-connect %v: %v\n%s", args, err, out)
		}
		return out
	}
	// This server has no [relay]: a script that redirects is refused at
	// upload, since the mail could never be sent on.
	fwd := filepath.Join(in.dir, "fwd.sieve")
	os.WriteFile(fwd, []byte("redirect \"bob@elsewhere.example\";\n"), 0o644)
	if out, err := try("--localsieve", fwd, "--remotesieve", "fwd", "--upload"); err == nil || !strings.Contains(out, "relay") {
		t.Fatalf("redirect script uploaded without a relay: %v\n%s", err, out)
	}
	run("--localsieve", script, "--remotesieve", "lists", "--upload")
	run("--remotesieve", "lists", "--activate")

	c := dial(t, in.lmtp)
	c.cmd("LHLO client.example.org", "250")
	c.cmd("MAIL FROM:<list-bounces@lists.example.org>", "250")
	c.cmd("RCPT TO:<alice@example.test>", "250")
	c.cmd("DATA", "354")
	msg := "From: someone@example.org\r\nTo: golang-nuts@lists.example.org\r\nList-Id: <golang-nuts.lists.example.org>\r\nSubject: [list] release\r\n\r\nnew release\r\n"
	c.send(strings.TrimSuffix(dotStuff(msg), "\r\n"))
	c.expect("250")

	ic := dialIMAP(t, in.imap, "alice@example.test", "secret-alice")
	u := ic.do("STATUS Lists (MESSAGES)")
	if len(u) != 1 || u[0] != "* STATUS Lists (MESSAGES 1)" {
		t.Fatalf("Lists: %q", u)
	}
	if u := ic.do("STATUS INBOX (MESSAGES)"); u[0] != "* STATUS INBOX (MESSAGES 0)" {
		t.Fatalf("INBOX: %q", u)
	}
}
