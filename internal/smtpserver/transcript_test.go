package smtpserver

import (
	"regexp"
	"strings"
	"testing"

	"mailroom/internal/delivery"
)

// step is one client write and the replies it must get.
type step struct {
	send string   // written followed by CRLF, unless raw
	raw  bool     // write send as it is
	want []string // prefixes of the replies, in order; none: read nothing
}

// s is a step with one expected reply.
func s(send, want string) step { return step{send: send, want: []string{want}} }

type transcript struct {
	name   string
	opts   Options
	setup  func(*fakeDeliverer)
	steps  []step
	closed bool // the server must close the connection after the steps
	check  func(t *testing.T, ts *testServer)
}

func runTranscripts(t *testing.T, lmtp bool, cases []transcript) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newFake()
			if tc.setup != nil {
				tc.setup(d)
			}
			opts := tc.opts
			opts.LMTP = lmtp
			ts := startServer(t, d, opts)
			c := dial(t, ts.addr)
			for _, st := range tc.steps {
				if st.raw {
					c.write(st.send)
				} else {
					c.send(st.send)
				}
				for _, w := range st.want {
					c.expect(w)
				}
			}
			if tc.closed {
				c.expectClosed()
			}
			if tc.check != nil {
				// Replies are written before the deliverer's records are
				// read back, so the records are complete.
				tc.check(t, ts)
			}
		})
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// Common openings.
var (
	ehlo     = s("EHLO client.example", "250 ")
	lhlo     = s("LHLO client.example", "250 ")
	mail     = s("MAIL FROM:<sender@remote.example>", "250 2.0.0")
	rcpt     = s("RCPT TO:<alice@example.org>", "250 2.0.0")
	data     = s("DATA", "354 ")
	smallMsg = s("Subject: hi\r\n\r\nhello\r\n.", "250 2.0.0 OK: stored as ")
)

func oneDelivery(t *testing.T, ts *testServer) delivered {
	t.Helper()
	ds := ts.d.deliveries()
	if len(ds) != 1 {
		t.Fatalf("got %d deliveries, want 1", len(ds))
	}
	return ds[0]
}

func noDelivery(t *testing.T, ts *testServer) {
	t.Helper()
	if ds := ts.d.deliveries(); len(ds) != 0 {
		t.Fatalf("got %d deliveries, want none", len(ds))
	}
}

func TestSMTPTranscripts(t *testing.T) { runTranscripts(t, false, smtpTranscripts()) }

func TestLMTPTranscripts(t *testing.T) { runTranscripts(t, true, lmtpTranscripts()) }

