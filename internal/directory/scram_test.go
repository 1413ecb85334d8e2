package directory

import (
	"context"
	"errors"
	"strings"
	"testing"

	"mailroom/internal/sasl"
)

// scramLogin runs a SCRAM-SHA-256 exchange against the directory's keys, as
// a protocol server does, with the RFC 5802 client computed from password.
func scramLogin(t *testing.T, d *Directory, user, password string) error {
	t.Helper()
	ctx := context.Background()
	srv := sasl.NewSCRAMServer(sasl.SCRAMOptions{Lookup: func(u string) (*sasl.SCRAMKeys, error) {
		k, _, err := d.SCRAMKeys(ctx, u)
		if errors.Is(err, ErrAuthFailed) {
			return nil, nil
		}
		return k, err
	}})
	first := "n,,n=" + user + ",r=clientnonce"
	sf, _, err := srv.Next([]byte(first))
	if err != nil {
		return err
	}
	final, err := scramClientFinal(first[3:], string(sf), password)
	if err != nil {
		return err
	}
	_, done, err := srv.Next([]byte(final))
	if err == nil && !done {
		t.Fatal("not done")
	}
	return err
}

func TestSCRAMKeysSetWithPassword(t *testing.T) {
	ctx := context.Background()
	d, st := newTestDir(t, "+")
	must(t, d.AddDomain(ctx, "example.org"))
	acct, err := d.AddAccount(ctx, "alice@example.org", "s3cret", 0, 0)
	must(t, err)
	if !strings.HasPrefix(acct.SCRAM, "$scram-sha-256$i=") || strings.Contains(acct.SCRAM, "s3cret") {
		t.Fatalf("SCRAM after AddAccount: %q", acct.SCRAM)
	}
	k, got, err := d.SCRAMKeys(ctx, "ALICE@example.org")
	if err != nil || got.ID != acct.ID || k.Iterations != sasl.DefaultIterations {
		t.Fatalf("SCRAMKeys: %+v %+v %v", k, got, err)
	}
	if err := scramLogin(t, d, "alice@example.org", "s3cret"); err != nil {
		t.Fatalf("SCRAM login: %v", err)
	}
	if err := scramLogin(t, d, "alice@example.org", "wrong"); !errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("SCRAM wrong password: %v", err)
	}
	if err := scramLogin(t, d, "nobody@example.org", "s3cret"); !errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("SCRAM unknown user: %v", err)
	}
	if _, _, err := d.SCRAMKeys(ctx, "not an address"); err != ErrAuthFailed {
		t.Fatalf("SCRAMKeys(bad address): %v", err)
	}

	// SetPassword replaces the keys: the old password stops working.
	must(t, d.SetPassword(ctx, "alice@example.org", "n3w"))
	if err := scramLogin(t, d, "alice@example.org", "s3cret"); !errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("SCRAM old password: %v", err)
	}
	if err := scramLogin(t, d, "alice@example.org", "n3w"); err != nil {
		t.Fatalf("SCRAM new password: %v", err)
	}

	// An account from before SCRAM (no keys) cannot use it until a
	// password login fills the keys in.
	a, _ := st.Account(ctx, "alice@example.org")
	must(t, st.SetPasswordHash(ctx, "alice@example.org", a.PasswordHash))
	if _, _, err := d.SCRAMKeys(ctx, "alice@example.org"); err != ErrAuthFailed {
		t.Fatalf("SCRAMKeys without keys: %v", err)
	}
	if err := scramLogin(t, d, "alice@example.org", "n3w"); !errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("SCRAM without keys: %v", err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.org", "wrong"); err != ErrAuthFailed {
		t.Fatal(err)
	}
	if a, _ := st.Account(ctx, "alice@example.org"); a.SCRAM != "" {
		t.Fatal("failed login stored keys")
	}
	if _, err := d.Authenticate(ctx, "alice@example.org", "n3w"); err != nil {
		t.Fatal(err)
	}
	if err := scramLogin(t, d, "alice@example.org", "n3w"); err != nil {
		t.Fatalf("SCRAM after password login: %v", err)
	}

	// The remembered-login path fills them in too.
	must(t, st.SetPasswordHash(ctx, "alice@example.org", a.PasswordHash))
	if _, err := d.Authenticate(ctx, "alice@example.org", "n3w"); err != nil {
		t.Fatal(err)
	}
	if err := scramLogin(t, d, "alice@example.org", "n3w"); err != nil {
		t.Fatalf("SCRAM after remembered login: %v", err)
	}

	// A store failure is not an authentication failure.
	st.failAccounts = errors.New("disk on fire")
	if _, _, err := d.SCRAMKeys(ctx, "alice@example.org"); err == nil || errors.Is(err, ErrAuthFailed) {
		t.Fatalf("SCRAMKeys with a failing store: %v", err)
	}
	st.failAccounts = nil
}

func TestSCRAMAfterRehash(t *testing.T) {
	ctx := context.Background()
	d, st := newTestDir(t, "+")
	must(t, d.AddDomain(ctx, "example.org"))
	_, err := d.AddAccount(ctx, "alice@example.org", "whatever", 0, 0)
	must(t, err)
	old := HashParams{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h, err := old.Hash("s3cret")
	must(t, err)
	must(t, st.SetPasswordHash(ctx, "alice@example.org", h))
	if _, err := d.Authenticate(ctx, "alice@example.org", "s3cret"); err != nil {
		t.Fatal(err)
	}
	a, _ := st.Account(ctx, "alice@example.org")
	if a.PasswordHash == h || a.SCRAM == "" {
		t.Fatalf("after rehash: %+v", a)
	}
	if err := scramLogin(t, d, "alice@example.org", "s3cret"); err != nil {
		t.Fatalf("SCRAM after rehash: %v", err)
	}
}

// Keys computed for a password that changed meanwhile are not stored.
func TestSCRAMFillRacesPasswordChange(t *testing.T) {
	ctx := context.Background()
	d, st := newTestDir(t, "+")
	must(t, d.AddDomain(ctx, "example.org"))
	_, err := d.AddAccount(ctx, "alice@example.org", "old", 0, 0)
	must(t, err)
	stale, _ := st.Account(ctx, "alice@example.org")
	must(t, d.SetPassword(ctx, "alice@example.org", "new"))
	stale.SCRAM = ""
	d.fillSCRAM(ctx, stale, "old")
	if err := scramLogin(t, d, "alice@example.org", "old"); !errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("old password's keys stored: %v", err)
	}
	if err := scramLogin(t, d, "alice@example.org", "new"); err != nil {
		t.Fatal(err)
	}
}
