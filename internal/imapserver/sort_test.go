package imapserver

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in    string
		want  string
		refwd bool
	}{
		{"lunch", "lunch", false},
		{"Re: lunch", "lunch", true},
		{"RE:lunch", "lunch", true},
		{"Re : lunch", "lunch", true},
		{"Re[2]: lunch", "lunch", true},
		{"Re: Re: Fwd: lunch", "lunch", true},
		{"FW: lunch", "lunch", true},
		{"fwd:lunch", "lunch", true},
		{"[list] lunch", "lunch", false},
		{"[list]", "[list]", false},
		{"[a] [b] Re: lunch", "lunch", true},
		{"[a] Re: [b] lunch", "lunch", true},
		{"Re: [list] Re: lunch", "lunch", true},
		{"lunch (fwd)", "lunch", true},
		{"lunch (FWD) (fwd)  ", "lunch", true},
		{"[fwd: lunch]", "lunch", true},
		{"Re: [Fwd: Re: lunch]", "lunch", true},
		{"[fwd: [list] lunch (fwd)]", "lunch", true},
		{"  lunch \t  time  ", "lunch time", false},
		{"=?utf-8?q?Re=3A_caf=C3=A9?=", "café", true},
		{"=?utf-8?q?caf=C3=A9?= =?utf-8?q?_au_lait?=", "café au lait", false},
		{"Reply: lunch", "Reply: lunch", false},
		{"Re:", "", true},
		{"", "", false},
	}
	for _, tt := range tests {
		got, refwd := baseSubject(tt.in)
		if got != tt.want || refwd != tt.refwd {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tt.in, got, refwd, tt.want, tt.refwd)
		}
	}
}

func TestCasemap(t *testing.T) {
	// RFC 5051: titlecase, then NFKD; so case and compatibility forms
	// compare equal.
	for _, pair := range [][2]string{{"apple", "APPLE"}, {"äpfel", "ÄPFEL"}, {"ǆ", "ǅ"}} {
		if a, b := casemap(pair[0]), casemap(pair[1]); a != b {
			t.Errorf("casemap(%q) = %q, casemap(%q) = %q", pair[0], a, pair[1], b)
		}
	}
	if casemap("apple") >= casemap("äpfel") {
		t.Errorf("apple sorts after äpfel")
	}
}

func TestMessageIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"<a@x>", []string{"a@x"}},
		{"<a@x> <b@x>\t<c@x>", []string{"a@x", "b@x", "c@x"}},
		{"Your message of Monday <a@x> (comment)", []string{"a@x"}},
		{"<broken <b@x>", []string{"b@x"}},
		{"<sp ace@x> <ok@x>", []string{"ok@x"}},
		{"", nil},
		{"<>", nil},
	}
	for _, tt := range tests {
		if got := messageIDs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("messageIDs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// sortMsgs is the SORT mailbox. UID 1 is expunged first: message n has
// UID n+1.
var sortMsgs = []struct {
	raw  string
	date time.Time // internal date
}{
	{"Subject: Re: Lunch\nFrom: Zed <zed@x>\nTo: Aaron <bob@x>\nCc: carol@x\nDate: Fri, 2 Jan 2026 10:00:00 +0000\n\nA\n",
		time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)},
	{"Subject: =?utf-8?q?=C3=84pfel?=\nFrom: Anna <anna@x>\nDate: Thu, 1 Jan 2026 09:00:00 -0500\n\nBB\n",
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	// No From, no Date: the internal date is the sent date.
	{"Subject: [list] Fwd: lunch (fwd)\n\nCCCCCCCCCCCCCCCCCCCCCC\n",
		time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)},
	{"Subject: apple\nFrom: <bob@x>\nTo: anna@x\nDate: Thu, 1 Jan 2026 12:00:00 +0000\n\nDDDDDDDDDDDD\n",
		time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC)},
	{"Subject: Re: [fwd: Apple]\nFrom: Mike <Anna@y>\nDate: Thu, 1 Jan 2026 13:00:00 +0100\n\nE\n",
		time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
}

func sortEnv(t *testing.T) (*testEnv, []int64) {
	e := newTestEnv(t)
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	first := e.deliver("INBOX", "Subject: gone\n\ngone\n")
	if _, err := e.st.Expunge(bg, e.acct.ID, mb.ID, []uint32{first}); err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	for _, m := range sortMsgs {
		_, size := e.appendAt("INBOX", crlf(m.raw), m.date)
		sizes = append(sizes, size)
	}
	return e, sizes
}

func TestSort(t *testing.T) {
	e, sizes := sortEnv(t)
	bySize := []int{1, 2, 3, 4, 5}
	slices.SortStableFunc(bySize, func(a, b int) int { return int(sizes[a-1] - sizes[b-1]) })
	sizeOrder := strings.Trim(fmt.Sprint(bySize), "[]")
	c := e.login()
	c.ok("SELECT INBOX")
	tests := []struct {
		cmd  string
		want string // the SORT response
	}{
		// Base subjects APPLE APPLE ÄPFEL LUNCH LUNCH; equal keys in
		// sequence order.
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 4 5 2 1 3"},
		{"SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 1 3 2 4 5"},
		// Sent dates in UTC: 3 has none (its internal date, 31 Dec), 4 and
		// 5 are both 12:00 UTC, 2 is 14:00 UTC, 1 is the next day.
		{"SORT (DATE) UTF-8 ALL", "* SORT 3 4 5 2 1"},
		{"SORT (REVERSE DATE) UTF-8 ALL", "* SORT 1 2 4 5 3"},
		{"SORT (ARRIVAL) US-ASCII ALL", "* SORT 3 2 5 4 1"},
		{"SORT (REVERSE ARRIVAL) US-ASCII ALL", "* SORT 1 4 5 2 3"},
		// addr-mailbox: "" (no From), anna, Anna, bob, zed.
		{"SORT (FROM) UTF-8 ALL", "* SORT 3 2 5 4 1"},
		{"SORT (REVERSE FROM) UTF-8 ALL", "* SORT 1 4 2 5 3"},
		{"SORT (FROM DATE) UTF-8 ALL", "* SORT 3 5 2 4 1"},
		{"SORT (FROM REVERSE DATE) UTF-8 ALL", "* SORT 3 2 5 4 1"},
		{"SORT (REVERSE FROM REVERSE DATE) UTF-8 ALL", "* SORT 1 4 2 5 3"},
		{"SORT (TO) UTF-8 ALL", "* SORT 2 3 5 4 1"},
		{"SORT (CC) UTF-8 ALL", "* SORT 2 3 4 5 1"},
		{"SORT (REVERSE CC) UTF-8 ALL", "* SORT 1 2 3 4 5"},
		{"SORT (SIZE) UTF-8 ALL", "* SORT " + sizeOrder},
		// RFC 5957: display names, else the addr-spec.
		{"SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 3 2 4 5 1"},
		{"SORT (DISPLAYTO) UTF-8 ALL", "* SORT 2 3 5 1 4"},
		{"sort (reverse displayto) utf-8 all", "* SORT 4 1 2 3 5"},
		// With a search program, and by UID.
		{"SORT (SUBJECT) UTF-8 FROM anna", "* SORT 5 2"},
		{"SORT (DATE) UTF-8 OR 1 UID 6 NOT SEEN", "* SORT 5 1"},
		{"UID SORT (DATE) UTF-8 ALL", "* SORT 4 5 6 3 2"},
		{"UID SORT (SUBJECT) UTF-8 UID 2:4", "* SORT 3 2 4"},
		{"SORT (DATE) UTF-8 SUBJECT nothing", "* SORT"},
	}
	for _, tt := range tests {
		c.expect(tt.cmd, "OK", tt.want)
	}
}

func TestSortErrors(t *testing.T) {
	e, _ := sortEnv(t)
	c := e.login()
	c.expect("SORT (DATE) UTF-8 ALL", "BAD")
	c.ok("SELECT INBOX")
	c.expect("SORT (DATE) KOI8-R ALL", "NO [BADCHARSET (UTF-8 US-ASCII)]")
	for _, cmd := range []string{
		"SORT",
		"SORT DATE UTF-8 ALL",
		"SORT () UTF-8 ALL",
		"SORT (DATE) ALL",
		"SORT (DATE) UTF-8",
		"SORT (DATE) UTF-8 ",
		"SORT (BOGUS) UTF-8 ALL",
		"SORT (REVERSE) UTF-8 ALL",
		"SORT (REVERSE REVERSE DATE) UTF-8 ALL",
		"SORT (DATE)UTF-8 ALL",
		"SORT (DATE) UTF-8 NOSUCHKEY",
		"SORT (DATE) UTF-8 ALL)",
		"SORT (" + strings.Repeat("DATE ", 40) + "SIZE) UTF-8 ALL",
	} {
		c.expect(cmd, "BAD")
	}
	c.expect("NOOP", "OK")
}

// TestSortOwnView: a SORT answers from the session's own view while
// another session expunges and appends.
func TestSortOwnView(t *testing.T) {
	e, _ := sortEnv(t)
	a, b := e.login(), e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
	b.expect("EXPUNGE", "OK", "* 2 EXPUNGE")
	e.appendAt("INBOX", crlf("Subject: aaa\nDate: Wed, 31 Dec 2025 00:00:01 +0000\n\nnew\n"), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	// a still has message 2 (Äpfel, read from its body now that its row
	// is gone): SORT by number neither tells of the expunge nor of the new
	// message (RFC 9051 §7.5.1), and its numbers are a's.
	a.expect("SORT (SUBJECT) UTF-8 ALL", "OK", "* SORT 4 5 2 1 3")
	a.expect("SORT (DATE) UTF-8 2:3", "OK", "* SORT 3 2")
	// UID SORT may: the changes follow its answer.
	a.expect("UID SORT (REVERSE DATE) UTF-8 ALL", "OK", "* SORT 2 3 5 6 4", "* 2 EXPUNGE", "* 5 EXISTS", "* 5 RECENT")
	a.expect("SORT (DATE) UTF-8 ALL", "OK", "* SORT 2 5 3 4 1")
}

// TestESort: SORT RETURN (RFC 5267 §3): MIN and MAX are the first and last
// in sort order, ALL keeps it.
func TestESort(t *testing.T) {
	e, _ := sortEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	tests := []struct {
		cmd  string
		want string
	}{
		// DATE order: 3 4 5 2 1.
		{"SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL", `* ESEARCH (TAG "t3") MIN 3 MAX 1 COUNT 5 ALL 3:5,2,1`},
		{"SORT RETURN () (REVERSE DATE) UTF-8 ALL", `* ESEARCH (TAG "t4") ALL 1:2,4:5,3`},
		{"UID SORT RETURN (ALL) (DATE) UTF-8 ALL", `* ESEARCH (TAG "t5") UID ALL 4:6,3,2`},
		{"SORT RETURN (COUNT) (SUBJECT) UTF-8 FROM anna", `* ESEARCH (TAG "t6") COUNT 2`},
		{"sort return (min max) (subject) utf-8 from anna", `* ESEARCH (TAG "t7") MIN 5 MAX 2`},
		{"SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 SUBJECT nothing", `* ESEARCH (TAG "t8") COUNT 0`},
	}
	for _, tt := range tests {
		c.expect(tt.cmd, "OK", tt.want)
	}
	// SAVE keeps the set (RFC 5182); it is used in UID order.
	c.expect("SORT RETURN (SAVE) (REVERSE SUBJECT) UTF-8 2:4", "OK")
	c.expect("FETCH $ (UID)", "OK", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 4)", "* 4 FETCH (UID 5)")
	c.expect("SORT RETURN (SAVE MIN) (REVERSE SUBJECT) UTF-8 2:4", "OK", `* ESEARCH (TAG "t11") MIN 3`)
	c.expect("UID SEARCH UID $", "OK", "* SEARCH 4")
	for _, cmd := range []string{
		"SORT RETURN (BOGUS) (DATE) UTF-8 ALL",
		"SORT RETURN (DATE) UTF-8 ALL",
		"SORT RETURN(ALL) (DATE) UTF-8 ALL",
		"SORT RETURNS (ALL) (DATE) UTF-8 ALL",
		"SORT RETURN (SAVE) (DATE) UTF-8 BOGUS",
	} {
		c.expect(cmd, "BAD")
	}
	// The failed SAVE emptied "$".
	c.expect("SEARCH $", "OK", "* SEARCH")
}

func TestSortModSeq(t *testing.T) {
	e, _ := sortEnv(t)
	c := e.login()
	c.ok("SELECT INBOX (CONDSTORE)")
	u := c.ok("SORT (DATE) UTF-8 MODSEQ 1")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* SORT 3 4 5 2 1 (MODSEQ ") {
		t.Fatalf("SORT MODSEQ: %q", u)
	}
}
