package limits

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func tcp(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 1234} }

func newTestLogins(clock *fakeClock) *Logins {
	return NewLogins(LoginOptions{
		FreeFailures: 5, Delay: time.Second, MaxDelay: 30 * time.Second,
		Forget: time.Hour, LockoutFailures: 10, Lockout: 15 * time.Minute,
		Exempt: Networks{netip.MustParsePrefix("192.0.2.0/24")},
		Now:    clock.Now,
	})
}

func TestLoginDelays(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newTestLogins(clock)
	attacker, other := tcp("198.51.100.7"), tcp("203.0.113.9")
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {4, 0}, {5, time.Second}, {6, 2 * time.Second}, {7, 4 * time.Second},
		{9, 16 * time.Second}, {10, 30 * time.Second}, {50, 30 * time.Second},
	}
	n := 0
	for _, tt := range tests {
		for ; n < tt.failures; n++ {
			l.Failed(attacker, "u"+string(rune('a'+n%26))) // spread over accounts: no lockout
		}
		if d, _ := l.Check(attacker, "alice"); d != tt.want {
			t.Errorf("after %d failures: delay %v, want %v", tt.failures, d, tt.want)
		}
	}
	if d, locked := l.Check(other, "alice"); d != 0 || locked {
		t.Errorf("clean address: delay %v locked %v", d, locked)
	}
	clock.Advance(time.Hour)
	if d, _ := l.Check(attacker, "alice"); d != 0 {
		t.Errorf("after Forget: delay %v", d)
	}
	for range 8 {
		l.Failed(attacker, "x")
	}
	l.Succeeded(attacker, "x")
	if d, _ := l.Check(attacker, "x"); d != 0 {
		t.Errorf("after success: delay %v", d)
	}
}

func TestLoginLockout(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newTestLogins(clock)
	attacker, owner, exempt := tcp("198.51.100.7"), tcp("203.0.113.9"), tcp("192.0.2.5")
	for range 9 {
		l.Failed(attacker, "alice@example.test")
	}
	if _, locked := l.Check(attacker, "alice@example.test"); locked {
		t.Fatal("locked after 9 failures")
	}
	l.Failed(attacker, "Alice@Example.test") // names are case-insensitive
	if _, locked := l.Check(attacker, "alice@example.test"); !locked {
		t.Fatal("not locked after 10 failures")
	}
	if _, locked := l.Check(attacker, "bob@example.test"); locked {
		t.Fatal("another account is locked")
	}
	if d, locked := l.Check(owner, "alice@example.test"); locked || d != 0 {
		t.Fatalf("clean address: delay %v locked %v", d, locked)
	}
	// One failure makes an address suspect: the lockout applies to it.
	l.Failed(owner, "alice@example.test")
	if _, locked := l.Check(owner, "alice@example.test"); !locked {
		t.Fatal("address with a failure is not locked out")
	}
	for range 20 {
		l.Failed(exempt, "alice@example.test")
	}
	if d, locked := l.Check(exempt, "alice@example.test"); locked || d != 0 {
		t.Fatalf("exempt address: delay %v locked %v", d, locked)
	}
	clock.Advance(15 * time.Minute)
	if _, locked := l.Check(attacker, "alice@example.test"); locked {
		t.Fatal("still locked after Lockout")
	}
}

// A success at one's own account does not wipe the address's record of
// failures against other accounts; it clears its own account's only.
func TestLoginSuccessClearsOnlyItsAccount(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newTestLogins(clock)
	attacker := tcp("198.51.100.7")
	for range 7 {
		l.Failed(attacker, "victim@example.test")
	}
	l.Failed(attacker, "mallory@example.test")
	l.Succeeded(attacker, "mallory@example.test") // the attacker's own account
	if d, _ := l.Check(attacker, "victim@example.test"); d != 4*time.Second {
		t.Fatalf("after a success at another account: delay %v, want 4s (7 failures)", d)
	}
	l.Succeeded(attacker, "victim@example.test")
	if d, _ := l.Check(attacker, "victim@example.test"); d != 0 {
		t.Fatalf("after a success at the account guessed: delay %v", d)
	}
}

// Every spelling of one account counts as that account (Account).
func TestLoginSpellingsCountAsOne(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	canon := map[string]string{`"bob"@example.test`: "bob@example.test", `b\ob@example.test`: "bob@example.test",
		"bob@example\u3002test": "bob@example.test"}
	l := NewLogins(LoginOptions{
		FreeFailures: 5, Delay: time.Second, MaxDelay: 30 * time.Second,
		Forget: time.Hour, LockoutFailures: 4, Lockout: 15 * time.Minute, Now: clock.Now,
		Account: func(u string) string {
			if c, ok := canon[u]; ok {
				return c
			}
			return u
		},
	})
	attacker := tcp("198.51.100.7")
	for u := range canon {
		l.Failed(attacker, u)
	}
	l.Failed(attacker, "BOB@example.test")
	if _, locked := l.Check(attacker, "bob@example.test"); !locked {
		t.Fatal("four spellings of one account did not lock it")
	}
}

