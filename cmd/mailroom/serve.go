package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"mailroom/internal/directory"
	"mailroom/internal/imapserver"
	"mailroom/internal/limits"
	"mailroom/internal/managesieve"
	"mailroom/internal/pop3server"
	"mailroom/internal/smtpserver"
	"mailroom/internal/store/sqlite"
	"mailroom/internal/tlsconf"
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

	cert, tlsConfig, err := s.loadTLS()
	if err != nil {
		return err
	}
	networks, err := s.cfg.Auth.Networks()
	if err != nil { // Validate has checked them
		return fmt.Errorf("config: auth.trusted_networks: %w", err)
	}
	allowPlaintext := trustedNetworks(networks)
	logins, conns, err := s.limits()
	if err != nil {
		return err
	}
	lim := s.cfg.Limits
	if addr := s.cfg.Debug.Pprof; addr != "" {
		stopPprof, err := startPprof(addr, s.log)
		if err != nil {
			return err
		}
		defer stopPprof()
		s.log.Info("pprof listening", "addr", addr)
	}

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
	// imap and imaps share one server, as do pop3 and pop3s: the \Recent
	// claims, the hot index and POP3's maildrop lock are per server.
	var imapSrv *imapserver.Server
	var pop3Srv *pop3server.Server
	for _, l := range s.cfg.Listeners() {
		if l.Addr == "" {
			continue
		}
		var srv protoServer
		switch l.Key {
		case "smtp":
			// RFC 3207 STARTTLS, offered whenever there is a certificate.
			srv = smtpserver.New(agent, smtpserver.Options{Hostname: s.cfg.Hostname, MaxMessageSize: int64(s.cfg.Delivery.MaxMessageSize), Logger: s.log.With("proto", "smtp"), TLSConfig: tlsConfig})
		case "lmtp":
			// LMTP on loopback comes from an MTA on this machine: TLS
			// would protect nothing, so STARTTLS is offered only on other
			// addresses.
			var lmtpTLS *tls.Config
			if !loopbackAddr(l.Addr) {
				lmtpTLS = tlsConfig
			}
			srv = smtpserver.New(agent, smtpserver.Options{Hostname: s.cfg.Hostname, LMTP: true, MaxMessageSize: int64(s.cfg.Delivery.MaxMessageSize), Logger: s.log.With("proto", "lmtp"), TLSConfig: lmtpTLS})
		case "imap", "imaps":
			if imapSrv == nil {
				imapSrv = imapserver.New(s.store, s.dir, imapserver.Options{
					Hostname:       s.cfg.Hostname,
					Logger:         s.log.With("proto", "imap"),
					MaxMessageSize: int64(s.cfg.Delivery.MaxMessageSize),
					TLSConfig:      tlsConfig,
					AllowPlaintext: allowPlaintext,
					PreAuthTimeout: time.Duration(lim.PreLoginTimeout),
					Logins:         logins,

					MaxPreAuthCommands: lim.MaxCommandsBeforeLogin,
					MaxMailboxes:       lim.MaxMailboxes,
				})
			}
			srv = imapSrv
		case "pop3", "pop3s":
			if pop3Srv == nil {
				p := s.cfg.POP3
				pop3Srv = pop3server.New(s.store, s.dir, pop3server.Options{
					Hostname:       s.cfg.Hostname,
					Logger:         s.log.With("proto", "pop3"),
					Delete:         p.Delete,
					View:           p.View,
					ViewExclude:    p.ViewExclude,
					MarkSeen:       p.MarkSeen,
					Lock:           p.Lock,
					Expire:         p.Expire,
					LoginDelay:     p.LoginDelay,
					TLSConfig:      tlsConfig,
					AllowPlaintext: allowPlaintext,
					Logins:         logins,

					MaxPreAuthCommands: lim.MaxCommandsBeforeLogin,
				})
			}
			srv = pop3Srv
		case "managesieve":
			srv = managesieve.New(&sieveBackend{dir: s.dir, rt: s.sieveRuntime()}, managesieve.Options{
				Hostname:       s.cfg.Hostname,
				Logger:         s.log.With("proto", "managesieve"),
				TLSConfig:      tlsConfig,
				AllowPlaintext: allowPlaintext,
				MaxScriptSize:  int64(s.cfg.Sieve.MaxScriptSize),
				MaxRedirects:   s.cfg.Sieve.MaxRedirects,
				PreAuthTimeout: time.Duration(lim.PreLoginTimeout),
				Logins:         logins,

				MaxPreAuthCommands: lim.MaxCommandsBeforeLogin,
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
		// Counted below TLS, so that the servers still see *tls.Conn.
		ln = conns.Listener(ln, busyReply(l.Key))
		if l.Key == "imaps" || l.Key == "pop3s" {
			// RFC 8314 §3: TLS from the first byte. Validate refuses these
			// listeners without [tls].
			ln = tls.NewListener(ln, tlsConfig)
		}
		servers = append(servers, &running{key: l.Key, srv: srv, l: ln})
	}
	if len(servers) == 0 {
		return errors.New("nothing to serve: set at least one address in [listen] (smtp, lmtp, imap, pop3)")
	}
	// A deleted account (here or by an admin command) ends its sessions.
	var sieveSrvs []*managesieve.Server
	for _, r := range servers {
		if m, ok := r.srv.(*managesieve.Server); ok {
			sieveSrvs = append(sieveSrvs, m)
		}
	}
	s.store.Live().OnAccountGone(func(id int64) {
		s.log.Info("account deleted: ending its sessions", "account", id)
		if imapSrv != nil {
			imapSrv.EndAccount(id)
		}
		if pop3Srv != nil {
			pop3Srv.EndAccount(id)
		}
		for _, m := range sieveSrvs {
			m.EndAccount(id)
		}
	})
	errc := make(chan error, len(servers))
	for _, r := range servers {
		go func() { errc <- r.srv.Serve(r.l) }()
		fmt.Fprintf(e.stdout, "mailroom: %s listening on %s\n", r.key, r.l.Addr())
		s.log.Info("listening", "listen", r.key, "addr", r.l.Addr().String())
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		outbox.Run(ctx)
	}()
	// The lists of the big mailboxes open at the last shutdown, back in
	// memory before their first SELECT.
	go func() {
		defer wg.Done()
		s.store.Live().Preload(ctx, s.store.MailboxByID)
	}()
	// SIGHUP rereads the certificate; connections keep theirs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				s.reloadTLS(cert)
			}
		}
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
	done := map[protoServer]bool{}
	for _, r := range servers {
		if done[r.srv] {
			continue
		}
		done[r.srv] = true
		if err := r.srv.Shutdown(sctx); err != nil {
			s.log.Warn("shutdown", "listen", r.key, "err", err)
		}
	}
	stop()
	wg.Wait()
	return serveErr
}

