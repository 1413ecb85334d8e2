package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"mailroom/internal/sasl"
	"mailroom/internal/store"
)

// Sentinel errors; test with errors.Is. Errors from the store are wrapped,
// so store.ErrNotFound and store.ErrExists can be tested too.
var (
	ErrBadAddress  = errors.New("bad address")                    // syntax error in an address or domain
	ErrNotLocal    = errors.New("not a local domain")             // the domain is not one of ours
	ErrNoSuchUser  = errors.New("no such user")                   // local domain, nobody by that name
	ErrAuthFailed  = errors.New("authentication failed")          // unknown user or wrong password
	ErrDomainInUse = errors.New("domain has accounts or aliases") // DeleteDomain of a non-empty domain
)

// Options configure a Directory.
type Options struct {
	// RecipientDelimiter holds the subaddress delimiter characters (RFC
	// 5233), each one a delimiter, e.g. "+" or "+-"; "" disables
	// subaddressing.
	RecipientDelimiter string
	// HashParams overrides DefaultHashParams for new password hashes (and
	// for the dummy hash Authenticate verifies for unknown users). Only
	// tests should set it, to cheap parameters that keep the race-enabled
	// test suite fast; existing hashes keep verifying with their own
	// parameters.
	HashParams *HashParams
	// Postmaster is the account that gets mail for postmaster@ a local
	// domain that has no account or alias of that name, nor a catch-all
	// (see Resolve); "" means the domain's oldest account.
	Postmaster string
}

// Directory is the user directory. It is safe for concurrent use.
type Directory struct {
	st         store.Store
	delims     string
	params     HashParams
	postmaster string

	dummyOnce sync.Once
	dummy     string

	verify func(hash, pw string) bool // VerifyPassword; tests replace it

	// hashing bounds concurrent password hash verifications: each argon2id
	// verification holds its memory cost (64 MiB by default), so a burst of
	// logins must queue rather than take gigabytes.
	hashing chan struct{}
	// logins remembers recent successful logins (see Authenticate).
	loginsMu  sync.Mutex
	logins    map[[32]byte]loginEntry
	loginSalt [32]byte
	// verifying holds the verifications under way, by login key: the
	// sessions a client opens at once with the same password wait for
	// one verification instead of each paying for its own.
	verifying map[[32]byte]*verification
	// releasing is set while a return of hash memory to the system is
	// scheduled (see releaseHashMemory).
	releasing bool
	freeOS    func() // debug.FreeOSMemory; tests replace it
}

// verification is one password verification under way.
type verification struct {
	hash string // the password hash it verifies against
	done chan struct{}
	ok   bool
}

// loginEntry is a remembered successful login: valid while the account
// still has the same password hash, and until expires.
type loginEntry struct {
	hash    string
	expires time.Time
}

// Login cache bounds.
const (
	loginCacheTTL  = time.Hour
	loginCacheSize = 100000
)

// New returns a Directory over st.
func New(st store.Store, opts Options) *Directory {
	d := &Directory{st: st, delims: opts.RecipientDelimiter, params: DefaultHashParams, verify: VerifyPassword,
		hashing: make(chan struct{}, max(2, runtime.GOMAXPROCS(0))), freeOS: debug.FreeOSMemory,
		logins: map[[32]byte]loginEntry{}, verifying: map[[32]byte]*verification{}}
	if opts.HashParams != nil {
		d.params = *opts.HashParams
	}
	d.postmaster = opts.Postmaster
	if _, err := rand.Read(d.loginSalt[:]); err != nil {
		panic("directory: no randomness: " + err.Error())
	}
	return d
}

// msgError is an error with its own message that matches a sentinel.
type msgError struct {
	msg string
	err error
}

func (e *msgError) Error() string { return e.msg }
func (e *msgError) Unwrap() error { return e.err }

func errorf(sentinel error, format string, args ...any) error {
	return &msgError{msg: fmt.Sprintf(format, args...), err: sentinel}
}

func notLocal(domain string) error {
	return &msgError{msg: fmt.Sprintf("domain %s is not local; add it first with `mailroom domain add`", domain), err: errNotLocalNotFound}
}

// SplitDetail splits a local part at the first of the directory's
// delimiters (see the package function SplitDetail).
func (d *Directory) SplitDetail(local string) (user, detail string) {
	return SplitDetail(local, d.delims)
}

