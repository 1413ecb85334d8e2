package sieve

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/internal/dsn"
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
	// MaxBackoff. A message still unsent GiveUp after it was queued has
	// failed, like one the relay refused (see Return).
	MinBackoff time.Duration // default 1m
	MaxBackoff time.Duration // default 1h
	GiveUp     time.Duration // default 5 days
	// Return stores a message in the INBOX of the account that queued a
	// redirect that failed: a bounce (RFC 3464) to the redirect's sender,
	// which is that account, or the message itself when the redirect had
	// the null sender and so cannot be bounced. An acknowledged message
	// thus always ends somewhere. Failed vacation replies and bounces
	// are dropped. An error that is not store.ErrNotFound (the account is
	// gone) leaves the message queued, to be returned later.
	Return func(ctx context.Context, accountID int64, id string, msg []byte) error
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

// noRelayRecheck is how often a message queued while no relay is set is
// looked at again: to send it soon after one is, or to expire it.
const noRelayRecheck = time.Hour

// Run sends queued mail until ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	if s.opts.Relay == "" {
		s.log.Warn("no [relay] address: filters do not redirect or send vacation replies; mail queued earlier expires",
			"max_age", s.opts.GiveUp.String())
	}
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		s.sendDue(ctx)
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

// errNoRelay is the failure of a message queued while no relay is set.
var errNoRelay = errors.New("no [relay] address is configured")

func (s *Sender) sendOne(ctx context.Context, m store.OutboxMessage) {
	log := s.log.With("outbox", m.ID, "kind", m.Kind, "from", m.From, "to", m.To, "attempt", m.Attempts)
	// The outcome is recorded even when ctx ended mid-way.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	expired := time.Since(m.Queued) >= s.opts.GiveUp
	if s.opts.Relay == "" {
		if expired {
			s.fail(rctx, log, m, errNoRelay, fmt.Sprintf("not sent within %s: %v", s.opts.GiveUp, errNoRelay))
			return
		}
		next := time.Now().Add(noRelayRecheck)
		if end := m.Queued.Add(s.opts.GiveUp); end.Before(next) {
			next = end
		}
		if err := s.st.OutboxRetry(rctx, m.ID, next, errNoRelay.Error()); err != nil {
			log.Error("outbox", "err", err)
		}
		return
	}
	err := s.send(ctx, m)
	if err == nil {
		if err := s.st.OutboxDone(rctx, m.ID); err != nil {
			log.Error("outbox: sent, but not marked sent", "err", err)
			return
		}
		log.Info("outbox: sent")
		return
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		s.fail(rctx, log, m, err, "the relay refused it")
		return
	}
	if expired {
		s.fail(rctx, log, m, err, fmt.Sprintf("not sent within %s", s.opts.GiveUp))
		return
	}
	s.retry(rctx, log, m, err)
}

// retry records a failed attempt and when to make the next.
func (s *Sender) retry(ctx context.Context, log *slog.Logger, m store.OutboxMessage, err error) {
	next := time.Now().Add(s.backoff(m.Attempts))
	log.Warn("outbox: not sent; will retry", "next", next, "err", err)
	if err := s.st.OutboxRetry(ctx, m.ID, next, err.Error()); err != nil {
		log.Error("outbox", "err", err)
	}
}

// fail ends a message that will not be sent: a redirect goes back to the
// account that made it (see SenderOptions.Return); anything else is
// dropped.
func (s *Sender) fail(ctx context.Context, log *slog.Logger, m store.OutboxMessage, err error, why string) {
	if m.Kind == store.OutboxRedirect && s.opts.Return != nil {
		msg, what := m.Data, "kept in the INBOX of the account that redirected it (a null sender gets no bounce)"
		if m.From != "" {
			msg, what = dsn.Build(s.report(m, err)), "bounced to the INBOX of the account that redirected it"
		}
		rerr := s.opts.Return(ctx, m.AccountID, fmt.Sprintf("outbox-%d", m.ID), msg)
		switch {
		case rerr == nil:
			log.Warn("outbox: not sent: "+why+"; "+what, "queued", m.Queued, "err", err)
		case errors.Is(rerr, store.ErrNotFound):
			log.Error("outbox: not sent: "+why+"; the account that redirected it is gone, so it is dropped",
				"queued", m.Queued, "err", err)
		default:
			log.Error("outbox: not sent: "+why+"; returning it failed too", "err", err, "return_err", rerr)
			s.retry(ctx, log, m, rerr)
			return
		}
	} else {
		log.Error("outbox: giving up on a message: "+why, "queued", m.Queued, "err", err)
	}
	if err := s.st.OutboxDone(ctx, m.ID); err != nil {
		log.Error("outbox", "err", err)
	}
}

// report is the bounce of a failed message: every recipient failed alike
// (the relay takes one transaction per message).
func (s *Sender) report(m store.OutboxMessage, err error) dsn.Report {
	// RFC 3463 X.4.7: delivery time expired.
	rc := dsn.Recipient{Status: "5.4.7", Diagnostic: err.Error()}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		rc.Diagnostic = strings.TrimSpace(fmt.Sprintf("%d %s", se.Code, se.Message))
		if e := se.EnhancedCode; e != (smtp.EnhancedCode{}) && e != smtp.NoEnhancedCode && se.Code >= 500 {
			rc.Status = fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
			rc.Diagnostic = strings.TrimSpace(fmt.Sprintf("%d %s %s", se.Code, rc.Status, se.Message))
		} else if se.Code >= 500 {
			rc.Status = "5.0.0"
		}
		if host, _, herr := net.SplitHostPort(s.opts.Relay); herr == nil {
			rc.RemoteMTA = host
		}
	}
	r := dsn.Report{ReportingMTA: s.opts.Hostname, To: m.From, Arrival: m.Queued, Original: m.Data}
	for _, to := range m.To {
		c := rc
		c.Address = to
		r.Recipients = append(r.Recipients, c)
	}
	return r
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
