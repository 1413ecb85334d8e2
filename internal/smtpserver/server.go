// Package smtpserver implements mailroom's inbound mail receivers: an SMTP
// server (RFC 5321) for mail from the outside world and an LMTP server
// (RFC 2033) for local final delivery. Both are built on
// github.com/emersion/go-smtp and hand every accepted transaction to a
// [Deliverer].
//
// Extensions offered on SMTP (EHLO) and LMTP (LHLO): PIPELINING (RFC 2920),
// 8BITMIME (RFC 6152), SIZE (RFC 1870), ENHANCEDSTATUSCODES (RFC 2034,
// codes from RFC 3463), SMTPUTF8 (RFC 6531), CHUNKING (RFC 3030, always on in
// go-smtp), LIMITS RCPTMAX (RFC 9422) and STARTTLS (RFC 3207) when a TLS
// configuration is given. AUTH (RFC 4954) is never offered: these receivers
// only accept mail for local domains, and whether a recipient is local is
// decided by [Deliverer.CheckRecipient], so the server is never an open
// relay.
//
// The "with" protocol names put in [delivery.Envelope.Protocol] are the ones
// registered by RFC 3848 and RFC 6531 §3.7.4: ESMTP, ESMTPS, LMTP, LMTPS,
// UTF8SMTP, UTF8SMTPS, UTF8LMTP and UTF8LMTPS.
//
// Replies follow RFC 5321 §4.2 and §4.3.2. A few of go-smtp's replies are
// corrected on the way out (see rewrite.go): bad command sequences get 503
// 5.5.1 instead of 502, unparsable sender and recipient paths get 501 5.1.7 and
// 501 5.1.3 (RFC 3463), unknown MAIL/RCPT parameters get 555 (RFC 5321
// §4.1.1.11), and the SIZE keyword carries the configured limit.
package smtpserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/internal/delivery"
	"mailroom/internal/server"
)

// Deliverer is what the receivers need from internal/delivery.
//
// In SMTP mode a transaction has exactly one reply after DATA (RFC 5321
// §4.1.1.4). When Deliver reports success for some recipients and failure for
// others, the server replies 250 (the message was taken for the recipients
// that succeeded, and a failure reply would make the client send it to them
// again) and logs a warning naming the failed recipients. Having said 250,
// the server has taken responsibility for the message (RFC 5321 §6.1), so a
// Deliverer that returns mixed results for an SMTP transaction
// (env.Protocol not an LMTP one) is expected to send the non-delivery
// report for the failed recipients itself. This should be rare, since every
// recipient was checked with CheckRecipient before DATA. LMTP has one reply
// per recipient (RFC 2033 §4.2) and needs no such care.
type Deliverer interface {
	// CheckRecipient is called for each RCPT TO. It returns nil to accept,
	// or a *delivery.Error to reply with (550 5.1.1 unknown user, 550 5.7.1
	// non-local domain / relaying denied, 452 4.2.2 / 552 5.2.2 mailbox
	// full, 501 5.1.3 bad syntax). Other errors are replied to as 451 4.3.0
	// and logged.
	CheckRecipient(ctx context.Context, env *delivery.Envelope, rcpt string) error

	// Deliver reads the whole message (dot-unstuffed DATA, or the BDAT
	// chunks) from body and delivers it to every env.Recipients entry. It
	// returns either one error per recipient (len == len(env.Recipients);
	// nil means durably stored) or a non-nil second error that applies to
	// all recipients. Errors are *delivery.Error or other errors (treated
	// as 451 4.3.0).
	//
	// A read error from body (anything but io.EOF) means the message did
	// not arrive whole (the client went away, timed out, or the message is
	// bigger than Options.MaxMessageSize): Deliver must then store nothing.
	// The server replies with a failure whatever Deliver returns in that
	// case. ctx is cancelled when the connection closes or a Shutdown runs
	// out of time.
	Deliver(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error)
}

// Options configures a Server. The zero value of every field picks a
// default.
type Options struct {
	// Hostname is the server's name in the greeting. Default os.Hostname().
	Hostname string
	// LMTP makes the server speak LMTP (RFC 2033) instead of SMTP.
	LMTP bool
	// MaxMessageSize is the largest message accepted, in octets as counted
	// by RFC 1870 (the dot-unstuffed message with CRLF line ends). It is
	// advertised with SIZE, checked against MAIL FROM's SIZE= parameter and
	// enforced while reading the message, all with 552 5.3.4. 0 means no
	// limit.
	MaxMessageSize int64
	// MaxRecipients is the number of RCPT accepted per transaction; later
	// ones get 452 4.5.3 (RFC 5321 §4.5.3.1.10). Default 1000; negative
	// means no limit.
	MaxRecipients int
	// ReadTimeout bounds the wait for each command, and for each read of the
	// message data. WriteTimeout bounds each reply. Defaults 5 minutes each
	// (RFC 5321 §4.5.3.2 asks for at least that); negative means none.
	ReadTimeout, WriteTimeout time.Duration
	// Logger receives one line per connection opened and closed and one per
	// transaction. Default slog.Default().
	Logger *slog.Logger
	// TLSConfig, when set, enables STARTTLS (RFC 3207).
	TLSConfig *tls.Config
}

// ErrServerClosed is returned by Serve once Shutdown has been called.
var ErrServerClosed = server.ErrServerClosed

const (
	defaultMaxRecipients = 1000
	defaultTimeout       = 5 * time.Minute
	// goodbyeTimeout bounds the write of the 421 reply sent to a client
	// whose connection is closed by Shutdown.
	goodbyeTimeout = 2 * time.Second
)

