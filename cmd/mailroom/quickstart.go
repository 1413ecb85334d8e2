package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mailroom/internal/config"
	"mailroom/internal/store"
	"mailroom/internal/tlsconf"
)

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
		cfg.Listen.IMAPS = "127.0.0.1:1993"
		cfg.Listen.POP3S = "127.0.0.1:1995"
		if err := os.MkdirAll(filepath.Dir(e.configPath), 0o755); err != nil {
			return err
		}
		if err := quickstartCertificate(e, cfg); err != nil {
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
	if a := s.cfg.Listen.IMAPS; a != "" {
		fmt.Fprintf(e.stdout, "  curl --cacert %s --url 'imaps://%s/INBOX' --user '%s:PASSWORD'   # IMAP over TLS\n", s.cfg.TLS.Cert, a, quickstartUser)
	}
	if a := s.cfg.Listen.POP3S; a != "" {
		fmt.Fprintf(e.stdout, "  curl --cacert %s --url 'pop3s://%s/1' --user '%s:PASSWORD'     # POP3 over TLS\n", s.cfg.TLS.Cert, a, quickstartUser)
	}
	fmt.Fprintf(e.stdout, "  echo 'Subject: hi' | go run ./cmd/mailroom deliver --from you@example.org %s\n", quickstartUser)
	fmt.Fprintf(e.stdout, "  go run ./cmd/mailroom quota show %s\n", quickstartUser)
	return serve(e, s)
}

// quickstartCertificate points cfg's [tls] at a self-signed certificate in
// the data directory, generating it unless a previous quickstart left one.
func quickstartCertificate(e *env, cfg *config.Config) error {
	cfg.TLS.Cert = cfg.DataDir + "/tls/cert.pem"
	cfg.TLS.Key = cfg.DataDir + "/tls/key.pem"
	base := filepath.Dir(e.configPath)
	certFile, keyFile := filepath.Join(base, cfg.TLS.Cert), filepath.Join(base, cfg.TLS.Key)
	if _, err := tlsconf.Load(certFile, keyFile); err == nil {
		fmt.Fprintf(e.stdout, "using the certificate in %s\n", certFile)
		return nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if err := tlsconf.GenerateSelfSigned(certFile, keyFile, hosts, time.Now()); err != nil {
		return fmt.Errorf("generating a self-signed certificate: %w", err)
	}
	fmt.Fprintf(e.stdout, "wrote a self-signed certificate for %s to %s (clients must be told to trust it)\n", strings.Join(hosts, ", "), certFile)
	return nil
}
