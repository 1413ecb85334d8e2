package imapserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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

// TestMbsyncReplicas keeps two mbsync replicas of one account in step: one
// creates a folder, moves a message into it, flags one and deletes another;
// after syncing both, they are identical and match the server.
func TestMbsyncReplicas(t *testing.T) {
	mbsync := needTool(t, "mbsync")
	e := newTestEnv(t)
	for i := 1; i <= 3; i++ {
		e.deliver("INBOX", fmt.Sprintf("From: bob@example.test\nSubject: message %d\nMessage-ID: <m%d@example.test>\n\nbody %d\n", i, i, i))
	}
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(e.addr)
	conf := filepath.Join(dir, "mbsyncrc")
	var b strings.Builder
	fmt.Fprintf(&b, "IMAPAccount acct\nHost %s\nPort %s\nUser alice@example.test\nPass \"%s\"\nSSLType None\nAuthMechs PLAIN\n\n", host, port, testPassword)
	b.WriteString("IMAPStore remote\nAccount acct\n\n")
	for _, r := range []string{"r1", "r2"} {
		root := filepath.Join(dir, r)
		os.MkdirAll(root, 0o700)
		fmt.Fprintf(&b, "MaildirStore %s\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n", r, root, root)
		fmt.Fprintf(&b, "Channel %s\nFar :remote:\nNear :%s:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n\n", r, r)
	}
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(ch string) {
		t.Helper()
		cmd := exec.Command(mbsync, "-c", conf, ch)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mbsync %s: %v\n%s", ch, err, out)
		}
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
