package directory

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"mailroom/internal/store"
)

// memStore is an in-memory fake of the store methods the directory uses.
// Like the real store, account addresses match case-insensitively. Alias
// addresses match exactly, the least helpful behaviour a backend could
// have, so the tests show the directory does not depend on more.
type memStore struct {
	store.Store // not implemented: calling anything else panics

	mu       sync.Mutex
	domains  map[string]*store.Domain
	accounts map[string]*store.Account // key: lower-cased address
	aliases  map[string][]string       // key: address as stored
	nextID   int64

	failAccounts error // when set, Account returns it
}

func newMemStore() *memStore {
	return &memStore{
		domains:  map[string]*store.Domain{},
		accounts: map[string]*store.Account{},
		aliases:  map[string][]string{},
	}
}

func (m *memStore) CreateDomain(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = strings.ToLower(name)
	if _, ok := m.domains[name]; ok {
		return store.ErrExists
	}
	m.domains[name] = &store.Domain{Name: name}
	return nil
}

func (m *memStore) DeleteDomain(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = strings.ToLower(name)
	if _, ok := m.domains[name]; !ok {
		return store.ErrNotFound
	}
	delete(m.domains, name)
	return nil
}

func (m *memStore) Domains(context.Context) ([]store.Domain, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Domain
	for _, d := range m.domains {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b store.Domain) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (m *memStore) SetCatchAll(_ context.Context, domain, target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.domains[strings.ToLower(domain)]
	if !ok {
		return store.ErrNotFound
	}
	d.CatchAll = target
	return nil
}

func (m *memStore) CreateAccount(_ context.Context, a store.NewAccount) (*store.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := strings.ToLower(a.Address)
	if _, ok := m.accounts[k]; ok {
		return nil, store.ErrExists
	}
	m.nextID++
	acct := &store.Account{
		ID: m.nextID, Address: a.Address, PasswordHash: a.PasswordHash, SCRAM: a.SCRAM,
		QuotaBytes: a.QuotaBytes, QuotaMessages: a.QuotaMessages, Created: time.Now(),
	}
	m.accounts[k] = acct
	c := *acct
	return &c, nil
}

func (m *memStore) Account(_ context.Context, address string) (*store.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAccounts != nil {
		return nil, m.failAccounts
	}
	a, ok := m.accounts[strings.ToLower(address)]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *a
	return &c, nil
}

func (m *memStore) Accounts(context.Context) ([]store.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Account
	for _, a := range m.accounts {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b store.Account) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

func (m *memStore) DeleteAccount(_ context.Context, address string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := strings.ToLower(address)
	if _, ok := m.accounts[k]; !ok {
		return store.ErrNotFound
	}
	delete(m.accounts, k)
	return nil
}

func (m *memStore) SetPasswordHash(_ context.Context, address, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[strings.ToLower(address)]
	if !ok {
		return store.ErrNotFound
	}
	a.PasswordHash, a.SCRAM = hash, ""
	return nil
}

func (m *memStore) SetSCRAM(_ context.Context, address, passwordHash, scram string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[strings.ToLower(address)]
	if !ok || a.PasswordHash != passwordHash {
		return store.ErrNotFound
	}
	a.SCRAM = scram
	return nil
}

func (m *memStore) SetQuota(_ context.Context, address string, bytes, messages int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[strings.ToLower(address)]
	if !ok {
		return store.ErrNotFound
	}
	a.QuotaBytes, a.QuotaMessages = bytes, messages
	return nil
}

func (m *memStore) AddAlias(_ context.Context, address, target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Contains(m.aliases[address], target) {
		return store.ErrExists
	}
	m.aliases[address] = append(m.aliases[address], target)
	return nil
}

func (m *memStore) DeleteAlias(_ context.Context, address, target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts, ok := m.aliases[address]
	if !ok {
		return store.ErrNotFound
	}
	if target == "" {
		delete(m.aliases, address)
		return nil
	}
	i := slices.Index(ts, target)
	if i < 0 {
		return store.ErrNotFound
	}
	ts = slices.Delete(ts, i, i+1)
	if len(ts) == 0 {
		delete(m.aliases, address)
	} else {
		m.aliases[address] = ts
	}
	return nil
}

func (m *memStore) Aliases(context.Context) ([]store.Alias, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Alias
	for a, ts := range m.aliases {
		out = append(out, store.Alias{Address: a, Targets: slices.Clone(ts)})
	}
	slices.SortFunc(out, func(a, b store.Alias) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

func (m *memStore) AliasTargets(_ context.Context, address string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.aliases[address]), nil
}
