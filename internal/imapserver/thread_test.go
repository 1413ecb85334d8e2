package imapserver

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mailroom/internal/message"
	"mailroom/internal/store"
)

// threadMsgs is the THREAD mailbox (message n has UID n+1): id is the
// Message-ID ("" for none), hdr further header fields, day and hour the
// sent date in January 2026.
var threadMsgs = []struct {
	id, subject, hdr string
	day, hour        int
}{
	{"1@x", "Meeting", "", 1, 10},
	{"2@x", "Re: Meeting", "References: <1@x>\n", 1, 11},
	{"3@x", "Re: Meeting", "References: <1@x>\n <2@x>\n", 1, 12},
	{"4@x", "Re: Meeting", "References: <1@x>\n", 1, 11}, // 11:30
	// Missing parents: one child of a dummy is promoted to the root,
	// two are kept under it.
	{"5@x", "Lost", "References: <missing@x>\n", 2, 10},
	{"6@x", "Other A", "References: <missing2@x>\n", 3, 10},
	{"7@x", "Other B", "References: <missing2@x>\n", 3, 11},
	// In-Reply-To stands in for References.
	{"8@x", "Re: Meeting", "In-Reply-To: <3@x>\n", 4, 10},
	// Merged by subject: the reply goes under the original.
	{"9@x", "Re: Lunch", "", 5, 10},
	{"10@x", "Lunch", "", 6, 10},
	// No Message-ID; the same subject, neither a reply: a dummy over both.
	{"", "Party", "", 7, 10},
	{"", "Party", "", 8, 10},
	// A Message-ID seen before gets a container of its own.
	{"1@x", "Dup", "", 9, 10},
	// References in a loop.
	{"14@x", "Loop", "References: <15@x>\n", 10, 10},
	{"15@x", "Loop", "References: <14@x>\n", 11, 10},
}

func threadRaw(n int) string {
	m := threadMsgs[n]
	minute := 0
	if n == 3 {
		minute = 30
	}
	raw := fmt.Sprintf("Subject: %s\nFrom: f%d@x\nDate: %d Jan 2026 %02d:%02d:00 +0000\n%s", m.subject, n+1, m.day, m.hour, minute, m.hdr)
	if m.id != "" {
		raw += "Message-ID: <" + m.id + ">\n"
	}
	return crlf(raw + "\nbody\n")
}

func threadEnv(t *testing.T) *testEnv {
	e := newTestEnv(t)
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	first := e.deliver("INBOX", "Subject: gone\n\ngone\n")
	if _, err := e.st.Expunge(bg, e.acct.ID, mb.ID, []uint32{first}); err != nil {
		t.Fatal(err)
	}
	for n := range threadMsgs {
		e.appendAt("INBOX", threadRaw(n), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	}
	return e
}

func TestThread(t *testing.T) {
	e := threadEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	tests := []struct {
		cmd  string
		want string
	}{
		{"THREAD REFERENCES UTF-8 ALL", "* THREAD (1 (2 3 8)(4))(5)((6)(7))(10 9)((11)(12))(13)(15 14)"},
		{"UID THREAD REFERENCES UTF-8 ALL", "* THREAD (2 (3 4 9)(5))(6)((7)(8))(11 10)((12)(13))(14)(16 15)"},
		{"THREAD REFERENCES UTF-8 SUBJECT meeting", "* THREAD (1 (2 3 8)(4))"},
		// 2 is not threaded: 3 takes its place under 1.
		{"THREAD REFERENCES UTF-8 SUBJECT meeting NOT 2", "* THREAD (1 (4)(3 8))"},
		{"THREAD REFERENCES US-ASCII 3", "* THREAD (3)"},
		{"THREAD REFERENCES UTF-8 SUBJECT nothing", "* THREAD"},
		// By base subject, then sent date; the first message of each is
		// the parent of the rest.
		{"THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1 (2)(4)(3)(8))(5)(6)(7)(9 10)(11 12)(13)(14 15)"},
		{"uid thread orderedsubject utf-8 1:4", "* THREAD (2 (3)(5)(4))"},
	}
	for _, tt := range tests {
		c.expect(tt.cmd, "OK", tt.want)
	}
	c.expect("THREAD REFERENCES KOI8-R ALL", "NO [BADCHARSET (UTF-8 US-ASCII)]")
	for _, cmd := range []string{
		"THREAD",
		"THREAD REFERENCES",
		"THREAD REFERENCES UTF-8",
		"THREAD BOGUS UTF-8 ALL",
		"THREAD (REFERENCES) UTF-8 ALL",
		"THREAD REFERENCES UTF-8 NOSUCHKEY",
	} {
		c.expect(cmd, "BAD")
	}
}

// TestThreadOldStructure: a message stored before References was recorded
// (structure encoding version 1) is threaded by its In-Reply-To.
func TestThreadOldStructure(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("INBOX", "Message-ID: <a@x>\nSubject: s\nDate: 1 Jan 2026 10:00:00 +0000\n\nA\n")
	e.deliver("INBOX", "Message-ID: <b@x>\nSubject: Re: s\nReferences: <a@x>\nDate: 1 Jan 2026 11:00:00 +0000\n\nB\n")
	raw := crlf("Message-ID: <c@x>\nSubject: Re: s\nReferences: <a@x> <b@x>\nIn-Reply-To: <a@x>\nDate: 1 Jan 2026 12:00:00 +0000\n\nC\n")
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ref, st := e.putBody(t, raw)
	// Version 1: no References at the end.
	st.References = ""
	enc := st.Encode()
	v1 := append([]byte{1}, enc[1:len(enc)-1]...)
	if d, err := message.Decode(v1); err != nil || d.Envelope.InReplyTo != "<a@x>" {
		t.Fatalf("v1 structure: %v %v", d, err)
	}
	if _, err := e.st.Append(bg, e.acct.ID, []store.AppendMessage{{
		MailboxID: mb.ID, Body: ref, InternalDate: time.Now(), Structure: v1,
	}}, false); err != nil {
		t.Fatal(err)
	}
	c := e.login()
	c.ok("SELECT INBOX")
	c.expect("THREAD REFERENCES UTF-8 ALL", "OK", "* THREAD (1 (2)(3))")
}

// TestThreadDeepChain: a long reply chain, delivered newest first, is one
// thread, written without a list per level.
func TestThreadDeepChain(t *testing.T) {
	e := newTestEnv(t)
	const n = 2000
	for i := n; i >= 1; i-- {
		raw := fmt.Sprintf("Message-ID: <%d@x>\nSubject: Re: chain\nDate: 1 Jan 2026 00:00:00 +0000\n", i)
		if i > 1 {
			raw += fmt.Sprintf("In-Reply-To: <%d@x>\n", i-1)
		}
		e.deliver("INBOX", raw+"\nx\n")
	}
	c := e.login()
	c.ok("SELECT INBOX")
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprint(n - i)
	}
	c.expect("THREAD REFERENCES UTF-8 ALL", "OK", "* THREAD ("+strings.Join(want, " ")+")")
}
