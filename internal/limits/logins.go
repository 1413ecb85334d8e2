package limits

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// LoginOptions configure Logins. The zero value of a field turns its limit
// off, except where said otherwise.
type LoginOptions struct {
	// FreeFailures is how many failed logins an address may make before
	// its attempts are delayed.
	FreeFailures int
	// Delay is the wait before the first delayed attempt; it doubles with
	// each further failure up to MaxDelay. 0 turns delays off.
	Delay, MaxDelay time.Duration
	// Forget is how long after its last failure an address or an account
	// starts again with a clean record. Default 1 hour.
	Forget time.Duration
	// LockoutFailures failed logins of one account, from any address
	// within Forget, lock the account for Lockout. 0 turns lockout off.
	LockoutFailures int
	Lockout         time.Duration
	// Exempt lists networks whose clients are neither counted nor slowed.
	Exempt Networks
	// MaxEntries bounds each table (addresses, accounts). Default 100000.
	MaxEntries int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Account maps a login name to the account it names, so that every
	// spelling of one account ("bob"@example.test, bob@EXAMPLE.test, an
	// IDN full stop) counts as one. Default: the name, trimmed and in
	// lower case.
	Account func(user string) string
}

// Logins tracks failed logins per client address and per account name.
// It is safe for concurrent use; a nil *Logins limits nothing.
//
// Addresses: after FreeFailures failures, every attempt from the address
// (right or wrong password) first waits Delay, doubling per further
// failure, up to MaxDelay. A successful login forgets the address's
// failures. Together with the per-address connection limit (Conns) this
// bounds the guesses one address can make per second, while other
// addresses are not slowed at all.
//
// Accounts: LockoutFailures failures of one account name lock it for
// Lockout, but only against addresses that have failures of their own:
// the owner, logging in from an address that has not been guessing,
// still gets in, and a flood from elsewhere cannot lock them out. A
// locked-out attempt is not checked; it fails like a wrong password, after
// the same delay and about as long as a password check takes, so the
// lockout is not visible. Unknown account names are tracked the same way
// as real ones.
type Logins struct {
	opts LoginOptions

	mu    sync.Mutex
	addrs map[netip.Addr]*addrRecord
	users map[string]*userRecord
	// cost is a moving average of how long a failed check takes, which a
	// locked-out attempt imitates.
	cost time.Duration
}

type addrRecord struct {
	failures int
	last     time.Time
	// byUser counts the failures by account (up to maxUsersPerAddr
	// accounts; failures against others count only in failures): a
	// success clears its own account's failures only.
	byUser map[string]int
}

type userRecord struct {
	failures    int
	last        time.Time
	lockedUntil time.Time
}

// Defaults of LoginOptions.
const (
	defaultForget     = time.Hour
	defaultMaxEntries = 100000
	// maxUserKey bounds the account names kept: longer ones are cut.
	maxUserKey = 320
	// maxUsersPerAddr bounds the accounts counted apart per address.
	maxUsersPerAddr = 32
)

// NewLogins returns a tracker with opts.
func NewLogins(opts LoginOptions) *Logins {
	if opts.Forget <= 0 {
		opts.Forget = defaultForget
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = defaultMaxEntries
	}
	if opts.MaxDelay < opts.Delay {
		opts.MaxDelay = opts.Delay
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Logins{opts: opts, addrs: map[netip.Addr]*addrRecord{}, users: map[string]*userRecord{}}
}

func (l *Logins) userKey(user string) string {
	if len(user) > maxUserKey {
		user = user[:maxUserKey]
	}
	if l.opts.Account != nil {
		user = l.opts.Account(user)
	}
	return strings.ToLower(strings.TrimSpace(user))
}

// Check returns how long an attempt to log in as user from remote must
// wait before it is checked, and whether it is locked out (it must fail
// without a check).
func (l *Logins) Check(remote net.Addr, user string) (delay time.Duration, locked bool) {
	if l == nil {
		return 0, false
	}
	a := addrOf(remote)
	if l.opts.Exempt.Contains(a) {
		return 0, false
	}
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ar := l.addrs[keyOf(a)]
	if ar == nil || now.Sub(ar.last) >= l.opts.Forget {
		return 0, false
	}
	delay = l.delay(ar.failures)
	if ur := l.users[l.userKey(user)]; ur != nil && now.Before(ur.lockedUntil) {
		locked = true
	}
	return delay, locked
}

// delay is the wait of an address with n failures.
func (l *Logins) delay(n int) time.Duration {
	if l.opts.Delay <= 0 || n < l.opts.FreeFailures {
		return 0
	}
	d := l.opts.Delay
	for i := l.opts.FreeFailures; i < n && d < l.opts.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.opts.MaxDelay)
}

