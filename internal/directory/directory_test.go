package directory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailroom/internal/store"
)

func newTestDir(t *testing.T, delims string) (*Directory, *memStore) {
	t.Helper()
	st := newMemStore()
	p := cheapParams
	return New(st, Options{RecipientDelimiter: delims, HashParams: &p}), st
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDomains(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDir(t, "+")
	must(t, d.AddDomain(ctx, "Example.ORG"))
	must(t, d.AddDomain(ctx, "xn--mnchen-3ya.de"))
	if err := d.AddDomain(ctx, "example.org"); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddDomain(dup) = %v, want ErrExists", err)
	}
	if err := d.AddDomain(ctx, "münchen.de"); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddDomain(U-label of existing A-label) = %v, want ErrExists", err)
	}
	if err := d.AddDomain(ctx, "bad domain"); !errors.Is(err, ErrBadAddress) {
		t.Errorf("AddDomain(bad) = %v, want ErrBadAddress", err)
	}
	if err := d.AddDomain(ctx, "[192.0.2.1]"); !errors.Is(err, ErrBadAddress) {
		t.Errorf("AddDomain(literal) = %v, want ErrBadAddress", err)
	}
	ds, err := d.Domains(ctx)
	must(t, err)
	var names []string
	for _, x := range ds {
		names = append(names, x.Name)
	}
	if !slices.Equal(names, []string{"example.org", "münchen.de"}) {
		t.Errorf("Domains = %q", names)
	}
	for in, want := range map[string]bool{"EXAMPLE.org": true, "münchen.de": true, "xn--mnchen-3ya.de": true, "example.com": false, "[1.2.3.4]": false, "bad domain": false} {
		got, err := d.IsLocalDomain(ctx, in)
		if err != nil || got != want {
			t.Errorf("IsLocalDomain(%q) = %v, %v; want %v", in, got, err, want)
		}
	}

	// DeleteDomain refuses while accounts or aliases exist.
	_, err = d.AddAccount(ctx, "alice@example.org", "pw", store.QuotaDefault, store.QuotaDefault)
	must(t, err)
	must(t, d.AddAlias(ctx, "info@example.org", "alice@example.org"))
	err = d.DeleteDomain(ctx, "example.org")
	if !errors.Is(err, ErrDomainInUse) || !strings.Contains(err.Error(), "1 account and 1 alias") {
		t.Errorf("DeleteDomain(in use) = %v", err)
	}
	must(t, d.DeleteAlias(ctx, "info@example.org", ""))
	if err := d.DeleteDomain(ctx, "example.org"); !errors.Is(err, ErrDomainInUse) || !strings.Contains(err.Error(), "still has 1 account;") {
		t.Errorf("DeleteDomain(in use) = %v", err)
	}
	must(t, d.DeleteAccount(ctx, "alice@example.org"))
	must(t, d.DeleteDomain(ctx, "EXAMPLE.ORG"))
	if err := d.DeleteDomain(ctx, "example.org"); !errors.Is(err, store.ErrNotFound) || !errors.Is(err, ErrNotLocal) {
		t.Errorf("DeleteDomain(gone) = %v, want ErrNotFound", err)
	}
	must(t, d.DeleteDomain(ctx, "münchen.de"))
}

