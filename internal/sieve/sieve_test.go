package sieve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mailroom/internal/store"
	"mailroom/internal/store/sqlite"
)

var ctx = context.Background()

func newRuntime(t testing.TB, opts Options) (*Runtime, *store.Account) {
	t.Helper()
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	acc, err := st.CreateAccount(ctx, store.NewAccount{Address: "alice@example.test", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return New(st, opts), acc
}

const plainMsg = "Delivered-To: alice+lists@example.test\r\n" +
	"From: Bob <bob@example.org>\r\n" +
	"To: alice@example.test\r\n" +
	"Cc: carol@example.org\r\n" +
	"Subject: Meeting on Friday\r\n" +
	"Date: Fri, 13 Mar 2026 10:00:00 +0100\r\n" +
	"Message-ID: <m1@example.org>\r\n" +
	"X-Spam-Score: 7\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"Hello Alice, the budget is attached.\r\n"

const listMsg = "Delivered-To: alice@example.test\r\n" +
	"From: list@lists.example.org\r\n" +
	"To: dev@lists.example.org\r\n" +
	"List-Id: <dev.lists.example.org>\r\n" +
	"Subject: =?utf-8?q?Caf=C3=A9?= news\r\n" +
	"\r\n" +
	"list body\r\n"

func run(t *testing.T, r *Runtime, acc *store.Account, script, from, to, msg string) *Result {
	t.Helper()
	i := strings.Index(msg, "\r\n\r\n")
	hdr, body := msg[:i+4], msg[i+4:]
	return r.Run(ctx, &Input{
		Account: acc,
		Script:  &store.SieveScript{Name: "test", Content: []byte(script)},
		From:    from,
		To:      to,
		Header:  []byte(hdr),
		Size:    int64(len(msg)),
		Body:    func() ([]byte, error) { return []byte(body), nil },
	})
}

// summary renders a Result: "keep:Box[flags] ... redirect:addr reject:reason vacation:to".
func summary(res *Result) string {
	var parts []string
	if res.Err != nil {
		parts = append(parts, "FAILED")
	}
	for _, k := range res.Keeps {
		name := k.Mailbox
		if name == "" {
			name = "(default)"
		}
		s := "keep:" + name
		if len(k.Flags) > 0 {
			s += fmt.Sprint(k.Flags)
		}
		if k.Create {
			s += "+create"
		}
		parts = append(parts, s)
	}
	for _, rd := range res.Redirects {
		parts = append(parts, "redirect:"+rd.Address)
	}
	if res.Reject {
		parts = append(parts, "reject:"+res.RejectReason)
	}
	if res.Vacation != nil {
		parts = append(parts, "vacation:"+res.Vacation.Message.To[0])
	}
	if len(parts) == 0 {
		return "discard"
	}
	return strings.Join(parts, " ")
}

func TestScripts(t *testing.T) {
	r, acc := newRuntime(t, Options{MaxRedirects: 2})
	tests := []struct {
		name, script string
		from, to     string // defaults bob@example.org, alice+lists@example.test
		msg          string // default plainMsg
		want         string
	}{
		{name: "empty", script: ``, want: "keep:(default)"},
		{name: "keep", script: `keep;`, want: "keep:INBOX keep:(default)"},
		{name: "discard", script: `discard;`, want: "discard"},
		{name: "fileinto", script: `require "fileinto"; if header :contains "subject" "meeting" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "fileinto twice", script: `require "fileinto"; fileinto "Archive"; fileinto "Junk"; fileinto "Archive";`, want: "keep:Archive keep:Junk"},
		{name: "fileinto no match", script: `require "fileinto"; if header :is "subject" "x" { fileinto "Archive"; }`, want: "keep:(default)"},
		{name: "stop", script: `require "fileinto"; fileinto "Junk"; stop; fileinto "Archive";`, want: "keep:Junk"},
		{name: "copy", script: `require ["fileinto", "copy"]; fileinto :copy "Archive";`, want: "keep:Archive keep:(default)"},
		{name: "redirect copy", script: `require "copy"; redirect :copy "carol@example.org";`, want: "keep:(default) redirect:carol@example.org"},
		{name: "redirect", script: `redirect "carol@example.org"; redirect "CAROL@example.org";`, want: "redirect:carol@example.org"},
		{name: "redirect quoted", script: `redirect "\"x@elsewhere\"@loop.test";`, want: `redirect:"x@elsewhere"@loop.test`},
		{name: "redirect quoted space", script: `redirect "\"john smith\"@example.org";`, want: `redirect:"john smith"@example.org`},
		{name: "redirect quoted atom", script: `redirect "\"carol\"@example.org";`, want: `redirect:carol@example.org`},
		{name: "envelope", script: `require ["envelope", "fileinto"]; if envelope :domain "from" "example.org" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "envelope to", script: `require ["envelope", "fileinto"]; if envelope :localpart "to" "alice+lists" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "subaddress detail", script: `require ["envelope", "subaddress", "fileinto", "variables"];
			if envelope :detail :matches "to" "*" { fileinto "${1}"; }`, want: "keep:lists"},
		{name: "subaddress user", script: `require ["envelope", "subaddress", "fileinto"];
			if envelope :user "to" "alice" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "mailbox create", script: `require ["envelope", "subaddress", "fileinto", "variables", "mailbox"];
			if envelope :detail :matches "to" "*" { fileinto :create "${1}"; }`, want: "keep:lists+create"},
		{name: "mailboxexists", script: `require ["mailbox", "fileinto"]; if mailboxexists "Nope" { fileinto "Junk"; } elsif mailboxexists "Archive" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "encoded-character", script: `require ["encoded-character", "fileinto"]; if header :contains "subject" "${hex:4d 65}eting" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "imap4flags", script: `require "imap4flags"; setflag "\\Seen"; addflag ["\\Flagged", "work"]; removeflag "\\Seen";`, want: "keep:(default)[\\Flagged work]"},
		{name: "flags per action", script: `require ["imap4flags", "fileinto"]; addflag "\\Seen"; fileinto :flags "\\Flagged" "Archive"; fileinto "Junk"; keep;`,
			want: "keep:Archive[\\Flagged] keep:Junk[\\Seen] keep:INBOX[\\Seen]"},
		{name: "flags snapshot", script: `require ["imap4flags", "fileinto"]; fileinto "Junk"; addflag "\\Seen";`, want: "keep:Junk"},
		{name: "variables", script: `require ["variables", "fileinto"]; if header :matches "subject" "* on *" { set "day" "${2}"; fileinto "Archive/${day}"; }`, want: "keep:Archive/Friday"},
		{name: "variables modifiers", script: `require ["variables", "fileinto", "mailbox"]; set :lower "box" "ARCHIVE"; fileinto :create "${box}";`, want: "keep:archive+create"},
		{name: "relational", script: `require ["relational", "comparator-i;ascii-numeric", "fileinto"];
			if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto "Junk"; }`, want: "keep:Junk"},
		{name: "relational count", script: `require ["relational", "comparator-i;ascii-numeric", "fileinto"];
			if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "2" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "body", script: `require ["body", "fileinto"]; if body :text :contains "budget" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "body no match", script: `require ["body", "fileinto"]; if body :raw :contains "nothing" { fileinto "Archive"; }`, want: "keep:(default)"},
		{name: "date", script: `require ["date", "relational", "fileinto"]; if date :value "ge" "date" "year" "2026" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "date weekday", script: `require ["date", "fileinto"]; if date :is "date" "weekday" "5" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "currentdate", script: `require ["date", "relational", "fileinto"]; if currentdate :value "ge" "year" "2000" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "index", script: `require ["date", "index", "fileinto"]; if date :index 1 :is "date" "month" "03" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "regex", script: `require ["regex", "fileinto"]; if header :regex "subject" "^meet(ing)? on [a-z]+day$" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "reject", script: `require "reject"; if size :over 10 { reject "too big for me"; }`, want: "reject:too big for me"},
		{name: "ereject", script: `require "ereject"; ereject "go
away";`, want: "reject:go away"},
		{name: "reject and fileinto", script: `require ["reject", "fileinto"]; fileinto "Junk"; reject "no";`, want: "FAILED keep:INBOX"},
		{name: "editheader", script: `require ["editheader", "fileinto"]; addheader "X-Filtered" "yes"; deleteheader "x-spam-score"; fileinto "Archive";`, want: "keep:Archive"},
		{name: "editheader visible", script: `require ["editheader", "fileinto"]; addheader "X-Tag" "t1"; if header :is "x-tag" "t1" { fileinto "Archive"; }`, want: "keep:Archive"},
		{name: "vacation", script: `require "vacation"; vacation "I am away";`, want: "keep:(default) vacation:bob@example.org"},
		{name: "vacation list", script: `require "vacation"; vacation "I am away";`, msg: listMsg, want: "keep:(default)"},
		{name: "vacation null sender", script: `require "vacation"; vacation "I am away";`, from: "-", want: "keep:(default)"},
		{name: "vacation not addressed", script: `require "vacation"; vacation "I am away";`,
			msg: strings.Replace(plainMsg, "To: alice@", "To: team@", 1), want: "keep:(default)"},
		{name: "vacation addresses", script: `require "vacation"; vacation :addresses "carol@example.org" "away";`,
			msg: strings.Replace(plainMsg, "To: alice@", "To: team@", 1), want: "keep:(default) vacation:bob@example.org"},
		{name: "vacation daemon", script: `require "vacation"; vacation "away";`, from: "MAILER-DAEMON@example.org", want: "keep:(default)"},
		{name: "vacation owner", script: `require "vacation"; vacation "away";`, from: "owner-dev@example.org", want: "keep:(default)"},
		{name: "vacation seconds", script: `require ["vacation", "vacation-seconds"]; vacation :seconds 60 "away";`, want: "keep:(default) vacation:bob@example.org"},
		{name: "too many redirects", script: `redirect "a@example.org"; redirect "b@example.org"; redirect "c@example.org";`, want: "FAILED keep:INBOX"},
		{name: "bad folder at run time", script: `require ["fileinto", "variables"]; set "x" ""; fileinto "${x}";`, want: "FAILED keep:INBOX"},
		{name: "redirect loop", script: `redirect "carol@example.org";`, to: "alice+lists@example.test",
			msg: "Delivered-To: alice+lists@example.test\r\n" + plainMsg, want: "FAILED keep:INBOX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to, msg := tt.from, tt.to, tt.msg
			if from == "" {
				from = "bob@example.org"
			} else if from == "-" {
				from = ""
			}
			if to == "" {
				to = "alice+lists@example.test"
			}
			if msg == "" {
				msg = plainMsg
			}
			if err := Check([]byte(tt.script)); err != nil {
				t.Fatalf("check: %v", err)
			}
			res := run(t, r, acc, tt.script, from, to, msg)
			if got := summary(res); got != tt.want {
				t.Errorf("got %q, want %q (err %v)", got, tt.want, res.Err)
			}
		})
	}
}

func TestVacationReply(t *testing.T) {
	r, acc := newRuntime(t, Options{Hostname: "mx.example.test"})
	res := run(t, r, acc, `require ["vacation"]; vacation :days 3 :from "Alice <alice@example.test>" "Back on Monday.
Regards";`, "bob@example.org", "alice@example.test", plainMsg)
	v := res.Vacation
	if v == nil {
		t.Fatalf("no vacation: %+v", res)
	}
	data := string(v.Message.Data)
	for _, want := range []string{"From: \"Alice\" <alice@example.test>\r\n", "To: <bob@example.org>\r\n",
		"Subject: Auto: Meeting on Friday\r\n", "In-Reply-To: <m1@example.org>\r\n", "References: <m1@example.org>\r\n",
		"Auto-Submitted: auto-replied", "\r\n\r\nBack on Monday.\r\nRegards\r\n"} {
		if !strings.Contains(data, want) {
			t.Errorf("reply lacks %q:\n%s", want, data)
		}
	}
	if v.Message.From != "" || v.Sender != "bob@example.org" || v.Period.Hours() != 72 || v.Handle == "" {
		t.Errorf("reply %+v", v)
	}
	res = run(t, r, acc, `require ["vacation", "vacation-seconds"]; vacation :seconds 0 :subject "Away" :handle "h" "x";`, "bob@example.org", "alice@example.test", plainMsg)
	if v := res.Vacation; v == nil || v.Period != DefaultVacationMinPeriod || v.Handle != "h:h" || !strings.Contains(string(v.Message.Data), "Subject: Away\r\n") {
		t.Fatalf("seconds: %+v", res)
	}
	// Auto-Submitted other than "no" gets no reply.
	res = run(t, r, acc, `require "vacation"; vacation "x";`, "bob@example.org", "alice@example.test", "Auto-Submitted: auto-generated\r\n"+plainMsg)
	if res.Vacation != nil || res.VacationSkipped == "" {
		t.Fatalf("auto-submitted: %+v", res)
	}
	res = run(t, r, acc, `require "vacation"; vacation "x";`, "bob@example.org", "alice@example.test", "Precedence: bulk\r\n"+plainMsg)
	if res.Vacation != nil {
		t.Fatalf("precedence bulk: %+v", res)
	}
}

// TestVacationPeriod: a period below the minimum is raised to it (RFC 5230
// §4.1); a negative minimum lets a script reply to every message.
func TestVacationPeriod(t *testing.T) {
	tests := []struct {
		min    time.Duration
		script string
		want   time.Duration
	}{
		{0, `vacation :seconds 0 "x";`, 24 * time.Hour},
		{0, `vacation :seconds 60 "x";`, 24 * time.Hour},
		{0, `vacation :days 3 "x";`, 72 * time.Hour},
		{0, `vacation "x";`, 7 * 24 * time.Hour},
		{time.Hour, `vacation :seconds 60 "x";`, time.Hour},
		{time.Hour, `vacation :seconds 7200 "x";`, 2 * time.Hour},
		{-1, `vacation :seconds 0 "x";`, 0},
	}
	for _, tt := range tests {
		r, acc := newRuntime(t, Options{VacationMinPeriod: tt.min})
		res := run(t, r, acc, `require ["vacation", "vacation-seconds"]; `+tt.script, "bob@example.org", "alice@example.test", plainMsg)
		if res.Vacation == nil || res.Vacation.Period != tt.want {
			t.Errorf("min %v, %s: got %+v, want period %v", tt.min, tt.script, res.Vacation, tt.want)
		}
	}
}

// TestVacationFrom: a reply goes From the account's own addresses only;
// another :from, or an address named only by :addresses, would forge it.
func TestVacationFrom(t *testing.T) {
	owns := func(_ context.Context, acc *store.Account, addr string) (bool, error) {
		return acc.Address == "alice@example.test" && strings.EqualFold(addr, "sales@example.test"), nil
	}
	r, acc := newRuntime(t, Options{OwnsAddress: owns})
	toTeam := strings.Replace(plainMsg, "To: alice@", "To: team@", 1)
	tests := []struct {
		name, script, msg, to, want string
	}{
		{"no from", `vacation "x";`, plainMsg, "alice@example.test", "<alice@example.test>"},
		{"own", `vacation :from "alice@example.test" "x";`, plainMsg, "alice@example.test", "<alice@example.test>"},
		{"plus form", `vacation :from "Alice <alice+away@example.test>" "x";`, plainMsg, "alice@example.test", `"Alice" <alice+away@example.test>`},
		{"alias", `vacation :from "Sales <sales@example.test>" "x";`, plainMsg, "alice@example.test", `"Sales" <sales@example.test>`},
		{"forged", `vacation :seconds 0 :from "ceo@bank.example" "x";`, plainMsg, "alice@example.test", "<alice@example.test>"},
		{"forged name", `vacation :from "CEO <ceo@bank.example>" "x";`, plainMsg, "alice@example.test", "<alice@example.test>"},
		{"addresses not own", `vacation :addresses "carol@example.org" "x";`, toTeam, "alice@example.test", "<alice@example.test>"},
		{"addresses alias", `vacation :addresses "sales@example.test" "x";`,
			strings.Replace(plainMsg, "To: alice@", "To: sales@", 1), "alice@example.test", "<sales@example.test>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, r, acc, `require ["vacation", "vacation-seconds"]; `+tt.script, "bob@example.org", tt.to, tt.msg)
			if res.Vacation == nil {
				t.Fatalf("no reply: %+v", res)
			}
			if data := string(res.Vacation.Message.Data); !strings.Contains(data, "From: "+tt.want+"\r\n") {
				t.Errorf("want From: %s in\n%s", tt.want, data)
			}
		})
	}
}

func TestIncludeAndEdits(t *testing.T) {
	r, acc := newRuntime(t, Options{})
	if err := r.Put(ctx, acc.ID, "lists", []byte(`require ["fileinto"]; if exists "list-id" { fileinto "Junk"; }`)); err != nil {
		t.Fatal(err)
	}
	main := `require ["include", "fileinto"]; include :personal "lists"; include :once "lists"; include :optional "nope";`
	if got := summary(run(t, r, acc, main, "x@example.org", "alice@example.test", listMsg)); got != "keep:Junk" {
		t.Fatalf("include: %s", got)
	}
	if got := summary(run(t, r, acc, `require "include"; include "missing";`, "x@example.org", "alice@example.test", listMsg)); got != "FAILED keep:INBOX" {
		t.Fatalf("missing include: %s", got)
	}
	if err := r.Put(ctx, acc.ID, "loop", []byte(`require "include"; include "loop2";`)); err != nil {
		t.Fatal(err)
	}
	if err := r.Put(ctx, acc.ID, "loop2", []byte(`require "include"; include "loop";`)); err != nil {
		t.Fatal(err)
	}
	if got := summary(run(t, r, acc, `require "include"; include "loop";`, "x@example.org", "alice@example.test", listMsg)); got != "FAILED keep:INBOX" {
		t.Fatalf("include loop: %s", got)
	}
	res := run(t, r, acc, `require ["editheader", "fileinto"]; fileinto "Junk"; addheader "X-A" "café"; addheader :last "X-B" "2"; deleteheader "Subject"; keep;`,
		"x@example.org", "alice@example.test", plainMsg)
	if len(res.Keeps) != 2 || res.Keeps[0].Edits != 0 || res.Keeps[1].Edits != 3 {
		t.Fatalf("edits %+v", res)
	}
	hdr := string(ApplyEdits([]byte("Subject: a\r\n b\r\nTo: x\r\n\r\n"), res.Edits))
	if hdr != "X-A: =?utf-8?q?caf=C3=A9?=\r\nTo: x\r\nX-B: 2\r\n\r\n" {
		t.Fatalf("edited %q", hdr)
	}
}

func TestCheckErrors(t *testing.T) {
	tests := []struct {
		script string
		line   int
		msg    string
	}{
		{"keep;\nif true {\n  fileinto \"x\";\n", 0, ""},
		{"require \"fileinto\";\nkeep;\nfileinto \"A//B\";\n", 3, "bad mailbox name"},
		{"keep;\n\nrequire [\"fileinto\", \"nosuch\"];\n", 3, `unknown extension "nosuch"`},
		{"keep;\nfileinto \"x\";\n", 2, `missing require "fileinto"`},
		{"require \"vacation\";\nvacation :seconds 5 \"x\";\n", 2, `missing require "vacation-seconds"`},
		{"require \"fileinto\";\n\nfileinto :flags \"x\" \"Junk\";\n", 3, `missing require "imap4flags"`},
		{"frobnicate;\n", 1, "unsupported command"},
		{"if header :is \"a\" {\n keep;\n}\n", 1, ""},
		{"require \"include\";\nreturn;\n", 2, "return is not supported"},
		{"redirect \"not an address\";\n", 1, "bad address"},
		{"addheader \"X\" \"y\";\n", 1, `missing require "editheader"`},
		{"require \"reject\";\nkeep;\n  reject;\n", 3, "reject: expected one reason"},
		{"if true {\n  keep;\n} }\ndiscard;\n", 3, "unexpected closing brace"},
		{"keep;\n}\n", 2, "unexpected closing brace"},
		{"require \"reject\";\nif size :over 8589934592G { reject \"no\"; }\n", 2, "number 8589934592G is too large"},
		{"if size :under 9223372036854775807K { keep; }\n", 1, "number 9223372036854775807K is too large"},
	}
	for _, tt := range tests {
		err := Check([]byte(tt.script))
		var ce *CheckError
		if !errors.As(err, &ce) {
			t.Errorf("%q: %v, want a CheckError", tt.script, err)
			continue
		}
		if tt.line > 0 && ce.Line != tt.line || !strings.Contains(ce.Msg, tt.msg) {
			t.Errorf("%q: %v (line %d), want line %d and %q", tt.script, err, ce.Line, tt.line, tt.msg)
		}
		if tt.line == 0 && ce.Line == 0 && !strings.Contains(err.Error(), "") {
			t.Errorf("%q: %v", tt.script, err)
		}
	}
}

func TestManage(t *testing.T) {
	r, acc := newRuntime(t, Options{MaxScriptSize: 100, MaxScripts: 2})
	if err := r.Put(ctx, acc.ID, "big", []byte("keep;"+strings.Repeat(" ", 200))); !errors.Is(err, ErrQuotaMaxSize) || !errors.Is(err, ErrQuota) {
		t.Fatalf("too big: %v", err)
	}
	var ce *CheckError
	if err := r.Put(ctx, acc.ID, "bad", []byte("fileinto \"x\";")); !errors.As(err, &ce) {
		t.Fatalf("bad script stored: %v", err)
	}
	if err := r.Put(ctx, acc.ID, "bad\nname", []byte("keep;")); !errors.Is(err, ErrBadName) {
		t.Fatalf("bad name: %v", err)
	}
	for _, n := range []string{"one", "two"} {
		if err := r.Put(ctx, acc.ID, n, []byte("keep;")); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Put(ctx, acc.ID, "three", []byte("keep;")); !errors.Is(err, ErrQuotaMaxScripts) {
		t.Fatalf("third script: %v", err)
	}
	if err := r.HaveSpace(ctx, acc.ID, "two", 50); err != nil {
		t.Fatalf("replacing fits: %v", err)
	}
	if err := r.SetActive(ctx, acc.ID, "two"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, acc.ID, "two"); !errors.Is(err, ErrActive) {
		t.Fatalf("delete active: %v", err)
	}
	if err := r.Rename(ctx, acc.ID, "one", "two"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename: %v", err)
	}
	if _, err := r.Get(ctx, acc.ID, "zzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	list, err := r.List(ctx, acc.ID)
	if err != nil || fmt.Sprint(list) != "[{one false 5} {two true 5}]" {
		t.Fatalf("list %v %v", list, err)
	}
	if err := r.SetActive(ctx, acc.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, acc.ID, "two"); err != nil {
		t.Fatal(err)
	}
}

// TestNoRelayRefusesRedirect: without a relay a script that redirects is
// refused when it is stored or checked, with where the redirect is.
func TestNoRelayRefusesRedirect(t *testing.T) {
	r, acc := newRuntime(t, Options{NoRelay: true})
	script := []byte("require \"fileinto\";\nif header :contains \"subject\" \"x\" {\n  redirect \"carol@example.org\";\n}\n")
	for name, err := range map[string]error{"put": r.Put(ctx, acc.ID, "fwd", script), "check": r.Check(script)} {
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Line != 3 || !strings.Contains(ce.Msg, "relay") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if list, _ := r.List(ctx, acc.ID); len(list) != 0 {
		t.Fatalf("stored: %+v", list)
	}
	if err := r.Put(ctx, acc.ID, "file", []byte(`require "fileinto"; fileinto "Archive";`)); err != nil {
		t.Fatal(err)
	}
	// With a relay the same script is fine.
	r2, acc2 := newRuntime(t, Options{})
	if err := r2.Put(ctx, acc2.ID, "fwd", script); err != nil {
		t.Fatal(err)
	}
}