// Failed records a failed login as user from remote.
func (l *Logins) Failed(remote net.Addr, user string) {
	l.failed(remote, user, true)
}

// failed records a failure of the address, and of the account when
// countUser (a locked-out attempt does not prolong the lockout).
func (l *Logins) failed(remote net.Addr, user string, countUser bool) {
	if l == nil {
		return
	}
	a := addrOf(remote)
	if l.opts.Exempt.Contains(a) {
		return
	}
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := keyOf(a)
	ar := l.addrs[k]
	if ar == nil {
		makeRoom(l.addrs, l.opts.MaxEntries, func(r *addrRecord) bool { return now.Sub(r.last) >= l.opts.Forget })
		ar = &addrRecord{}
		l.addrs[k] = ar
	} else if now.Sub(ar.last) >= l.opts.Forget {
		ar.failures = 0
		clear(ar.byUser)
	}
	ar.failures++
	ar.last = now
	u := l.userKey(user)
	if _, ok := ar.byUser[u]; ok || len(ar.byUser) < maxUsersPerAddr {
		if ar.byUser == nil {
			ar.byUser = map[string]int{}
		}
		ar.byUser[u]++
	}
	if !countUser || l.opts.LockoutFailures <= 0 {
		return
	}
	ur := l.users[u]
	if ur == nil {
		makeRoom(l.users, l.opts.MaxEntries, func(r *userRecord) bool {
			return now.Sub(r.last) >= l.opts.Forget && !now.Before(r.lockedUntil)
		})
		ur = &userRecord{}
		l.users[u] = ur
	} else if now.Sub(ur.last) >= l.opts.Forget {
		ur.failures = 0
	}
	ur.failures++
	ur.last = now
	if ur.failures >= l.opts.LockoutFailures && !now.Before(ur.lockedUntil) {
		ur.lockedUntil = now.Add(l.opts.Lockout)
		ur.failures = 0
	}
}

// Succeeded records a successful login as user from remote: the address's
// failures against that account are forgotten (a client that mistyped
// its password is not slowed once it got it right), its failures against
// other accounts are not (a success at one's own account does not wipe a
// record of guessing at others'). Nor are the account's: its owner
// logging in does not stop a lockout against the addresses guessing its
// password.
func (l *Logins) Succeeded(remote net.Addr, user string) {
	if l == nil {
		return
	}
	k := keyOf(addrOf(remote))
	u := l.userKey(user)
	l.mu.Lock()
	defer l.mu.Unlock()
	ar := l.addrs[k]
	if ar == nil {
		return
	}
	ar.failures -= ar.byUser[u]
	delete(ar.byUser, u)
	if ar.failures <= 0 {
		delete(l.addrs, k)
	}
}

// makeRoom removes stale entries from a full table, or else any one.
func makeRoom[K comparable, V any](m map[K]V, limit int, stale func(V) bool) {
	if len(m) < limit {
		return
	}
	for k, v := range m {
		if stale(v) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < limit {
			break
		}
		delete(m, k)
	}
}

// observe adds the duration of a failed check to the moving average.
func (l *Logins) observe(d time.Duration) {
	l.mu.Lock()
	if l.cost == 0 {
		l.cost = d
	} else {
		l.cost += (d - l.cost) / 8
	}
	l.mu.Unlock()
}

func (l *Logins) checkCost() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cost
}

// Authenticate runs check, an attempt to log in as user from remote, under
// the limits of l (nil: none): it waits the address's delay first; a
// locked-out attempt does not run check but returns failed after about as
// long as a failed check takes. An error from check for which errors.Is(err,
// failed) holds counts as a failed login; nil counts as a success; other
// errors (the directory is unavailable) count as neither. If ctx ends
// during a wait, the attempt returns failed.
func Authenticate[T any](ctx context.Context, l *Logins, remote net.Addr, user string, failed error, check func() (T, error)) (T, error) {
	if l == nil {
		return check()
	}
	var zero T
	delay, locked := l.Check(remote, user)
	if !sleep(ctx, delay) {
		return zero, failed
	}
	if locked {
		sleep(ctx, l.checkCost())
		l.failed(remote, user, false)
		return zero, failed
	}
	start := time.Now()
	v, err := check()
	switch {
	case err == nil:
		l.Succeeded(remote, user)
	case errors.Is(err, failed):
		l.observe(time.Since(start))
		l.Failed(remote, user)
	}
	return v, err
}

// sleep waits d or until ctx ends, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