// limits builds the [limits] shared by every listener: one login tracker
// and one connection count for the whole process, so that an address
// cannot multiply its allowance by using several protocols or ports.
func (s *services) limits() (*limits.Logins, *limits.Conns, error) {
	lim := s.cfg.Limits
	exempt, err := lim.Exempt()
	if err != nil { // Validate has checked them
		return nil, nil, fmt.Errorf("config: limits.exempt_networks: %w", err)
	}
	logins := limits.NewLogins(limits.LoginOptions{
		FreeFailures:    lim.LoginFreeFailures,
		Delay:           time.Duration(lim.LoginDelay),
		MaxDelay:        time.Duration(lim.LoginMaxDelay),
		Forget:          time.Duration(lim.LoginForget),
		LockoutFailures: lim.LockoutFailures,
		Lockout:         time.Duration(lim.Lockout),
		Exempt:          exempt,
		Account:         directory.LoginKey,
	})
	conns := limits.NewConns(limits.ConnOptions{
		PerAddress: lim.MaxConnectionsPerIP,
		Total:      lim.MaxConnections,
		Exempt:     exempt,
		Logger:     s.log,
	})
	return logins, conns, nil
}

// busyReply returns what a connection over [limits] max_connections or
// max_connections_per_ip is told before it is closed, in its protocol's
// words. Implicit TLS listeners close it without a word: a handshake for
// a connection that will not be served is not worth its cost.
func busyReply(key string) func(net.Conn) {
	switch key {
	case "imap":
		return limits.Busy("* BYE too many connections")
	case "pop3":
		return limits.Busy("-ERR [SYS/TEMP] too many connections")
	case "smtp", "lmtp":
		return limits.Busy("421 4.7.0 too many connections")
	case "managesieve":
		return limits.Busy(`BYE "too many connections"`)
	}
	return nil
}