// HashPassword hashes pw with the directory's parameters.
func (d *Directory) HashPassword(pw string) (string, error) {
	return d.params.Hash(pw)
}

// ---- Domains ----

// AddDomain makes name a local domain.
func (d *Directory) AddDomain(ctx context.Context, name string) error {
	dom, err := ParseDomain(name)
	if err != nil {
		return err
	}
	if err := d.st.CreateDomain(ctx, dom); err != nil {
		return fmt.Errorf("domain %s: %w", dom, err)
	}
	return nil
}

// DeleteDomain removes a local domain. It refuses (ErrDomainInUse) while
// the domain has accounts or aliases.
func (d *Directory) DeleteDomain(ctx context.Context, name string) error {
	dom, err := ParseDomain(name)
	if err != nil {
		return err
	}
	if _, err := d.domain(ctx, dom); err != nil {
		return err
	}
	accounts, err := d.st.Accounts(ctx)
	if err != nil {
		return fmt.Errorf("listing accounts: %w", err)
	}
	aliases, err := d.st.Aliases(ctx)
	if err != nil {
		return fmt.Errorf("listing aliases: %w", err)
	}
	nAcc, nAli := 0, 0
	for _, a := range accounts {
		if inDomain(a.Address, dom) {
			nAcc++
		}
	}
	for _, a := range aliases {
		if inDomain(a.Address, dom) {
			nAli++
		}
	}
	if nAcc > 0 || nAli > 0 {
		var what []string
		if nAcc > 0 {
			what = append(what, plural(nAcc, "account"))
		}
		if nAli > 0 {
			what = append(what, plural(nAli, "alias"))
		}
		return errorf(ErrDomainInUse, "domain %s still has %s; delete them first", dom, strings.Join(what, " and "))
	}
	if err := d.st.DeleteDomain(ctx, dom); err != nil {
		return fmt.Errorf("domain %s: %w", dom, err)
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "s") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// inDomain reports whether a stored address is in the canonical domain dom.
func inDomain(address, dom string) bool {
	if a, err := ParseAddress(address); err == nil {
		return a.Domain == dom
	}
	i := strings.LastIndexByte(address, '@')
	return i >= 0 && strings.EqualFold(address[i+1:], dom)
}

// Domains lists the local domains.
func (d *Directory) Domains(ctx context.Context) ([]store.Domain, error) {
	ds, err := d.st.Domains(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	return ds, nil
}

// findDomain returns the local domain with canonical name dom, or nil.
func (d *Directory) findDomain(ctx context.Context, dom string) (*store.Domain, error) {
	ds, err := d.st.Domains(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	for i := range ds {
		if sameDomain(ds[i].Name, dom) {
			return &ds[i], nil
		}
	}
	return nil, nil
}

// domain is findDomain with an error matching ErrNotLocal and
// store.ErrNotFound when dom is not local.
func (d *Directory) domain(ctx context.Context, dom string) (*store.Domain, error) {
	ld, err := d.findDomain(ctx, dom)
	if err == nil && ld == nil {
		err = &msgError{msg: fmt.Sprintf("domain %s is not a local domain", dom), err: errNotLocalNotFound}
	}
	return ld, err
}

var errNotLocalNotFound = errors.Join(ErrNotLocal, store.ErrNotFound)

func sameDomain(stored, dom string) bool {
	if stored == dom || strings.EqualFold(stored, dom) {
		return true
	}
	c, err := ParseDomain(stored)
	return err == nil && c == dom
}

// IsLocalDomain reports whether domain (any spelling) is a local domain.
// Address literals are never local.
func (d *Directory) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	dom, err := ParseDomain(domain)
	if err != nil {
		return false, nil
	}
	ld, err := d.findDomain(ctx, dom)
	return ld != nil, err
}

// SetCatchAll makes target (an existing account) receive mail for unknown
// local parts of domain; target "" removes the catch-all.
func (d *Directory) SetCatchAll(ctx context.Context, domain, target string) error {
	dom, err := ParseDomain(domain)
	if err != nil {
		return err
	}
	if _, err := d.domain(ctx, dom); err != nil {
		return err
	}
	stored := ""
	if target != "" {
		acct, err := d.Account(ctx, target)
		if err != nil {
			return fmt.Errorf("catch-all target: %w", err)
		}
		stored = acct.Address
	}
	if err := d.st.SetCatchAll(ctx, dom, stored); err != nil {
		return fmt.Errorf("domain %s: setting catch-all: %w", dom, err)
	}
	return nil
}

// ---- Accounts ----

// localAddress parses address and checks that its domain is local.
func (d *Directory) localAddress(ctx context.Context, address string) (Address, error) {
	a, err := ParseAddress(address)
	if err != nil {
		return Address{}, err
	}
	if a.IsLiteral() {
		return Address{}, errorf(errNotLocalNotFound, "%s: an address literal cannot be a local domain", a)
	}
	ld, err := d.findDomain(ctx, a.Domain)
	if err != nil {
		return Address{}, err
	}
	if ld == nil {
		return Address{}, notLocal(a.Domain)
	}
	return a, nil
}

func checkQuota(what string, v int64) error {
	if v < store.QuotaDefault {
		return fmt.Errorf("%s quota must be %d (default), 0 (unlimited) or a positive limit, got %d", what, store.QuotaDefault, v)
	}
	return nil
}

// AddAccount creates an account (and, in the store, its default
// mailboxes). The domain must be local and the address must not be an
// alias. quotaBytes and quotaMessages are store.QuotaDefault,
// store.QuotaUnlimited or a limit.
func (d *Directory) AddAccount(ctx context.Context, address, password string, quotaBytes, quotaMessages int64) (*store.Account, error) {
	a, err := d.localAddress(ctx, address)
	if err != nil {
		return nil, err
	}
	if err := checkQuota("byte", quotaBytes); err != nil {
		return nil, err
	}
	if err := checkQuota("message", quotaMessages); err != nil {
		return nil, err
	}
	if _, targets, err := d.aliasTargets(ctx, a); err != nil {
		return nil, err
	} else if targets != nil {
		return nil, fmt.Errorf("%s is an alias; delete the alias first: %w", a, store.ErrExists)
	}
	hash, err := d.HashPassword(password)
	if err != nil {
		return nil, err
	}
	scram, err := scramFor(password)
	if err != nil {
		return nil, err
	}
	acct, err := d.st.CreateAccount(ctx, store.NewAccount{
		Address:       a.String(),
		PasswordHash:  hash,
		SCRAM:         scram,
		QuotaBytes:    quotaBytes,
		QuotaMessages: quotaMessages,
	})
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a, err)
	}
	return acct, nil
}

