package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"mailroom/internal/config"
	"mailroom/internal/delivery"
	"mailroom/internal/imapserver"
	"mailroom/internal/managesieve"
	"mailroom/internal/pop3server"
	"mailroom/internal/smtpserver"
	"mailroom/internal/store"
	"mailroom/internal/store/sqlite"
)

// shutdownGrace bounds how long in-flight transactions may take at shutdown.
const shutdownGrace = 30 * time.Second

// sweepEvery is how often the server removes orphan bodies.
const sweepEvery = 10 * time.Minute

func cmdServe(e *env, args []string) error {
	if err := wantArgs(args, 0, 0, "serve [--config FILE]"); err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	return serve(e, s)
}

// serve runs the listeners until SIGINT/SIGTERM (or e.ctx ends), then shuts
// down gracefully.
func serve(e *env, s *services) error {
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Bodies left by a crash between writing and committing: the sweep is
	// safe against concurrent deliveries (see store/sqlite).
	if n, err := s.store.Sweep(ctx, 0); err != nil {
		return fmt.Errorf("sweeping orphan bodies: %w", err)
	} else if n > 0 {
		s.log.Info("removed orphan bodies", "count", n)
	}

	// Mail that filters send (vacation, redirect) leaves through the outbox.
	outbox := s.sender()
	s.nudge = outbox.Nudge
	agent := s.agent()
	type running struct {
		key string
		srv protoServer
		l   net.Listener
	}
	var servers []*running
	closeAll := func() {
		for _, r := range servers {
			r.l.Close()
		}
	}
	for _, l := range s.cfg.Listeners() {
		if l.Addr == "" {
			continue
		}
		var srv protoServer
		switch l.Key {
		case "smtp":
			srv = smtpserver.New(agent, smtpserver.Options{Hostname: s.cfg.Hostname, MaxMessageSize: int64(s.cfg.Delivery.MaxMessageSize), Logger: s.log.With("proto", "smtp")})
		case "lmtp":
			srv = smtpserver.New(agent, smtpserver.Options{Hostname: s.cfg.Hostname, LMTP: true, MaxMessageSize: int64(s.cfg.Delivery.MaxMessageSize), Logger: s.log.With("proto", "lmtp")})
		case "imap":
			srv = imapserver.New(s.store, s.dir, imapserver.Options{
				Hostname:       s.cfg.Hostname,
				Logger:         s.log.With("proto", "imap"),
				MaxMessageSize: int64(s.cfg.Delivery.MaxMessageSize),
				AllowPlaintext: loopbackOnly,
			})
		case "pop3":
			p := s.cfg.POP3
			srv = pop3server.New(s.store, s.dir, pop3server.Options{
				Hostname:       s.cfg.Hostname,
				Logger:         s.log.With("proto", "pop3"),
				Delete:         p.Delete,
				View:           p.View,
				ViewExclude:    p.ViewExclude,
				MarkSeen:       p.MarkSeen,
				Lock:           p.Lock,
				Expire:         p.Expire,
				LoginDelay:     p.LoginDelay,
				AllowPlaintext: loopbackOnly,
			})
		case "managesieve":
			srv = managesieve.New(&sieveBackend{dir: s.dir, rt: s.sieveRuntime()}, managesieve.Options{
				Hostname:       s.cfg.Hostname,
				Logger:         s.log.With("proto", "managesieve"),
				AllowPlaintext: loopbackOnly,
				MaxScriptSize:  int64(s.cfg.Sieve.MaxScriptSize),
				MaxRedirects:   s.cfg.Sieve.MaxRedirects,
			})
		default:
			s.log.Warn("listener not available in this version; ignored", "listen", l.Key, "addr", l.Addr)
			continue
		}
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen %s on %s: %w", l.Key, l.Addr, err)
		}
		servers = append(servers, &running{key: l.Key, srv: srv, l: ln})
	}
	if len(servers) == 0 {
		return errors.New("nothing to serve: set at least one address in [listen] (smtp, lmtp, imap, pop3)")
	}
	errc := make(chan error, len(servers))
	for _, r := range servers {
		go func() { errc <- r.srv.Serve(r.l) }()
		fmt.Fprintf(e.stdout, "mailroom: %s listening on %s\n", r.key, r.l.Addr())
		s.log.Info("listening", "listen", r.key, "addr", r.l.Addr().String())
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		outbox.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := s.store.Sweep(ctx, sqlite.OrphanAge); err != nil && ctx.Err() == nil {
					s.log.Warn("sweep", "err", err)
				} else if n > 0 {
					s.log.Info("removed orphan bodies", "count", n)
				}
			}
		}
	}()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, r := range servers {
		if err := r.srv.Shutdown(sctx); err != nil {
			s.log.Warn("shutdown", "listen", r.key, "err", err)
		}
	}
	stop()
	wg.Wait()
	return serveErr
}

// protoServer is what every protocol server offers serve.
type protoServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// loopbackOnly allows passwords without TLS from loopback clients only,
// until TLS comes to these listeners.
func loopbackOnly(remote net.Addr) bool {
	if ta, ok := remote.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return false
}

const (
	quickstartDomain = "example.test"
	quickstartUser   = "demo@example.test"
)

