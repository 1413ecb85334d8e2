package main

import (
	"context"
	"errors"

	"mailroom/internal/directory"
	"mailroom/internal/managesieve"
	"mailroom/internal/sasl"
	"mailroom/internal/sieve"
	"mailroom/internal/store"
)

// sieveBackend serves ManageSieve from the Sieve runtime's script store.
type sieveBackend struct {
	dir *directory.Directory
	rt  *sieve.Runtime
}

func (b *sieveBackend) Authenticate(ctx context.Context, username, password string) (managesieve.Scripts, error) {
	acct, err := b.dir.Authenticate(ctx, username, password)
	if errors.Is(err, directory.ErrAuthFailed) {
		return nil, managesieve.ErrAuthFailed
	}
	if err != nil {
		return nil, err
	}
	return &sieveScripts{rt: b.rt, acct: acct}, nil
}

// SCRAMKeys implements managesieve.SCRAMBackend.
func (b *sieveBackend) SCRAMKeys(ctx context.Context, username string) (*sasl.SCRAMKeys, managesieve.Scripts, error) {
	keys, acct, err := b.dir.SCRAMKeys(ctx, username)
	if errors.Is(err, directory.ErrAuthFailed) {
		return nil, nil, managesieve.ErrAuthFailed
	}
	if err != nil {
		return nil, nil, err
	}
	return keys, &sieveScripts{rt: b.rt, acct: acct}, nil
}

func (b *sieveBackend) Extensions() []string { return sieve.Extensions }

type sieveScripts struct {
	rt   *sieve.Runtime
	acct *store.Account
}

func (s *sieveScripts) Owner() string { return s.acct.Address }

// AccountID implements managesieve.AccountScripts.
func (s *sieveScripts) AccountID() int64 { return s.acct.ID }

func (s *sieveScripts) List(ctx context.Context) ([]managesieve.ScriptInfo, error) {
	list, err := s.rt.List(ctx, s.acct.ID)
	if err != nil {
		return nil, sieveErr(err)
	}
	out := make([]managesieve.ScriptInfo, len(list))
	for i, sc := range list {
		out[i] = managesieve.ScriptInfo{Name: sc.Name, Active: sc.Active}
	}
	return out, nil
}

func (s *sieveScripts) Get(ctx context.Context, name string) (string, error) {
	b, err := s.rt.Get(ctx, s.acct.ID, name)
	return string(b), sieveErr(err)
}

func (s *sieveScripts) Put(ctx context.Context, name, content string) (string, error) {
	return "", sieveErr(s.rt.Put(ctx, s.acct.ID, name, []byte(content)))
}

func (s *sieveScripts) Check(ctx context.Context, content string) (string, error) {
	return "", sieveErr(s.rt.Check([]byte(content)))
}

func (s *sieveScripts) Delete(ctx context.Context, name string) error {
	return sieveErr(s.rt.Delete(ctx, s.acct.ID, name))
}

func (s *sieveScripts) Rename(ctx context.Context, from, to string) error {
	return sieveErr(s.rt.Rename(ctx, s.acct.ID, from, to))
}

func (s *sieveScripts) SetActive(ctx context.Context, name string) error {
	return sieveErr(s.rt.SetActive(ctx, s.acct.ID, name))
}

func (s *sieveScripts) HaveSpace(ctx context.Context, name string, size int64) error {
	return sieveErr(s.rt.HaveSpace(ctx, s.acct.ID, name, size))
}

// sieveErr maps the runtime's errors to ManageSieve's response codes.
func sieveErr(err error) error {
	var ce *sieve.CheckError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return &managesieve.ScriptError{Message: ce.Error()}
	case errors.Is(err, sieve.ErrNotFound):
		return managesieve.ErrNotFound
	case errors.Is(err, sieve.ErrExists):
		return managesieve.ErrExists
	case errors.Is(err, sieve.ErrActive):
		return managesieve.ErrActive
	case errors.Is(err, sieve.ErrQuotaMaxSize):
		return managesieve.ErrQuotaSize
	case errors.Is(err, sieve.ErrQuotaMaxScripts):
		return managesieve.ErrQuotaCount
	case errors.Is(err, sieve.ErrQuota):
		return managesieve.ErrQuota
	case errors.Is(err, sieve.ErrBadName):
		return &managesieve.ScriptError{Message: err.Error()}
	}
	return err
}