func TestAccounts(t *testing.T) {
	ctx := context.Background()
	d, st := newTestDir(t, "+")

	_, err := d.AddAccount(ctx, "alice@example.org", "pw", 0, 0)
	if !errors.Is(err, ErrNotLocal) || err.Error() != "domain example.org is not local; add it first with `mailroom domain add`" {
		t.Errorf("AddAccount(non-local) = %v", err)
	}
	must(t, d.AddDomain(ctx, "example.org"))

	acct, err := d.AddAccount(ctx, `"Alice"@EXAMPLE.org`, "secret", 1<<20, store.QuotaUnlimited)
	must(t, err)
	if acct.Address != "Alice@example.org" || acct.QuotaBytes != 1<<20 || acct.QuotaMessages != 0 {
		t.Errorf("account = %+v", acct)
	}
	if !strings.HasPrefix(acct.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(acct.PasswordHash, "secret") {
		t.Errorf("password hash %q", acct.PasswordHash)
	}
	if _, err := d.AddAccount(ctx, "alice@example.org", "pw", 0, 0); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddAccount(dup, other case) = %v, want ErrExists", err)
	}
	for _, tc := range []struct {
		addr, pw string
		q        int64
		want     error
	}{
		{"bad address@example.org", "pw", 0, ErrBadAddress},
		{"bob@example.org", "", 0, ErrBadPassword},
		{"bob@example.org", strings.Repeat("x", MaxPasswordLen+1), 0, ErrBadPassword},
		{"bob@[192.0.2.1]", "pw", 0, ErrNotLocal},
	} {
		if _, err := d.AddAccount(ctx, tc.addr, tc.pw, tc.q, 0); !errors.Is(err, tc.want) {
			t.Errorf("AddAccount(%q, %q) = %v, want %v", tc.addr, tc.pw, err, tc.want)
		}
	}
	if _, err := d.AddAccount(ctx, "bob@example.org", "pw", -2, 0); err == nil {
		t.Error("AddAccount with quota -2 succeeded")
	}

	got, err := d.Account(ctx, "ALICE@example.org")
	must(t, err)
	if got.ID != acct.ID {
		t.Errorf("Account = %+v", got)
	}
	if _, err := d.Account(ctx, "alice+x@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Account(with detail) = %v, want ErrNotFound", err)
	}

	must(t, d.SetPassword(ctx, "alice@example.org", "new secret"))
	if _, err := d.Authenticate(ctx, "alice@example.org", "secret"); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("old password still works: %v", err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.org", "new secret"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := d.SetPassword(ctx, "nobody@example.org", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPassword(unknown) = %v", err)
	}
	if err := d.SetPassword(ctx, "alice@example.org", ""); !errors.Is(err, ErrBadPassword) {
		t.Errorf("SetPassword(empty) = %v", err)
	}

	must(t, d.SetQuota(ctx, "alice@example.org", store.QuotaDefault, 500))
	got, _ = d.Account(ctx, "alice@example.org")
	if got.QuotaBytes != store.QuotaDefault || got.QuotaMessages != 500 {
		t.Errorf("after SetQuota: %+v", got)
	}

	_, err = d.AddAccount(ctx, "bob@example.org", "pw", store.QuotaDefault, store.QuotaDefault)
	must(t, err)
	as, err := d.Accounts(ctx)
	must(t, err)
	if len(as) != 2 {
		t.Errorf("Accounts = %+v", as)
	}

	// An alias address cannot become an account.
	must(t, d.AddAlias(ctx, "info@example.org", "bob@example.org"))
	if _, err := d.AddAccount(ctx, "Info@example.org", "pw", 0, 0); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddAccount(alias address) = %v, want ErrExists", err)
	}

	// DeleteAccount also removes it from aliases and catch-alls.
	must(t, d.AddAlias(ctx, "info@example.org", "alice@example.org"))
	must(t, d.SetCatchAll(ctx, "example.org", "bob@example.org"))
	must(t, d.DeleteAccount(ctx, "BOB@example.org"))
	if targets := st.aliases["info@example.org"]; !slices.Equal(targets, []string{"Alice@example.org"}) {
		t.Errorf("info targets after deleting bob: %q", targets)
	}
	ds, _ := d.Domains(ctx)
	if ds[0].CatchAll != "" {
		t.Errorf("catch-all after deleting bob: %q", ds[0].CatchAll)
	}
	if err := d.DeleteAccount(ctx, "bob@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAccount(gone) = %v", err)
	}
}

