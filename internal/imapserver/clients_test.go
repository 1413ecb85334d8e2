package imapserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// needTool finds a command-line client; it skips the test when the tool is
// missing, except in CI where a missing tool is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI installs it in .ci/run)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// TestPythonImaplib drives the server with Python's imaplib.
func TestPythonImaplib(t *testing.T) {
	py := needTool(t, "python3")
	e := newTestEnv(t)
	e.deliver("INBOX", simpleMsg)
	e.deliver("INBOX", "From: carol@example.test\nSubject: second one\n\nmore text\n")
	host, port, _ := net.SplitHostPort(e.addr)
	script := `
import imaplib, sys
M = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
M.login("alice@example.test", "secret pass")
typ, data = M.select("INBOX")
assert typ == "OK" and data == [b"2"], (typ, data)
typ, data = M.search(None, "FROM", "carol")
assert data == [b"2"], data
typ, data = M.uid("FETCH", "1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert b"Subject: hello" in data[0][1], data
typ, data = M.store("1", "+FLAGS", "(\\Flagged)")
assert typ == "OK" and b"\\Flagged" in data[0], data
typ, data = M.append("Archive", "(\\Seen)", None, b"Subject: appended\r\n\r\nbody\r\n")
assert typ == "OK" and b"APPENDUID" in data[0], data
typ, data = M.copy("2", "Archive")
assert typ == "OK", data
typ, data = M.status("Archive", "(MESSAGES UIDNEXT)")
assert b"MESSAGES 2" in data[0], data
typ, data = M.store("2", "+FLAGS", "(\\Deleted)")
typ, data = M.expunge()
assert data == [b"2"], data
typ, data = M.list()
assert any(b"Archive" in l for l in data), data
typ, data = M.create("Projects/2026")
assert typ == "OK", data
M.logout()
print("ok")
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}

// mbsyncChannels writes an mbsync configuration under dir with one
// channel per replica, each a Maildir dir/<replica> kept in step with
// alice's whole account on e, and returns a function that syncs one
// replica.
func mbsyncChannels(t *testing.T, e *testEnv, dir string, replicas ...string) func(replica string) {
	t.Helper()
	mbsync := needTool(t, "mbsync")
	host, port, _ := net.SplitHostPort(e.addr)
	conf := filepath.Join(dir, "mbsyncrc")
	var b strings.Builder
	fmt.Fprintf(&b, "IMAPAccount acct\nHost %s\nPort %s\nUser alice@example.test\nPass \"%s\"\nSSLType None\nAuthMechs PLAIN\n\n", host, port, testPassword)
	b.WriteString("IMAPStore remote\nAccount acct\n\n")
	for _, r := range replicas {
		root := filepath.Join(dir, r)
		os.MkdirAll(root, 0o700)
		fmt.Fprintf(&b, "MaildirStore %s\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n", r, root, root)
		fmt.Fprintf(&b, "Channel %s\nFar :remote:\nNear :%s:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n\n", r, r)
	}
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(replica string) {
		t.Helper()
		cmd := exec.Command(mbsync, "-c", conf, replica)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mbsync %s: %v\n%s", replica, err, out)
		}
	}
}

// TestMbsyncReplicas keeps two mbsync replicas of one account in step: one
// creates a folder, moves a message into it, flags one and deletes another;
// after syncing both, they are identical and match the server.
func TestMbsyncReplicas(t *testing.T) {
	e := newTestEnv(t)
	dir := t.TempDir()
	run := mbsyncChannels(t, e, dir, "r1", "r2")
	for i := 1; i <= 3; i++ {
		e.deliver("INBOX", fmt.Sprintf("From: bob@example.test\nSubject: message %d\nMessage-ID: <m%d@example.test>\n\nbody %d\n", i, i, i))
	}
	run("r1")
	run("r2")
	r1, r2 := filepath.Join(dir, "r1"), filepath.Join(dir, "r2")
	if got := replica(t, r1); got != replica(t, r2) || strings.Count(got, "\n") != 3 {
		t.Fatalf("after first sync:\n%s\n---\n%s", got, replica(t, r2))
	}

	// On replica 1: create Projects, move message 1 into it, flag message
	// 2, delete message 3.
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(r1, "Projects", sub), 0o700)
	}
	files := maildirFiles(t, filepath.Join(r1, "INBOX"))
	for path, content := range files {
		base := filepath.Base(path)
		switch {
		case strings.Contains(content, "Subject: message 1"):
			// A moved file loses its UID marker: it is new in Projects.
			name := strings.Split(base, ",U=")[0]
			if i := strings.Index(name, ":2,"); i >= 0 {
				name = name[:i]
			}
			if err := os.Rename(path, filepath.Join(r1, "Projects", "cur", name+":2,S")); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(content, "Subject: message 2"):
			if err := os.Rename(path, setMaildirFlags(path, "FS")); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(content, "Subject: message 3"):
			if err := os.Rename(path, setMaildirFlags(path, "ST")); err != nil {
				t.Fatal(err)
			}
		}
	}
	run("r1")
	run("r2")
	got1, got2 := replica(t, r1), replica(t, r2)
	if got1 != got2 {
		t.Fatalf("replicas differ:\n%s\n---\n%s", got1, got2)
	}
	want := "INBOX message 2 FS\nProjects message 1 S\n"
	if got1 != want {
		t.Fatalf("replica:\n%s\nwant\n%s", got1, want)
	}
	// The server agrees.
	c := e.login()
	c.ok("SELECT INBOX")
	u := c.ok("UID SEARCH ALL")
	if len(u) != 1 || len(strings.Fields(u[0])) != 3 {
		t.Fatalf("server INBOX: %q", u)
	}
	if u := c.ok("STATUS Projects (MESSAGES)"); u[0] != "* STATUS Projects (MESSAGES 1)" {
		t.Fatalf("%q", u)
	}
}

// mbsyncMessages are the messages TestMbsyncKeepsBytes copies both ways:
// the shapes a careless server would rewrite (8-bit text, folded and
// space-padded headers, long lines, a missing final line end).
var mbsyncMessages = []struct {
	name string
	msg  string // without its Message-ID, which the test adds first
}{
	{"plain", "From: carol@example.test\nTo: alice@example.test\nSubject: plain\n\nhello\n"},
	{"8bit", "From: =?utf-8?q?J=C3=BCrgen?= <j@example.test>\nSubject: Grüße aus Köln\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
		"Grüße, 日本語, ☃\n"},
	{"odd lines", "From: carol@example.test\nSubject: a folded\n\tsubject line\nX-Padded:   spaces   \n\n" +
		"From the start of a line\n.\n..two dots\n   \n\n\ntrailing spaces   \n\n"},
	{"long line", "From: carol@example.test\nSubject: long\n\n" + strings.Repeat("0123456789", 150) + "\n"},
	{"multipart", "From: carol@example.test\nSubject: attachment\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\n\npreamble\n--b1\nContent-Type: text/plain\n\nsee attached\n" +
		"--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAECAwQFBgcICQoLDA0ODw==\n--b1--\nepilogue\n"},
	{"no final line end", "From: carol@example.test\nSubject: unterminated\n\nlast line"},
	{"empty body", "From: carol@example.test\nSubject: empty\n\n"},
}

// TestMbsyncKeepsBytes: what mbsync uploads from a Maildir is stored, and
// served by FETCH BODY[], exactly as it was in the local file, and what
// mbsync downloads is exactly what the server serves. Subjects and flags
// (TestMbsyncReplicas) cannot show a server that rewrites line ends,
// header folding, 8-bit text or the end of a message. mbsync itself makes
// two changes, which are all the comparisons allow: it adds an X-TUID
// header line to each message it copies, and writes LF line ends to a
// Maildir.
func TestMbsyncKeepsBytes(t *testing.T) {
	e := newTestEnv(t)
	dir := t.TempDir()
	run := mbsyncChannels(t, e, dir, "r1", "r2")
	r1, r2 := filepath.Join(dir, "r1"), filepath.Join(dir, "r2")

	// Each message goes both ways: written with CRLF (what the server
	// stores) into replica 1's INBOX, and delivered on the server.
	type copied struct{ id, msg string }
	var up, down []copied
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(r1, "INBOX", sub), 0o700)
	}
	for i, m := range mbsyncMessages {
		for _, way := range []string{"up", "down"} {
			id := fmt.Sprintf("%s-%d", way, i)
			c := copied{id, crlf("Message-ID: <" + id + "@example.test>\n" + m.msg)}
			if way == "up" {
				name := fmt.Sprintf("17000000%02d.%s.example:2,S", i, id)
				if err := os.WriteFile(filepath.Join(r1, "INBOX", "cur", name), []byte(c.msg), 0o600); err != nil {
					t.Fatal(err)
				}
				up = append(up, c)
			} else {
				e.deliver("INBOX", c.msg)
				down = append(down, c)
			}
		}
	}
	run("r1")

	cl := e.login()
	served := fetchBodies(cl, "INBOX")
	if len(served) != len(up)+len(down) {
		t.Fatalf("server INBOX holds %d messages, want %d", len(served), len(up)+len(down))
	}
	for i, c := range up {
		got := withID(t, served, c.id)
		if g := withoutTUID(t, got); g != c.msg {
			t.Errorf("%s (%s): uploaded\n%q\nstored and served\n%q", c.id, mbsyncMessages[i].name, c.msg, got)
		}
	}
	for i, c := range down {
		got := withID(t, served, c.id)
		if got != c.msg {
			t.Errorf("%s (%s): delivered\n%q\nserved\n%q", c.id, mbsyncMessages[i].name, c.msg, got)
		}
		local := withID(t, mapValues(maildirFiles(t, filepath.Join(r1, "INBOX"))), c.id)
		if l := withoutTUID(t, local); l != maildirForm(got) {
			t.Errorf("%s (%s): served\n%q\ndownloaded\n%q", c.id, mbsyncMessages[i].name, got, local)
		}
	}

	// A fresh replica downloads everything, the uploads included, as the
	// server serves it.
	run("r2")
	files := mapValues(maildirFiles(t, filepath.Join(r2, "INBOX")))
	if len(files) != len(served) {
		t.Fatalf("replica 2 has %d messages, the server %d", len(files), len(served))
	}
	for _, c := range append(up, down...) {
		got := withID(t, served, c.id)
		if l := withoutTUID(t, withID(t, files, c.id)); l != maildirForm(withoutTUID(t, got)) {
			t.Errorf("%s: served\n%q\ndownloaded\n%q", c.id, got, l)
		}
	}
	e.checkStoreClean()
}

// tuidLine is the header line mbsync adds at the end of the header of each
// message it copies, either way, to find the copy again. Its value is
// random, so comparisons leave it out.
var tuidLine = regexp.MustCompile(`(?m)^X-TUID: [A-Za-z0-9+/]{12}\r?\n`)

// withoutTUID removes mbsync's X-TUID line from msg, where mbsync puts it
// and nowhere else: once, last in the header.
func withoutTUID(t *testing.T, msg string) string {
	t.Helper()
	locs := tuidLine.FindAllStringIndex(msg, -1)
	if len(locs) == 0 {
		return msg
	}
	start, end := locs[0][0], locs[0][1]
	if rest := msg[end:]; len(locs) > 1 || !(rest == "" || strings.HasPrefix(rest, "\n") || strings.HasPrefix(rest, "\r\n")) {
		t.Errorf("X-TUID is not one line at the end of the header:\n%q", msg)
	}
	return msg[:start] + msg[end:]
}

// maildirForm is a message as mbsync writes it to a Maildir: line ends are
// LF there.
func maildirForm(msg string) string { return strings.ReplaceAll(msg, "\r\n", "\n") }

// withID returns the one message in msgs whose Message-ID is <id@example.test>.
func withID(t *testing.T, msgs []string, id string) string {
	t.Helper()
	var found []string
	for _, m := range msgs {
		if strings.HasPrefix(m, "Message-ID: <"+id+"@example.test>") {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d messages with Message-ID <%s@example.test>, want 1", len(found), id)
	}
	return found[0]
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// fetchBodies returns BODY[] of every message in mailbox, read with the
// mailbox examined so that nothing changes.
func fetchBodies(c *client, mailbox string) []string {
	c.t.Helper()
	c.ok("EXAMINE " + quote(mailbox))
	var out []string
	for _, l := range c.ok("FETCH 1:* (BODY.PEEK[])") {
		_, rest, ok := strings.Cut(l, "BODY[] {")
		size, lit, ok2 := strings.Cut(rest, "}\r\n")
		n, err := strconv.Atoi(size)
		if !ok || !ok2 || err != nil || n > len(lit) || lit[n:] != ")" {
			c.t.Fatalf("FETCH BODY.PEEK[]: %q", l)
		}
		out = append(out, lit[:n])
	}
	c.ok("CLOSE")
	return out
}

// maildirFiles maps each message file of a maildir folder to its content.
func maildirFiles(t *testing.T, folder string) map[string]string {
	out := map[string]string{}
	for _, sub := range []string{"cur", "new"} {
		ents, _ := os.ReadDir(filepath.Join(folder, sub))
		for _, e := range ents {
			p := filepath.Join(folder, sub, e.Name())
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = string(data)
		}
	}
	return out
}

func setMaildirFlags(path, flags string) string {
	if i := strings.Index(path, ":2,"); i >= 0 {
		path = path[:i]
	}
	return path + ":2," + flags
}

// replica summarises a maildir tree as "folder subject flags" lines.
func replica(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || (d.Name() != "cur" && d.Name() != "new") {
			return nil
		}
		folder, _ := filepath.Rel(root, filepath.Dir(p))
		for path, content := range maildirFiles(t, filepath.Dir(p)) {
			if filepath.Dir(path) != p {
				continue
			}
			subj := ""
			for _, l := range strings.Split(content, "\n") {
				if strings.HasPrefix(l, "Subject: ") {
					subj = strings.TrimSpace(strings.TrimPrefix(l, "Subject: "))
					break
				}
			}
			flags := ""
			if i := strings.Index(path, ":2,"); i >= 0 {
				flags = path[i+3:]
			}
			lines = append(lines, fmt.Sprintf("%s %s %s", folder, subj, flags))
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}
