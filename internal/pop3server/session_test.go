package pop3server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
	"mailroom/internal/store"
)

// waitNoConns waits until the server has no connection left.
func (ts *testServer) waitNoConns(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := ts.srv.core.Open()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func uids(msgs []store.Message) []uint32 {
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

func TestSnapshotIgnoresDelivery(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	c.login(alice)
	f.deliver(t, f.alice, "INBOX", "Subject: late\r\n\r\nlate\r\n")
	c.expect("STAT", fmt.Sprintf("+OK 3 %d", sizeAll))
	c.expect("LIST", fmt.Sprintf("+OK 3 messages (%d octets)\n1 %d\n2 %d\n3 %d\n.", sizeAll, size1, size2, size3))
	c.expect("LIST 4", "-ERR no such message, only 3 messages in maildrop")
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (3 messages left)")

	c = dial(t, ts.addr)
	c.login(alice)
	c.expect("UIDL", "+OK unique-id listing follows\n1 1\n2 2\n3 3\n4 4\n.")
}

func TestSnapshotExpungedElsewhere(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	c.login(alice)
	inbox := f.mailbox(t, f.alice, "INBOX")
	// An IMAP client expunges message 2 (UID 2).
	if _, err := f.st.Expunge(bg, f.alice.ID, inbox.ID, []uint32{2}); err != nil {
		t.Fatal(err)
	}
	c.expect("STAT", fmt.Sprintf("+OK 3 %d", sizeAll))
	// The snapshot stays readable to the end of the session: its bodies
	// are held until then (store.Pin), also after a sweep.
	if _, err := f.st.Check(bg, true); err != nil {
		t.Fatal(err)
	}
	c.expect("RETR 2", fmt.Sprintf("+OK %d octets\n%s", size2, retr2))
	if got := c.cmd("TOP 2 0"); !strings.HasPrefix(got, "+OK") {
		t.Errorf("TOP of a message expunged elsewhere: %q", got)
	}
	c.expect("RETR 3", fmt.Sprintf("+OK %d octets\n%s", size3, retr3))
	// Deleting it at QUIT too is not an error.
	c.expect("DELE 2", "+OK message 2 deleted")
	c.expect("DELE 3", "+OK message 3 deleted")
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (1 messages left)")
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{1}) {
		t.Errorf("INBOX holds %v, want [1]", got)
	}
}

// A message expunged while RETR streams it is still sent whole: the body
// was opened before +OK.
func TestExpungeDuringRetr(t *testing.T) {
	f := newFixture(t)
	big := bigMessage(4 << 20)
	f.deliver(t, f.alice, "INBOX", big)
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	c.login(alice)
	c.send("RETR 1")
	if l := c.line(); l != fmt.Sprintf("+OK %d octets", len(big)) {
		t.Fatalf("RETR: %q", l)
	}
	// The server is now blocked writing: expunge under it.
	if _, err := f.st.Expunge(bg, f.alice.ID, f.mailbox(t, f.alice, "INBOX").ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	got := readDotted(t, c)
	if got != big {
		t.Fatalf("RETR sent %d octets, want the %d stored", len(got), len(big))
	}
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (1 messages left)")
}

// bigMessage returns a message of about n octets with CRLF lines, some of
// them starting with ".".
func bigMessage(n int) string {
	var b strings.Builder
	b.WriteString("From: big@example.net\r\nSubject: big\r\n\r\n")
	for i := 0; b.Len() < n; i++ {
		if i%10 == 0 {
			b.WriteString(".")
		}
		fmt.Fprintf(&b, "line %07d %s\r\n", i, strings.Repeat("x", 60))
	}
	return b.String()
}

// readDotted reads the data lines of a multi-line reply and undoes the
// dot-stuffing, giving back the message with CRLF line ends.
func readDotted(t *testing.T, c *client) string {
	t.Helper()
	var b strings.Builder
	for {
		l := c.line()
		if l == "." {
			return b.String()
		}
		l = strings.TrimPrefix(l, ".")
		b.WriteString(l)
		b.WriteString("\r\n")
	}
}

func TestQuitDeletesAtOnce(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	c.login(alice)
	c.expect("DELE 1", "+OK message 1 deleted")
	c.expect("DELE 3", "+OK message 3 deleted")
	c.expect("NOOP", "+OK")
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("before QUIT INBOX holds %v, want all three", got)
	}
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (1 messages left)")
	c.closed(5 * time.Second)
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{2}) {
		t.Errorf("after QUIT INBOX holds %v, want [2]", got)
	}
}