func TestAliases(t *testing.T) {
	ctx := context.Background()
	d, st := newTestDir(t, "+")
	must(t, d.AddDomain(ctx, "example.org"))
	for _, a := range []string{"alice@example.org", "Bob@example.org"} {
		_, err := d.AddAccount(ctx, a, "pw", 0, 0)
		must(t, err)
	}
	must(t, d.AddAlias(ctx, "Team@EXAMPLE.org", "alice@example.org"))
	must(t, d.AddAlias(ctx, "team@example.org", "BOB@example.org"))
	if err := d.AddAlias(ctx, "TEAM@example.org", "bob@example.org"); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddAlias(dup) = %v, want ErrExists", err)
	}
	// Stored under the lower-cased local part, targets as the accounts' addresses.
	if got := st.aliases["team@example.org"]; !slices.Equal(got, []string{"alice@example.org", "Bob@example.org"}) {
		t.Errorf("stored alias = %q (all: %v)", got, st.aliases)
	}
	for _, tc := range []struct {
		alias, target string
		want          error
	}{
		{"x@example.com", "alice@example.org", ErrNotLocal},
		{"alice@example.org", "bob@example.org", store.ErrExists},
		{"x@example.org", "nobody@example.org", store.ErrNotFound},
		{"x@example.org", "team@example.org", store.ErrNotFound}, // target must be an account
		{"x y@example.org", "alice@example.org", ErrBadAddress},
		{"x@example.org", "bad target", ErrBadAddress},
	} {
		if err := d.AddAlias(ctx, tc.alias, tc.target); !errors.Is(err, tc.want) {
			t.Errorf("AddAlias(%q, %q) = %v, want %v", tc.alias, tc.target, err, tc.want)
		}
	}
	as, err := d.Aliases(ctx)
	must(t, err)
	if len(as) != 1 || as[0].Address != "team@example.org" || len(as[0].Targets) != 2 {
		t.Errorf("Aliases = %+v", as)
	}
	if err := d.DeleteAlias(ctx, "team@example.org", "carol@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAlias(not a target) = %v", err)
	}
	if err := d.DeleteAlias(ctx, "nobody@example.org", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAlias(unknown) = %v", err)
	}
	must(t, d.DeleteAlias(ctx, "TEAM@example.org", "bob@EXAMPLE.org"))
	if got := st.aliases["team@example.org"]; !slices.Equal(got, []string{"alice@example.org"}) {
		t.Errorf("after DeleteAlias: %q", got)
	}
	must(t, d.DeleteAlias(ctx, "team@example.org", ""))
	if len(st.aliases) != 0 {
		t.Errorf("aliases left: %v", st.aliases)
	}

	// SetCatchAll.
	if err := d.SetCatchAll(ctx, "example.com", "alice@example.org"); !errors.Is(err, ErrNotLocal) {
		t.Errorf("SetCatchAll(non-local) = %v", err)
	}
	if err := d.SetCatchAll(ctx, "example.org", "nobody@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetCatchAll(unknown target) = %v", err)
	}
	must(t, d.SetCatchAll(ctx, "EXAMPLE.org", "ALICE@example.org"))
	if c := st.domains["example.org"].CatchAll; c != "alice@example.org" {
		t.Errorf("catch-all = %q", c)
	}
	must(t, d.SetCatchAll(ctx, "example.org", ""))
	if c := st.domains["example.org"].CatchAll; c != "" {
		t.Errorf("catch-all = %q", c)
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	d, st := newTestDir(t, "+-")
	must(t, d.AddDomain(ctx, "example.org"))
	must(t, d.AddDomain(ctx, "other.org"))
	must(t, d.AddDomain(ctx, "münchen.de"))
	for _, a := range []string{"alice@example.org", "Bob@example.org", "carol@example.org", "a+b@example.org", `"john smith"@example.org`, "catch@other.org", "jörg@münchen.de"} {
		_, err := d.AddAccount(ctx, a, "pw", 0, 0)
		must(t, err)
	}
	must(t, d.AddAlias(ctx, "team@example.org", "alice@example.org"))
	must(t, d.AddAlias(ctx, "team@example.org", "bob@example.org"))
	must(t, d.AddAlias(ctx, "team@example.org", "carol@example.org"))
	must(t, d.AddAlias(ctx, "postmaster@example.org", "alice@example.org"))
	must(t, d.AddAlias(ctx, "postmaster@other.org", "alice@example.org"))
	must(t, d.SetCatchAll(ctx, "other.org", "catch@other.org"))
	// An alias whose targets point at the same account twice (e.g. written
	// by another tool) and one that dangles.
	st.aliases["dup@example.org"] = []string{"alice@example.org", "ALICE@example.org"}
	st.aliases["dangling@example.org"] = []string{"gone@example.org"}

	tests := []struct {
		rcpt     string
		accounts []string
		detail   string
		original string
		err      error
	}{
		{rcpt: "alice@example.org", accounts: []string{"alice@example.org"}},
		{rcpt: "ALICE@Example.ORG", accounts: []string{"alice@example.org"}, original: "ALICE@example.org"},
		{rcpt: `"alice"@example.org`, accounts: []string{"alice@example.org"}, original: "alice@example.org"},
		{rcpt: "bob@example.org", accounts: []string{"Bob@example.org"}},
		{rcpt: "alice+lists@example.org", accounts: []string{"alice@example.org"}, detail: "lists"},
		{rcpt: "alice-lists@example.org", accounts: []string{"alice@example.org"}, detail: "lists"},
		{rcpt: "Alice+Lists@EXAMPLE.org", accounts: []string{"alice@example.org"}, detail: "Lists", original: "Alice+Lists@example.org"},
		{rcpt: "alice+@example.org", accounts: []string{"alice@example.org"}},
		{rcpt: "alice+a+b@example.org", accounts: []string{"alice@example.org"}, detail: "a+b"},
		// An account literally named a+b wins over a with detail b.
		{rcpt: "a+b@example.org", accounts: []string{"a+b@example.org"}},
		{rcpt: "A+B@example.org", accounts: []string{"a+b@example.org"}, original: "A+B@example.org"},
		{rcpt: "a+c@example.org", err: ErrNoSuchUser},
		{rcpt: `"john smith"@example.org`, accounts: []string{`"john smith"@example.org`}},
		{rcpt: `"John Smith"@example.org`, accounts: []string{`"john smith"@example.org`}},
		// Aliases.
		{rcpt: "team@example.org", accounts: []string{"alice@example.org", "Bob@example.org", "carol@example.org"}},
		{rcpt: "Team@example.org", accounts: []string{"alice@example.org", "Bob@example.org", "carol@example.org"}, original: "Team@example.org"},
		{rcpt: "team+x@example.org", accounts: []string{"alice@example.org", "Bob@example.org", "carol@example.org"}, detail: "x"},
		{rcpt: "dup@example.org", accounts: []string{"alice@example.org"}},
		{rcpt: "dangling@example.org", err: ErrNoSuchUser},
		{rcpt: "postmaster@example.org", accounts: []string{"alice@example.org"}},
		// Catch-all.
		{rcpt: "anything@other.org", accounts: []string{"catch@other.org"}},
		{rcpt: "anything+x@other.org", accounts: []string{"catch@other.org"}},
		{rcpt: "postmaster@other.org", accounts: []string{"alice@example.org"}},
		{rcpt: "nobody@example.org", err: ErrNoSuchUser},
		{rcpt: "+alice@example.org", err: ErrNoSuchUser},
		// IDN: U-labels and A-labels are the same domain.
		{rcpt: "jörg@münchen.de", accounts: []string{"jörg@münchen.de"}},
		{rcpt: "jörg@xn--mnchen-3ya.de", accounts: []string{"jörg@münchen.de"}, original: "jörg@münchen.de"},
		// Not ours, or not an address.
		{rcpt: "alice@example.com", err: ErrNotLocal},
		{rcpt: "alice@[192.0.2.1]", err: ErrNotLocal},
		{rcpt: "alice", err: ErrBadAddress},
		{rcpt: "<alice@example.org>", err: ErrBadAddress},
		{rcpt: "al ice@example.org", err: ErrBadAddress},
	}
	for _, tt := range tests {
		res, err := d.Resolve(ctx, tt.rcpt)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Resolve(%q) = %+v, %v; want %v", tt.rcpt, res, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.rcpt, err)
			continue
		}
		var got []string
		for _, a := range res.Accounts {
			got = append(got, a.Address)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tt.accounts))
		if !slices.Equal(got, want) {
			t.Errorf("Resolve(%q) accounts = %q, want %q", tt.rcpt, got, want)
		}
		if res.Detail != tt.detail {
			t.Errorf("Resolve(%q) detail = %q, want %q", tt.rcpt, res.Detail, tt.detail)
		}
		original := tt.original
		if original == "" {
			original = tt.rcpt
		}
		if res.Original != original {
			t.Errorf("Resolve(%q) original = %q, want %q", tt.rcpt, res.Original, original)
		}
	}

	// Without delimiters there is no subaddressing.
	plain := New(st, Options{HashParams: &cheapParams})
	if _, err := plain.Resolve(ctx, "alice+x@example.org"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("Resolve without delimiter = %v, want ErrNoSuchUser", err)
	}

	// A store failure is neither ErrNoSuchUser nor ErrNotLocal.
	boom := errors.New("disk on fire")
	st.mu.Lock()
	st.failAccounts = boom
	st.mu.Unlock()
	_, err := d.Resolve(ctx, "alice@example.org")
	if !errors.Is(err, boom) || errors.Is(err, ErrNoSuchUser) {
		t.Errorf("Resolve with failing store = %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	d, st := newTestDir(t, "+")
	var calls atomic.Int32
	var hashes sync.Map
	d.verify = func(hash, pw string) bool {
		calls.Add(1)
		hashes.Store(hash, true)
		return VerifyPassword(hash, pw)
	}
	must(t, d.AddDomain(ctx, "example.org"))
	acct, err := d.AddAccount(ctx, "Alice@example.org", "s3cret", 0, 0)
	must(t, err)

	got, err := d.Authenticate(ctx, "alice@EXAMPLE.org", "s3cret")
	if err != nil || got.ID != acct.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	tests := []struct {
		user, pw string
		verifies bool // spends a hash verification
	}{
		{"alice@example.org", "wrong", true},
		{"alice@example.org", "S3CRET", true},
		{"nobody@example.org", "s3cret", true},
		{"alice@example.com", "s3cret", true},
		{"not an address", "s3cret", true},
		{"alice+tag@example.org", "s3cret", true}, // exact address only
		{"alice@example.org", "", false},
		{"alice@example.org", strings.Repeat("x", MaxPasswordLen+1), false},
	}
	for _, tt := range tests {
		before := calls.Load()
		got, err := d.Authenticate(ctx, tt.user, tt.pw)
		if err != ErrAuthFailed || got != nil {
			t.Errorf("Authenticate(%q, %q) = %+v, %v; want ErrAuthFailed", tt.user, tt.pw, got, err)
		}
		if n := calls.Load() - before; (n == 1) != tt.verifies {
			t.Errorf("Authenticate(%q, %q) verified %d hashes, want verifies=%v", tt.user, tt.pw, n, tt.verifies)
		}
	}
	// Unknown users were checked against the dummy hash, which uses the
	// directory's parameters.
	if _, ok := hashes.Load(d.dummyHash()); !ok {
		t.Error("dummy hash never verified")
	}
	if !strings.HasPrefix(d.dummyHash(), "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("dummy hash %q", d.dummyHash())
	}

	// A store failure is not reported as a wrong password.
	boom := errors.New("disk on fire")
	st.mu.Lock()
	st.failAccounts = boom
	st.mu.Unlock()
	if _, err := d.Authenticate(ctx, "alice@example.org", "s3cret"); !errors.Is(err, boom) || errors.Is(err, ErrAuthFailed) {
		t.Errorf("Authenticate with failing store = %v", err)
	}
}

func TestConcurrentAuthenticate(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDir(t, "+")
	must(t, d.AddDomain(ctx, "example.org"))
	_, err := d.AddAccount(ctx, "alice@example.org", "pw", 0, 0)
	must(t, err)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			user := "alice@example.org"
			if i%2 == 1 {
				user = "nobody@example.org"
			}
			_, err := d.Authenticate(ctx, user, "pw")
			if (i%2 == 0) != (err == nil) {
				t.Errorf("Authenticate(%q) = %v", user, err)
			}
			if _, err := d.Resolve(ctx, "alice+x@example.org"); err != nil {
				t.Errorf("Resolve: %v", err)
			}
		})
	}
	wg.Wait()
}

