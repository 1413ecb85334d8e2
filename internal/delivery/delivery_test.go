package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"mailroom/internal/delivery"
	"mailroom/internal/directory"
	"mailroom/internal/store"
	"mailroom/internal/store/sqlite"
)

var ctx = context.Background()

type fixture struct {
	st    *sqlite.Store
	dir   *directory.Directory
	agent *delivery.Agent
}

func newFixture(t testing.TB, opts delivery.Options) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := directory.New(st, directory.Options{RecipientDelimiter: "+"})
	if err := dir.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := dir.AddAccount(ctx, u+"@example.test", "pw-"+u, store.QuotaDefault, store.QuotaDefault); err != nil {
			t.Fatal(err)
		}
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = t.TempDir()
	}
	return &fixture{st: st, dir: dir, agent: delivery.New(st, dir, opts)}
}

func (f *fixture) inbox(t testing.TB, who string) []string {
	t.Helper()
	a, err := f.st.Account(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := f.st.Mailbox(ctx, a.ID, "INBOX")
	msgs, _ := f.st.Messages(ctx, a.ID, mb.ID, 1)
	var out []string
	for _, m := range msgs {
		b, err := f.st.OpenBody(ctx, m.BlobID)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(b)
		b.Close()
		out = append(out, string(data))
	}
	return out
}

func env(rcpts ...string) *delivery.Envelope {
	return &delivery.Envelope{From: "s@example.org", Recipients: rcpts, Protocol: delivery.ProtoLMTP,
		Helo: "mta.example.org", RemoteAddr: "127.0.0.1:4242", ID: "abc123"}
}

func TestLineEndingsBecomeCRLF(t *testing.T) {
	f := newFixture(t, delivery.Options{Hostname: "mx.example.test"})
	// One byte at a time, so that CR and LF straddle every read boundary.
	msg := "Subject: t\nX: y\r\n\r\nbare\nmixed\r\nend\n"
	errs, err := f.agent.Deliver(ctx, env("alice@example.test"), iotest.OneByteReader(strings.NewReader(msg)))
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	got := f.inbox(t, "alice@example.test")[0]
	if !strings.HasSuffix(got, "Subject: t\r\nX: y\r\n\r\nbare\r\nmixed\r\nend\r\n") {
		t.Fatalf("stored %q", got)
	}
	if !strings.Contains(got, "Received: from mta.example.org ([127.0.0.1])\r\n\tby mx.example.test (mailroom) with LMTP id abc123\r\n\tfor <alice@example.test>; ") {
		t.Fatalf("Received header: %q", got)
	}
}

// A client that goes away in the middle of DATA leaves nothing behind.
func TestBrokenBodyStoresNothing(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	r := io.MultiReader(strings.NewReader("Subject: x\r\n\r\npartial"), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := f.agent.Deliver(ctx, env("alice@example.test"), r); err == nil {
		t.Fatal("broken body delivered")
	}
	if n := len(f.inbox(t, "alice@example.test")); n != 0 {
		t.Fatalf("stored %d", n)
	}
	rep, _ := f.st.Check(ctx, false)
	if len(rep.Problems) != 0 || rep.InFlight != 0 {
		t.Fatalf("check %+v", rep)
	}
}

func TestLargeMessageSpoolsToDisk(t *testing.T) {
	f := newFixture(t, delivery.Options{MaxMessageSize: 8 << 20})
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 40000) // ~2.5 MB
	errs, err := f.agent.Deliver(ctx, env("alice@example.test", "bob@example.test"), strings.NewReader("Subject: big\n\n"+body))
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatal(err, errs)
	}
	for _, who := range []string{"alice@example.test", "bob@example.test"} {
		got := f.inbox(t, who)[0]
		if !strings.HasSuffix(got, strings.ReplaceAll(body, "\n", "\r\n")) {
			t.Fatalf("%s: big body altered (%d bytes)", who, len(got))
		}
	}
	_, err = f.agent.Deliver(ctx, env("alice@example.test"), strings.NewReader("Subject: huge\n\n"+strings.Repeat(body, 4)))
	var de *delivery.Error
	if !errors.As(err, &de) || de.Code != 552 {
		t.Fatalf("too big: %v", err)
	}
}

func TestRecipientOutcomes(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	if err := f.dir.SetQuota(ctx, "bob@example.test", 10, store.QuotaDefault); err != nil {
		t.Fatal(err)
	}
	errs, err := f.agent.Deliver(ctx, env("alice@example.test", "nobody@example.test", "bob@example.test", "x@else.example", "ALICE+x@example.test"),
		strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"<nil>", "550 5.1.1 no such user here", "452 4.2.2 mailbox full", "550 5.7.1 relaying denied: not a local domain", "<nil>"}
	for i := range want {
		if fmt.Sprint(errs[i]) != want[i] {
			t.Errorf("recipient %d: %v, want %s", i, errs[i], want[i])
		}
	}
	// alice and ALICE+x are one account and one folder: stored once.
	if n := len(f.inbox(t, "alice@example.test")); n != 1 {
		t.Fatalf("alice has %d", n)
	}
	if err := f.agent.CheckRecipient(ctx, env(), "bob@example.test"); err != nil {
		t.Fatalf("bob is empty, RCPT must pass: %v", err)
	}
	for rcpt, code := range map[string]int{"nobody@example.test": 550, "a@b@c": 501, "x@else.example": 550} {
		var de *delivery.Error
		if err := f.agent.CheckRecipient(ctx, env(), rcpt); !errors.As(err, &de) || de.Code != code {
			t.Errorf("RCPT %s: %v, want %d", rcpt, err, code)
		}
	}
}

func TestUnparseableMIMEStoredAsIs(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	msg := "Content-Type: multipart/mixed; boundary=\"never\"\r\nSubject: broken\r\n\r\n--wrong\r\n\x00\xff\xfe garbage\r\n"
	errs, err := f.agent.Deliver(ctx, env("alice@example.test"), strings.NewReader(msg))
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if got := f.inbox(t, "alice@example.test")[0]; !strings.HasSuffix(got, msg) {
		t.Fatalf("not byte for byte: %q", got)
	}
}

func TestCheckReversePath(t *testing.T) {
	for _, tt := range []struct {
		from string
		ok   bool
	}{
		{"", true}, {"a@example.org", true}, {`"john doe"@example.org`, true},
		{"a@example.org\r\nX-Injected: yes", false}, {"a@example.org\n", false}, {"a\x00@example.org", false},
		{"a@example.org>", false}, {strings.Repeat("a", 245) + "@example.org", false},
	} {
		if err := delivery.CheckReversePath(tt.from); (err == nil) != tt.ok {
			t.Errorf("CheckReversePath(%q) = %v, want ok %v", tt.from, err, tt.ok)
		}
	}
}
