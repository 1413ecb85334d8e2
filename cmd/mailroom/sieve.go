package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"mailroom/internal/config"
	"mailroom/internal/sieve"
	"mailroom/internal/store"
)

// sieveRuntime is the Sieve runtime configured by [sieve].
func (s *services) sieveRuntime() *sieve.Runtime {
	minPeriod := time.Duration(s.cfg.Sieve.VacationMinPeriod)
	if minPeriod == 0 {
		minPeriod = -1 // the runtime's "no minimum"
	}
	return sieve.New(s.store, sieve.Options{
		MaxScriptSize:     int64(s.cfg.Sieve.MaxScriptSize),
		MaxScripts:        s.cfg.Sieve.MaxScripts,
		MaxRedirects:      s.cfg.Sieve.MaxRedirects,
		Hostname:          s.cfg.Hostname,
		Logger:            s.log,
		VacationMinPeriod: minPeriod,
		OwnsAddress: func(ctx context.Context, acc *store.Account, addr string) (bool, error) {
			return s.dir.Owns(ctx, acc.ID, addr)
		},
		NoRelay: s.cfg.Relay.Address == "",
	})
}

// outboxLimits bound what filters queue ([relay] max_queued…).
func (s *services) outboxLimits() store.OutboxLimits {
	return store.OutboxLimits{PerAccount: int64(s.cfg.Relay.MaxQueuedPerAccount), Total: int64(s.cfg.Relay.MaxQueued)}
}

// sender hands mail from filters to the [relay].
func (s *services) sender() *sieve.Sender {
	r := s.cfg.Relay
	tlsMode := sieve.RelayStartTLS
	switch r.TLS {
	case config.RelayTLSImplicit:
		tlsMode = sieve.RelayImplicit
	case config.RelayTLSNone:
		tlsMode = sieve.RelayNone
	}
	return sieve.NewSender(s.store, sieve.SenderOptions{
		Relay:              r.Address,
		Username:           r.Username,
		Password:           r.Password,
		TLS:                tlsMode,
		InsecureSkipVerify: r.InsecureSkipVerify,
		Hostname:           s.cfg.Hostname,
		Logger:             s.log.With("proto", "outbox"),
		GiveUp:             time.Duration(r.MaxAge),
		Return:             s.agent().Return,
	})
}

// withScripts runs fn with the Sieve runtime and the account's id.
func (e *env) withScripts(address string, fn func(rt *sieve.Runtime, accountID int64) error) error {
	return e.withServices(func(s *services) error {
		a, err := s.dir.Account(e.ctx, address)
		if err != nil {
			return err
		}
		return fn(s.sieveRuntime(), a.ID)
	})
}

func cmdSievePut(e *env, args []string) error {
	if err := wantArgs(args, 3, 3, "sieve put ADDRESS NAME FILE"); err != nil {
		return err
	}
	data, err := readScriptFile(e, args[2])
	if err != nil {
		return err
	}
	return e.withScripts(args[0], func(rt *sieve.Runtime, id int64) error {
		if err := rt.Put(e.ctx, id, args[1], data); err != nil {
			return scriptError(args[2], err)
		}
		fmt.Fprintf(e.stdout, "script %s of %s stored\n", args[1], args[0])
		return nil
	})
}

func readScriptFile(e *env, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(e.stdin)
	}
	return os.ReadFile(path)
}

// scriptError names the file in a CheckError ("file:line:col: message").
func scriptError(file string, err error) error {
	var ce *sieve.CheckError
	if errors.As(err, &ce) {
		if ce.Script != "" {
			return err
		}
		if ce.Line > 0 {
			return fmt.Errorf("%s:%d:%d: %s", file, ce.Line, ce.Column, ce.Msg)
		}
		return fmt.Errorf("%s: %s", file, ce.Msg)
	}
	return err
}

func cmdSieveGet(e *env, args []string) error {
	if err := wantArgs(args, 2, 2, "sieve get ADDRESS NAME"); err != nil {
		return err
	}
	return e.withScripts(args[0], func(rt *sieve.Runtime, id int64) error {
		data, err := rt.Get(e.ctx, id, args[1])
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(data)
		return err
	})
}

func cmdSieveList(e *env, args []string) error {
	if err := wantArgs(args, 1, 1, "sieve list ADDRESS"); err != nil {
		return err
	}
	return e.withScripts(args[0], func(rt *sieve.Runtime, id int64) error {
		list, err := rt.List(e.ctx, id)
		if err != nil {
			return err
		}
		for _, s := range list {
			mark := ""
			if s.Active {
				mark = "\tactive"
			}
			fmt.Fprintf(e.stdout, "%s\t%s%s\n", s.Name, config.FormatSize(s.Size), mark)
		}
		return nil
	})
}

func cmdSieveActivate(e *env, args []string) error {
	if err := wantArgs(args, 2, 2, "sieve activate ADDRESS NAME"); err != nil {
		return err
	}
	return e.withScripts(args[0], func(rt *sieve.Runtime, id int64) error {
		if err := rt.SetActive(e.ctx, id, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "script %s of %s is active\n", args[1], args[0])
		return nil
	})
}

func cmdSieveDeactivate(e *env, args []string) error {
	if err := wantArgs(args, 1, 1, "sieve deactivate ADDRESS"); err != nil {
		return err
	}
	return e.withScripts(args[0], func(rt *sieve.Runtime, id int64) error {
		if err := rt.SetActive(e.ctx, id, ""); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "no script of %s is active\n", args[0])
		return nil
	})
}

func cmdSieveDelete(e *env, args []string) error {
	if err := wantArgs(args, 2, 2, "sieve delete ADDRESS NAME"); err != nil {
		return err
	}
	return e.withScripts(args[0], func(rt *sieve.Runtime, id int64) error {
		if err := rt.Delete(e.ctx, id, args[1]); err != nil {
			if errors.Is(err, sieve.ErrActive) {
				return fmt.Errorf("%w (`mailroom sieve deactivate %s` first)", err, args[0])
			}
			return err
		}
		fmt.Fprintf(e.stdout, "script %s of %s deleted\n", args[1], args[0])
		return nil
	})
}

// cmdSieveCheck needs no configuration: it only compiles the file.
func cmdSieveCheck(e *env, args []string) error {
	if err := wantArgs(args, 1, 1, "sieve check FILE"); err != nil {
		return err
	}
	data, err := readScriptFile(e, args[0])
	if err != nil {
		return err
	}
	if err := sieve.Check(data); err != nil {
		return scriptError(args[0], err)
	}
	fmt.Fprintf(e.stdout, "%s: ok\n", args[0])
	return nil
}
