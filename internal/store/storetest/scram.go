package storetest

import (
	"errors"
	"testing"

	"mailroom/internal/store"
)

// testSCRAM: SCRAM keys are stored beside the password hash, set only while
// the hash they were made for is current, and cleared by a new hash.
func testSCRAM(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	if a.SCRAM != "" {
		t.Fatalf("new account without keys has SCRAM %q", a.SCRAM)
	}
	b, err := s.CreateAccount(ctx, store.NewAccount{Address: "bob@example.test", PasswordHash: "hb", SCRAM: "kb"})
	if err != nil {
		t.Fatal(err)
	}
	if b.SCRAM != "kb" {
		t.Fatalf("created with SCRAM: %q", b.SCRAM)
	}
	cur, err := s.Account(ctx, a.Address)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSCRAM(ctx, "ALICE@example.test", cur.PasswordHash, "k1"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Account(ctx, a.Address)
	if got.SCRAM != "k1" || got.PasswordHash != cur.PasswordHash {
		t.Fatalf("after SetSCRAM: %+v", got)
	}
	if as, _ := s.Accounts(ctx); len(as) != 2 || as[0].SCRAM != "k1" || as[1].SCRAM != "kb" {
		t.Fatalf("Accounts: %+v", as)
	}
	if byID, _ := s.AccountByID(ctx, a.ID); byID.SCRAM != "k1" {
		t.Fatalf("AccountByID: %+v", byID)
	}
	// Keys for a hash that is no longer the account's are refused.
	if err := s.SetSCRAM(ctx, a.Address, "stale hash", "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetSCRAM with a stale hash: %v", err)
	}
	if err := s.SetSCRAM(ctx, "nobody@example.test", cur.PasswordHash, "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetSCRAM of an unknown account: %v", err)
	}
	// A new password hash clears the keys of the old password.
	if err := s.SetPasswordHash(ctx, a.Address, "new hash"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Account(ctx, a.Address)
	if got.SCRAM != "" || got.PasswordHash != "new hash" {
		t.Fatalf("after SetPasswordHash: %+v", got)
	}
	if err := s.SetSCRAM(ctx, a.Address, "new hash", "k3"); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Account(ctx, a.Address); got.SCRAM != "k3" {
		t.Fatalf("after second SetSCRAM: %+v", got)
	}
	if got, _ = s.Account(ctx, b.Address); got.SCRAM != "kb" {
		t.Fatalf("other account changed: %+v", got)
	}
}
