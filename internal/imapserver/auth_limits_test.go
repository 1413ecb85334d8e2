package imapserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailroom/internal/directory"
	"mailroom/internal/limits"
	"mailroom/internal/store"
	"mailroom/internal/store/sqlite"
)

// limitsEnv is a testEnv whose listener and authenticator may be wrapped.
type limitsEnv struct {
	*testEnv
	auth *countingAuth
}

// countingAuth counts checks and makes each take cost, as a password hash
// verification would.
type countingAuth struct {
	Authenticator
	cost   time.Duration
	checks atomic.Int64
}

func (a *countingAuth) Authenticate(ctx context.Context, user, pass string) (*store.Account, error) {
	a.checks.Add(1)
	time.Sleep(a.cost)
	return a.Authenticator.Authenticate(ctx, user, pass)
}

func newLimitsEnv(t *testing.T, cost time.Duration, conns *limits.Conns, opts func(*Options)) *limitsEnv {
	t.Helper()
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(st, directory.Options{RecipientDelimiter: "+", HashParams: &cheapHash})
	if err := dir.AddDomain(bg, "example.test"); err != nil {
		t.Fatal(err)
	}
	acct, err := dir.AddAccount(bg, "alice@example.test", testPassword, store.QuotaDefault, store.QuotaDefault)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddAccount(bg, "carol@example.test", testPassword, store.QuotaDefault, store.QuotaDefault); err != nil {
		t.Fatal(err)
	}
	auth := &countingAuth{Authenticator: dir, cost: cost}
	o := Options{
		Hostname:      "imap.example.test",
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		AuthFailDelay: time.Millisecond,
		PollInterval:  100 * time.Millisecond,
	}
	if opts != nil {
		opts(&o)
	}
	srv := New(st, auth, o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if conns != nil {
		l = conns.Listener(l, limits.Busy("* BYE too many connections"))
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		st.Close()
	})
	return &limitsEnv{testEnv: &testEnv{t: t, st: st, dir: dir, srv: srv, addr: l.Addr().String(), acct: acct}, auth: auth}
}

// rawConn is a connection from a chosen loopback source, safe to use from
// any goroutine (errors are returned, not reported).
type rawConn struct {
	c net.Conn
	r *bufio.Reader
	n int
}

func dialFrom(addr, from string) (*rawConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, r: bufio.NewReader(c)}, nil
}

func (rc *rawConn) line() (string, error) {
	rc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	l, err := rc.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// do sends a command and returns the tagged reply.
func (rc *rawConn) do(cmd string) (string, error) {
	rc.n++
	tag := fmt.Sprintf("r%d", rc.n)
	if _, err := fmt.Fprintf(rc.c, "%s %s\r\n", tag, cmd); err != nil {
		return "", err
	}
	for {
		l, err := rc.line()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(l, tag+" ") {
			return strings.TrimPrefix(l, tag+" "), nil
		}
	}
}

func mustDialFrom(t *testing.T, addr, from string) *rawConn {
	t.Helper()
	rc, err := dialFrom(addr, from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.c.Close() })
	return rc
}

func greeted(t *testing.T, rc *rawConn) {
	t.Helper()
	if g, err := rc.line(); err != nil || !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q, %v", g, err)
	}
}

const failedLogin = "NO [AUTHENTICATIONFAILED] invalid credentials"