// protoServer is what every protocol server offers serve.
type protoServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// loadTLS loads [tls] cert and key and returns them with the one
// *tls.Config every listener shares; both are nil when [tls] is not set.
func (s *services) loadTLS() (*tlsconf.Certificate, *tls.Config, error) {
	if s.cfg.TLS.ACME {
		return nil, s.acmeTLS(), nil
	}
	if !s.cfg.TLS.Enabled() {
		s.log.Info("no [tls] certificate: STARTTLS, imaps and pop3s are off; passwords are taken only from auth.trusted_networks")
		return nil, nil, nil
	}
	cert, err := tlsconf.Load(s.cfg.TLS.Cert, s.cfg.TLS.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("config: tls.cert, tls.key: %w", err)
	}
	s.logCertificate("TLS certificate loaded", cert)
	return cert, tlsconf.ServerConfig(cert), nil
}

func (s *services) logCertificate(msg string, cert *tlsconf.Certificate) {
	leaf := cert.Leaf()
	s.log.Info(msg, tlsconf.Describe(leaf)...)
	if time.Now().After(leaf.NotAfter) {
		s.log.Warn("TLS certificate has expired", "file", s.cfg.TLS.Cert, "expired", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// acmeTLS gets certificates from the ACME CA of [tls]: autocert obtains,
// caches (data_dir/acme) and renews them on demand, and the CA's http-01
// challenges are answered on tls.acme_http for as long as the process runs.
func (s *services) acmeTLS() *tls.Config {
	conf, challenges := tlsconf.ACME(tlsconf.ACMEOptions{
		Hosts:        []string{s.cfg.Hostname},
		CacheDir:     filepath.Join(s.cfg.DataDir, "acme"),
		Email:        s.cfg.TLS.ACMEEmail,
		DirectoryURL: s.cfg.TLS.ACMEDirectory,
	})
	srv := &http.Server{Addr: s.cfg.TLS.ACMEHTTP, Handler: challenges, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ACME challenge listener", "addr", s.cfg.TLS.ACMEHTTP, "err", err)
		}
	}()
	s.log.Info("TLS certificates from ACME", "host", s.cfg.Hostname, "challenges", s.cfg.TLS.ACMEHTTP)
	return conf
}

// reloadTLS is what SIGHUP does: reread the certificate files. A failure
// keeps the certificate in use.
func (s *services) reloadTLS(cert *tlsconf.Certificate) {
	if cert == nil {
		s.log.Info("SIGHUP: no [tls] certificate to reload")
		return
	}
	if err := cert.Reload(); err != nil {
		s.log.Error("TLS certificate not reloaded; keeping the one in use", "err", err)
		return
	}
	s.logCertificate("TLS certificate reloaded", cert)
}

// trustedNetworks returns the AllowPlaintext policy of IMAP, POP3 and
// ManageSieve: a password may travel without TLS only from a client in
// one of networks ([auth] trusted_networks). With none, only TLS will do.
func trustedNetworks(networks []netip.Prefix) func(remote net.Addr) bool {
	return func(remote net.Addr) bool {
		ta, ok := remote.(*net.TCPAddr)
		if !ok {
			return false
		}
		// An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d;
		// a prefix never matches an address with a zone.
		a := ta.AddrPort().Addr().Unmap().WithZone("")
		for _, n := range networks {
			if n.Contains(a) {
				return true
			}
		}
		return false
	}
}

// loopbackAddr reports whether a listen address ("host:port") is on
// loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