func TestDroppedConnectionDeletesNothing(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{Lock: true})
	c := dial(t, ts.addr)
	c.login(alice)
	for i := 1; i <= 3; i++ {
		c.expect(fmt.Sprintf("DELE %d", i), fmt.Sprintf("+OK message %d deleted", i))
	}
	c.nc.Close()
	ts.waitNoConns(t)
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("INBOX holds %v, want all three", got)
	}
	// The lock is gone with the connection.
	c = dial(t, ts.addr)
	c.login(alice)
	c.expect("STAT", fmt.Sprintf("+OK 3 %d", sizeAll))
}

func TestRsetUndeletes(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	c.login(alice)
	c.expect("DELE 1", "+OK message 1 deleted")
	c.expect("DELE 2", "+OK message 2 deleted")
	c.expect("RSET", fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sizeAll))
	c.expect("DELE 3", "+OK message 3 deleted")
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (2 messages left)")
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("INBOX holds %v, want [1 2]", got)
	}
}

func TestDeleteHide(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{Delete: DeleteHide})
	c := dial(t, ts.addr)
	c.login(alice)
	c.expect("DELE 1", "+OK message 1 deleted")
	c.expect("DELE 3", "+OK message 3 deleted")
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (1 messages left)")
	c.closed(5 * time.Second)
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("IMAP sees %v, want all three", got)
	}
	c = dial(t, ts.addr)
	c.login(alice)
	c.expect("STAT", fmt.Sprintf("+OK 1 %d", size2))
	c.expect("UIDL", "+OK unique-id listing follows\n1 2\n.")
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (1 messages left)")

	// Hidden messages stay hidden when the server goes back to expunging.
	ts2 := startServer(t, f, Options{})
	c = dial(t, ts2.addr)
	c.login(alice)
	c.expect("UIDL", "+OK unique-id listing follows\n1 2\n.")
}

func TestViewAll(t *testing.T) {
	f := newFixture(t)
	if _, err := f.st.CreateMailbox(bg, f.alice.ID, store.NewMailbox{Name: "Lists"}); err != nil {
		t.Fatal(err)
	}
	var ids = map[string]int64{}
	for _, mb := range []string{"Lists", "Trash", "INBOX", "Archive", "Junk", "INBOX"} {
		r := f.deliver(t, f.alice, mb, "Subject: in "+mb+"\r\n\r\nbody\r\n")
		ids[mb] = r.EmailID // the second INBOX message wins
	}
	opts := Options{View: ViewAll, ViewExclude: []string{store.SpecialTrash, store.SpecialJunk}, Delete: DeleteHide}
	ts := startServer(t, f, opts)
	c := dial(t, ts.addr)
	c.login(alice)
	// INBOX (EmailIDs 3, 6) first, then Archive (4), Lists (1).
	c.expect("UIDL", "+OK unique-id listing follows\n1 3\n2 6\n3 4\n4 1\n.")
	c.expect("TOP 4 0", "+OK top of message follows\nSubject: in Lists\n\n.")
	c.expect("DELE 1", "+OK message 1 deleted")
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (3 messages left)")

	// Moving messages between folders keeps their UIDL, and a hidden
	// message stays hidden.
	inbox, archive := f.mailbox(t, f.alice, "INBOX"), f.mailbox(t, f.alice, "Archive")
	if _, err := f.st.Move(bg, f.alice.ID, inbox.ID, archive.ID, []uint32{1, 2}); err != nil {
		t.Fatal(err)
	}
	c = dial(t, ts.addr)
	c.login(alice)
	c.expect("UIDL", "+OK unique-id listing follows\n1 4\n2 6\n3 1\n.")

	// Only INBOX with the default view; after the move it is empty.
	ts2 := startServer(t, f, Options{})
	c = dial(t, ts2.addr)
	if got := c.login(alice); got != "+OK maildrop has 0 messages (0 octets)" {
		t.Errorf("login: %q", got)
	}
	c.expect("LIST", "+OK 0 messages (0 octets)\n.")
	c.expect("UIDL", "+OK unique-id listing follows\n.")
}