// TestLoginFlood: a thousand wrong passwords from 127.0.0.2 slow that
// address down, while alice, from 127.0.0.3, logs in at once even though
// the flood has locked her account.
func TestLoginFlood(t *testing.T) {
	const (
		delay, maxDelay = 50 * time.Millisecond, 500 * time.Millisecond
		conns, perConn  = 100, 10
	)
	logins := limits.NewLogins(limits.LoginOptions{
		FreeFailures: 5, Delay: delay, MaxDelay: maxDelay,
		LockoutFailures: 10, Lockout: time.Minute,
	})
	e := newLimitsEnv(t, 0, nil, func(o *Options) { o.Logins = logins })

	var failures atomic.Int64
	var slow, late atomic.Int64 // attempts started after the delay had reached its cap; those that waited it
	errc := make(chan error, conns)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			rc, err := dialFrom(e.addr, "127.0.0.2")
			if err != nil {
				errc <- err
				return
			}
			defer rc.c.Close()
			if _, err := rc.line(); err != nil {
				errc <- err
				return
			}
			for range perConn {
				capped := failures.Load() >= 20
				start := time.Now()
				r, err := rc.do(`LOGIN alice@example.test "guess"`)
				if err != nil {
					errc <- err
					return
				}
				if r != failedLogin {
					errc <- fmt.Errorf("flood attempt: %q", r)
					return
				}
				failures.Add(1)
				if capped {
					late.Add(1)
					if time.Since(start) >= maxDelay {
						slow.Add(1)
					}
				}
			}
		})
	}
	// Once the flood has locked alice's account, she logs in from a clean
	// address without waiting.
	for failures.Load() < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	rc := mustDialFrom(t, e.addr, "127.0.0.3")
	greeted(t, rc)
	if r, err := rc.do(`LOGIN alice@example.test ` + quote(testPassword)); err != nil || !strings.HasPrefix(r, "OK") {
		t.Fatalf("alice from a clean address: %q, %v", r, err)
	}
	if r, err := rc.do("SELECT INBOX"); err != nil || !strings.HasPrefix(r, "OK") {
		t.Fatalf("SELECT: %q, %v", r, err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("alice's login took %v during the flood", el)
	}
	flooding := failures.Load() < conns*perConn
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if !flooding {
		t.Error("the flood ended before alice logged in")
	}
	if late.Load() < conns*perConn/2 || slow.Load() != late.Load() {
		t.Errorf("%d of %d attempts after the delay reached %v waited it", slow.Load(), late.Load(), maxDelay)
	}
	// The flood's own address stays slow, even with the right password.
	rc2 := mustDialFrom(t, e.addr, "127.0.0.2")
	greeted(t, rc2)
	start = time.Now()
	if r, err := rc2.do(`LOGIN alice@example.test ` + quote(testPassword)); err != nil || r != failedLogin {
		t.Fatalf("right password from the flooding address while locked: %q, %v", r, err)
	}
	if el := time.Since(start); el < maxDelay {
		t.Errorf("flooding address answered in %v", el)
	}
}

// TestLockoutIndistinguishable: under lockout, a known account (right or
// wrong password) and an unknown one get the same answer in the same
// time as an unlocked wrong password, and no password is checked.
func TestLockoutIndistinguishable(t *testing.T) {
	const cost = 40 * time.Millisecond
	logins := limits.NewLogins(limits.LoginOptions{FreeFailures: 1000, Delay: time.Second, LockoutFailures: 3, Lockout: time.Minute})
	e := newLimitsEnv(t, cost, nil, func(o *Options) { o.Logins = logins })
	rc := mustDialFrom(t, e.addr, "127.0.0.2")
	greeted(t, rc)
	for range 3 {
		for _, u := range []string{"alice@example.test", "nobody@example.test"} {
			if r, err := rc.do("LOGIN " + u + ` "guess"`); err != nil || r != failedLogin {
				t.Fatalf("%s: %q, %v", u, r, err)
			}
		}
	}
	tests := []struct {
		name, user, pass string
		checked          bool
	}{
		{"known, locked, wrong password", "alice@example.test", "guess", false},
		{"known, locked, right password", "alice@example.test", testPassword, false},
		{"unknown, locked", "nobody@example.test", "guess", false},
		{"known, not locked, wrong password", "carol@example.test", "guess", true},
		{"unknown, not locked", "nobody2@example.test", "guess", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var times []time.Duration
			for range 3 {
				before := e.auth.checks.Load()
				start := time.Now()
				r, err := rc.do("LOGIN " + tt.user + " " + quote(tt.pass))
				el := time.Since(start)
				if err != nil || r != failedLogin {
					t.Fatalf("%q, %v", r, err)
				}
				if checked := e.auth.checks.Load() > before; checked != tt.checked {
					t.Fatalf("password checked: %v, want %v", checked, tt.checked)
				}
				times = append(times, el)
			}
			for _, el := range times {
				// A check costs 40ms; the band allows for a loaded machine.
				if el < cost*3/4 || el > cost+250*time.Millisecond {
					t.Errorf("answered in %v (all: %v), a check takes %v", el, times, cost)
				}
			}
		})
	}
	// From a clean address alice still logs in.
	rc2 := mustDialFrom(t, e.addr, "127.0.0.3")
	greeted(t, rc2)
	if r, err := rc2.do("LOGIN alice@example.test " + quote(testPassword)); err != nil || !strings.HasPrefix(r, "OK") {
		t.Fatalf("clean address: %q, %v", r, err)
	}
}

