package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"text/tabwriter"

	"mailroom/internal/config"
	"mailroom/internal/store"
)

func wantArgs(args []string, min, max int, usage string) error {
	if len(args) < min || (max >= 0 && len(args) > max) {
		return usageError("usage: mailroom %s", usage)
	}
	return nil
}

func cmdDomainAdd(e *env, args []string) error {
	if err := wantArgs(args, 1, 1, "domain add DOMAIN"); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		if err := s.dir.AddDomain(e.ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "domain %s added\n", strings.ToLower(args[0]))
		return nil
	})
}

func cmdDomainDel(e *env, args []string) error {
	if err := wantArgs(args, 1, 1, "domain del DOMAIN"); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		if err := s.dir.DeleteDomain(e.ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "domain %s deleted\n", strings.ToLower(args[0]))
		return nil
	})
}

func cmdDomainList(e *env, args []string) error {
	if err := wantArgs(args, 0, 0, "domain list"); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		ds, err := s.dir.Domains(e.ctx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.CatchAll != "" {
				fmt.Fprintf(e.stdout, "%s\tcatch-all %s\n", d.Name, d.CatchAll)
			} else {
				fmt.Fprintln(e.stdout, d.Name)
			}
		}
		return nil
	})
}

func cmdDomainCatchAll(e *env, args []string) error {
	if err := wantArgs(args, 2, 2, `domain catchall DOMAIN ADDRESS|""`); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		return s.dir.SetCatchAll(e.ctx, args[0], args[1])
	})
}

// passwordOptions are the flags of `user passwd`, and of `user add` with
// userAddOptions.
type passwordOptions struct {
	stdin bool // read the password from standard input
}

func (o *passwordOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.stdin, "password-stdin", false, "read the password from the first line of standard input")
}

// userAddOptions are the flags of `user add`.
type userAddOptions struct {
	password      passwordOptions
	quota         string
	quotaMessages string
}

func (o *userAddOptions) register(fs *flag.FlagSet) {
	o.password.register(fs)
	fs.StringVar(&o.quota, "quota", "default", "storage quota: SIZE (200K, 10M, 1G), default or unlimited")
	fs.StringVar(&o.quotaMessages, "quota-messages", "default", "message-count quota: N, default or unlimited")
}

// quotaSetOptions are the flags of `quota set`.
type quotaSetOptions struct {
	messages string // "" leaves the message quota as it is
}

func (o *quotaSetOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.messages, "messages", "", "message-count quota: N, default or unlimited (unchanged when not given)")
}

// parseQuota reads a quota value: a size (or count), "default" or "unlimited".
func parseQuota(s string, size bool) (int64, error) {
	switch strings.ToLower(s) {
	case "default":
		return store.QuotaDefault, nil
	case "unlimited", "none", "0":
		return store.QuotaUnlimited, nil
	}
	if size {
		n, err := config.ParseSize(s)
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad message count %q", s)
	}
	return n, nil
}

// password returns the password to set: from standard input, or a new
// random one that is printed.
func (e *env) password(o *passwordOptions) (pw string, generated bool, err error) {
	if o.stdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", false, fmt.Errorf("reading the password from standard input: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", false, errors.New("empty password on standard input")
		}
		return pw, false, nil
	}
	return randomPassword(), true, nil
}

func randomPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

func cmdUserAdd(e *env, o *userAddOptions, args []string) error {
	if err := wantArgs(args, 1, 1, "user add ADDRESS [--password-stdin] [--quota SIZE]"); err != nil {
		return err
	}
	qb, err := parseQuota(o.quota, true)
	if err != nil {
		return fmt.Errorf("--quota: %w", err)
	}
	qm, err := parseQuota(o.quotaMessages, false)
	if err != nil {
		return fmt.Errorf("--quota-messages: %w", err)
	}
	pw, generated, err := e.password(&o.password)
	if err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		a, err := s.dir.AddAccount(e.ctx, args[0], pw, qb, qm)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "account %s added\n", a.Address)
		if generated {
			fmt.Fprintf(e.stdout, "password: %s\n", pw)
		}
		return nil
	})
}

func cmdUserPasswd(e *env, o *passwordOptions, args []string) error {
	if err := wantArgs(args, 1, 1, "user passwd ADDRESS [--password-stdin]"); err != nil {
		return err
	}
	pw, generated, err := e.password(o)
	if err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		if err := s.dir.SetPassword(e.ctx, args[0], pw); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password of %s changed\n", args[0])
		if generated {
			fmt.Fprintf(e.stdout, "password: %s\n", pw)
		}
		return nil
	})
}

func cmdUserDel(e *env, args []string) error {
	if err := wantArgs(args, 1, 1, "user del ADDRESS"); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		if err := s.dir.DeleteAccount(e.ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "account %s deleted\n", args[0])
		return nil
	})
}

func cmdUserList(e *env, args []string) error {
	if err := wantArgs(args, 0, 0, "user list"); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		as, err := s.dir.Accounts(e.ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tUSED\tQUOTA\tMESSAGES")
		for i := range as {
			a := &as[i]
			l := s.store.Limits(a)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", a.Address, config.FormatSize(a.UsedBytes), limitString(l.Bytes, true), a.UsedMessages)
		}
		return tw.Flush()
	})
}

