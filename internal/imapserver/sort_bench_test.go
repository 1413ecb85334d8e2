package imapserver

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mailroom/internal/store"
)

// threadBenchMailbox fills INBOX with n messages, each with a body of its
// own, through the store: threads of ten (each message referring to all
// before it in its thread), sent dates out of arrival order, 500 senders.
func threadBenchMailbox(b *testing.B, e *testEnv, n int) {
	b.Helper()
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []store.AppendMessage
	for j := range n {
		t, p := j/10, j%10
		var refs []string
		for k := t * 10; k < j; k++ {
			refs = append(refs, fmt.Sprintf("<%d@bench>", k))
		}
		subject := fmt.Sprintf("topic %d", t)
		if p > 0 {
			subject = "Re: " + subject
		}
		date := base.Add(time.Duration(j*7919%n) * time.Minute)
		raw := fmt.Sprintf("From: User %d <u%d@example.test>\r\nTo: alice@example.test\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@bench>\r\n",
			j%500, j%500, subject, date.Format(time.RFC1123Z), j)
		if len(refs) > 0 {
			raw += "References: " + strings.Join(refs, " ") + "\r\n"
		}
		raw += "\r\nHello.\r\n"
		ref, st := e.putBody(b, raw)
		batch = append(batch, store.AppendMessage{MailboxID: mb.ID, Body: ref, InternalDate: base.Add(time.Duration(j) * time.Second), Structure: st.Encode()})
		if len(batch) == 1000 || j == n-1 {
			if _, err := e.st.Append(bg, e.acct.ID, batch, false); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// benchUntagged runs cmd b.N times after a first (cold) run and checks
// that it answers OK with one untagged line each time.
func benchUntagged(b *testing.B, cmd string) {
	e := newTestEnv(b)
	threadBenchMailbox(b, e, benchMessages)
	c := e.login()
	c.ok("SELECT INBOX")
	start := time.Now()
	if u := c.ok(cmd); len(u) != 1 {
		b.Fatalf("%s: %d untagged lines", cmd, len(u))
	}
	b.Logf("%s: cold %v", cmd, time.Since(start))
	b.ResetTimer()
	for b.Loop() {
		if u := c.ok(cmd); len(u) != 1 {
			b.Fatalf("%s: %d untagged lines", cmd, len(u))
		}
	}
}

// BenchmarkSortDate is SORT (REVERSE DATE) of a 100,000-message mailbox,
// warm: the sort keys are cached.
func BenchmarkSortDate(b *testing.B) { benchUntagged(b, "SORT (REVERSE DATE) UTF-8 ALL") }

// BenchmarkThreadReferences is THREAD REFERENCES of a 100,000-message
// mailbox in threads of ten, warm.
func BenchmarkThreadReferences(b *testing.B) { benchUntagged(b, "THREAD REFERENCES UTF-8 ALL") }
