package pop3server

import (
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// The three messages of the transcript tests, delivered to alice's INBOX in
// this order (EmailIDs 1, 2, 3).
const (
	msg1 = "From: a@example.net\r\nSubject: one\r\n\r\nHello\r\n.dot line\r\n..two dots\r\n.\r\nend\r\n"
	msg2 = "Subject: two\r\n\r\nno final newline"
	msg3 = "Subject: three\r\nX-Long: y\r\n\r\nl1\r\nl2\r\nl3\r\n"
)

var (
	size1, size2, size3 = len(msg1), len(msg2), len(msg3)
	sizeAll             = size1 + size2 + size3

	// The messages as RETR sends them: dot-stuffed, one line each.
	retr1 = "From: a@example.net\nSubject: one\n\nHello\n..dot line\n...two dots\n..\nend\n."
	retr2 = "Subject: two\n\nno final newline\n."
	retr3 = "Subject: three\nX-Long: y\n\nl1\nl2\nl3\n."

	// With the zero Options: Expire 0.
	capaAuth  = "+OK capability list follows\nTOP\nUIDL\nUSER\nSASL SCRAM-SHA-256 PLAIN LOGIN\nRESP-CODES\nAUTH-RESP-CODE\nPIPELINING\nEXPIRE 0\nIMPLEMENTATION mailroom\n."
	capaTrans = "+OK capability list follows\nTOP\nUIDL\nRESP-CODES\nAUTH-RESP-CODE\nPIPELINING\nEXPIRE 0\nIMPLEMENTATION mailroom\n."
)

func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

// setupThree delivers msg1-3 to alice's INBOX.
func setupThree(t *testing.T, f *fixture) {
	t.Helper()
	for i, m := range []string{msg1, msg2, msg3} {
		if r := f.deliver(t, f.alice, "INBOX", m); r.EmailID != int64(i+1) {
			t.Fatalf("message %d has EmailID %d; the transcripts expect %d", i+1, r.EmailID, i+1)
		}
	}
}

type step struct{ send, want string }

// login steps for alice.
var loginSteps = []step{
	{"USER " + alice, "+OK send PASS"},
	{"PASS " + password, fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sizeAll)},
}

func loggedIn(steps ...step) []step { return append(append([]step(nil), loginSteps...), steps...) }