func limitString(n int64, size bool) string {
	if n <= 0 {
		return "unlimited"
	}
	if size {
		return config.FormatSize(n)
	}
	return strconv.FormatInt(n, 10)
}

func cmdAliasAdd(e *env, args []string) error {
	if err := wantArgs(args, 2, -1, "alias add ALIAS TARGET..."); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		for _, t := range args[1:] {
			if err := s.dir.AddAlias(e.ctx, args[0], t); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "alias %s -> %s\n", args[0], strings.Join(args[1:], ", "))
		return nil
	})
}

func cmdAliasDel(e *env, args []string) error {
	if err := wantArgs(args, 1, 2, "alias del ALIAS [TARGET]"); err != nil {
		return err
	}
	target := ""
	if len(args) == 2 {
		target = args[1]
	}
	return e.withServices(func(s *services) error {
		return s.dir.DeleteAlias(e.ctx, args[0], target)
	})
}

func cmdAliasList(e *env, args []string) error {
	if err := wantArgs(args, 0, 0, "alias list"); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		as, err := s.dir.Aliases(e.ctx)
		if err != nil {
			return err
		}
		for _, a := range as {
			fmt.Fprintf(e.stdout, "%s -> %s\n", a.Address, strings.Join(a.Targets, ", "))
		}
		return nil
	})
}

func cmdQuotaSet(e *env, o *quotaSetOptions, args []string) error {
	if err := wantArgs(args, 2, 2, "quota set ADDRESS SIZE|default|unlimited [--messages N]"); err != nil {
		return err
	}
	qb, err := parseQuota(args[1], true)
	if err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		a, err := s.dir.Account(e.ctx, args[0])
		if err != nil {
			return err
		}
		qm := a.QuotaMessages
		if o.messages != "" {
			if qm, err = parseQuota(o.messages, false); err != nil {
				return fmt.Errorf("--messages: %w", err)
			}
		}
		if err := s.dir.SetQuota(e.ctx, a.Address, qb, qm); err != nil {
			return err
		}
		return quotaShow(e, s, a.Address)
	})
}

func cmdQuotaShow(e *env, args []string) error {
	if err := wantArgs(args, 1, 1, "quota show ADDRESS"); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		return quotaShow(e, s, args[0])
	})
}

func quotaShow(e *env, s *services, address string) error {
	a, err := s.dir.Account(e.ctx, address)
	if err != nil {
		return err
	}
	l := s.store.Limits(a)
	fmt.Fprintf(e.stdout, "%s\n", a.Address)
	fmt.Fprintf(e.stdout, "storage:  %s used of %s%s\n", config.FormatSize(a.UsedBytes), limitString(l.Bytes, true), percent(a.UsedBytes, l.Bytes, a.QuotaBytes))
	fmt.Fprintf(e.stdout, "messages: %d of %s%s\n", a.UsedMessages, limitString(l.Messages, false), percent(a.UsedMessages, l.Messages, a.QuotaMessages))
	return nil
}

func percent(used, limit, own int64) string {
	s := ""
	if limit > 0 {
		s = fmt.Sprintf(" (%d%%)", used*100/limit)
	}
	if own == store.QuotaDefault {
		s += " [default]"
	}
	return s
}

// checkOptions are the flags of `check`.
type checkOptions struct {
	repair bool
}

func (o *checkOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.repair, "repair", false, "repair what can be repaired (counters, orphan bodies)")
}

func cmdCheck(e *env, o *checkOptions, args []string) error {
	if err := wantArgs(args, 0, 0, "check [--repair]"); err != nil {
		return err
	}
	return e.withServices(func(s *services) error {
		r, err := s.store.Check(e.ctx, o.repair)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d accounts, %d mailboxes, %d messages, %d bodies", r.Accounts, r.Mailboxes, r.Messages, r.Blobs)
		if r.InFlight > 0 {
			fmt.Fprintf(e.stdout, ", %d bodies being delivered", r.InFlight)
		}
		fmt.Fprintln(e.stdout)
		for _, p := range r.Problems {
			if o.repair && p.Repair != "" {
				fmt.Fprintf(e.stdout, "problem: %s (%s)\n", p.What, p.Repair)
			} else {
				fmt.Fprintf(e.stdout, "problem: %s\n", p.What)
			}
		}
		unrepaired := 0
		for _, p := range r.Problems {
			if !o.repair || p.Repair == "" {
				unrepaired++
			}
		}
		if len(r.Problems) == 0 {
			fmt.Fprintln(e.stdout, "ok")
			return nil
		}
		if unrepaired == 0 {
			fmt.Fprintln(e.stdout, "repaired")
			return nil
		}
		if !o.repair {
			return fmt.Errorf("check found %d problems (see above; `mailroom check --repair` fixes what it can)", len(r.Problems))
		}
		return fmt.Errorf("check found %d problems that cannot be repaired", unrepaired)
	})
}

// withServices opens the store for one admin command and closes it after.
func (e *env) withServices(fn func(s *services) error) error {
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}