func TestLoginsNil(t *testing.T) {
	var l *Logins
	l.Failed(tcp("127.0.0.1"), "a")
	l.Succeeded(tcp("127.0.0.1"), "a")
	if d, locked := l.Check(tcp("127.0.0.1"), "a"); d != 0 || locked {
		t.Fatal("nil Logins limits")
	}
	v, err := Authenticate(context.Background(), l, tcp("127.0.0.1"), "a", errFailed, func() (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Fatalf("Authenticate = %v, %v", v, err)
	}
}

var errFailed = errors.New("authentication failed")

func TestAuthenticateLockedSkipsCheck(t *testing.T) {
	l := NewLogins(LoginOptions{LockoutFailures: 2, Lockout: time.Minute})
	ctx := context.Background()
	remote := tcp("198.51.100.7")
	checks := 0
	check := func() (int, error) {
		checks++
		time.Sleep(20 * time.Millisecond)
		return 0, errFailed
	}
	for range 2 {
		if _, err := Authenticate(ctx, l, remote, "alice", errFailed, check); !errors.Is(err, errFailed) {
			t.Fatal(err)
		}
	}
	start := time.Now()
	_, err := Authenticate(ctx, l, remote, "alice", errFailed, func() (int, error) { checks++; return 1, nil })
	if !errors.Is(err, errFailed) {
		t.Fatalf("locked attempt: %v", err)
	}
	if checks != 2 {
		t.Fatalf("locked attempt ran the check")
	}
	if el := time.Since(start); el < 15*time.Millisecond {
		t.Fatalf("locked attempt answered in %v, a check takes 20ms", el)
	}
	// Another address is not locked out.
	if v, err := Authenticate(ctx, l, tcp("203.0.113.1"), "alice", errFailed, func() (int, error) { return 1, nil }); err != nil || v != 1 {
		t.Fatalf("clean address: %v, %v", v, err)
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		in   net.Addr
		want string
	}{
		{tcp("127.0.0.2"), "127.0.0.2"},
		{tcp("::ffff:192.0.2.1"), "192.0.2.1"},
		{tcp("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, "invalid IP"},
	}
	for _, tt := range tests {
		if got := keyOf(addrOf(tt.in)).String(); got != tt.want {
			t.Errorf("key(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestMakeRoom(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLogins(LoginOptions{FreeFailures: 1, Delay: time.Second, MaxEntries: 3, Now: clock.Now})
	for i := range 10 {
		l.Failed(tcp("198.51.100."+string(rune('1'+i))), "u")
	}
	if n := len(l.addrs); n > 3 {
		t.Fatalf("%d entries, limit 3", n)
	}
}

func dialFrom(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConnLimits(t *testing.T) {
	tests := []struct {
		name        string
		opts        ConnOptions
		sources     []string // one connection each, all accepted
		refusedFrom string
	}{
		{"per address", ConnOptions{PerAddress: 2, Total: 10}, []string{"127.0.0.2", "127.0.0.2", "127.0.0.3"}, "127.0.0.2"},
		{"total", ConnOptions{PerAddress: 2, Total: 3}, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}, "127.0.0.5"},
		{"exempt", ConnOptions{PerAddress: 1, Total: 3, Exempt: Networks{netip.MustParsePrefix("127.0.0.2/32")}}, []string{"127.0.0.2", "127.0.0.2", "127.0.0.3"}, "127.0.0.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns := NewConns(tt.opts)
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := conns.Listener(inner, Busy("* BYE too many connections"))
			var wg sync.WaitGroup
			defer wg.Wait()
			defer l.Close()
			accepted := make(chan net.Conn, 10)
			wg.Go(func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Write([]byte("* OK\r\n"))
					accepted <- c
				}
			})
			greet := func(c net.Conn) string {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				s, _ := bufio.NewReader(c).ReadString('\n')
				return strings.TrimSpace(s)
			}
			var served []net.Conn
			for _, src := range tt.sources {
				if g := greet(dialFrom(t, inner.Addr().String(), src)); g != "* OK" {
					t.Fatalf("from %s: %q", src, g)
				}
				served = append(served, <-accepted)
			}
			c := dialFrom(t, inner.Addr().String(), tt.refusedFrom)
			if g := greet(c); g != "* BYE too many connections" {
				t.Fatalf("over the limit: %q", g)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("refused connection still open")
			}
			// Closing one frees its place.
			served[0].Close()
			src := tt.sources[0]
			if g := greet(dialFrom(t, inner.Addr().String(), src)); g != "* OK" {
				t.Fatalf("after a close: %q", g)
			}
			served = append(served, <-accepted)
			for _, s := range served {
				s.Close()
			}
			if total, _ := conns.Open(tcp(src)); total != 0 {
				t.Fatalf("%d connections counted after closing all", total)
			}
		})
	}
}
