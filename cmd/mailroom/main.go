// Command mailroom is the mail server and its administration tool: one
// binary that serves mail (`serve`, `quickstart`), manages domains,
// accounts, aliases and quotas, delivers a message as an MDA (`deliver`)
// and verifies the store (`check`). Every command reads ./mailroom.toml
// unless --config names another file; admin commands work while the server
// runs (the store is shared safely between processes).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"mailroom/internal/config"
	"mailroom/internal/delivery"
	"mailroom/internal/directory"
	"mailroom/internal/store"
	"mailroom/internal/store/sqlite"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

const defaultConfig = "./mailroom.toml"

type command struct {
	name string
	args string
	help string
	run  func(e *env, args []string) error
	// bind, for a command with flags of its own, registers them on fs
	// into a new options value and returns the run function that reads
	// it; run is then unused.
	bind func(fs *flag.FlagSet) func(e *env, args []string) error
}

// withOptions binds a command whose flags fill an options value of type O:
// each run parses into a value of its own.
func withOptions[O any](register func(o *O, fs *flag.FlagSet), run func(e *env, o *O, args []string) error) func(fs *flag.FlagSet) func(e *env, args []string) error {
	return func(fs *flag.FlagSet) func(e *env, args []string) error {
		o := new(O)
		register(o, fs)
		return func(e *env, args []string) error { return run(e, o, args) }
	}
}

// env is what a command runs with.
type env struct {
	ctx        context.Context
	configPath string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	flags      *flag.FlagSet
}

var commands []command

func init() {
	commands = []command{
		{name: "serve", help: "run the server", run: cmdServe},
		{name: "quickstart", help: "write ./mailroom.toml and ./mailroom-data if missing, create a demo account, run the server", run: cmdQuickstart},
		{name: "domain add", args: "DOMAIN", help: "add a local domain", run: cmdDomainAdd},
		{name: "domain del", args: "DOMAIN", help: "delete a local domain (it must have no accounts or aliases)", run: cmdDomainDel},
		{name: "domain list", help: "list local domains", run: cmdDomainList},
		{name: "domain catchall", args: "DOMAIN ADDRESS|\"\"", help: "set (or clear) the catch-all account of a domain", run: cmdDomainCatchAll},
		{name: "user add", args: "ADDRESS [--password-stdin] [--quota SIZE] [--quota-messages N]", help: "add an account (prints a random password unless --password-stdin)", bind: withOptions((*userAddOptions).register, cmdUserAdd)},
		{name: "user passwd", args: "ADDRESS [--password-stdin]", help: "set a new password (random and printed unless --password-stdin)", bind: withOptions((*passwordOptions).register, cmdUserPasswd)},
		{name: "user del", args: "ADDRESS", help: "delete an account and all its mail", run: cmdUserDel},
		{name: "user list", help: "list accounts with their quota usage", run: cmdUserList},
		{name: "alias add", args: "ALIAS TARGET...", help: "deliver mail for ALIAS to each TARGET account", run: cmdAliasAdd},
		{name: "alias del", args: "ALIAS [TARGET]", help: "delete an alias (or one of its targets)", run: cmdAliasDel},
		{name: "alias list", help: "list aliases", run: cmdAliasList},
		{name: "quota set", args: "ADDRESS SIZE|default|unlimited [--messages N|default|unlimited]", help: "set an account's quota", bind: withOptions((*quotaSetOptions).register, cmdQuotaSet)},
		{name: "quota show", args: "ADDRESS", help: "show an account's usage and limits", run: cmdQuotaShow},
		{name: "deliver", args: "--from ADDRESS RCPT... < MESSAGE", help: "deliver a message from standard input (MDA); exits with sysexits codes", bind: withOptions((*deliverOptions).register, cmdDeliver)},
		{name: "sieve put", args: "ADDRESS NAME FILE|-", help: "check and store a Sieve script (active stays active)", run: cmdSievePut},
		{name: "sieve get", args: "ADDRESS NAME", help: "print a Sieve script", run: cmdSieveGet},
		{name: "sieve list", args: "ADDRESS", help: "list an account's Sieve scripts (the active one marked)", run: cmdSieveList},
		{name: "sieve activate", args: "ADDRESS NAME", help: "make a script the account's active filter", run: cmdSieveActivate},
		{name: "sieve deactivate", args: "ADDRESS", help: "turn the account's filtering off", run: cmdSieveDeactivate},
		{name: "sieve delete", args: "ADDRESS NAME", help: "delete an inactive Sieve script", run: cmdSieveDelete},
		{name: "sieve check", args: "FILE|-", help: "check a Sieve script; prints errors with line numbers, exits 1 on error", run: cmdSieveCheck},
		{name: "check", args: "[--repair]", help: "verify the store; exits non-zero on a problem", bind: withOptions((*checkOptions).register, cmdCheck)},
		{name: "version", help: "print the version", run: cmdVersion},
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := findCommand(args)
	if cmd == nil {
		usage(stderr)
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			return 0
		}
		fmt.Fprintf(stderr, "mailroom: unknown command %q\n", strings.Join(args, " "))
		return 2
	}
	fs := flag.NewFlagSet("mailroom "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, flags: fs}
	fs.StringVar(&e.configPath, "config", defaultConfig, "configuration file")
	runCmd := cmd.run
	if cmd.bind != nil {
		runCmd = cmd.bind(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: mailroom %s %s\n  %s\n", cmd.name, cmd.args, cmd.help)
		fs.PrintDefaults()
	}
	positional, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := runCmd(e, positional); err != nil {
		fmt.Fprintf(stderr, "mailroom: %s\n", oneLine(err.Error()))
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// parseInterspersed lets flags come before or after positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func findCommand(args []string) (*command, []string) {
	for n := 2; n >= 1; n-- {
		if len(args) < n {
			continue
		}
		name := strings.Join(args[:n], " ")
		for i := range commands {
			if commands[i].name == name {
				return &commands[i], args[n:]
			}
		}
	}
	return nil, nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: mailroom COMMAND [--config FILE] [ARGS]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n      %s\n", c.name, c.args, c.help)
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// loadConfig reads the configuration file.
func (e *env) loadConfig() (*config.Config, error) {
	c, err := config.Load(e.configPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist: run `mailroom quickstart` to create one, or pass --config FILE", e.configPath)
		}
		return nil, err
	}
	return c, nil
}

// services are the opened store and what sits on it.
type services struct {
	cfg   *config.Config
	store *sqlite.Store
	dir   *directory.Directory
	log   *slog.Logger
	nudge func() // wakes the outbox sender after a delivery queued mail; nil outside serve
}

func (e *env) open() (*services, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	return openServices(cfg, slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()})))
}