// Account returns the account with exactly this address (matched
// case-insensitively, without removing a subaddress detail).
func (d *Directory) Account(ctx context.Context, address string) (*store.Account, error) {
	a, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	acct, err := d.st.Account(ctx, a.String())
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a, err)
	}
	return acct, nil
}

// Accounts lists every account.
func (d *Directory) Accounts(ctx context.Context) ([]store.Account, error) {
	as, err := d.st.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	return as, nil
}

// SetPassword replaces an account's password, and its SCRAM keys with
// keys made from the new one.
func (d *Directory) SetPassword(ctx context.Context, address, password string) error {
	acct, err := d.Account(ctx, address)
	if err != nil {
		return err
	}
	hash, err := d.HashPassword(password)
	if err != nil {
		return err
	}
	scram, err := scramFor(password)
	if err != nil {
		return err
	}
	// The store clears the old keys with the new hash, so a failure
	// between the two steps leaves no keys (filled in at the next
	// password login), never the old password's.
	if err := d.st.SetPasswordHash(ctx, acct.Address, hash); err != nil {
		return fmt.Errorf("account %s: %w", acct.Address, err)
	}
	if err := d.st.SetSCRAM(ctx, acct.Address, hash, scram); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("account %s: password set, but storing its SCRAM keys failed (they are stored at the next login): %w", acct.Address, err)
	}
	return nil
}

// SetQuota changes an account's quota (store.QuotaDefault,
// store.QuotaUnlimited or a limit, for each of bytes and messages).
func (d *Directory) SetQuota(ctx context.Context, address string, bytes, messages int64) error {
	if err := checkQuota("byte", bytes); err != nil {
		return err
	}
	if err := checkQuota("message", messages); err != nil {
		return err
	}
	acct, err := d.Account(ctx, address)
	if err != nil {
		return err
	}
	if err := d.st.SetQuota(ctx, acct.Address, bytes, messages); err != nil {
		return fmt.Errorf("account %s: %w", acct.Address, err)
	}
	return nil
}