// TestLockoutCountsSpellingsAsOne: failures under several spellings of
// one account add up to its lockout.
func TestLockoutCountsSpellingsAsOne(t *testing.T) {
	logins := limits.NewLogins(limits.LoginOptions{FreeFailures: 1000, Delay: time.Second, LockoutFailures: 3,
		Lockout: time.Minute, Account: directory.LoginKey})
	e := newLimitsEnv(t, 0, nil, func(o *Options) { o.Logins = logins })
	rc := mustDialFrom(t, e.addr, "127.0.0.2")
	greeted(t, rc)
	for _, u := range []string{`"alice"@example.test`, `ALICE@Example.Test`, `"al\ice"@example.test`} {
		q := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(u) + `"`
		if r, err := rc.do("LOGIN " + q + ` "guess"`); err != nil || r != failedLogin {
			t.Fatalf("%s: %q, %v", u, r, err)
		}
	}
	before := e.auth.checks.Load()
	if r, err := rc.do("LOGIN alice@example.test " + quote(testPassword)); err != nil || r != failedLogin {
		t.Fatalf("locked account, right password: %q, %v", r, err)
	}
	if e.auth.checks.Load() != before {
		t.Fatal("a locked-out attempt was checked")
	}
}

// TestSlowLoris: 500 connections that send one byte and nothing more do
// not keep a client from logging in and fetching within a second.
func TestSlowLoris(t *testing.T) {
	conns := limits.NewConns(limits.ConnOptions{PerAddress: 100, Total: 1000})
	e := newLimitsEnv(t, 0, conns, nil)
	e.deliver("INBOX", "Subject: hello\n\nHi.\n")
	var loris []net.Conn
	defer func() {
		for _, c := range loris {
			c.Close()
		}
	}()
	for i := range 500 {
		rc := mustDialFrom(t, e.addr, fmt.Sprintf("127.0.0.%d", 4+i/100))
		if _, err := rc.c.Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
		loris = append(loris, rc.c)
	}
	// A 101st connection from one of their addresses is refused.
	over := mustDialFrom(t, e.addr, "127.0.0.4")
	if l, err := over.line(); l != "* BYE too many connections" {
		t.Fatalf("over the per-address limit: %q, %v", l, err)
	}
	if _, err := over.line(); err == nil {
		t.Fatal("refused connection left open")
	}

	start := time.Now()
	rc := mustDialFrom(t, e.addr, "127.0.0.20")
	greeted(t, rc)
	for _, cmd := range []string{"LOGIN alice@example.test " + quote(testPassword), "SELECT INBOX", "FETCH 1 BODY[]"} {
		if r, err := rc.do(cmd); err != nil || !strings.HasPrefix(r, "OK") {
			t.Fatalf("%s: %q, %v", cmd, r, err)
		}
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("login and fetch took %v beside 500 idle connections", el)
	}
	if total, _ := conns.Open(nil); total != 501 {
		t.Errorf("%d connections counted, want 501", total)
	}
}

func TestTotalConnectionLimit(t *testing.T) {
	conns := limits.NewConns(limits.ConnOptions{PerAddress: 10, Total: 3})
	e := newLimitsEnv(t, 0, conns, nil)
	for i := range 3 {
		greeted(t, mustDialFrom(t, e.addr, fmt.Sprintf("127.0.0.%d", 2+i)))
	}
	over := mustDialFrom(t, e.addr, "127.0.0.9")
	if l, _ := over.line(); l != "* BYE too many connections" {
		t.Fatalf("over the total: %q", l)
	}
}

func TestPreAuthCommandLimit(t *testing.T) {
	e := newLimitsEnv(t, 0, nil, func(o *Options) { o.MaxPreAuthCommands = 5 })
	c := e.dial()
	for range 5 {
		c.ok("NOOP")
	}
	c.send("x NOOP")
	if l := c.line(); l != "* BYE too many commands before login" {
		t.Fatalf("6th command: %q", l)
	}
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("connection still open")
	}
	// After login the count no longer applies.
	c = e.dial()
	for range 4 {
		c.ok("CAPABILITY")
	}
	c.ok("LOGIN alice@example.test " + quote(testPassword))
	for range 10 {
		c.ok("NOOP")
	}
}

func TestMailboxLimit(t *testing.T) {
	// The default mailboxes and two more.
	e := newLimitsEnv(t, 0, nil, func(o *Options) { o.MaxMailboxes = len(store.DefaultMailboxes) + 2 })
	c := e.login()
	c.ok("CREATE a")
	c.expect("CREATE x/y", "NO [LIMIT]") // two new levels, one place left
	c.ok("CREATE b")
	c.expect("CREATE c", "NO [LIMIT]")
	c.expect("CREATE b", "NO [ALREADYEXISTS]")
	c.expect("RENAME a z/a", "NO [LIMIT]") // z would be new
	c.ok("RENAME a a2")
	c.expect("RENAME INBOX old", "NO [LIMIT]") // INBOX stays
	c.ok("DELETE b")
	c.ok("RENAME a2 p/a2") // p takes b's place
	c.expect("CREATE c", "NO [LIMIT]")
	c.ok("DELETE p/a2")
	c.ok("CREATE c")
}