func openServices(cfg *config.Config, log *slog.Logger) (*services, error) {
	st, err := sqlite.Open(cfg.DataDir, sqlite.Options{
		DefaultLimits: limitsOf(cfg),
		Logger:        log,
	})
	if err != nil {
		return nil, err
	}
	return &services{
		cfg:   cfg,
		store: st,
		dir: directory.New(st, directory.Options{RecipientDelimiter: cfg.Delivery.RecipientDelimiter,
			Postmaster: cfg.Delivery.Postmaster}),
		log: log,
	}, nil
}

func (s *services) Close() { s.store.Close() }

func (s *services) agent() *delivery.Agent {
	return delivery.New(s.store, s.dir, delivery.Options{
		Hostname:         s.cfg.Hostname,
		PlusFolder:       s.cfg.Delivery.PlusFolder,
		PlusFolderCreate: s.cfg.Delivery.PlusFolderCreate,
		MaxMailboxes:     s.cfg.Limits.MaxMailboxes,
		MaxMessageSize:   int64(s.cfg.Delivery.MaxMessageSize),
		QuotaPermanent:   s.cfg.Quota.Full == config.QuotaFullPermanent,
		Logger:           s.log,
		Sieve:            s.sieveRuntime(),
		Nudge:            s.nudge,
		Relay:            s.cfg.Relay.Address != "",
		OutboxLimits:     s.outboxLimits(),
	})
}

func cmdVersion(e *env, args []string) error {
	fmt.Fprintf(e.stdout, "mailroom %s\n", version)
	return nil
}

func limitsOf(cfg *config.Config) store.Limits {
	return store.Limits{Bytes: int64(cfg.Quota.Default), Messages: cfg.Quota.DefaultMessages}
}