// Server is an SMTP or LMTP receiver. Create it with New.
type Server struct {
	d        Deliverer
	opts     Options
	log      *slog.Logger
	smtp     *smtp.Server
	replies  map[string]string // see rewrite.go
	goodbye  []byte            // 421 sent to connections closed by Shutdown
	shutting atomic.Bool
	// core tracks the connections (go-smtp runs their goroutines), the
	// Deliver calls in progress, and Shutdown.
	core *server.Server

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
}

// New returns a server that hands transactions to d. It does not listen;
// call Serve.
func New(d Deliverer, opts Options) *Server {
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	if opts.MaxRecipients == 0 {
		opts.MaxRecipients = defaultMaxRecipients
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = defaultTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = defaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxMessageSize < 0 {
		opts.MaxMessageSize = 0
	}

	s := &Server{
		d:         d,
		opts:      opts,
		log:       opts.Logger.With("component", "smtpserver", "proto", protoName(opts.LMTP)),
		replies:   rewriteTable(opts.MaxMessageSize),
		goodbye:   []byte(fmt.Sprintf("421 4.3.2 %s Service shutting down, closing transmission channel\r\n", opts.Hostname)),
		listeners: make(map[net.Listener]struct{}),
	}
	s.core = server.New(server.Config{Logger: s.log})

	gs := smtp.NewServer(backend{s})
	gs.Domain = opts.Hostname
	gs.LMTP = opts.LMTP
	gs.TLSConfig = opts.TLSConfig
	gs.EnableSMTPUTF8 = true
	// The size limit is enforced by this package (bodyReader, session.Mail)
	// rather than by go-smtp: go-smtp's DATA reader refuses a message of
	// exactly MaxMessageBytes octets. With 0 go-smtp advertises a bare
	// "SIZE", which rewrite.go completes with the limit.
	gs.MaxMessageBytes = 0
	if opts.MaxRecipients > 0 {
		gs.MaxRecipients = opts.MaxRecipients
	}
	if opts.ReadTimeout > 0 {
		gs.ReadTimeout = opts.ReadTimeout
	}
	if opts.WriteTimeout > 0 {
		gs.WriteTimeout = opts.WriteTimeout
	}
	// No AUTH is offered: the session does not implement smtp.AuthSession,
	// so go-smtp advertises no mechanism. Allowing "insecure" auth only
	// changes the reply to an AUTH command on a plain connection from a
	// misleading "523 TLS is required" to "504 5.7.4 Unsupported
	// authentication mechanism".
	gs.AllowInsecureAuth = true
	gs.ErrorLog = errorLog{s.log}
	s.smtp = gs
	return s
}

func protoName(lmtp bool) string {
	if lmtp {
		return "lmtp"
	}
	return "smtp"
}

// Serve accepts connections on l and serves each in its own goroutine. l must
// yield plain connections (STARTTLS is done by the server when
// Options.TLSConfig is set). After Shutdown, Serve waits until the shutdown
// has finished (every connection closed) and returns ErrServerClosed; it
// returns other errors from l.Accept as they come, except temporary ones,
// which go-smtp retries.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	tl := &trackingListener{Listener: l, srv: s}
	s.listeners[tl] = struct{}{}
	s.mu.Unlock()

	err := s.smtp.Serve(tl)

	s.mu.Lock()
	delete(s.listeners, tl)
	s.mu.Unlock()
	if s.shutting.Load() {
		<-s.core.Done()
		return ErrServerClosed
	}
	return err
}

// Shutdown stops accepting connections, closes idle connections (with a 421
// reply, RFC 5321 §3.8), lets transactions in progress finish and then closes
// their connections too. It returns nil once every connection is closed and
// every Deliver call has returned. If ctx ends first, Shutdown closes all
// connections at once, cancels the contexts passed to the Deliverer and
// returns ctx.Err() soon after.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	err := s.core.Shutdown(ctx)
	// go-smtp's goroutines end with their connections, all closed now.
	gctx, cancel := context.WithTimeout(ctx, goodbyeTimeout)
	defer cancel()
	_ = s.smtp.Shutdown(gctx)
	return err
}

// beginDelivery counts a Deliver call in progress, for Shutdown; the
// caller calls the returned function when it has returned.
func (s *Server) beginDelivery() (end func()) {
	end, err := s.core.Hold()
	if err != nil {
		// Cannot happen: the connection of the delivery is open.
		return func() {}
	}
	return end
}

// trackingListener hands go-smtp trackedConns.
type trackingListener struct {
	net.Listener
	srv *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := newTrackedConn(c, l.srv); tc != nil {
			return tc, nil
		}
	}
}

// errorLog sends go-smtp's internal log lines (connection errors, recovered
// panics) to slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.print(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.print(fmt.Sprintln(v...)) }

func (e errorLog) print(msg string) {
	msg = strings.TrimSpace(msg)
	level := slog.LevelInfo
	if strings.Contains(msg, "panic") {
		level = slog.LevelError
	}
	e.l.Log(context.Background(), level, "go-smtp: "+msg)
}

// backend creates a session per EHLO/LHLO (go-smtp calls it on the first
// greeting and again after STARTTLS).
type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	tc := findTracked(c.Conn())
	if tc == nil {
		// Cannot happen: every connection comes from trackingListener.
		b.s.log.Error("connection not tracked", "remote", c.Conn().RemoteAddr().String())
		return nil, errTemporary
	}
	if !validHelo(c.Hostname()) {
		return nil, errBadHelo
	}
	_, isTLS := c.TLSConnectionState()
	tc.sessionStarted(c.Conn())
	return &session{srv: b.s, conn: c, tc: tc, tls: isTLS}, nil
}

// findTracked finds our connection under what go-smtp holds (itself, or
// the *tls.Conn wrapping it after STARTTLS).
func findTracked(c net.Conn) *trackedConn {
	for c != nil {
		switch v := c.(type) {
		case *trackedConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}