func TestTranscripts(t *testing.T) {
	notValidAuth := "-ERR command not valid in AUTHORIZATION state"
	notValidTrans := "-ERR command not valid in TRANSACTION state"
	tests := []struct {
		name   string
		opts   Options
		steps  []step
		closed bool // the server closes the connection after the last step
	}{
		{name: "capa", steps: []step{{"CAPA", capaAuth}, {"capa", capaAuth}}},
		{name: "capa options", opts: Options{Expire: 30, LoginDelay: 60},
			steps: []step{{"CAPA", strings.Replace(capaAuth, "EXPIRE 0", "EXPIRE 30\nLOGIN-DELAY 60", 1)}}},
		{name: "capa expire never", opts: Options{Expire: ExpireNever},
			steps: []step{{"CAPA", strings.Replace(capaAuth, "EXPIRE 0", "EXPIRE NEVER", 1)}}},
		{name: "capa no plaintext", opts: Options{AllowPlaintext: func(_ net.Addr) bool { return false }},
			steps: []step{
				// SCRAM sends no password: offered all the same.
				{"CAPA", strings.Replace(capaTrans, "UIDL\n", "UIDL\nSASL SCRAM-SHA-256\n", 1)},
				{"USER " + alice, "-ERR [AUTH] plaintext authentication is not allowed on this connection"},
				{"PASS x", "-ERR [AUTH] plaintext authentication is not allowed on this connection"},
				{"AUTH PLAIN " + plain("", alice, password), "-ERR [AUTH] plaintext authentication is not allowed on this connection"},
			}},
		{name: "transaction commands before login", steps: []step{
			{"STAT", notValidAuth}, {"LIST", notValidAuth}, {"LIST 1", notValidAuth}, {"RETR 1", notValidAuth},
			{"DELE 1", notValidAuth}, {"NOOP", notValidAuth}, {"RSET", notValidAuth}, {"TOP 1 0", notValidAuth},
			{"UIDL", notValidAuth}, {"UIDL 1", notValidAuth},
		}},
		{name: "unknown and unoffered commands", steps: []step{
			{"XYZZY", "-ERR unknown command"},
			{"APOP alice@example.org c4c9334bac560ecc979e58001b3e22fb", "-ERR unknown command"},
			{"STLS", "-ERR unknown command"},
			{"UTF8", "-ERR unknown command"},
			{"", "-ERR unknown command"},
			{" USER x", "-ERR unknown command"},
		}},
		{name: "user pass", steps: loggedIn()},
		{name: "lower case", steps: []step{
			{"user " + alice, "+OK send PASS"},
			{"pass " + password, fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sizeAll)},
			{"stat", fmt.Sprintf("+OK 3 %d", sizeAll)},
		}},
		{name: "user mistakes", steps: []step{
			{"PASS " + password, "-ERR send USER first"},
			{"USER", "-ERR USER needs a name"},
			{"USER " + alice, "+OK send PASS"},
			{"PASS", "-ERR PASS needs a password"},
			{"PASS " + password, "-ERR send USER first"},
			{"USER " + alice, "+OK send PASS"},
			{"CAPA", capaAuth},
			{"PASS " + password, "-ERR send USER first"},
		}},
		{name: "wrong password", steps: []step{
			{"USER " + alice, "+OK send PASS"},
			{"PASS wrong", "-ERR [AUTH] authentication failed"},
			{"PASS " + password, "-ERR send USER first"},
			{"USER nobody@example.org", "+OK send PASS"},
			{"PASS " + password, "-ERR [AUTH] authentication failed"},
			{"USER " + alice, "+OK send PASS"},
			{"PASS " + password, fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sizeAll)},
		}},
		{name: "three failures close", closed: true, steps: []step{
			{"USER " + alice, "+OK send PASS"},
			{"PASS a", "-ERR [AUTH] authentication failed"},
			{"USER " + alice, "+OK send PASS"},
			{"PASS b", "-ERR [AUTH] authentication failed"},
			{"AUTH PLAIN " + plain("", alice, "c"), "-ERR [AUTH] authentication failed\n-ERR too many authentication failures, closing connection"},
		}},
		{name: "auth list", steps: []step{{"AUTH", "+OK SASL mechanisms follow\nSCRAM-SHA-256\nPLAIN\nLOGIN\n."}}},
		{name: "auth plain initial response", steps: []step{
			{"AUTH PLAIN " + plain("", alice, password), fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sizeAll)},
			{"STAT", fmt.Sprintf("+OK 3 %d", sizeAll)},
		}},
		{name: "auth plain authzid", steps: []step{
			{"AUTH PLAIN " + plain(bob, alice, password), "-ERR invalid PLAIN response"},
			{"auth plain " + plain(alice, alice, password), fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sizeAll)},
		}},
		{name: "auth plain continuation", steps: []step{
			{"AUTH PLAIN", "+ "},
			{plain("", alice, password), fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sizeAll)},
		}},
		{name: "auth plain cancel", steps: []step{
			{"AUTH PLAIN", "+ "},
			{"*", "-ERR authentication cancelled"},
			{"AUTH PLAIN", "+ "},
			{plain("", alice, "wrong"), "-ERR [AUTH] authentication failed"},
			{"AUTH PLAIN", "+ "},
			{"not base64!", "-ERR invalid PLAIN response"},
		}},
		{name: "auth bad", steps: []step{
			{"AUTH CRAM-MD5", "-ERR unsupported authentication mechanism"},
			{"AUTH PLAIN =", "-ERR invalid PLAIN response"},
			{"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte(alice+"\x00"+password)), "-ERR invalid PLAIN response"},
		}},
		{name: "quit in authorization", closed: true, steps: []step{{"QUIT", "+OK pop.example.org POP3 server signing off"}}},
		{name: "stat list uidl", steps: loggedIn(
			step{"STAT", fmt.Sprintf("+OK 3 %d", sizeAll)},
			step{"LIST", fmt.Sprintf("+OK 3 messages (%d octets)\n1 %d\n2 %d\n3 %d\n.", sizeAll, size1, size2, size3)},
			step{"LIST 2", fmt.Sprintf("+OK 2 %d", size2)},
			step{"LIST 4", "-ERR no such message, only 3 messages in maildrop"},
			step{"LIST 0", "-ERR no such message, only 3 messages in maildrop"},
			step{"LIST 99999999999999999999999", "-ERR no such message, only 3 messages in maildrop"},
			step{"LIST x", "-ERR invalid message number"},
			step{"LIST -1", "-ERR invalid message number"},
			step{"LIST +1", "-ERR invalid message number"},
			step{"LIST 1 2", "-ERR LIST takes at most one argument"},
			step{"UIDL", "+OK unique-id listing follows\n1 1\n2 2\n3 3\n."},
			step{"UIDL 3", "+OK 3 3"},
			step{"UIDL 4", "-ERR no such message, only 3 messages in maildrop"},
			step{"STAT 1", "-ERR STAT takes no argument"},
		)},
		{name: "retr", steps: loggedIn(
			step{"RETR 1", fmt.Sprintf("+OK %d octets\n%s", size1, retr1)},
			step{"RETR 2", fmt.Sprintf("+OK %d octets\n%s", size2, retr2)},
			step{"RETR 3", fmt.Sprintf("+OK %d octets\n%s", size3, retr3)},
			step{"RETR 4", "-ERR no such message, only 3 messages in maildrop"},
			step{"RETR", "-ERR RETR needs one message number"},
			step{"RETR 1 2", "-ERR RETR needs one message number"},
		)},
		{name: "top", steps: loggedIn(
			step{"TOP 3 0", "+OK top of message follows\nSubject: three\nX-Long: y\n\n."},
			step{"TOP 3 2", "+OK top of message follows\nSubject: three\nX-Long: y\n\nl1\nl2\n."},
			step{"TOP 3 3", "+OK top of message follows\n" + retr3},
			step{"TOP 3 100", "+OK top of message follows\n" + retr3},
			step{"TOP 1 2", "+OK top of message follows\nFrom: a@example.net\nSubject: one\n\nHello\n..dot line\n."},
			step{"TOP 2 0", "+OK top of message follows\nSubject: two\n\n."},
			step{"TOP 2 1", "+OK top of message follows\n" + retr2},
			step{"TOP 1", "-ERR TOP needs a message number and a number of lines"},
			step{"TOP 1 x", "-ERR invalid number of lines"},
			step{"TOP 1 -1", "-ERR invalid number of lines"},
			step{"TOP 9 1", "-ERR no such message, only 3 messages in maildrop"},
		)},
		{name: "dele rset", steps: loggedIn(
			step{"DELE 1", "+OK message 1 deleted"},
			step{"DELE 1", "-ERR message 1 already deleted"},
			step{"RETR 1", "-ERR message 1 already deleted"},
			step{"TOP 1 0", "-ERR message 1 already deleted"},
			step{"LIST 1", "-ERR message 1 already deleted"},
			step{"UIDL 1", "-ERR message 1 already deleted"},
			step{"STAT", fmt.Sprintf("+OK 2 %d", size2+size3)},
			step{"LIST", fmt.Sprintf("+OK 2 messages (%d octets)\n2 %d\n3 %d\n.", size2+size3, size2, size3)},
			step{"UIDL", "+OK unique-id listing follows\n2 2\n3 3\n."},
			step{"DELE", "-ERR DELE needs one message number"},
			step{"DELE 4", "-ERR no such message, only 3 messages in maildrop"},
			step{"RSET", fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sizeAll)},
			step{"RSET x", "-ERR RSET takes no argument"},
			step{"RETR 1", fmt.Sprintf("+OK %d octets\n%s", size1, retr1)},
			step{"DELE 3", "+OK message 3 deleted"},
		)},
		{name: "noop", steps: loggedIn(step{"NOOP", "+OK"}, step{"noop", "+OK"}, step{"NOOP 1", "-ERR NOOP takes no argument"})},
		{name: "authorization commands after login", steps: loggedIn(
			step{"USER " + alice, notValidTrans},
			step{"PASS " + password, notValidTrans},
			step{"AUTH PLAIN " + plain("", alice, password), notValidTrans},
			step{"AUTH", notValidTrans},
			step{"CAPA", capaTrans},
			step{"CAPA x", "-ERR CAPA takes no argument"},
		)},
		{name: "quit in transaction", closed: true, steps: loggedIn(
			step{"DELE 2", "+OK message 2 deleted"},
			step{"QUIT", "+OK pop.example.org POP3 server signing off (2 messages left)"},
		)},
		{name: "quit empties", closed: true, steps: loggedIn(
			step{"DELE 1", "+OK message 1 deleted"},
			step{"DELE 2", "+OK message 2 deleted"},
			step{"DELE 3", "+OK message 3 deleted"},
			step{"QUIT", "+OK pop.example.org POP3 server signing off (maildrop empty)"},
		)},
		{name: "line too long", steps: []step{
			{"USER " + strings.Repeat("x", 2000), "-ERR line too long"},
			{"NOOP " + strings.Repeat("x", 1100), "-ERR line too long"},
			{"AUTH PLAIN " + strings.Repeat("x", 5000), "-ERR line too long"},
			{"CAPA", capaAuth},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			setupThree(t, f)
			ts := startServer(t, f, tt.opts)
			c := dial(t, ts.addr)
			for _, st := range tt.steps {
				multi := isMulti(st.send)
				if st.send == "AUTH PLAIN" {
					multi = false // "+ " continuation
				}
				c.send(st.send)
				got := c.response(multi)
				if !multi {
					// A reply followed by a closing line.
					for range strings.Count(st.want, "\n") {
						got += "\n" + c.line()
					}
				}
				if got != st.want {
					t.Fatalf("%.60q:\n got %q\nwant %q", st.send, got, st.want)
				}
				if strings.Contains(st.want, "too many") {
					break
				}
			}
			if tt.closed {
				c.closed(5 * time.Second)
			}
			if strings.Contains(ts.logs.String(), password) {
				t.Errorf("the log shows the password:\n%s", ts.logs.String())
			}
		})
	}
}