// DeleteAccount deletes an account with all its mail, then removes it from
// the targets of aliases and from catch-alls.
func (d *Directory) DeleteAccount(ctx context.Context, address string) error {
	acct, err := d.Account(ctx, address)
	if err != nil {
		return err
	}
	if err := d.st.DeleteAccount(ctx, acct.Address); err != nil {
		return fmt.Errorf("account %s: %w", acct.Address, err)
	}
	cleanup := func(err error) error {
		return fmt.Errorf("account %s deleted, but removing it from aliases and catch-alls failed: %w", acct.Address, err)
	}
	aliases, err := d.st.Aliases(ctx)
	if err != nil {
		return cleanup(err)
	}
	for _, al := range aliases {
		for _, t := range al.Targets {
			if strings.EqualFold(t, acct.Address) {
				if err := d.st.DeleteAlias(ctx, al.Address, t); err != nil && !errors.Is(err, store.ErrNotFound) {
					return cleanup(err)
				}
			}
		}
	}
	domains, err := d.st.Domains(ctx)
	if err != nil {
		return cleanup(err)
	}
	for _, dom := range domains {
		if dom.CatchAll != "" && strings.EqualFold(dom.CatchAll, acct.Address) {
			if err := d.st.SetCatchAll(ctx, dom.Name, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
				return cleanup(err)
			}
		}
	}
	return nil
}

// ---- Aliases ----

// aliasKey is the address an alias is stored under: its local part lower
// cased, since aliases are matched case-insensitively whatever the store
// does.
func aliasKey(a Address) string {
	return Address{Local: strings.ToLower(a.Local), Domain: a.Domain}.String()
}

// aliasTargets returns the stored alias address and targets for a, or
// ("", nil, nil) when a is not an alias.
func (d *Directory) aliasTargets(ctx context.Context, a Address) (string, []string, error) {
	keys := []string{aliasKey(a)}
	if exact := a.String(); exact != keys[0] {
		keys = append(keys, exact)
	}
	for _, k := range keys {
		t, err := d.st.AliasTargets(ctx, k)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", nil, fmt.Errorf("alias %s: %w", a, err)
		}
		if len(t) > 0 {
			return k, t, nil
		}
	}
	return "", nil, nil
}

// AddAlias adds target (an existing account) to the targets of alias, an
// address in a local domain that is not an account. Adding more targets to
// one alias makes it fan out. The alias's local part is stored in lower case.
func (d *Directory) AddAlias(ctx context.Context, alias, target string) error {
	a, err := d.localAddress(ctx, alias)
	if err != nil {
		return err
	}
	if _, err := d.st.Account(ctx, a.String()); err == nil {
		return fmt.Errorf("%s is an account; an alias cannot have the same address: %w", a, store.ErrExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("alias %s: %w", a, err)
	}
	acct, err := d.Account(ctx, target)
	if err != nil {
		return fmt.Errorf("alias target must be an existing account: %w", err)
	}
	key, targets, err := d.aliasTargets(ctx, a)
	if err != nil {
		return err
	}
	if key == "" {
		key = aliasKey(a)
	}
	for _, t := range targets {
		if strings.EqualFold(t, acct.Address) {
			return fmt.Errorf("alias %s already points to %s: %w", key, acct.Address, store.ErrExists)
		}
	}
	if err := d.st.AddAlias(ctx, key, acct.Address); err != nil {
		return fmt.Errorf("alias %s: %w", key, err)
	}
	return nil
}

// DeleteAlias removes target from alias's targets; target "" removes the
// whole alias.
func (d *Directory) DeleteAlias(ctx context.Context, alias, target string) error {
	a, err := ParseAddress(alias)
	if err != nil {
		return err
	}
	key, targets, err := d.aliasTargets(ctx, a)
	if err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("alias %s: %w", a, store.ErrNotFound)
	}
	stored := ""
	if target != "" {
		t, err := ParseAddress(target)
		if err != nil {
			return err
		}
		for _, s := range targets {
			if strings.EqualFold(s, t.String()) {
				stored = s
				break
			}
		}
		if stored == "" {
			return fmt.Errorf("alias %s does not point to %s: %w", key, t, store.ErrNotFound)
		}
	}
	if err := d.st.DeleteAlias(ctx, key, stored); err != nil {
		return fmt.Errorf("alias %s: %w", key, err)
	}
	return nil
}

// Aliases lists every alias.
func (d *Directory) Aliases(ctx context.Context) ([]store.Alias, error) {
	as, err := d.st.Aliases(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing aliases: %w", err)
	}
	return as, nil
}