func smtpTranscripts() []transcript {
	long := strings.Repeat("x", 3000)
	return []transcript{
		{
			name:  "normal transaction",
			steps: []step{ehlo, mail, rcpt, data, smallMsg, s("QUIT", "221 ")},
			check: func(t *testing.T, ts *testServer) {
				d := oneDelivery(t, ts)
				if d.body != "Subject: hi\r\n\r\nhello\r\n" {
					t.Errorf("body %q", d.body)
				}
				e := d.env
				if e.From != "sender@remote.example" || len(e.Recipients) != 1 || e.Recipients[0] != "alice@example.org" {
					t.Errorf("envelope %+v", e)
				}
				if e.Protocol != delivery.ProtoSMTP || e.Helo != "client.example" || e.SMTPUTF8 {
					t.Errorf("envelope %+v", e)
				}
				if !strings.HasPrefix(e.RemoteAddr, "127.0.0.1:") || !hexID.MatchString(e.ID) {
					t.Errorf("envelope %+v", e)
				}
				if !strings.Contains(ts.logs.String(), "id="+e.ID) {
					t.Errorf("transaction id not logged")
				}
			},
		},
		{
			name:  "HELO",
			steps: []step{s("HELO client.example", "250 "), mail, rcpt, data, smallMsg},
		},
		{
			name:  "null sender",
			steps: []step{ehlo, s("MAIL FROM:<>", "250 "), rcpt, data, smallMsg},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); d.env.From != "" {
					t.Errorf("From = %q", d.env.From)
				}
			},
		},
		{
			name:  "two transactions on one connection",
			steps: []step{ehlo, mail, rcpt, data, smallMsg, mail, s("RCPT TO:<bob@example.org>", "250 "), data, smallMsg},
			check: func(t *testing.T, ts *testServer) {
				ds := ts.d.deliveries()
				if len(ds) != 2 || ds[0].env.ID == ds[1].env.ID || ds[1].env.Recipients[0] != "bob@example.org" {
					t.Errorf("deliveries %+v", ds)
				}
			},
		},
		// Commands out of order: 503 (RFC 5321 §4.3.2).
		{name: "MAIL before EHLO", steps: []step{s("MAIL FROM:<a@remote.example>", "503 5.5.1")}},
		{name: "RCPT before MAIL", steps: []step{ehlo, s("RCPT TO:<alice@example.org>", "503 5.5.1")}},
		{name: "DATA before MAIL", steps: []step{ehlo, s("DATA", "503 5.5.1")}},
		{name: "DATA without RCPT", steps: []step{ehlo, mail, s("DATA", "503 5.5.1")}},
		{name: "DATA after rejected RCPT", steps: []step{ehlo, mail, s("RCPT TO:<nobody@example.org>", "550 5.1.1"), s("DATA", "503 5.5.1")}},
		{name: "nested MAIL", steps: []step{ehlo, mail, s("MAIL FROM:<other@remote.example>", "503 5.5.1")}},
		{name: "RSET ends the transaction", steps: []step{ehlo, mail, rcpt, s("RSET", "250 "), s("DATA", "503 5.5.1"), mail}},
		{name: "BDAT before RCPT", steps: []step{ehlo, mail, {send: "BDAT 3 LAST\r\nabc", raw: true, want: []string{"503 5.5.1"}}, s("NOOP", "250 ")}},
		{name: "MAIL during BDAT", steps: []step{ehlo, mail, rcpt, {send: "BDAT 3\r\nabc", raw: true, want: []string{"250 "}}, s("MAIL FROM:<a@remote.example>", "503 5.5.1")}},
		// Sender syntax: 501 5.1.7.
		{name: "sender with space", steps: []step{ehlo, s("MAIL FROM:<not an address>", "501 5.1.7")}},
		{name: "sender without domain", steps: []step{ehlo, s("MAIL FROM:<foo>", "501 5.1.7")}},
		{name: "sender empty domain", steps: []step{ehlo, s("MAIL FROM:<foo@>", "501 5.1.7")}},
		{name: "sender empty label", steps: []step{ehlo, s("MAIL FROM:<foo@remote..example>", "501 5.1.7")}},
		{name: "sender bad label", steps: []step{ehlo, s("MAIL FROM:<foo@-remote.example>", "501 5.1.7")}},
		{name: "sender with NUL", steps: []step{ehlo, s("MAIL FROM:<fo\x00o@remote.example>", "501 5.1.7")}},
		{name: "sender with CR", steps: []step{ehlo, s("MAIL FROM:<fo\ro@remote.example>", "501 5.1.7")}},
		{name: "sender bad UTF-8", steps: []step{ehlo, s("MAIL FROM:<fo\xffo@remote.example> SMTPUTF8", "501 5.1.7")}},
		{name: "sender too long", steps: []step{ehlo, s("MAIL FROM:<"+strings.Repeat("a", 250)+"@remote.example>", "501 5.1.7")}},
		{name: "MAIL without FROM:", steps: []step{ehlo, s("MAIL TO:<a@remote.example>", "501 5.1.7"), mail}},
		{name: "sender address literal", steps: []step{ehlo, s("MAIL FROM:<a@[192.0.2.1]>", "250 "), rcpt}},
		{name: "sender without brackets", steps: []step{ehlo, s("MAIL FROM:a@remote.example", "250 ")}},
		// Recipient syntax: 501 5.1.3.
		{name: "null recipient", steps: []step{ehlo, mail, s("RCPT TO:<>", "501 5.1.3"), rcpt}},
		{name: "recipient without domain", steps: []step{ehlo, mail, s("RCPT TO:<alice>", "501 5.1.3")}},
		{name: "recipient with space", steps: []step{ehlo, mail, s("RCPT TO:<alice@exa mple.org>", "501 5.1.3")}},
		{name: "recipient with NUL", steps: []step{ehlo, mail, s("RCPT TO:<al\x00ice@example.org>", "501 5.1.3")}},
		{name: "recipient bad domain", steps: []step{ehlo, mail, s("RCPT TO:<alice@example.org@x>", "501 5.1.3")}},
		{name: "RCPT without TO:", steps: []step{ehlo, mail, s("RCPT <alice@example.org>", "501 5.1.3")}},
		{
			name:  "source route stripped",
			steps: []step{ehlo, mail, s("RCPT TO:<@relay.example,@r2.example:alice@example.org>", "250 "), data, smallMsg},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); d.env.Recipients[0] != "alice@example.org" {
					t.Errorf("recipients %q", d.env.Recipients)
				}
			},
		},
		// What CheckRecipient says.
		{name: "unknown user", steps: []step{ehlo, mail, s("RCPT TO:<nobody@example.org>", "550 5.1.1 no such user")}},
		{name: "relaying denied", steps: []step{ehlo, mail, s("RCPT TO:<victim@elsewhere.example>", "550 5.7.1")}},
		{name: "mailbox full", steps: []step{ehlo, mail, s("RCPT TO:<full@example.org>", "452 4.2.2"), s("RCPT TO:<fullperm@example.org>", "552 5.2.2")}},
		{
			name:  "internal error hidden",
			steps: []step{ehlo, mail, s("RCPT TO:<broken@example.org>", "451 4.3.0 temporary failure, try again later")},
			check: func(t *testing.T, ts *testServer) {
				if !strings.Contains(ts.logs.String(), "secret-host") {
					t.Errorf("internal error not logged")
				}
			},
		},
		{
			name:  "duplicate recipient delivered once",
			steps: []step{ehlo, mail, rcpt, rcpt, data, smallMsg},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); len(d.env.Recipients) != 1 {
					t.Errorf("recipients %q", d.env.Recipients)
				}
			},
		},
		{
			name: "too many recipients",
			opts: Options{MaxRecipients: 2},
			steps: []step{ehlo, mail, rcpt, s("RCPT TO:<bob@example.org>", "250 "),
				s("RCPT TO:<carol@example.org>", "452 4.5.3"), data, smallMsg},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); len(d.env.Recipients) != 2 {
					t.Errorf("recipients %q", d.env.Recipients)
				}
			},
		},
		// SMTPUTF8 (RFC 6531).
		{name: "non-ASCII sender without SMTPUTF8", steps: []step{ehlo, s("MAIL FROM:<jösé@remote.example>", "553 5.6.7")}},
		{name: "non-ASCII recipient without SMTPUTF8", steps: []step{ehlo, mail, s("RCPT TO:<ü@example.org>", "553 5.6.7")}},
		{
			name:  "SMTPUTF8",
			steps: []step{ehlo, s("MAIL FROM:<jösé@bücher.example> SMTPUTF8", "250 "), s("RCPT TO:<ü@example.org>", "250 "), data, smallMsg},
			check: func(t *testing.T, ts *testServer) {
				d := oneDelivery(t, ts)
				if !d.env.SMTPUTF8 || d.env.Protocol != delivery.ProtoUTF8 || d.env.From != "jösé@bücher.example" {
					t.Errorf("envelope %+v", d.env)
				}
			},
		},
		// Bad input in general.
		{name: "EHLO with NUL", steps: []step{s("EHLO cli\x00ent", "501 5.5.4"), ehlo}},
		{name: "second EHLO with NUL", steps: []step{ehlo, s("EHLO cli\x00ent", "250 "), s("MAIL FROM:<a@remote.example>", "501 5.5.4"), ehlo, mail}},
		{name: "EHLO without domain", steps: []step{s("EHLO", "501 "), ehlo}},
		{name: "NUL command", steps: []step{s("\x00\x00\x00\x00", "500 5.5.2"), ehlo}},
		{name: "unknown command", steps: []step{ehlo, s("XYZW", "500 5.5.2"), s("NOOP", "250 ")}},
		{name: "LHLO on SMTP", steps: []step{s("LHLO client.example", "500 5.5.1")}},
		{name: "AUTH not offered", steps: []step{ehlo, s("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "504 5.7.4")}},
		{name: "STARTTLS without TLS", steps: []step{ehlo, s("STARTTLS", "502 5.5.1")}},
		{name: "VRFY", steps: []step{ehlo, s("VRFY alice", "252 ")}},
		{name: "DATA with argument", steps: []step{ehlo, mail, rcpt, s("DATA now", "501 "), data, smallMsg}},
		{name: "unknown MAIL parameter", steps: []step{ehlo, s("MAIL FROM:<a@remote.example> FOO=BAR", "555 5.5.4"), mail}},
		{name: "DSN MAIL parameter", steps: []step{ehlo, s("MAIL FROM:<a@remote.example> RET=HDRS", "555 5.5.4")}},
		{name: "unknown RCPT parameter", steps: []step{ehlo, mail, s("RCPT TO:<alice@example.org> FOO=BAR", "555 5.5.4")}},
		{name: "DSN RCPT parameter", steps: []step{ehlo, mail, s("RCPT TO:<alice@example.org> NOTIFY=NEVER", "555 5.5.4")}},
		{name: "BODY=BINARYMIME", steps: []step{ehlo, s("MAIL FROM:<a@remote.example> BODY=BINARYMIME", "555 5.5.4")}},
		{name: "BODY=8BITMIME", steps: []step{ehlo, s("MAIL FROM:<a@remote.example> BODY=8BITMIME", "250 "), rcpt, data, s("caf\xc3\xa9\r\n.", "250 ")}},
		{
			name:   "too many errors",
			steps:  []step{ehlo, s("XYZW", "500 "), s("XYZW", "500 "), s("XYZW", "500 "), {send: "XYZW", want: []string{"500 ", "500 5.5.1 Too many errors"}}},
			closed: true,
		},
		{
			name:   "very long command line",
			steps:  []step{ehlo, s("MAIL FROM:<"+long+"@remote.example>", "500 ")},
			closed: true,
		},
		// DATA content.
		{
			name:  "bare LF kept",
			steps: []step{ehlo, mail, rcpt, data, s("line1\nline2\n.\nline3\r\n.", "250 ")},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); d.body != "line1\nline2\n.\nline3\r\n" {
					t.Errorf("body %q", d.body)
				}
			},
		},
		{
			name:  "dot-stuffing undone",
			steps: []step{ehlo, mail, rcpt, data, s("..leading dot\r\n...\r\n.", "250 ")},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); d.body != ".leading dot\r\n..\r\n" {
					t.Errorf("body %q", d.body)
				}
			},
		},
		{
			name:  "NUL in data kept",
			steps: []step{ehlo, mail, rcpt, data, s("a\x00b\r\n.", "250 ")},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); d.body != "a\x00b\r\n" {
					t.Errorf("body %q", d.body)
				}
			},
		},
		{
			name:   "very long data line",
			steps:  []step{ehlo, mail, rcpt, data, s(long+"\r\n.", "554 5.6.0")},
			closed: true,
			check:  noDelivery,
		},
		// SIZE (RFC 1870); MaxMessageSize is 1000 in these tests.
		{name: "SIZE over the limit", steps: []step{ehlo, s("MAIL FROM:<a@remote.example> SIZE=1001", "552 5.3.4"), mail}},
		{name: "SIZE at the limit", steps: []step{ehlo, s("MAIL FROM:<a@remote.example> SIZE=1000", "250 ")}},
		{name: "SIZE not a number", steps: []step{ehlo, s("MAIL FROM:<a@remote.example> SIZE=big", "501 5.5.4")}},
		{
			name: "message too big, then the next transaction",
			steps: []step{ehlo, mail, rcpt, data, s(strings.Repeat("0123456789abcdefghi\r\n", 48)+".", "552 5.3.4"),
				mail, rcpt, data, smallMsg},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); d.body != "Subject: hi\r\n\r\nhello\r\n" {
					t.Errorf("body %q", d.body)
				}
				if errs := ts.d.readErrors(); len(errs) != 1 || errs[0] != delivery.ErrTooBig {
					t.Errorf("read errors %v", errs)
				}
			},
		},
		{
			name:  "message of exactly the limit",
			steps: []step{ehlo, mail, rcpt, data, s(strings.Repeat("x", 998)+"\r\n.", "250 ")},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); len(d.body) != 1000 {
					t.Errorf("body of %d octets", len(d.body))
				}
			},
		},
		{
			name:  "message one over the limit",
			steps: []step{ehlo, mail, rcpt, data, s(strings.Repeat("x", 999)+"\r\n.", "552 5.3.4")},
			check: noDelivery,
		},
		// CHUNKING (RFC 3030), which go-smtp always offers.
		{
			name:  "BDAT",
			steps: []step{ehlo, mail, rcpt, {send: "BDAT 5\r\nhello", raw: true, want: []string{"250 "}}, {send: "BDAT 2 LAST\r\n\r\n", raw: true, want: []string{"250 2.0.0 OK: stored as"}}},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); d.body != "hello\r\n" {
					t.Errorf("body %q", d.body)
				}
			},
		},
		{
			name: "BDAT too big, then the next transaction",
			steps: []step{ehlo, mail, rcpt, {send: "BDAT 1500 LAST\r\n" + strings.Repeat("x", 1500), raw: true, want: []string{"552 5.3.4"}},
				mail, rcpt, data, smallMsg},
		},
		{
			name:  "BDAT then RSET",
			steps: []step{ehlo, mail, rcpt, {send: "BDAT 5\r\nhello", raw: true, want: []string{"250 "}}, s("RSET", "250 "), mail, rcpt, data, smallMsg},
			check: func(t *testing.T, ts *testServer) {
				oneDelivery(t, ts)
				// The aborted BDAT delivery runs on a goroutine of its own.
				waitFor(t, "the aborted delivery", func() bool { return len(ts.d.readErrors()) == 1 })
			},
		},
	}
}

