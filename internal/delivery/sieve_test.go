package delivery_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/internal/delivery"
	"mailroom/internal/directory"
	"mailroom/internal/sieve"
	"mailroom/internal/store"
)

func newSieveFixture(t *testing.T, opts delivery.Options) *fixture {
	t.Helper()
	f := newFixture(t, delivery.Options{})
	opts.Sieve = sieve.New(f.st, sieve.Options{MaxRedirects: 2, Hostname: "mx.example.test"})
	opts.Relay = true
	if opts.SpoolDir == "" {
		opts.SpoolDir = t.TempDir()
	}
	f.agent = delivery.New(f.st, f.dir, opts)
	return f
}

func (f *fixture) script(t *testing.T, who, script string) {
	t.Helper()
	a, err := f.st.Account(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	if err := sieve.Check([]byte(script)); err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutSieveScript(ctx, a.ID, "main", []byte(script)); err != nil {
		t.Fatal(err)
	}
	if err := f.st.ActivateSieveScript(ctx, a.ID, "main"); err != nil {
		t.Fatal(err)
	}
}

// folders lists "Folder:flags" for every message of the account.
func (f *fixture) folders(t *testing.T, who string) string {
	t.Helper()
	a, err := f.st.Account(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	mbs, _ := f.st.Mailboxes(ctx, a.ID)
	var out []string
	for _, mb := range mbs {
		msgs, _ := f.st.Messages(ctx, a.ID, mb.ID, 1)
		for _, m := range msgs {
			s := mb.Name
			if len(m.Flags) > 0 {
				s += fmt.Sprint(m.Flags)
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

func (f *fixture) body(t *testing.T, who, folder string) string {
	t.Helper()
	a, _ := f.st.Account(ctx, who)
	mb, err := f.st.Mailbox(ctx, a.ID, folder)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := f.st.Messages(ctx, a.ID, mb.ID, 1)
	b, err := f.st.OpenBody(ctx, msgs[0].BlobID)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, _ := io.ReadAll(b)
	return string(data)
}

const msgText = "From: Bob <s@example.org>\r\nTo: alice@example.test, bob@example.test\r\nSubject: Invoice 42\r\nMessage-ID: <i42@example.org>\r\nX-Spam: yes\r\n\r\nPlease pay.\r\n"

func TestSieveDelivery(t *testing.T) {
	tests := []struct {
		name, script string
		rcpt         string
		want         string // alice's folders
		wantErr      string
	}{
		{"fileinto", `require "fileinto"; if header :contains "subject" "invoice" { fileinto "Archive"; }`, "alice@example.test", "Archive", ""},
		{"discard", `discard;`, "alice@example.test", "", ""},
		{"reject", `require "reject"; reject "no invoices please";`, "alice@example.test", "", "550 5.7.1 no invoices please"},
		{"copies and flags", `require ["fileinto", "imap4flags", "copy"]; fileinto :copy :flags "\\Seen" "Archive"; fileinto "Junk"; keep :flags "\\Flagged";`,
			"alice@example.test", "Archive[\\Seen] INBOX[\\Flagged] Junk", ""},
		{"missing folder falls back", `require "fileinto"; fileinto "Nope"; fileinto "Junk";`, "alice@example.test", "INBOX", ""},
		{"create", `require ["fileinto", "mailbox"]; fileinto :create "Bills/2026";`, "alice@example.test", "Bills/2026", ""},
		{"subaddress", `require ["envelope", "subaddress", "fileinto"]; if envelope :detail "to" "bills" { fileinto "Archive"; }`, "alice+bills@example.test", "Archive", ""},
		{"broken script", `require "fileinto"; fileinto "Junk"; redirect "a@x.org"; redirect "b@x.org"; redirect "c@x.org";`, "alice@example.test", "INBOX", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSieveFixture(t, delivery.Options{})
			f.script(t, "alice@example.test", tt.script)
			errs, err := f.agent.Deliver(ctx, env(tt.rcpt), strings.NewReader(msgText))
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(errs[0]); (tt.wantErr == "" && errs[0] != nil) || (tt.wantErr != "" && got != tt.wantErr) {
				t.Fatalf("outcome %v, want %q", errs[0], tt.wantErr)
			}
			if got := f.folders(t, "alice@example.test"); got != tt.want {
				t.Fatalf("folders %q, want %q", got, tt.want)
			}
			rep, _ := f.st.Check(ctx, false)
			if len(rep.Problems) != 0 {
				t.Fatalf("check %+v", rep)
			}
		})
	}
}

// Two recipients over LMTP, each with their own script and outcome.
func TestSieveTwoRecipients(t *testing.T) {
	f := newSieveFixture(t, delivery.Options{})
	f.script(t, "alice@example.test", `require "fileinto"; fileinto "Archive";`)
	f.script(t, "bob@example.test", `require "ereject"; if header :contains "x-spam" "yes" { ereject "spam"; }`)
	errs, err := f.agent.Deliver(ctx, env("alice@example.test", "bob@example.test", "alice+x@example.test"), strings.NewReader(msgText))
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || fmt.Sprint(errs[1]) != "550 5.7.1 spam" || errs[2] != nil {
		t.Fatalf("outcomes %v", errs)
	}
	// One copy per recipient address: the script ran for each.
	if got := f.folders(t, "alice@example.test"); got != "Archive Archive" {
		t.Fatalf("alice %q", got)
	}
	if got := f.folders(t, "bob@example.test"); got != "" {
		t.Fatalf("bob %q", got)
	}
}

func TestSieveQuotaOnFileinto(t *testing.T) {
	f := newSieveFixture(t, delivery.Options{})
	f.script(t, "alice@example.test", `require ["fileinto", "copy"]; fileinto :copy "Archive";`)
	if err := f.dir.SetQuota(ctx, "alice@example.test", 300, store.QuotaDefault); err != nil {
		t.Fatal(err)
	}
	// Two copies of ~250 bytes do not fit 300 bytes: nothing is stored.
	errs, err := f.agent.Deliver(ctx, env("alice@example.test"), strings.NewReader(msgText))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(errs[0]) != "452 4.2.2 mailbox full" {
		t.Fatalf("outcome %v", errs[0])
	}
	if got := f.folders(t, "alice@example.test"); got != "" {
		t.Fatalf("stored %q", got)
	}
}

func TestSieveEditheader(t *testing.T) {
	f := newSieveFixture(t, delivery.Options{})
	f.script(t, "alice@example.test", `require ["editheader", "fileinto", "copy"]; fileinto :copy "Archive"; deleteheader "X-Spam"; addheader "X-Filed" "yes";`)
	if errs, err := f.agent.Deliver(ctx, env("alice@example.test"), strings.NewReader(msgText)); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	inbox, arch := f.body(t, "alice@example.test", "INBOX"), f.body(t, "alice@example.test", "Archive")
	if !strings.HasPrefix(inbox, "X-Filed: yes\r\nReturn-Path: <s@example.org>\r\n") || strings.Contains(inbox, "X-Spam") ||
		!strings.HasSuffix(inbox, "Message-ID: <i42@example.org>\r\n\r\nPlease pay.\r\n") {
		t.Fatalf("edited copy %q", inbox)
	}
	if !strings.Contains(arch, "X-Spam: yes") || strings.Contains(arch, "X-Filed") {
		t.Fatalf("copy filed before the edits %q", arch)
	}
}

// The plus_folder option still works without a script, and with one the
// implicit keep goes there too.
func TestSievePlusFolder(t *testing.T) {
	f := newSieveFixture(t, delivery.Options{PlusFolder: true})
	if errs, _ := f.agent.Deliver(ctx, env("bob+Archive@example.test"), strings.NewReader(msgText)); errs[0] != nil {
		t.Fatal(errs)
	}
	if got := f.folders(t, "bob@example.test"); got != "Archive" {
		t.Fatalf("no script: %q", got)
	}
	f.script(t, "alice@example.test", `require "imap4flags"; addflag "\\Seen";`)
	if errs, _ := f.agent.Deliver(ctx, env("alice+Archive@example.test"), strings.NewReader(msgText)); errs[0] != nil {
		t.Fatal(errs)
	}
	if got := f.folders(t, "alice@example.test"); got != "Archive[\\Seen]" {
		t.Fatalf("implicit keep: %q", got)
	}
}

// relay is a fake SMTP relay on loopback.
type relay struct {
	mu     sync.Mutex
	msgs   []string // "from -> to: data"
	got    chan struct{}
	refuse func(to string) error // answers a RCPT; nil takes every one
}

func (r *relay) NewSession(c *smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }

type relaySession struct {
	r        *relay
	from     string
	to       []string
	nextFail bool
}

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.r.refuse != nil {
		if err := s.r.refuse(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, fmt.Sprintf("<%s> -> %v: %s", s.from, s.to, data))
	s.r.mu.Unlock()
	select {
	case s.r.got <- struct{}{}:
	default:
	}
	return nil
}
func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }

func (r *relay) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func startRelay(t *testing.T, l net.Listener, r *relay) {
	srv := smtp.NewServer(r)
	srv.Domain = "relay.test"
	srv.AllowInsecureAuth = true
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

func TestVacationThroughRelay(t *testing.T) {
	// Reserve an address, then close it: the relay is down at first.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	f := newFixture(t, delivery.Options{})
	sender := sieve.NewSender(f.st, sieve.SenderOptions{Relay: addr, TLS: sieve.RelayNone, Hostname: "mx.example.test",
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Poll: 20 * time.Millisecond})
	f.agent = delivery.New(f.st, f.dir, delivery.Options{SpoolDir: t.TempDir(), Nudge: sender.Nudge, Relay: true,
		Sieve: sieve.New(f.st, sieve.Options{Hostname: "mx.example.test"})})
	f.script(t, "alice@example.test", `require ["vacation", "copy"]; vacation :days 7 "I am away until Monday."; redirect :copy "archive@example.org";`)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sender.Run(sctx); close(done) }()
	defer func() { cancel(); <-done }()

	deliver := func(from, msg string) {
		t.Helper()
		e := env("alice@example.test")
		e.From = from
		if errs, err := f.agent.Deliver(ctx, e, strings.NewReader(msg)); err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
	}
	deliver("s@example.org", msgText)
	deliver("s@example.org", strings.Replace(msgText, "Invoice 42", "Invoice 43", 1)) // same sender: no second reply
	deliver("list@example.org", "From: list@example.org\r\nTo: alice@example.test\r\nList-Id: <l.example.org>\r\nSubject: news\r\n\r\nx\r\n")

	// Attempts fail while the relay is down; they are recorded.
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, _ := f.st.Outbox(ctx)
		if len(q) == 4 && q[0].Attempts >= 2 && q[0].LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox %+v", q)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The relay comes back.
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	r := &relay{got: make(chan struct{}, 16)}
	startRelay(t, l, r)
	for deadline = time.Now().Add(10 * time.Second); ; {
		if q, _ := f.st.Outbox(ctx); len(q) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("outbox not drained")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // nothing more comes
	sent := r.sent()
	var replies, redirects int
	for _, m := range sent {
		switch {
		case strings.HasPrefix(m, "<> -> [s@example.org]: "):
			replies++
			for _, want := range []string{"Auto-Submitted: auto-replied", "Subject: Auto: Invoice 42", "In-Reply-To: <i42@example.org>", "I am away until Monday."} {
				if !strings.Contains(m, want) {
					t.Errorf("reply lacks %q: %s", want, m)
				}
			}
		case strings.HasPrefix(m, "<alice@example.test> -> [archive@example.org]: "):
			redirects++
			if !strings.Contains(m, "Delivered-To: alice@example.test") || strings.Contains(m, "Return-Path") {
				t.Errorf("redirect %s", m)
			}
		default:
			t.Errorf("unexpected %s", m)
		}
	}
	if replies != 1 || redirects != 3 {
		t.Fatalf("%d replies, %d redirects:\n%s", replies, redirects, strings.Join(sent, "\n"))
	}
	if got := f.folders(t, "alice@example.test"); got != "INBOX INBOX INBOX" {
		t.Fatalf("folders %q", got)
	}
}

// A message that comes back through a redirect is kept, not sent around again.
func TestRedirectLoop(t *testing.T) {
	f := newSieveFixture(t, delivery.Options{})
	f.script(t, "alice@example.test", `redirect "bob@example.test";`)
	looped := "Delivered-To: alice@example.test\r\n" + msgText
	if errs, err := f.agent.Deliver(ctx, env("alice@example.test"), strings.NewReader(looped)); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if got := f.folders(t, "alice@example.test"); got != "INBOX" {
		t.Fatalf("folders %q", got)
	}
	if q, _ := f.st.Outbox(ctx); len(q) != 0 {
		t.Fatalf("redirected a loop: %v", q)
	}
}

func TestMailboxLimitOnDeliveryCreate(t *testing.T) {
	f := newFixture(t, delivery.Options{PlusFolder: true, PlusFolderCreate: true, MaxMailboxes: len(store.DefaultMailboxes)})
	errs, err := f.agent.Deliver(ctx, env("alice+newfolder@example.test"), strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	if err != nil || errs[0] != nil {
		t.Fatalf("deliver: %v %v", errs, err)
	}
	a, _ := f.st.Account(ctx, "alice@example.test")
	if _, err := f.st.Mailbox(ctx, a.ID, "newfolder"); err == nil {
		t.Fatal("a mailbox was created past the limit")
	}
	if got := f.inbox(t, "alice@example.test"); len(got) != 1 {
		t.Fatalf("INBOX has %d messages, want the delivery there", len(got))
	}
}

// TestSieveDetailWithOtherDelimiter: with recipient_delimiter "-", Sieve's
// subaddress extension sees the same user and detail as delivery does.
func TestSieveDetailWithOtherDelimiter(t *testing.T) {
	f := newSieveFixture(t, delivery.Options{})
	f.agent = delivery.New(f.st, directory.New(f.st, directory.Options{RecipientDelimiter: "-"}),
		delivery.Options{Sieve: sieve.New(f.st, sieve.Options{Hostname: "mx.example.test"}), SpoolDir: t.TempDir()})
	f.script(t, "alice@example.test", `require ["envelope", "subaddress", "fileinto", "mailbox"];
if envelope :detail "to" "lists" { fileinto :create "Lists"; }
`)
	errs, err := f.agent.Deliver(ctx, env("alice-lists@example.test"), strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	if err != nil || errs[0] != nil {
		t.Fatalf("deliver: %v %v", errs, err)
	}
	if got := f.folders(t, "alice@example.test"); !strings.Contains(got, "Lists") {
		t.Fatalf("folders %q, want the message in Lists", got)
	}
}

// runSender runs an outbox sender through addr that returns failed
// redirects with the fixture's agent, until the test ends.
func (f *fixture) runSender(t *testing.T, addr string, giveUp time.Duration) *sieve.Sender {
	t.Helper()
	sender := sieve.NewSender(f.st, sieve.SenderOptions{Relay: addr, TLS: sieve.RelayNone, Hostname: "mx.example.test",
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Poll: 20 * time.Millisecond,
		GiveUp: giveUp, Return: f.agent.Return})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sender.Run(sctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return sender
}

func (f *fixture) waitOutboxEmpty(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if q, _ := f.st.Outbox(ctx); len(q) == 0 {
			return
		}
		if time.Now().After(deadline) {
			q, _ := f.st.Outbox(ctx)
			t.Fatalf("outbox not drained: %+v", q)
		}
	}
}

// TestRedirectRefusedIsBounced: a redirect keeps its quoted address on the
// way to the relay (RFC 5321 §4.1.2), and when the relay refuses it the
// acknowledged message comes back to the account that redirected it, as a
// bounce (RFC 3464) that holds the message.
func TestRedirectRefusedIsBounced(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{got: make(chan struct{}, 16), refuse: func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}}
	tl := &teeListener{Listener: l}
	startRelay(t, tl, r)
	f := newSieveFixture(t, delivery.Options{})
	f.script(t, "alice@example.test", `redirect "\"x@elsewhere\"@loop.test";`)
	f.runSender(t, l.Addr().String(), time.Hour)
	if errs, err := f.agent.Deliver(ctx, env("alice@example.test"), strings.NewReader(msgText)); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	f.waitOutboxEmpty(t)
	// go-smtp's server unquotes the path; the wire shows what was sent.
	if wire := tl.received(); !strings.Contains(wire, "RCPT TO:<\"x@elsewhere\"@loop.test>\r\n") {
		t.Errorf("relay received:\n%s", wire)
	}
	if got := f.folders(t, "alice@example.test"); got != "INBOX" {
		t.Fatalf("folders %q, want the bounce in INBOX", got)
	}
	bounce := f.body(t, "alice@example.test", "INBOX")
	for _, want := range []string{"Content-Type: multipart/report; report-type=delivery-status", "To: <alice@example.test>",
		`Final-Recipient: rfc822; "x@elsewhere"@loop.test`, "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 no such user here",
		"Content-Type: message/rfc822", "Delivered-To: alice@example.test", msgText} {
		if !strings.Contains(bounce, want) {
			t.Errorf("bounce lacks %q:\n%s", want, bounce)
		}
	}
}

// TestRedirectExpiredNullSenderIsKept: a redirected bounce (null sender)
// that cannot be sent within the time allowed cannot be bounced; the message
// itself is kept in the INBOX of the account that redirected it.
func TestRedirectExpiredNullSenderIsKept(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // the relay is down
	f := newSieveFixture(t, delivery.Options{})
	f.script(t, "alice@example.test", `redirect "carol@example.org";`)
	e := env("alice@example.test")
	e.From = ""
	if errs, err := f.agent.Deliver(ctx, e, strings.NewReader(msgText)); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	f.runSender(t, addr, 300*time.Millisecond)
	f.waitOutboxEmpty(t)
	if got := f.body(t, "alice@example.test", "INBOX"); !strings.HasSuffix(got, msgText) || strings.Contains(got, "delivery-status") {
		t.Fatalf("INBOX holds %q, want the message itself", got)
	}
}

// TestRedirectWithoutRelayIsKept: without a relay nothing is queued, since
// it could never leave; the message a script redirects is kept instead.
func TestRedirectWithoutRelayIsKept(t *testing.T) {
	f := newFixture(t, delivery.Options{})
	f.agent = delivery.New(f.st, f.dir, delivery.Options{SpoolDir: t.TempDir(),
		Sieve: sieve.New(f.st, sieve.Options{Hostname: "mx.example.test"})})
	f.script(t, "alice@example.test", `require "vacation"; vacation "away"; redirect "carol@example.org";`)
	if errs, err := f.agent.Deliver(ctx, env("alice@example.test"), strings.NewReader(msgText)); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if got := f.folders(t, "alice@example.test"); got != "INBOX" {
		t.Fatalf("folders %q", got)
	}
	if q, _ := f.st.Outbox(ctx); len(q) != 0 {
		t.Fatalf("queued without a relay: %+v", q)
	}
}

// TestOutboxFullKeeps: a redirect past the outbox limits keeps the message
// instead (it was acknowledged), and sends no vacation reply.
func TestOutboxFullKeeps(t *testing.T) {
	f := newSieveFixture(t, delivery.Options{OutboxLimits: store.OutboxLimits{PerAccount: 1000}})
	f.script(t, "alice@example.test", `require "vacation"; vacation "away"; redirect "carol@example.org";`)
	big := msgText + strings.Repeat("padding line\r\n", 100)
	for i, msg := range []string{msgText, big} {
		if errs, err := f.agent.Deliver(ctx, env("alice@example.test"), strings.NewReader(msg)); err != nil || errs[0] != nil {
			t.Fatal(i, err, errs)
		}
	}
	q, _ := f.st.Outbox(ctx)
	if len(q) != 2 || q[0].Kind != store.OutboxRedirect || q[1].Kind != store.OutboxVacation {
		t.Fatalf("outbox %+v", q)
	}
	if got := f.folders(t, "alice@example.test"); got != "INBOX" {
		t.Fatalf("folders %q, want the big message kept", got)
	}
	if got := f.body(t, "alice@example.test", "INBOX"); !strings.HasSuffix(got, big) {
		t.Fatalf("kept %q", got)
	}
}

// teeListener records every byte its connections receive.
type teeListener struct {
	net.Listener
	mu  sync.Mutex
	buf strings.Builder
}

func (l *teeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &teeConn{Conn: c, l: l}, nil
}

func (l *teeListener) received() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type teeConn struct {
	net.Conn
	l *teeListener
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.l.buf.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}