// ---- Authentication ----

// dummyHash is verified for unknown users so that a failed login costs the
// same whether or not the account exists.
func (d *Directory) dummyHash() string {
	d.dummyOnce.Do(func() {
		h, err := d.params.Hash("mailroom dummy password, never matches")
		if err != nil {
			h = "$argon2id$v=19$m=65536,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}
		d.dummy = h
	})
	return d.dummy
}

// Authenticate checks a username (the account's full address, exactly; no
// subaddress is removed) and password. Unknown users and wrong passwords
// both give ErrAuthFailed, after the same work (one hash verification). A
// store failure gives a different, wrapped error, so the caller can answer
// "try again later" rather than "wrong password".
//
// Mail clients log in again and again with the same password, so a
// successful login is remembered for an hour as a salted SHA-256 of the
// user name and password (the salt is random per process; the password is
// never kept). A remembered login only counts while the account's password
// hash is unchanged, so a password change ends it at once. Failed logins
// always pay for a full verification.
func (d *Directory) Authenticate(ctx context.Context, username, password string) (*store.Account, error) {
	if _, err := preparePassword(password); err != nil {
		return nil, ErrAuthFailed
	}
	a, err := ParseAddress(username)
	if err != nil {
		d.verifyBounded(ctx, d.dummyHash(), password)
		return nil, ErrAuthFailed
	}
	acct, err := d.st.Account(ctx, a.String())
	if errors.Is(err, store.ErrNotFound) {
		d.verifyBounded(ctx, d.dummyHash(), password)
		return nil, ErrAuthFailed
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate %s: %w", a, err)
	}
	key := d.loginKey(acct.Address, password)
	now := time.Now()
	d.loginsMu.Lock()
	e, ok := d.logins[key]
	d.loginsMu.Unlock()
	if ok && e.hash == acct.PasswordHash && now.Before(e.expires) {
		d.fillSCRAM(ctx, acct, password)
		return acct, nil
	}
	if !d.verifyShared(ctx, key, acct.PasswordHash, password) {
		return nil, ErrAuthFailed
	}
	if NeedsRehash(acct.PasswordHash, d.params) {
		// Older parameters: store a hash with the current ones, now that the
		// password is at hand. A failure only postpones it.
		if h, err := d.params.Hash(password); err == nil {
			if err := d.st.SetPasswordHash(ctx, acct.Address, h); err == nil {
				// The store cleared the SCRAM keys with the old hash;
				// fillSCRAM below stores them again for the new one.
				acct.PasswordHash, acct.SCRAM = h, ""
			}
		}
	}
	d.loginsMu.Lock()
	if len(d.logins) >= loginCacheSize {
		clear(d.logins)
	}
	d.logins[key] = loginEntry{hash: acct.PasswordHash, expires: now.Add(loginCacheTTL)}
	d.loginsMu.Unlock()
	d.fillSCRAM(ctx, acct, password)
	return acct, nil
}

// LoginKey returns the account a login name names, in the form the
// store looks it up by: every spelling Authenticate accepts for one
// account ("bob"@example.test, "b\ob"@example.test, bob@EXAMPLE.test, an
// IDN full stop) gives one key, so that login limits count them as one
// (limits.LoginOptions.Account). A name that is no address is its own
// key.
func LoginKey(username string) string {
	a, err := ParseAddress(username)
	if err != nil {
		return username
	}
	return strings.ToLower(a.String())
}

// scramFor returns the encoded SCRAM-SHA-256 keys of a password, prepared
// as for the password hash.
func scramFor(password string) (string, error) {
	prepared, err := preparePassword(password)
	if err != nil {
		return "", err
	}
	k, err := sasl.NewSCRAMKeys(prepared)
	if err != nil {
		return "", err
	}
	return k.String(), nil
}

// needsSCRAM reports whether an account lacks usable SCRAM keys with the
// current iteration count.
func needsSCRAM(acct *store.Account) bool {
	k, err := sasl.ParseSCRAMKeys(acct.SCRAM)
	return err != nil || k.Iterations != sasl.DefaultIterations
}

// fillSCRAM stores SCRAM keys for an account that has none (created before
// SCRAM, or its keys were cleared) after a successful password login, now
// that the password is at hand. A failure only postpones it; a password
// changed meanwhile makes the store refuse the keys.
func (d *Directory) fillSCRAM(ctx context.Context, acct *store.Account, password string) {
	if !needsSCRAM(acct) {
		return
	}
	scram, err := scramFor(password)
	if err != nil {
		return
	}
	if d.st.SetSCRAM(ctx, acct.Address, acct.PasswordHash, scram) == nil {
		acct.SCRAM = scram
	}
}

// SCRAMKeys returns the SCRAM-SHA-256 keys and the account of username
// (the account's full address, as for Authenticate), for a SCRAM exchange.
// An unknown user and an account without keys both give ErrAuthFailed: the
// caller then goes on with fake keys (sasl.SCRAMLookup) so that neither
// shows. A store failure gives a different, wrapped error.
func (d *Directory) SCRAMKeys(ctx context.Context, username string) (*sasl.SCRAMKeys, *store.Account, error) {
	a, err := ParseAddress(username)
	if err != nil {
		return nil, nil, ErrAuthFailed
	}
	acct, err := d.st.Account(ctx, a.String())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrAuthFailed
	}
	if err != nil {
		return nil, nil, fmt.Errorf("scram keys %s: %w", a, err)
	}
	k, err := sasl.ParseSCRAMKeys(acct.SCRAM)
	if err != nil {
		return nil, nil, ErrAuthFailed
	}
	return k, acct, nil
}

