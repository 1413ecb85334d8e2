package imapserver

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"mailroom/internal/store"
)

// bobSecret is in the subject of bob's message and in the names of his
// mailboxes; it must never reach alice.
const bobSecret = "BobSecret"

// isolationEnv is a test server with alice (logged in by the tests) and
// bob, who has mailboxes and a message of his own.
type isolationEnv struct {
	*testEnv
	bob *store.Account
}

func newIsolationEnv(t *testing.T) *isolationEnv {
	t.Helper()
	e := newTestEnv(t)
	bob, err := e.dir.AddAccount(bg, "bob@example.test", "bob's password", store.QuotaDefault, store.QuotaDefault)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{bobSecret, bobSecret + "/Plans", "Projects"} {
		if _, err := e.st.CreateMailbox(bg, bob.ID, store.NewMailbox{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.SetSubscribed(bg, bob.ID, bobSecret, true); err != nil {
		t.Fatal(err)
	}
	ie := &isolationEnv{testEnv: e, bob: bob}
	ie.deliverTo(bob, "INBOX", "Subject: "+bobSecret+" inbox\r\n\r\nfor bob only\r\n")
	ie.deliverTo(bob, bobSecret, "Subject: "+bobSecret+" plans\r\n\r\nfor bob only\r\n")
	e.deliver("INBOX", simpleMsg)
	return ie
}

func (e *isolationEnv) deliverTo(acct *store.Account, mailbox, raw string) {
	e.t.Helper()
	mb, err := e.st.Mailbox(bg, acct.ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	ref, st := e.putBody(e.t, raw)
	if _, err := e.st.Append(bg, acct.ID, []store.AppendMessage{{
		MailboxID: mb.ID, Body: ref, InternalDate: time.Now(), Structure: st.Encode(),
	}}, false); err != nil {
		e.t.Fatal(err)
	}
}

// snapshot describes an account's mailboxes: names, subscriptions,
// counters and sizes.
func (e *isolationEnv) snapshot(acct *store.Account) string {
	e.t.Helper()
	mbs, err := e.st.Mailboxes(bg, acct.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var lines []string
	for _, mb := range mbs {
		lines = append(lines, fmt.Sprintf("%q sub=%v uidnext=%d modseq=%d msgs=%d size=%d",
			mb.Name, mb.Subscribed, mb.UIDNext, mb.HighestModSeq, mb.Messages, mb.Size))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func (e *isolationEnv) names(acct *store.Account) map[string]bool {
	e.t.Helper()
	mbs, err := e.st.Mailboxes(bg, acct.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mb := range mbs {
		out[mb.Name] = true
		for p := store.Parent(mb.Name); p != ""; p = store.Parent(p) {
			out[p] = true
		}
	}
	return out
}

// plantedLit is a message for APPEND, as a non-synchronizing literal.
var plantedLit = litp("Subject: planted\r\n\r\n")

// hostileNames are mailbox arguments, as sent on the wire, that try to
// reach bob's mailboxes or the file system, or are malformed.
var hostileNames = []struct {
	name string
	wire string
}{
	{"bob's folder", bobSecret},
	{"bob's subfolder", quote(bobSecret + "/Plans")},
	{"bob's address", quote("bob@example.test/INBOX")},
	{"bob's address folder", quote("bob@example.test/" + bobSecret)},
	{"user namespace", quote("#user/bob/INBOX")},
	{"other users", quote("Other Users/bob/INBOX")},
	{"shared", quote("#shared")},
	{"shared bob", quote("#shared/bob/" + bobSecret)},
	{"dot dot", quote("../bob")},
	{"dot dot inbox", quote("INBOX/../../bob/INBOX")},
	{"dot dot deep", quote("../../../../../../etc/passwd")},
	{"absolute", quote("/etc/passwd")},
	{"absolute bob", quote("/" + bobSecret)},
	{"home", "~bob"},
	{"home inbox", "~bob/INBOX"},
	{"wildcard star", quote("*")},
	{"wildcard percent", quote("%")},
	{"wildcard bob", quote(bobSecret[:3] + "*")},
	{"backslash", quote(`..\\bob`)},
	{"NUL", litp("IN\x00BOX")},
	{"NUL bob", litp(bobSecret + "\x00")},
	{"control", litp("IN\x01BOX")},
	{"CRLF", litp("INBOX\r\n" + bobSecret)},
	{"DEL", litp("a\x7fb")},
	{"C1 control", litp("a\u0085b")},
	{"empty", `""`},
	{"empty level", quote("INBOX//x")},
	{"bad mutf7 open", quote("&Jjo")},
	{"bad mutf7 ascii", quote("&AGE-")},
	{"bad mutf7 surrogate", quote("&2D0-")},
	{"8-bit in rev1", quote("Entw\xfcrfe")},
	{"long atom", strings.Repeat("b", 50<<10)},
	{"long literal", litp(strings.Repeat("b", 60<<10))},
	{"deep", quote(strings.Repeat("a/", 40) + "a")},
}

// TestIsolationMailboxCommands: every command that takes a mailbox name,
// given one of bob's names or a hostile one, answers NO or BAD without
// showing or changing anything of bob's, and the session goes on.
func TestIsolationMailboxCommands(t *testing.T) {
	e := newIsolationEnv(t)
	bobBefore := e.snapshot(e.bob)
	aliceBefore := e.snapshot(e.acct)
	c := e.login()

	// Commands that must fail for any name alice does not have.
	cmds := []struct {
		name     string
		selected bool
		format   string
	}{
		{"SELECT", false, "SELECT %s"},
		{"EXAMINE", false, "EXAMINE %s"},
		{"STATUS", false, "STATUS %s (MESSAGES UIDNEXT UNSEEN SIZE)"},
		{"DELETE", false, "DELETE %s"},
		{"RENAME from", false, "RENAME %s Stolen"},
		{"SUBSCRIBE", false, "SUBSCRIBE %s"},
		{"GETQUOTAROOT", false, "GETQUOTAROOT %s"},
		{"APPEND", false, "APPEND %s " + plantedLit},
		{"COPY", true, "COPY 1 %s"},
		{"UID COPY", true, "UID COPY 1:* %s"},
		{"MOVE", true, "MOVE 1 %s"},
		{"UID MOVE", true, "UID MOVE 1:* %s"},
	}
	for _, cmd := range cmds {
		if cmd.selected {
			c.ok("SELECT INBOX")
		}
		for _, n := range hostileNames {
			u, tagged := c.do(fmt.Sprintf(cmd.format, n.wire))
			if !strings.HasPrefix(tagged, "NO") && !strings.HasPrefix(tagged, "BAD") {
				t.Errorf("%s %s: %q, want NO or BAD", cmd.name, n.name, tagged)
			}
			if strings.HasPrefix(tagged, "BAD") {
				c.ok("NOOP") // keep below MaxBadCommands in a row
			}
			for _, l := range u {
				if strings.Contains(l, bobSecret) || strings.Contains(l, "bob only") {
					t.Errorf("%s %s: untagged %q shows bob's data", cmd.name, n.name, l)
				}
				// A failed SELECT leaves the selected state; nothing
				// else may come back.
				if l != "* OK [CLOSED] previous mailbox closed" {
					t.Errorf("%s %s: unexpected %q", cmd.name, n.name, l)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
		}
		// The session still works.
		c.ok("NOOP")
		if u := c.ok("STATUS INBOX (MESSAGES)"); len(u) != 1 || u[0] != "* STATUS INBOX (MESSAGES 1)" {
			t.Fatalf("after %s: STATUS INBOX %q", cmd.name, u)
		}
	}
	if got := e.snapshot(e.bob); got != bobBefore {
		t.Fatalf("bob's account changed:\n%s\nwas\n%s", got, bobBefore)
	}
	if got := e.snapshot(e.acct); got != aliceBefore {
		t.Fatalf("alice's account changed by failed commands:\n%s\nwas\n%s", got, aliceBefore)
	}

	// UNSUBSCRIBE of a missing name is a success (RFC 9051 §6.3.8 leaves
	// it open); it must not touch bob's subscription.
	for _, n := range hostileNames {
		c.do("UNSUBSCRIBE " + n.wire)
	}
	if got := e.snapshot(e.bob); got != bobBefore {
		t.Fatalf("UNSUBSCRIBE changed bob's account:\n%s\nwas\n%s", got, bobBefore)
	}

	// CREATE and RENAME to a name may succeed, in alice's own namespace.
	for i, n := range hostileNames {
		c.do("CREATE " + n.wire)
		c.ok(fmt.Sprintf("CREATE tmp%d", i))
		c.do(fmt.Sprintf("RENAME tmp%d %s", i, n.wire))
		c.ok("NOOP")
	}
	if got := e.snapshot(e.bob); got != bobBefore {
		t.Fatalf("CREATE/RENAME changed bob's account:\n%s\nwas\n%s", got, bobBefore)
	}
	// What alice made is hers, and empty: APPEND into those names.
	for _, n := range hostileNames {
		c.do(fmt.Sprintf("APPEND %s "+plantedLit, n.wire))
	}
	if got := e.snapshot(e.bob); got != bobBefore {
		t.Fatalf("APPEND changed bob's account:\n%s\nwas\n%s", got, bobBefore)
	}
	// Alice's names never carry control characters or path tricks that
	// were refused.
	for name := range e.names(e.acct) {
		if _, err := store.CanonicalMailboxName(name); err != nil {
			t.Errorf("alice has an invalid mailbox name %q: %v", name, err)
		}
		if strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\x00\r\n") {
			t.Errorf("alice has mailbox %q", name)
		}
	}
	// Alice's own copy of bob's folder name holds only what alice put
	// there.
	if mb, err := e.st.Mailbox(bg, e.acct.ID, bobSecret); err == nil {
		c.ok("SELECT " + bobSecret)
		u := c.ok("FETCH 1:* (BODY.PEEK[])")
		for _, l := range u {
			if strings.Contains(l, "bob only") {
				t.Errorf("alice's %s (id %d) shows bob's mail: %q", bobSecret, mb.ID, l)
			}
		}
		c.ok("CLOSE")
	}
	c.ok("LOGOUT")
}

// TestIsolationUTF8Names repeats the mailbox commands after ENABLE
// UTF8=ACCEPT with names that are not valid UTF-8.
func TestIsolationUTF8Names(t *testing.T) {
	e := newIsolationEnv(t)
	bobBefore := e.snapshot(e.bob)
	aliceBefore := e.snapshot(e.acct)
	c := e.login()
	c.ok("ENABLE UTF8=ACCEPT")
	bad := []string{
		quote("\xff"), quote("INBOX/\xc3"), quote("\xc0\xaf"), quote("\xed\xa0\x80"),
		quote("a\xe2\x80"), litp("\xfe\xff" + bobSecret), "\xf5\x80\x80\x80",
	}
	for _, n := range bad {
		for _, f := range []string{"SELECT %s", "EXAMINE %s", "STATUS %s (MESSAGES)", "CREATE %s", "DELETE %s",
			"RENAME INBOX %s", "RENAME %s x", "SUBSCRIBE %s", "GETQUOTAROOT %s", "APPEND %s " + plantedLit} {
			cmd := fmt.Sprintf(f, n)
			u, tagged := c.do(cmd)
			if !strings.HasPrefix(tagged, "NO") && !strings.HasPrefix(tagged, "BAD") {
				t.Errorf("%q: %q, want NO or BAD", cmd, tagged)
			}
			if len(u) != 0 {
				t.Errorf("%q: untagged %q", cmd, u)
			}
		}
		u, _ := c.do(`LIST "" ` + n)
		if len(u) != 0 {
			t.Errorf("LIST %q: %q", n, u)
		}
	}
	c.ok("NOOP")
	if got := e.snapshot(e.bob); got != bobBefore {
		t.Fatalf("bob's account changed:\n%s\nwas\n%s", got, bobBefore)
	}
	if got := e.snapshot(e.acct); got != aliceBefore {
		t.Fatalf("alice's account changed:\n%s\nwas\n%s", got, aliceBefore)
	}
}

// TestIsolationList: whatever the reference and pattern, LIST and LSUB
// show alice's mailboxes only.
func TestIsolationList(t *testing.T) {
	e := newIsolationEnv(t)
	if _, err := e.st.CreateMailbox(bg, e.acct.ID, store.NewMailbox{Name: "Work/Reports"}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetSubscribed(bg, e.acct.ID, "Work/Reports", true); err != nil {
		t.Fatal(err)
	}
	alice := e.names(e.acct)
	c := e.login()

	// LIST "" "*" is exactly alice's tree.
	u := c.ok(`LIST "" "*"`)
	var got []string
	for _, l := range u {
		got = append(got, listName(t, l))
	}
	var want []string
	for n := range alice {
		want = append(want, n)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf(`LIST "" "*" = %q, want %q`, got, want)
	}

	refs := []string{`""`, `"/"`, `"~bob/"`, `"bob@example.test/"`, `"#shared/"`, `"../"`, `"/etc/"`, `"` + bobSecret + `/"`, `"%"`, `"*"`, litp("\x00")}
	patterns := []string{
		`*`, `%`, `%/%`, `*/*`, `"*` + bobSecret[:3] + `*"`, `"` + bobSecret + `*"`, `~bob/*`, `~*`, `"#shared/*"`, `#*`,
		`"bob@example.test/*"`, `"../*"`, `"/*"`, `"/etc/*"`, `"*/../*"`, `"&Jjo*"`, `"%%%%%%%%*%*%*%*%"`,
		`"` + strings.Repeat("*%", 2000) + `"`, litp("*\x00*"), litp("*\r\n*"), `(* "%" "~bob/*")`,
	}
	for _, cmd := range []string{"LIST", "LSUB", "LIST (SUBSCRIBED RECURSIVEMATCH)", "LIST (SPECIAL-USE)"} {
		for _, ref := range refs {
			for _, p := range patterns {
				if strings.HasPrefix(p, "(") && cmd == "LSUB" {
					continue
				}
				line := fmt.Sprintf("%s %s %s", cmd, ref, p)
				start := time.Now()
				u, tagged := c.do(line)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%q took %v", line, d)
				}
				if !strings.HasPrefix(tagged, "OK") && !strings.HasPrefix(tagged, "NO") && !strings.HasPrefix(tagged, "BAD") {
					t.Fatalf("%q: %q", line, tagged)
				}
				if strings.HasPrefix(tagged, "BAD") {
					// Keep below MaxBadCommands in a row.
					c.ok("NOOP")
				}
				for _, l := range u {
					if strings.Contains(l, bobSecret) || strings.Contains(l, "Projects") {
						t.Fatalf("%q shows bob's mailbox: %q", line, l)
					}
					if n := listName(t, l); n != "" && !alice[n] {
						t.Fatalf("%q shows %q, not one of alice's mailboxes", line, n)
					}
				}
			}
		}
	}
	// With RETURN (STATUS), bob's counters stay hidden too.
	u = c.ok(`LIST "" "*" RETURN (STATUS (MESSAGES UIDNEXT))`)
	for _, l := range u {
		if strings.Contains(l, bobSecret) {
			t.Fatalf("LIST-STATUS shows %q", l)
		}
	}
	c.ok("NOOP")
}

// listName returns the mailbox name of a LIST or LSUB response, "" for
// the delimiter-only answer.
func listName(t *testing.T, l string) string {
	t.Helper()
	if !strings.HasPrefix(l, "* LIST ") && !strings.HasPrefix(l, "* LSUB ") && !strings.HasPrefix(l, "* STATUS ") {
		t.Fatalf("unexpected response %q", l)
	}
	if strings.HasPrefix(l, "* STATUS ") {
		return ""
	}
	i := strings.Index(l, `) "/" `)
	if i < 0 {
		t.Fatalf("cannot parse %q", l)
	}
	n := l[i+len(`) "/" `):]
	if j := strings.Index(n, ` ("CHILDINFO"`); j >= 0 {
		n = n[:j]
	}
	if strings.HasPrefix(n, `"`) {
		n = strings.TrimSuffix(strings.TrimPrefix(n, `"`), `"`)
		n = strings.ReplaceAll(strings.ReplaceAll(n, `\"`, `"`), `\\`, `\`)
	}
	return n
}