func cmdQuickstart(e *env, args []string) error {
	if err := wantArgs(args, 0, 0, "quickstart [--config FILE]"); err != nil {
		return err
	}
	if _, err := os.Stat(e.configPath); errors.Is(err, os.ErrNotExist) {
		cfg := config.Default()
		cfg.Hostname = "localhost"
		cfg.DataDir = "./mailroom-data"
		cfg.Listen.SMTP = "127.0.0.1:2525"
		cfg.Listen.LMTP = "127.0.0.1:2424"
		cfg.Listen.IMAP = "127.0.0.1:1143"
		cfg.Listen.POP3 = "127.0.0.1:1110"
		cfg.Listen.ManageSieve = "127.0.0.1:4190"
		if err := os.MkdirAll(filepath.Dir(e.configPath), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(e.configPath, config.Render(cfg), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", e.configPath)
	} else if err != nil {
		return err
	} else {
		fmt.Fprintf(e.stdout, "using %s\n", e.configPath)
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(e.stdout, "data in %s\n", s.cfg.DataDir)
	if err := s.dir.AddDomain(e.ctx, quickstartDomain); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	pw := randomPassword()
	if _, err := s.dir.AddAccount(e.ctx, quickstartUser, pw, store.QuotaDefault, store.QuotaDefault); err == nil {
		fmt.Fprintf(e.stdout, "created account %s with password %s\n", quickstartUser, pw)
	} else if errors.Is(err, store.ErrExists) {
		fmt.Fprintf(e.stdout, "account %s exists (its password was printed when it was created; `mailroom user passwd %s` sets a new one)\n", quickstartUser, quickstartUser)
	} else {
		return err
	}
	fmt.Fprintln(e.stdout, "try it:")
	if a := s.cfg.Listen.SMTP; a != "" {
		fmt.Fprintf(e.stdout, "  swaks --server %s --to %s --from you@example.org        # SMTP\n", a, quickstartUser)
	}
	if a := s.cfg.Listen.LMTP; a != "" {
		fmt.Fprintf(e.stdout, "  swaks --protocol LMTP --server %s --to %s               # LMTP\n", a, quickstartUser)
	}
	if a := s.cfg.Listen.IMAP; a != "" {
		fmt.Fprintf(e.stdout, "  curl --url 'imap://%s/INBOX' --user '%s:PASSWORD'   # IMAP\n", a, quickstartUser)
	}
	if a := s.cfg.Listen.POP3; a != "" {
		fmt.Fprintf(e.stdout, "  curl --url 'pop3://%s/1' --user '%s:PASSWORD'       # POP3\n", a, quickstartUser)
	}
	fmt.Fprintf(e.stdout, "  echo 'Subject: hi' | go run ./cmd/mailroom deliver --from you@example.org %s\n", quickstartUser)
	fmt.Fprintf(e.stdout, "  go run ./cmd/mailroom quota show %s\n", quickstartUser)
	return serve(e, s)
}

var flagFrom string

func deliverFlags(fs *flag.FlagSet) {
	fs.StringVar(&flagFrom, "from", "", "envelope sender (\"\" for the null sender)")
}

// sysexits(3) codes used by `deliver`, as MTAs (Postfix, Exim) expect of an MDA.
const (
	exUsage       = 64
	exDataErr     = 65
	exNoUser      = 67
	exUnavailable = 69
	exSoftware    = 70
	exTempFail    = 75
)

func cmdDeliver(e *env, args []string) error {
	if len(args) == 0 {
		return &exitError{code: exUsage, err: errors.New("usage: mailroom deliver --from ADDRESS RCPT... < MESSAGE")}
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return &exitError{code: exTempFail, err: err}
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := openServices(cfg, log)
	if err != nil {
		return &exitError{code: exTempFail, err: err}
	}
	defer s.Close()
	return deliverLocal(e.ctx, s.agent(), flagFrom, args, e.stdin)
}

func deliverLocal(ctx context.Context, agent *delivery.Agent, from string, rcpts []string, msg io.Reader) error {
	env := &delivery.Envelope{From: from, Recipients: rcpts, Protocol: delivery.ProtoLocal, ID: newID()}
	errs, err := agent.Deliver(ctx, env, msg)
	if err != nil {
		return &exitError{code: sysexit(err), err: err}
	}
	for i, err := range errs {
		if err != nil {
			return &exitError{code: sysexit(err), err: fmt.Errorf("%s: %w", rcpts[i], err)}
		}
	}
	return nil
}

// sysexit maps a delivery failure to the exit code an MTA understands:
// 75 retries later, the others bounce.
func sysexit(err error) int {
	var de *delivery.Error
	if !errors.As(err, &de) {
		return exTempFail
	}
	switch {
	case de.Temporary():
		return exTempFail
	case de.Enhanced[1] == 1: // 5.1.x: addressing (unknown user, bad syntax)
		return exNoUser
	case de.Enhanced[1] == 7: // 5.7.1: not a local domain
		return exNoUser
	case de.Enhanced[1] == 6: // 5.6.x: malformed content
		return exDataErr
	case de.Code >= 500:
		return exUnavailable
	}
	return exSoftware
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