func (d *Directory) loginKey(address, password string) [32]byte {
	h := sha256.New()
	h.Write(d.loginSalt[:])
	h.Write([]byte(strings.ToLower(address)))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// verifyShared verifies password against hash, sharing the outcome with
// the logins of the same key and hash that verify at the same time.
func (d *Directory) verifyShared(ctx context.Context, key [32]byte, hash, password string) bool {
	d.loginsMu.Lock()
	v, ok := d.verifying[key]
	if ok && v.hash == hash {
		d.loginsMu.Unlock()
		select {
		case <-v.done:
			return v.ok
		case <-ctx.Done():
			return false
		}
	}
	v = &verification{hash: hash, done: make(chan struct{})}
	if !ok {
		d.verifying[key] = v
	}
	d.loginsMu.Unlock()
	// Not cancelled by this caller's context: others may wait for it.
	v.ok = d.verifyBounded(context.WithoutCancel(ctx), hash, password)
	close(v.done)
	d.loginsMu.Lock()
	if d.verifying[key] == v {
		delete(d.verifying, key)
	}
	d.loginsMu.Unlock()
	return v.ok
}

// verifyBounded runs one verification when a hashing slot is free.
func (d *Directory) verifyBounded(ctx context.Context, hash, password string) bool {
	select {
	case d.hashing <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	ok := d.verify(hash, password)
	<-d.hashing
	if h, err := parsePHC(hash); err == nil && h.memory >= releaseMinKiB {
		d.releaseHashMemory()
	}
	return ok
}

// releaseMinKiB is the argon2id memory cost from which a verification's
// memory is handed back to the system soon after it ends.
const releaseMinKiB = 16 << 10

// releaseHashMemory returns freed heap memory to the system within a
// second, at most once a second. An argon2id verification allocates its
// whole memory cost (64 MiB by default) and drops it 0.1 s later; left to
// the Go runtime, a burst of logins keeps hundreds of megabytes of such
// garbage mapped for minutes, where a C server unmaps it at once.
func (d *Directory) releaseHashMemory() {
	d.loginsMu.Lock()
	defer d.loginsMu.Unlock()
	if d.releasing {
		return
	}
	d.releasing = true
	time.AfterFunc(time.Second, func() {
		d.loginsMu.Lock()
		d.releasing = false
		d.loginsMu.Unlock()
		d.freeOS()
	})
}

// ---- Recipient resolution ----

// Resolution is where mail for one recipient goes.
type Resolution struct {
	Accounts []*store.Account // one or more (an alias can fan out), no duplicates
	Detail   string           // RFC 5233 detail ("lists" for alice+lists@…); "" if none
	Original string           // the recipient, canonical (before alias expansion)
}

// Resolve finds the accounts that receive mail for rcpt. In order:
//  1. the full address as an account, then as an alias (so an account
//     literally named "a+b" wins over "a" with detail "b");
//  2. the address without its detail, as an account, then as an alias
//     (Detail is set);
//  3. the domain's catch-all account (Detail is "").
//
// Local parts match case-insensitively. Errors: ErrBadAddress (syntax),
// ErrNotLocal (not one of our domains), ErrNoSuchUser (nothing matched);
// any other error is a store failure (temporary).
func (d *Directory) Resolve(ctx context.Context, rcpt string) (*Resolution, error) {
	a, err := ParseAddress(rcpt)
	if err != nil {
		return nil, err
	}
	if a.IsLiteral() {
		return nil, errorf(ErrNotLocal, "%s: %s is not a local domain", a, a.Domain)
	}
	dom, err := d.findDomain(ctx, a.Domain)
	if err != nil {
		return nil, err
	}
	if dom == nil {
		return nil, errorf(ErrNotLocal, "%s: %s is not a local domain", a, a.Domain)
	}
	res := &Resolution{Original: a.String()}

	accts, err := d.lookup(ctx, a)
	if err != nil {
		return nil, err
	}
	if len(accts) > 0 {
		res.Accounts = accts
		return res, nil
	}
	if user, detail := d.SplitDetail(a.Local); user != a.Local {
		accts, err := d.lookup(ctx, Address{Local: user, Domain: a.Domain})
		if err != nil {
			return nil, err
		}
		if len(accts) > 0 {
			res.Accounts, res.Detail = accts, detail
			return res, nil
		}
	}
	if dom.CatchAll != "" {
		acct, err := d.st.Account(ctx, dom.CatchAll)
		if err == nil {
			res.Accounts = []*store.Account{acct}
			return res, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("resolve %s: catch-all %s: %w", a, dom.CatchAll, err)
		}
	}
	if strings.EqualFold(a.Local, "postmaster") {
		acct, err := d.postmasterOf(ctx, dom.Name)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", a, err)
		}
		if acct != nil {
			res.Accounts = []*store.Account{acct}
			return res, nil
		}
	}
	return nil, errorf(ErrNoSuchUser, "%s: no such user", a)
}

// Owns reports whether addr is one of the account's own addresses: its
// address, an alias with it among the targets, or a plus-form of either.
// A catch-all does not make a domain's every address the account's own, and
// neither does the postmaster fallback. A syntax error or a domain that is
// not local is (false, nil).
func (d *Directory) Owns(ctx context.Context, accountID int64, addr string) (bool, error) {
	a, err := ParseAddress(addr)
	if err != nil || a.IsLiteral() {
		return false, nil
	}
	dom, err := d.findDomain(ctx, a.Domain)
	if err != nil || dom == nil {
		return false, err
	}
	cands := []Address{a}
	if user, _ := d.SplitDetail(a.Local); user != a.Local {
		cands = append(cands, Address{Local: user, Domain: a.Domain})
	}
	for _, c := range cands {
		accts, err := d.lookup(ctx, c)
		if err != nil {
			return false, err
		}
		for _, acct := range accts {
			if acct.ID == accountID {
				return true, nil
			}
		}
	}
	return false, nil
}

// postmasterOf picks the account that reads postmaster@dom when no account,
// alias or catch-all has it: RFC 5321 §4.5.1 requires every domain to
// take mail for it. Options.Postmaster if it exists, else the domain's oldest
// account (its first, usually the one who set it up); nil when the domain
// has none.
func (d *Directory) postmasterOf(ctx context.Context, dom string) (*store.Account, error) {
	if d.postmaster != "" {
		acct, err := d.st.Account(ctx, d.postmaster)
		if err == nil {
			return acct, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	accts, err := d.st.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var first *store.Account
	for i := range accts {
		if inDomain(accts[i].Address, dom) && (first == nil || accts[i].ID < first.ID) {
			first = &accts[i]
		}
	}
	return first, nil
}

// lookup finds a as an account, then as an alias (targets that no longer
// exist are skipped). It returns nil when neither matches.
func (d *Directory) lookup(ctx context.Context, a Address) ([]*store.Account, error) {
	acct, err := d.st.Account(ctx, a.String())
	if err == nil {
		return []*store.Account{acct}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("resolve %s: %w", a, err)
	}
	_, targets, err := d.aliasTargets(ctx, a)
	if err != nil {
		return nil, err
	}
	var out []*store.Account
	seen := map[int64]bool{}
	for _, t := range targets {
		acct, err := d.st.Account(ctx, t)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("resolve %s: alias target %s: %w", a, t, err)
		}
		if !seen[acct.ID] {
			seen[acct.ID] = true
			out = append(out, acct)
		}
	}
	return out, nil
}