func TestAuthenticateRemembersLogins(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDir(t, "+")
	var calls atomic.Int32
	d.verify = func(hash, pw string) bool {
		calls.Add(1)
		return VerifyPassword(hash, pw)
	}
	must(t, d.AddDomain(ctx, "example.org"))
	_, err := d.AddAccount(ctx, "alice@example.org", "s3cret", 0, 0)
	must(t, err)
	for i := range 3 {
		if _, err := d.Authenticate(ctx, "alice@example.org", "s3cret"); err != nil {
			t.Fatal(err)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("login %d: %d verifications, want 1 (then remembered)", i+1, n)
		}
	}
	// A wrong password always costs a verification and fails.
	if _, err := d.Authenticate(ctx, "alice@example.org", "nope"); err != ErrAuthFailed || calls.Load() != 2 {
		t.Fatalf("wrong password: %v, %d verifications", err, calls.Load())
	}
	// A password change forgets the remembered login at once.
	must(t, d.SetPassword(ctx, "alice@example.org", "n3w"))
	if _, err := d.Authenticate(ctx, "alice@example.org", "s3cret"); err != ErrAuthFailed {
		t.Fatalf("old password after change: %v", err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.org", "n3w"); err != nil {
		t.Fatal(err)
	}
}

// Sessions that log in at once with the same password (a client opening
// several connections) share one verification; a different password
// verifies on its own, and fails.
func TestConcurrentLoginsShareVerification(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDir(t, "+")
	must(t, d.AddDomain(ctx, "example.org"))
	_, err := d.AddAccount(ctx, "alice@example.org", "s3cret", 0, 0)
	must(t, err)
	var calls atomic.Int32
	release := make(chan struct{})
	d.verify = func(hash, pw string) bool {
		calls.Add(1)
		<-release
		return VerifyPassword(hash, pw)
	}
	const n = 8
	errs := make(chan error, n+1)
	for range n {
		go func() {
			_, err := d.Authenticate(ctx, "alice@example.org", "s3cret")
			errs <- err
		}()
	}
	go func() {
		_, err := d.Authenticate(ctx, "alice@example.org", "wrong")
		if err == nil {
			err = errors.New("wrong password accepted")
		} else if err == ErrAuthFailed {
			err = nil
		}
		errs <- err
	}()
	// Both verifications start (the right and the wrong password) while
	// the other logins wait for the first.
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c := calls.Load(); c != 2 {
		t.Fatalf("%d verifications for %d logins with one password and one with another, want 2", c, n)
	}
}

func TestAuthenticateRehashes(t *testing.T) {
	ctx := context.Background()
	d, st := newTestDir(t, "+")
	must(t, d.AddDomain(ctx, "example.org"))
	old := HashParams{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h, err := old.Hash("s3cret")
	must(t, err)
	_, err = d.AddAccount(ctx, "alice@example.org", "whatever", 0, 0)
	must(t, err)
	must(t, st.SetPasswordHash(ctx, "alice@example.org", h))
	if _, err := d.Authenticate(ctx, "alice@example.org", "s3cret"); err != nil {
		t.Fatal(err)
	}
	acct, _ := st.Account(ctx, "alice@example.org")
	if acct.PasswordHash == h || NeedsRehash(acct.PasswordHash, d.params) {
		t.Fatalf("hash not upgraded: %s", acct.PasswordHash)
	}
	if _, err := d.Authenticate(ctx, "alice@example.org", "s3cret"); err != nil {
		t.Fatal(err)
	}
}

// A burst of costly verifications hands their memory back to the system
// once, soon after the burst; cheap hashes (as in tests) never do.
func TestHashMemoryReleasedAfterBurst(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDir(t, "+")
	var frees atomic.Int32
	d.freeOS = func() { frees.Add(1) }
	d.verify = func(hash, pw string) bool { return false }
	costly := "$argon2id$v=19$m=65536,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	cheap := "$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	d.verifyBounded(ctx, cheap, "pw")
	time.Sleep(1200 * time.Millisecond)
	if n := frees.Load(); n != 0 {
		t.Fatalf("cheap verification released memory %d times", n)
	}
	for range 5 {
		d.verifyBounded(ctx, costly, "pw")
	}
	deadline := time.Now().Add(5 * time.Second)
	for frees.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := frees.Load(); n != 1 {
		t.Fatalf("burst of 5 verifications released memory %d times, want 1", n)
	}
	d.verifyBounded(ctx, costly, "pw")
	deadline = time.Now().Add(5 * time.Second)
	for frees.Load() == 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := frees.Load(); n != 2 {
		t.Fatalf("a later verification released memory %d times in all, want 2", n)
	}
}

// postmaster@ every local domain takes mail (RFC 5321 §4.5.1): its own
// account or alias, else the domain's catch-all, else Options.Postmaster,
// else the domain's oldest account.
func TestResolvePostmaster(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	p := cheapParams
	d := New(st, Options{RecipientDelimiter: "+", HashParams: &p, Postmaster: "admin@example.net"})
	must(t, d.AddDomain(ctx, "example.org"))
	must(t, d.AddDomain(ctx, "example.net"))
	must(t, d.AddDomain(ctx, "empty.example"))
	resolvesTo := func(rcpt, want string) {
		t.Helper()
		res, err := d.Resolve(ctx, rcpt)
		if want == "" {
			if !errors.Is(err, ErrNoSuchUser) {
				t.Fatalf("%s: %v, want no such user", rcpt, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", rcpt, err)
		}
		if len(res.Accounts) != 1 || res.Accounts[0].Address != want {
			t.Fatalf("%s: %+v, want %s", rcpt, res.Accounts, want)
		}
	}
	resolvesTo("postmaster@example.org", "")
	for _, a := range []string{"bob@example.org", "carol@example.org"} {
		_, err := d.AddAccount(ctx, a, "pw", 0, 0)
		must(t, err)
	}
	resolvesTo("postmaster@example.org", "bob@example.org")
	resolvesTo("PostMaster@Example.org", "bob@example.org")
	resolvesTo("webmaster@example.org", "")
	must(t, d.SetCatchAll(ctx, "example.org", "carol@example.org"))
	resolvesTo("postmaster@example.org", "carol@example.org")
	_, err := d.AddAccount(ctx, "admin@example.net", "pw", 0, 0)
	must(t, err)
	resolvesTo("postmaster@empty.example", "admin@example.net")
	must(t, d.AddAlias(ctx, "postmaster@example.net", "admin@example.net"))
	_, err = d.AddAccount(ctx, "postmaster@example.org", "pw", 0, 0)
	must(t, err)
	resolvesTo("postmaster@example.org", "postmaster@example.org")
}

// TestOwns: an account owns its address, its aliases and their plus-forms,
// not what reaches it only through a catch-all or another account's name.
func TestOwns(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDir(t, "+")
	must(t, d.AddDomain(ctx, "example.org"))
	must(t, d.AddDomain(ctx, "other.org"))
	alice, err := d.AddAccount(ctx, "alice@example.org", "pw", 0, 0)
	must(t, err)
	_, err = d.AddAccount(ctx, "bob@example.org", "pw", 0, 0)
	must(t, err)
	must(t, d.AddAlias(ctx, "sales@example.org", "alice@example.org"))
	must(t, d.AddAlias(ctx, "sales@example.org", "bob@example.org"))
	must(t, d.SetCatchAll(ctx, "other.org", "alice@example.org"))
	for addr, want := range map[string]bool{
		"alice@example.org":         true,
		"ALICE@Example.ORG":         true,
		"alice+away@example.org":    true,
		`"alice"@example.org`:       true,
		"sales@example.org":         true,
		"sales+eu@example.org":      true,
		"bob@example.org":           false,
		"anyone@other.org":          false,
		"ceo@bank.example":          false,
		"alice@[192.0.2.1]":         false,
		"not an address":            false,
		"postmaster@example.org":    false,
		`"x@elsewhere"@example.org`: false,
	} {
		got, err := d.Owns(ctx, alice.ID, addr)
		if err != nil || got != want {
			t.Errorf("Owns(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
}
