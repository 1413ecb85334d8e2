package main

// End-to-end tests: the real mailroom binary, its config file, its admin
// commands, and mail over real loopback sockets.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailroom/internal/store/sqlite"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailroom-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mailroom")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building mailroom: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one mailroom configuration with its data directory.
type instance struct {
	t      *testing.T
	dir    string
	config string
	smtp   string
	lmtp   string
	imap   string
	sieve  string
	pop3   string
	srv    *exec.Cmd
	logs   *syncBuffer
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a loopback address for a server the test starts later.
// It is taken below the kernel's ephemeral range (32768 and up on Linux):
// a port from there, once closed, can be handed to any other process's
// connection or listener before the server binds it. Ports given out are
// not given out again in this process.
func freePort(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if portsGiven[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return addr
	}
	t.Fatal("no free port")
	return ""
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// newInstance writes a config (extra TOML is appended to sections by name)
// and creates domain example.test with alice, bob and carol.
func newInstance(t *testing.T, delivery, quota string) *instance {
	t.Helper()
	in := &instance{t: t, dir: t.TempDir(), smtp: freePort(t), lmtp: freePort(t), imap: freePort(t), sieve: freePort(t), pop3: freePort(t)}
	in.config = filepath.Join(in.dir, "mailroom.toml")
	cfg := fmt.Sprintf(`hostname = "mx.example.test"
data_dir = "data"
[listen]
smtp = %q
lmtp = %q
imap = %q
managesieve = %q
pop3 = %q
[delivery]
max_message_size = "1M"
%s
[quota]
%s
`, in.smtp, in.lmtp, in.imap, in.sieve, in.pop3, delivery, quota)
	if err := os.WriteFile(in.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	in.ok("domain", "add", "example.test")
	for _, u := range []string{"alice", "bob", "carol"} {
		in.okStdin("secret-"+u+"\n", "user", "add", u+"@example.test", "--password-stdin")
	}
	return in
}

func (in *instance) run(stdin string, args ...string) (string, string, int) {
	in.t.Helper()
	cmd := exec.Command(binary, append(args, "--config", in.config)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		in.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (in *instance) ok(args ...string) string { return in.okStdin("", args...) }

func (in *instance) okStdin(stdin string, args ...string) string {
	in.t.Helper()
	out, errs, code := in.run(stdin, args...)
	if code != 0 {
		in.t.Fatalf("mailroom %v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

// start runs `mailroom serve` and waits until both listeners answer.
func (in *instance) start() {
	in.t.Helper()
	in.logs = &syncBuffer{}
	in.srv = exec.Command(binary, "serve", "--config", in.config)
	in.srv.Stdout, in.srv.Stderr = in.logs, in.logs
	if err := in.srv.Start(); err != nil {
		in.t.Fatal(err)
	}
	srv := in.srv
	in.t.Cleanup(func() {
		if srv.ProcessState == nil {
			srv.Process.Kill()
			srv.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range []string{in.smtp, in.lmtp, in.imap, in.sieve, in.pop3} {
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				in.t.Fatalf("server did not start: %v\n%s", err, in.logs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// stop ends the server with SIGTERM (graceful) and waits.
func (in *instance) stop() {
	in.t.Helper()
	in.srv.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- in.srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			in.t.Fatalf("server exit: %v\n%s", err, in.logs)
		}
	case <-time.After(40 * time.Second):
		in.srv.Process.Kill()
		in.t.Fatalf("server did not stop\n%s", in.logs)
	}
}

// messages returns the bodies of an account's mailbox, read from the store
// directly (the server may run: SQLite shares the store between processes).
func (in *instance) messages(address, mailbox string) []string {
	in.t.Helper()
	st, err := sqlite.Open(filepath.Join(in.dir, "data"), sqlite.Options{})
	if err != nil {
		in.t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	a, err := st.Account(ctx, address)
	if err != nil {
		in.t.Fatal(err)
	}
	mb, err := st.Mailbox(ctx, a.ID, mailbox)
	if err != nil {
		in.t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, a.ID, mb.ID, 1)
	if err != nil {
		in.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		b, err := st.OpenBody(ctx, m.BlobID)
		if err != nil {
			in.t.Fatal(err)
		}
		data, _ := io.ReadAll(b)
		b.Close()
		if int64(len(data)) != m.Size {
			in.t.Fatalf("message size %d, body has %d bytes", m.Size, len(data))
		}
		out = append(out, string(data))
	}
	return out
}

// client is a minimal SMTP/LMTP client that shows every reply as is.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	cl := dialRaw(t, addr)
	cl.expect("220")
	return cl
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (c *client) reply() string {
	c.t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) expect(prefix string) string {
	c.t.Helper()
	got := c.reply()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("reply %q, want %q", got, prefix)
	}
	return got
}

func (c *client) cmd(line, prefix string) string {
	c.t.Helper()
	c.send(line)
	return c.expect(prefix)
}

func message(subject, body string) string {
	return "From: sender@example.org\r\nTo: someone@example.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n\r\n" + body + "\r\n"
}

func dotStuff(msg string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(msg, "\n") {
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	return b.String() + ".\r\n"
}

func TestSMTPDelivery(t *testing.T) {
	in := newInstance(t, "", "")
	in.start()
	c := dial(t, in.smtp)
	ehlo := c.cmd("EHLO client.example.org", "250")
	_ = ehlo
	c.cmd("MAIL FROM:<sender@example.org>", "250")
	c.cmd("RCPT TO:<nobody@example.test>", "550 5.1.1")
	c.cmd("RCPT TO:<victim@elsewhere.example>", "550 5.7.1")
	c.cmd("RCPT TO:<Alice@EXAMPLE.test>", "250")
	c.cmd("RCPT TO:<bob+news@example.test>", "250")
	c.cmd("DATA", "354")
	io.WriteString(c.c, dotStuff(message("hello smtp", ".leading dot line\r\nbye")))
	c.expect("250")
	c.cmd("QUIT", "221")

	for _, who := range []string{"alice@example.test", "bob@example.test"} {
		msgs := in.messages(who, "INBOX")
		if len(msgs) != 1 {
			t.Fatalf("%s has %d messages", who, len(msgs))
		}
		m := msgs[0]
		for _, want := range []string{"Return-Path: <sender@example.org>\r\n", "Received: from client.example.org", "with ESMTP", "Subject: hello smtp\r\n", "\r\n.leading dot line\r\nbye\r\n"} {
			if !strings.Contains(m, want) {
				t.Errorf("%s: stored message lacks %q:\n%s", who, want, m)
			}
		}
		if !strings.HasPrefix(m, "Return-Path: ") {
			t.Errorf("Return-Path is not first:\n%s", m)
		}
	}
	if m := in.messages("bob@example.test", "INBOX")[0]; !strings.Contains(m, "Delivered-To: bob+news@example.test\r\n") {
		t.Errorf("Delivered-To missing:\n%s", m)
	}
	in.stop()
	if out := in.ok("check"); !strings.Contains(out, "ok") {
		t.Fatalf("check: %s", out)
	}
}

func TestLMTPPerRecipientQuota(t *testing.T) {
	for _, tt := range []struct {
		full, code string
	}{
		{"temporary", "452 4.2.2"},
		{"permanent", "552 5.2.2"},
	} {
		t.Run(tt.full, func(t *testing.T) {
			in := newInstance(t, "", fmt.Sprintf("full = %q", tt.full))
			in.ok("quota", "set", "bob@example.test", "2K", "--messages", "1")
			in.start()
			c := dial(t, in.lmtp)
			c.cmd("LHLO mta.example.test", "250")
			c.cmd("MAIL FROM:<sender@example.org>", "250")
			c.cmd("RCPT TO:<alice@example.test>", "250")
			c.cmd("RCPT TO:<bob@example.test>", "250") // has room now; the message will not fit
			c.cmd("RCPT TO:<carol@example.test>", "250")
			c.cmd("DATA", "354")
			io.WriteString(c.c, dotStuff(message("big one", strings.Repeat("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", 40))))
			c.expect("250")
			c.expect(tt.code)
			c.expect("250")
			// Once full, RCPT itself is refused.
			c.cmd("MAIL FROM:<sender@example.org>", "250")
			c.cmd("RCPT TO:<bob@example.test>", "250")
			c.cmd("DATA", "354")
			io.WriteString(c.c, dotStuff(message("fits", "small")))
			c.expect("250")
			c.cmd("MAIL FROM:<sender@example.org>", "250")
			c.cmd("RCPT TO:<bob@example.test>", tt.code)
			c.cmd("QUIT", "221")
			if n := len(in.messages("alice@example.test", "INBOX")); n != 1 {
				t.Fatalf("alice has %d", n)
			}
			if n := len(in.messages("carol@example.test", "INBOX")); n != 1 {
				t.Fatalf("carol has %d", n)
			}
			bob := in.messages("bob@example.test", "INBOX")
			if len(bob) != 1 || !strings.Contains(bob[0], "Subject: fits") {
				t.Fatalf("bob has %q", bob)
			}
			show := in.ok("quota", "show", "bob@example.test")
			if !strings.Contains(show, "of 2K") {
				t.Fatalf("quota show: %s", show)
			}
			in.stop()
			in.ok("check")
		})
	}
}

func TestPlusAddressing(t *testing.T) {
	in := newInstance(t, "plus_folder = true", "")
	in.ok("user", "add", "dave@example.test") // random password
	in.start()
	c := dial(t, in.lmtp)
	c.cmd("LHLO mta", "250")
	send := func(rcpt, subject string) {
		c.cmd("MAIL FROM:<s@example.org>", "250")
		c.cmd("RCPT TO:<"+rcpt+">", "250")
		c.cmd("DATA", "354")
		io.WriteString(c.c, dotStuff(message(subject, "x")))
		c.expect("250")
	}
	send("alice+archive@example.test", "to archive")      // existing folder, other case
	send("alice+receipts@example.test", "no such folder") // INBOX: plus_folder_create is off
	send("alice@example.test", "plain")
	c.cmd("QUIT", "221")
	if got := in.messages("alice@example.test", "Archive"); len(got) != 1 || !strings.Contains(got[0], "to archive") {
		t.Fatalf("Archive: %q", got)
	}
	if got := in.messages("alice@example.test", "INBOX"); len(got) != 2 {
		t.Fatalf("INBOX has %d", len(got))
	}
	in.stop()

	in2 := newInstance(t, "plus_folder = true\nplus_folder_create = true", "")
	out, _, code := in2.run("Subject: r\n\nreceipt\n", "deliver", "--from", "shop@example.org", "alice+Receipts@example.test")
	if code != 0 {
		t.Fatalf("deliver: %d %s", code, out)
	}
	if got := in2.messages("alice@example.test", "Receipts"); len(got) != 1 {
		t.Fatalf("Receipts: %q", got)
	}
}

func TestDeliverCommand(t *testing.T) {
	in := newInstance(t, "", "")
	in.ok("alias", "add", "team@example.test", "alice@example.test", "bob@example.test")
	in.ok("quota", "set", "carol@example.test", "100")
	tests := []struct {
		name  string
		msg   string
		rcpts []string
		code  int
		from  string // default s@example.org
	}{
		{"delivered", "Subject: one\n\nbody\n", []string{"alice@example.test"}, 0, ""},
		{"alias fans out", "Subject: team\n\nbody\n", []string{"team@example.test"}, 0, ""},
		// RFC 5321 §4.5.1: to the domain's oldest account, here alice.
		{"postmaster", "Subject: pm\n\nbody\n", []string{"Postmaster@example.test"}, 0, ""},
		{"unknown user", "Subject: x\n\nx\n", []string{"nobody@example.test"}, 67, ""},
		{"not local", "Subject: x\n\nx\n", []string{"x@elsewhere.example"}, 67, ""},
		{"bad address", "Subject: x\n\nx\n", []string{"not an address"}, 67, ""},
		{"mailbox full", "Subject: x\n\n" + strings.Repeat("y", 200) + "\n", []string{"carol@example.test"}, 75, ""},
		{"empty message", "", []string{"alice@example.test"}, 65, ""},
		{"too big", "Subject: x\n\n" + strings.Repeat("z", 1100<<10), []string{"alice@example.test"}, 69, ""},
		// A CR or LF in the sender would start a header of its choosing.
		{"sender with CRLF", "Subject: x\n\nx\n", []string{"alice@example.test"}, 64, "s@example.org>\r\nX-Injected: yes"},
		{"sender with LF", "Subject: x\n\nx\n", []string{"alice@example.test"}, 64, "s@example.org\nX-Injected: yes"},
		{"sender too long", "Subject: x\n\nx\n", []string{"alice@example.test"}, 64, strings.Repeat("s", 250) + "@example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := tt.from
			if from == "" {
				from = "s@example.org"
			}
			_, errs, code := in.run(tt.msg, append([]string{"deliver", "--from", from}, tt.rcpts...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errs)
			}
			if code != 0 && strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Fatalf("error is not one line: %q", errs)
			}
		})
	}
	alice := in.messages("alice@example.test", "INBOX")
	if len(alice) != 3 || !strings.Contains(alice[2], "Subject: pm") {
		t.Fatalf("alice has %d messages", len(alice))
	}
	// deliver adds Return-Path and Delivered-To, no Received, and stores CRLF.
	if !strings.HasPrefix(alice[0], "Return-Path: <s@example.org>\r\nDelivered-To: alice@example.test\r\nSubject: one\r\n\r\nbody\r\n") {
		t.Fatalf("stored %q", alice[0])
	}
	if n := len(in.messages("bob@example.test", "INBOX")); n != 1 {
		t.Fatalf("bob got %d via the alias", n)
	}
	if n := len(in.messages("carol@example.test", "INBOX")); n != 0 {
		t.Fatalf("carol (full) got %d", n)
	}
	if out := in.ok("check"); !strings.Contains(out, "ok") {
		t.Fatal(out)
	}
}

func TestAdminCommands(t *testing.T) {
	in := newInstance(t, "", "")
	list := in.ok("user", "list")
	for _, u := range []string{"alice@example.test", "bob@example.test", "carol@example.test"} {
		if !strings.Contains(list, u) {
			t.Fatalf("user list lacks %s:\n%s", u, list)
		}
	}
	out := in.ok("user", "add", "erin@example.test", "--quota", "10M")
	if !strings.Contains(out, "password: ") {
		t.Fatalf("no generated password: %s", out)
	}
	if show := in.ok("quota", "show", "erin@example.test"); !strings.Contains(show, "0 used of 10M") {
		t.Fatalf("quota show: %s", show)
	}
	in.ok("quota", "set", "erin@example.test", "1G", "--messages", "500")
	if show := in.ok("quota", "show", "erin@example.test"); !strings.Contains(show, "of 1G") || !strings.Contains(show, "0 of 500") {
		t.Fatalf("quota show: %s", show)
	}
	in.okStdin("new-pass\n", "user", "passwd", "erin@example.test", "--password-stdin")
	in.ok("alias", "add", "postmaster@example.test", "erin@example.test")
	if al := in.ok("alias", "list"); !strings.Contains(al, "postmaster@example.test -> erin@example.test") {
		t.Fatalf("alias list: %s", al)
	}
	in.ok("alias", "del", "postmaster@example.test")
	in.ok("user", "del", "erin@example.test")
	if d := in.ok("domain", "list"); strings.TrimSpace(d) != "example.test" {
		t.Fatalf("domain list: %q", d)
	}
	failures := []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "x@unknown.example"}, "not local"},
		{[]string{"user", "add", "alice@example.test"}, "exists"},
		{[]string{"domain", "del", "example.test"}, "example.test"},
		{[]string{"quota", "set", "alice@example.test", "12Q"}, "12Q"},
		{[]string{"quota", "show", "nobody@example.test"}, "nobody@example.test"},
		{[]string{"frobnicate"}, "unknown command"},
	}
	for _, f := range failures {
		_, errs, code := in.run("", f.args...)
		if code == 0 || !strings.Contains(errs, f.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 && f.args[0] != "frobnicate" {
			t.Errorf("mailroom %v: exit %d, stderr %q (want one line with %q)", f.args, code, errs, f.want)
		}
	}
	// A strict config: an unknown key is an error naming it.
	os.WriteFile(in.config, append(mustRead(t, in.config), []byte("\n[delivery2]\nfoo = 1\n")...), 0o644)
	_, errs, code := in.run("", "user", "list")
	if code == 0 || !strings.Contains(errs, "delivery2") {
		t.Fatalf("unknown key: exit %d, %q", code, errs)
	}
	_, errs, code = exec1(t, "version")
	if code != 0 || !strings.HasPrefix(errs, "mailroom ") {
		t.Fatalf("version: %d %q", code, errs)
	}
}

func exec1(t *testing.T, args ...string) (string, string, int) {
	out, err := exec.Command(binary, args...).Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return "", string(out), code
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	// quickstart serves on fixed ports; this test uses its own config path
	// with free ports by writing the config first, then checks it is reused.
	cfgPath := filepath.Join(dir, "mailroom.toml")
	smtp, lmtp := freePort(t), freePort(t)
	run := func() (string, *exec.Cmd, *syncBuffer) {
		cmd := exec.Command(binary, "quickstart", "--config", cfgPath)
		cmd.Dir = dir
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return smtp, cmd, out
	}
	for _, a := range []string{"127.0.0.1:2525", "127.0.0.1:2424"} {
		if l, err := net.Listen("tcp", a); err != nil {
			t.Skipf("quickstart's default port %s is in use", a)
		} else {
			l.Close()
		}
	}
	// First run writes the config; rewrite its ports, as an admin would.
	_, cmd, out := run()
	waitFor(t, func() bool { return strings.Contains(out.String(), "listening") }, out)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if !strings.Contains(out.String(), "created account demo@example.test with password ") {
		t.Fatalf("first run:\n%s", out)
	}
	cfg := string(mustRead(t, cfgPath))
	cfg = strings.Replace(cfg, `"127.0.0.1:2525"`, fmt.Sprintf("%q", smtp), 1)
	cfg = strings.Replace(cfg, `"127.0.0.1:2424"`, fmt.Sprintf("%q", lmtp), 1)
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	_, cmd, out = run()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, func() bool { return strings.Contains(out.String(), "lmtp listening") }, out)
	if !strings.Contains(out.String(), "account demo@example.test exists") {
		t.Fatalf("second run did not reuse the account:\n%s", out)
	}
	c := dial(t, lmtp)
	c.cmd("LHLO x", "250")
	c.cmd("MAIL FROM:<a@example.org>", "250")
	c.cmd("RCPT TO:<demo@example.test>", "250")
	c.cmd("DATA", "354")
	io.WriteString(c.c, dotStuff(message("quick", "start")))
	c.expect("250")
	if _, err := os.Stat(filepath.Join(dir, "mailroom-data", "index.db")); err != nil {
		t.Fatalf("data dir not where the config says: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; output:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
