package pop3server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Tests with POP3 clients written elsewhere: fetchmail and getmail6 (Debian
// packages fetchmail and getmail6). Without a client the test is skipped,
// except on CI (CI=true), where it fails.

func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (apt-get install %s): %v", name, pkg, err)
		}
		t.Skipf("%s not installed (apt-get install %s): %v", name, pkg, err)
	}
	return p
}

// runTool runs a client with a private HOME and returns its output.
func runTool(t *testing.T, home string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "FETCHMAILHOME="+home, "FETCHMAILUSER=root", "LC_ALL=C")
	cmd.Dir = home
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// clientMessages are messages that end with CRLF (a client can give back
// exactly what was stored), with the lines that dot-stuffing is about.
var clientMessages = []string{
	"From: a@example.net\r\nTo: alice@example.org\r\nSubject: first\r\nMessage-ID: <1@example.net>\r\n\r\nHello.\r\n.\r\n..\r\n.leading dot\r\nend\r\n",
	"From: b@example.net\r\nTo: alice@example.org\r\nSubject: second\r\nMessage-ID: <2@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße \xe2\x80\x94 8 bit\r\n\r\n\r\n",
	"From: c@example.net\r\nTo: alice@example.org\r\nSubject: third\r\nMessage-ID: <3@example.net>\r\n\r\n" + strings.Repeat("a line of text, long enough to matter\r\n", 3000),
}

// readDir returns the contents of the files in dir, sorted.
func readDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

func sorted(l []string) []string {
	l = slices.Clone(l)
	sort.Strings(l)
	return l
}

func TestFetchmail(t *testing.T) {
	fetchmail := lookTool(t, "fetchmail", "fetchmail")
	f := newFixture(t)
	for _, m := range clientMessages {
		f.deliver(t, f.alice, "INBOX", m)
	}
	ts := startServer(t, f, Options{Lock: true, Expire: ExpireNever})
	host, port, _ := net.SplitHostPort(ts.addr)

	home := t.TempDir()
	out := filepath.Join(home, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	// The MDA writes each message to its own file, as received.
	mda := filepath.Join(home, "mda.sh")
	if err := os.WriteFile(mda, []byte("#!/bin/sh\nexec cat > \"$(mktemp "+out+"/msg.XXXXXX)\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(home, "fetchmailrc")
	conf := fmt.Sprintf(`set no syslog
set no bouncemail
set invisible
poll %s with proto POP3 port %s auth password
  user "%s" there with password "%s" is "root" here
  options sslproto '' fetchall no keep no rewrite no stripcr no forcecr no mimedecode
  mda "%s"
`, host, port, alice, password, mda)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log, code := runTool(t, home, fetchmail, "-f", rc, "--nodetach", "--nosyslog", "-v")
	if code != 0 {
		t.Fatalf("fetchmail exit %d:\n%s", code, log)
	}
	got := readDir(t, out)
	if !slices.Equal(got, sorted(clientMessages)) {
		t.Errorf("fetchmail delivered %d messages that differ from the %d stored:\n%q\n\nlog:\n%s", len(got), len(clientMessages), got, log)
	}
	if msgs := f.messages(t, f.alice, "INBOX"); len(msgs) != 0 {
		t.Errorf("%d messages left on the server after fetchall no keep", len(msgs))
	}

	// A second run finds nothing (exit 1: no mail).
	log, code = runTool(t, home, fetchmail, "-f", rc, "--nodetach", "--nosyslog", "-v")
	if code != 1 {
		t.Errorf("second fetchmail run: exit %d, want 1 (no mail):\n%s", code, log)
	}
	if strings.Contains(ts.logs.String(), password) {
		t.Errorf("the log shows the password")
	}
}

func TestGetmail(t *testing.T) {
	getmail := lookTool(t, "getmail", "getmail6")
	f := newFixture(t)
	for _, m := range clientMessages[:2] {
		f.deliver(t, f.alice, "INBOX", m)
	}
	ts := startServer(t, f, Options{Lock: true, Expire: ExpireNever})
	host, port, _ := net.SplitHostPort(ts.addr)

	home := t.TempDir()
	out := filepath.Join(home, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	mda := filepath.Join(home, "mda.sh")
	if err := os.WriteFile(mda, []byte("#!/bin/sh\nexec cat > \"$(mktemp "+out+"/msg.XXXXXX)\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	// getmail refuses to run a command as root unless told to.
	root := ""
	if os.Geteuid() == 0 {
		root = "allow_root_commands = true\n"
	}
	conf := fmt.Sprintf(`[retriever]
type = SimplePOP3Retriever
server = %s
port = %s
username = %s
password = %s

[destination]
type = MDA_external
path = %s
%s
[options]
verbose = 2
delete = false
read_all = false
delivered_to = false
received = false
`, host, port, alice, password, mda, root)
	rc := filepath.Join(home, "getmailrc")
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() []string {
		t.Helper()
		log, code := runTool(t, home, getmail, "--getmaildir", home, "--rcfile", rc)
		if code != 0 {
			t.Fatalf("getmail exit %d:\n%s", code, log)
		}
		// getmail adds the envelope sender (unknown to POP3) on top.
		var got []string
		for _, m := range readDir(t, out) {
			got = append(got, strings.TrimPrefix(m, "Return-Path: <unknown>\n"))
		}
		return got
	}
	// getmail hands messages to the MDA with LF line ends.
	lf := func(l []string) []string {
		var out []string
		for _, m := range l {
			out = append(out, strings.ReplaceAll(m, "\r\n", "\n"))
		}
		sort.Strings(out)
		return out
	}

	if got := run(); !slices.Equal(got, lf(clientMessages[:2])) {
		t.Fatalf("first run got %q", got)
	}
	if got := run(); len(got) != 2 {
		t.Fatalf("second run: %d messages in the Maildir, want still 2", len(got))
	}
	f.deliver(t, f.alice, "INBOX", clientMessages[2])
	if got := run(); !slices.Equal(got, lf(clientMessages)) {
		t.Fatalf("third run: %d messages in the Maildir, want the 3 delivered", len(got))
	}
	if msgs := f.messages(t, f.alice, "INBOX"); len(msgs) != 3 {
		t.Errorf("%d messages on the server, want all 3 (delete = false)", len(msgs))
	}
}