func lmtpTranscripts() []transcript {
	return []transcript{
		{
			name:  "normal transaction",
			steps: []step{lhlo, mail, rcpt, data, s("hello\r\n.", "250 2.0.0 <alice@example.org> OK: stored as "), s("QUIT", "221 ")},
			check: func(t *testing.T, ts *testServer) {
				d := oneDelivery(t, ts)
				if d.env.Protocol != delivery.ProtoLMTP || d.env.Helo != "client.example" || d.body != "hello\r\n" {
					t.Errorf("delivery %+v", d)
				}
			},
		},
		{name: "EHLO on LMTP", steps: []step{s("EHLO client.example", "500 5.5.1"), lhlo}},
		{name: "HELO on LMTP", steps: []step{s("HELO client.example", "500 5.5.1")}},
		{name: "MAIL before LHLO", steps: []step{s("MAIL FROM:<a@remote.example>", "503 5.5.1")}},
		{name: "DATA without RCPT", steps: []step{lhlo, mail, s("DATA", "503 5.5.1")}},
		{
			name: "mixed results, one reply per recipient in RCPT order",
			setup: func(d *fakeDeliverer) {
				d.rcptResult["carol@example.org"] = delivery.ErrMailboxFullTemp
				d.rcptResult["dave@example.org"] = delivery.ErrMailboxFullPerm
			},
			steps: []step{lhlo, mail,
				s("RCPT TO:<alice@example.org>", "250 "),
				s("RCPT TO:<carol@example.org>", "250 "),
				s("RCPT TO:<bob@example.org>", "250 "),
				s("RCPT TO:<dave@example.org>", "250 "),
				data,
				{send: "hello\r\n.", want: []string{
					"250 2.0.0 <alice@example.org> OK",
					"452 4.2.2 <carol@example.org> mailbox full",
					"250 2.0.0 <bob@example.org> OK",
					"552 5.2.2 <dave@example.org> mailbox full",
				}},
				s("NOOP", "250 "),
			},
			check: func(t *testing.T, ts *testServer) {
				d := oneDelivery(t, ts)
				if strings.Join(d.env.Recipients, " ") != "alice@example.org carol@example.org bob@example.org dave@example.org" {
					t.Errorf("recipients %q", d.env.Recipients)
				}
				logs := ts.logs.String()
				if !strings.Contains(logs, "message delivered to some recipients") || !strings.Contains(logs, "carol@example.org: 452 4.2.2") {
					t.Errorf("mixed result not logged:\n%s", logs)
				}
			},
		},
		{
			name: "RCPT rejected at RCPT time gets no reply after DATA",
			steps: []step{lhlo, mail, rcpt, s("RCPT TO:<nobody@example.org>", "550 5.1.1"), s("RCPT TO:<bob@example.org>", "250 "), data,
				{send: "hello\r\n.", want: []string{"250 2.0.0 <alice@example.org>", "250 2.0.0 <bob@example.org>"}}, s("NOOP", "250 ")},
		},
		{
			name: "duplicate RCPT: two replies, one delivery",
			steps: []step{lhlo, mail, rcpt, rcpt, data,
				{send: "hello\r\n.", want: []string{"250 2.0.0 <alice@example.org>", "250 2.0.0 <alice@example.org>"}}, s("NOOP", "250 ")},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); len(d.env.Recipients) != 1 {
					t.Errorf("recipients %q", d.env.Recipients)
				}
			},
		},
		{
			name:  "failure for all recipients",
			setup: func(d *fakeDeliverer) { d.allErr = delivery.ErrMalformed },
			steps: []step{lhlo, mail, rcpt, s("RCPT TO:<bob@example.org>", "250 "), data,
				{send: "hello\r\n.", want: []string{"554 5.6.0 <alice@example.org>", "554 5.6.0 <bob@example.org>"}}},
		},
		{
			name: "too big: one 552 per recipient, then the next transaction",
			steps: []step{lhlo, mail, rcpt, s("RCPT TO:<bob@example.org>", "250 "), data,
				{send: strings.Repeat("x\r\n", 700) + ".", want: []string{"552 5.3.4 <alice@example.org>", "552 5.3.4 <bob@example.org>"}},
				mail, rcpt, data, s("hello\r\n.", "250 ")},
		},
		{
			name: "BDAT",
			steps: []step{lhlo, mail, rcpt, s("RCPT TO:<bob@example.org>", "250 "),
				{send: "BDAT 7 LAST\r\nhello\r\n", raw: true, want: []string{"250 2.0.0 <alice@example.org>", "250 2.0.0 <bob@example.org>"}}},
		},
		{
			name:  "SMTPUTF8",
			steps: []step{lhlo, s("MAIL FROM:<jösé@bücher.example> SMTPUTF8", "250 "), s("RCPT TO:<ü@example.org>", "250 "), data, s("hello\r\n.", "250 ")},
			check: func(t *testing.T, ts *testServer) {
				if d := oneDelivery(t, ts); d.env.Protocol != delivery.ProtoUTF8LM {
					t.Errorf("protocol %q", d.env.Protocol)
				}
			},
		},
		{name: "bad recipient syntax", steps: []step{lhlo, mail, s("RCPT TO:<>", "501 5.1.3")}},
	}
}
