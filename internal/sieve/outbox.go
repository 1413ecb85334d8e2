package sieve

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/internal/store"
)

// Relay TLS modes.
const (
	RelayStartTLS = "starttls"
	RelayImplicit = "implicit"
	RelayNone     = "none"
)

// SenderOptions configure a Sender.
type SenderOptions struct {
	Relay              string // "host:port"; "" keeps mail queued
	Username, Password string // AUTH PLAIN when Username is set
	TLS                string // RelayStartTLS (default), RelayImplicit or RelayNone
	InsecureSkipVerify bool
	Hostname           string // EHLO name
	Logger             *slog.Logger

	// Back-off after a failed attempt: MinBackoff doubling up to
	// MaxBackoff; a message still unsent GiveUp after it was queued is
	// dropped with a log line.
	MinBackoff time.Duration // default 1m
	MaxBackoff time.Duration // default 1h
	GiveUp     time.Duration // default 5 days
	// Poll is how often the queue is looked at without a Nudge (messages
	// queued by other processes, retries). Default 30s.
	Poll time.Duration
	// Timeout bounds one SMTP transaction. Default 5m.
	Timeout time.Duration
}

// Lease is how long a claimed message is held by one sender; a sender that
// dies mid-send leaves it to be retried after this.
const sendLease = 15 * time.Minute

// Sender hands the outbox (vacation replies, redirects) to the relay. A
// message leaves the outbox only after the relay accepted it (250) or was
// given up; each attempt is recorded.
type Sender struct {
	st    store.Store
	opts  SenderOptions
	log   *slog.Logger
	nudge chan struct{}
}

// NewSender returns a Sender over st's outbox.
func NewSender(st store.Store, opts SenderOptions) *Sender {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TLS == "" {
		opts.TLS = RelayStartTLS
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Minute
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.GiveUp <= 0 {
		opts.GiveUp = 5 * 24 * time.Hour
	}
	if opts.Poll <= 0 {
		opts.Poll = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	return &Sender{st: st, opts: opts, log: opts.Logger, nudge: make(chan struct{}, 1)}
}

// Nudge makes Run look at the outbox now (after a delivery queued mail).
// It never blocks.
func (s *Sender) Nudge() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// Run sends queued mail until ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	if s.opts.Relay == "" {
		s.log.Warn("no [relay] address: mail from filters (vacation, redirect) stays queued")
	}
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		if s.opts.Relay != "" {
			s.sendDue(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.nudge:
		}
	}
}

// sendDue sends every message that is due, a batch at a time.
func (s *Sender) sendDue(ctx context.Context) {
	for ctx.Err() == nil {
		msgs, err := s.st.ClaimOutbox(ctx, time.Now(), sendLease, 32)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("outbox", "err", err)
			}
			return
		}
		if len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			s.sendOne(ctx, m)
		}
	}
}

func (s *Sender) sendOne(ctx context.Context, m store.OutboxMessage) {
	err := s.send(ctx, m)
	log := s.log.With("outbox", m.ID, "from", m.From, "to", m.To, "attempt", m.Attempts)
	// The outcome is recorded even when ctx ended mid-way.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err == nil {
		if err := s.st.OutboxDone(rctx, m.ID); err != nil {
			log.Error("outbox: sent, but not marked sent", "err", err)
			return
		}
		log.Info("outbox: sent")
		return
	}
	var se *smtp.SMTPError
	permanent := errors.As(err, &se) && se.Code >= 500
	if permanent || time.Since(m.Queued) >= s.opts.GiveUp {
		why := "relay refused it"
		if !permanent {
			why = fmt.Sprintf("not sent after %s", s.opts.GiveUp)
		}
		log.Error("outbox: giving up on a message: "+why, "queued", m.Queued, "err", err)
		if err := s.st.OutboxDone(rctx, m.ID); err != nil {
			log.Error("outbox", "err", err)
		}
		return
	}
	next := time.Now().Add(s.backoff(m.Attempts))
	log.Warn("outbox: relay failed; will retry", "next", next, "err", err)
	if err := s.st.OutboxRetry(rctx, m.ID, next, err.Error()); err != nil {
		log.Error("outbox", "err", err)
	}
}

// backoff is the wait after the attempt-th failed attempt.
func (s *Sender) backoff(attempt int) time.Duration {
	d := s.opts.MinBackoff
	for i := 1; i < attempt && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.opts.MaxBackoff)
}

// send makes one SMTP transaction with the relay.
func (s *Sender) send(ctx context.Context, m store.OutboxMessage) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(s.opts.Relay)
	if err != nil {
		return fmt.Errorf("relay address: %w", err)
	}
	tlsConfig := &tls.Config{ServerName: host, InsecureSkipVerify: s.opts.InsecureSkipVerify}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.opts.Relay)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	var c *smtp.Client
	switch s.opts.TLS {
	case RelayImplicit:
		c = smtp.NewClient(tls.Client(conn, tlsConfig))
	case RelayNone:
		c = smtp.NewClient(conn)
	default:
		// go-smtp's STARTTLS client greets as "localhost" before TLS and
		// again after it.
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			conn.Close()
			return fmt.Errorf("starttls: %w", err)
		}
	}
	defer c.Close()
	if s.opts.TLS != RelayStartTLS {
		if err := c.Hello(s.opts.Hostname); err != nil {
			return err
		}
	}
	if s.opts.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.opts.Username, s.opts.Password)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.SendMail(m.From, m.To, bytes.NewReader(m.Data)); err != nil {
		return err
	}
	c.Quit()
	return nil
}