func TestMarkSeen(t *testing.T) {
	for _, markSeen := range []bool{false, true} {
		t.Run(fmt.Sprint(markSeen), func(t *testing.T) {
			f := newFixture(t)
			setupThree(t, f)
			ts := startServer(t, f, Options{MarkSeen: markSeen})
			c := dial(t, ts.addr)
			c.login(alice)
			c.cmd("RETR 1")
			c.cmd("TOP 2 0")
			c.cmd("RETR 3")
			c.expect("DELE 3", "+OK message 3 deleted")
			c.expect("QUIT", "+OK pop.example.org POP3 server signing off (2 messages left)")
			c.closed(5 * time.Second)
			msgs := f.messages(t, f.alice, "INBOX")
			if len(msgs) != 2 {
				t.Fatalf("%d messages left", len(msgs))
			}
			seen := func(m store.Message) bool { return slices.Contains(m.Flags, `\Seen`) }
			if seen(msgs[0]) != markSeen || seen(msgs[1]) {
				t.Errorf("flags %v %v with MarkSeen %v", msgs[0].Flags, msgs[1].Flags, markSeen)
			}

			// A dropped connection still marks what was sent.
			c = dial(t, ts.addr)
			c.login(alice)
			c.cmd("RETR 2")
			c.nc.Close()
			ts.waitNoConns(t)
			msgs = f.messages(t, f.alice, "INBOX")
			if seen(msgs[1]) != markSeen {
				t.Errorf("after a dropped connection: flags %v with MarkSeen %v", msgs[1].Flags, markSeen)
			}
		})
	}
}

func TestLock(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{Lock: true})
	a := dial(t, ts.addr)
	a.login(alice)
	a.expect("DELE 1", "+OK message 1 deleted")

	b := dial(t, ts.addr)
	b.expect("USER "+alice, "+OK send PASS")
	b.expect("PASS "+password, "-ERR [IN-USE] maildrop is in use by another session")
	b.expect("AUTH PLAIN "+plain("", alice, password), "-ERR [IN-USE] maildrop is in use by another session")
	// Other accounts are not affected.
	o := dial(t, ts.addr)
	if got := o.login(bob); got != "+OK maildrop has 0 messages (0 octets)" {
		t.Errorf("bob: %q", got)
	}

	a.expect("QUIT", "+OK pop.example.org POP3 server signing off (2 messages left)")
	b.expect("USER "+alice, "+OK send PASS")
	b.expect("PASS "+password, fmt.Sprintf("+OK maildrop has 2 messages (%d octets)", size2+size3))

	// Without Lock, two sessions may share the account.
	ts2 := startServer(t, f, Options{})
	x, y := dial(t, ts2.addr), dial(t, ts2.addr)
	x.login(alice)
	y.login(alice)
}

func TestLoginDelay(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{LoginDelay: 60})
	c := dial(t, ts.addr)
	c.login(alice)
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (3 messages left)")
	c = dial(t, ts.addr)
	c.expect("USER "+alice, "+OK send PASS")
	c.expect("PASS "+password, "-ERR [LOGIN-DELAY] wait 60 seconds between logins")
	// Bad credentials are still bad credentials.
	c.expect("USER "+alice, "+OK send PASS")
	c.expect("PASS wrong", "-ERR [AUTH] authentication failed")
	dial(t, ts.addr).login(bob)

	// Once the delay has passed, the login works.
	ts.srv.mu.Lock()
	ts.srv.lastLogin[f.alice.ID] = time.Now().Add(-61 * time.Second)
	ts.srv.mu.Unlock()
	c.login(alice)
}

// failingAuth fails every login with a directory error that is not about
// the credentials.
type failingAuth struct{}

func (failingAuth) Authenticate(context.Context, string, string) (*store.Account, error) {
	return nil, errors.New("database is locked")
}

// ghostAuth accepts anyone as an account the store does not have.
type ghostAuth struct{}

func (ghostAuth) Authenticate(_ context.Context, user, _ string) (*store.Account, error) {
	return &store.Account{ID: 9999, Address: user}, nil
}

func TestSystemErrors(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name string
		auth Authenticator
		want string
	}{
		{"directory", failingAuth{}, "-ERR [SYS/TEMP] authentication is unavailable, try again later"},
		{"store", ghostAuth{}, "-ERR [SYS/PERM] the maildrop does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			logs := &servertest.LogBuffer{}
			srv := New(f.st, tt.auth, Options{Hostname: "pop.example.org", Logger: newTestLogger(logs), Lock: true})
			done := make(chan error, 1)
			go func() { done <- srv.Serve(l) }()
			c := dial(t, l.Addr().String())
			c.expect("USER x@example.org", "+OK send PASS")
			c.expect("PASS y", tt.want)
			c.expect("USER x@example.org", "+OK send PASS")
			c.expect("PASS y", tt.want) // the lock was released
			c.expect("QUIT", "+OK pop.example.org POP3 server signing off")
			if err := srv.Shutdown(bg); err != nil {
				t.Error(err)
			}
			if err := <-done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("no error logged:\n%s", logs)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{AuthTimeout: 300 * time.Millisecond, IdleTimeout: 600 * time.Millisecond})

	// A busy session on the side is not disturbed.
	busy := dial(t, ts.addr)
	busy.login(bob)
	stopBusy := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopBusy:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if got := busy.cmd("NOOP"); got != "+OK" {
				t.Errorf("busy session: %q", got)
				return
			}
		}
	}()

	// A client that never sends anything: closed without a reply (RFC
	// 1939 §3), after the greeting.
	silent := dial(t, ts.addr)
	start := time.Now()
	silent.closed(5 * time.Second)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("closed after %v, before the AUTHORIZATION timeout", d)
	}
	// A client that stops in the middle of a line.
	partial := dial(t, ts.addr)
	io.WriteString(partial.nc, "USER ali")
	partial.closed(5 * time.Second)

	// An idle session in TRANSACTION: closed, nothing deleted.
	idle := dial(t, ts.addr)
	idle.login(alice)
	idle.expect("DELE 1", "+OK message 1 deleted")
	start = time.Now()
	idle.closed(5 * time.Second)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
	ts.srv.mu.Lock()
	locked := ts.srv.locked[f.alice.ID]
	ts.srv.mu.Unlock()
	if locked {
		t.Error("alice still locked")
	}
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("INBOX holds %v, want all three", got)
	}
	close(stopBusy)
	wg.Wait()
	busy.expect("QUIT", "+OK pop.example.org POP3 server signing off (maildrop empty)")
	if !strings.Contains(ts.logs.String(), "autologout timer expired") {
		t.Errorf("no timeout logged")
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{})

	other := dial(t, ts.addr)
	other.login(bob)

	// Too many bad commands in a row end the connection.
	c := dial(t, ts.addr)
	for i := 1; i < maxBadCommands; i++ {
		c.expect("FOO", "-ERR unknown command")
	}
	c.send("BAR")
	if got := c.line() + "\n" + c.line(); got != "-ERR unknown command\n-ERR too many bad commands, closing connection" {
		t.Errorf("last bad command: %q", got)
	}
	c.closed(5 * time.Second)

	// A good command resets the count.
	c = dial(t, ts.addr)
	for i := 0; i < 3*maxBadCommands; i++ {
		c.expect("STAT", "-ERR command not valid in AUTHORIZATION state")
		if i%10 == 0 {
			c.expect("CAPA", capaAuth)
		}
	}

	// Pipelined junk: binary, NULs, bare LF, a long line with no end for a
	// while; every line gets its -ERR, in order, and the session goes on.
	c = dial(t, ts.addr)
	junk := "\x00\x01\x02\r\n\xff\xfe garbage\nLIST 1\r\n" + strings.Repeat("A", 100000) + "\r\nRETR\r\n"
	if _, err := io.WriteString(c.nc, junk); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-ERR unknown command", "-ERR unknown command", "-ERR command not valid in AUTHORIZATION state", "-ERR line too long", "-ERR command not valid in AUTHORIZATION state"} {
		if got := c.line(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	c.login(alice)
	c.expect("STAT", fmt.Sprintf("+OK 3 %d", sizeAll))

	other.expect("STAT", "+OK 0 0")
	other.expect("QUIT", "+OK pop.example.org POP3 server signing off (maildrop empty)")
}

func TestPipelining(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	batch := []string{"CAPA", "USER " + alice, "PASS " + password, "STAT", "LIST", "UIDL 2", "RETR 1", "TOP 3 1", "DELE 2", "NOOP", "QUIT"}
	io.WriteString(c.nc, strings.Join(batch, "\r\n")+"\r\n")
	want := []string{
		capaAuth,
		"+OK send PASS",
		fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", sizeAll),
		fmt.Sprintf("+OK 3 %d", sizeAll),
		fmt.Sprintf("+OK 3 messages (%d octets)\n1 %d\n2 %d\n3 %d\n.", sizeAll, size1, size2, size3),
		"+OK 2 2",
		fmt.Sprintf("+OK %d octets\n%s", size1, retr1),
		"+OK top of message follows\nSubject: three\nX-Long: y\n\nl1\n.",
		"+OK message 2 deleted",
		"+OK",
		"+OK pop.example.org POP3 server signing off (2 messages left)",
	}
	for i, cmd := range batch {
		if got := c.response(isMulti(cmd)); got != want[i] {
			t.Errorf("%s:\n got %q\nwant %q", cmd, got, want[i])
		}
	}
	c.closed(5 * time.Second)
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{1, 3}) {
		t.Errorf("INBOX holds %v, want [1 3]", got)
	}
}

func TestShutdown(t *testing.T) {
	f := newFixture(t)
	setupThree(t, f)
	ts := startServer(t, f, Options{Lock: true})
	auth := dial(t, ts.addr)
	auth.expect("USER "+alice, "+OK send PASS")
	trans := dial(t, ts.addr)
	trans.login(alice)
	trans.expect("DELE 1", "+OK message 1 deleted")
	trans.expect("DELE 2", "+OK message 2 deleted")

	ts.Stop(t)
	for _, c := range []*client{auth, trans} {
		if got := c.line(); got != "-ERR [SYS/TEMP] server shutting down" {
			t.Errorf("goodbye %q", got)
		}
		c.closed(5 * time.Second)
	}
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("INBOX holds %v, want all three", got)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		// The listener is closed; a lucky reuse of the port aside, this fails.
		t.Log("dial after Shutdown succeeded")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

// A RETR under way when Shutdown comes is finished whole, then the session
// is closed without UPDATE.
func TestShutdownDuringRetr(t *testing.T) {
	f := newFixture(t)
	f.deliver(t, f.alice, "INBOX", msg1)
	big := bigMessage(4 << 20)
	f.deliver(t, f.alice, "INBOX", big)
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	c.login(alice)
	c.expect("DELE 1", "+OK message 1 deleted")
	c.send("TOP 2 999999999")
	if l := c.line(); l != "+OK top of message follows" {
		t.Fatalf("TOP: %q", l)
	}
	stopped := make(chan struct{})
	go func() {
		ts.Stop(t)
		close(stopped)
	}()
	time.Sleep(100 * time.Millisecond)
	if got := readDotted(t, c); got != big {
		t.Errorf("TOP sent %d octets, want %d", len(got), len(big))
	}
	if got := c.line(); got != "-ERR [SYS/TEMP] server shutting down" {
		t.Errorf("goodbye %q", got)
	}
	c.closed(5 * time.Second)
	<-stopped
	if got := uids(f.messages(t, f.alice, "INBOX")); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("INBOX holds %v, want [1 2]", got)
	}
}

// Shutdown with a context that ends closes connections at once, even a
// client that does not read.
func TestShutdownForced(t *testing.T) {
	f := newFixture(t)
	f.deliver(t, f.alice, "INBOX", bigMessage(8<<20))
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	c.login(alice)
	c.send("RETR 1") // never read
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	ts.Stop(t)
}
