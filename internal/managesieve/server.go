// Package managesieve implements mailroom's ManageSieve server (RFC 5804):
// the protocol users' mail clients speak to upload, list, activate,
// download and delete their Sieve scripts. It owns the wire protocol
// (commands, strings and literals, responses and response codes), the
// connection states (non-authenticated, authenticated), SASL PLAIN
// authentication (RFC 4616), STARTTLS, and the limits and timeouts that
// keep one client from hurting others. Script storage and checking are
// not here: they are behind the [Backend] and [Scripts] interfaces.
//
// Invariants:
//   - Each connection is served by one goroutine, which alone reads from
//     and writes to it. Shutdown and the server's bookkeeping never write
//     to a connection: they set flags and read deadlines, and the
//     connection's goroutine says BYE itself.
//   - No lock is held while writing to a socket or calling the Backend.
//   - Every read from the client has a deadline (Options.PreAuthTimeout
//     before login, Options.IdleTimeout after), set before each command;
//     every flush has writeTimeout.
//   - What the client sends is bounded: MaxLineLength per command line,
//     MaxStringLength per string, Options.MaxScriptSize per script.
//     Literals are never buffered beyond their limit: a literal over its
//     limit is read and thrown away (up to maxLiteralDiscard, else the
//     connection ends), so the server stays in step with the client.
//   - Backend errors are turned into responses in one place (toResponse);
//     unknown errors become NO (TRYLATER) and one log line, and their text
//     never reaches the client.
//   - Script names handed to the Backend are valid (RFC 5804 §1.6).
//   - Passwords and script contents never reach the logs.
package managesieve

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"time"

	"mailroom/internal/limits"
	"mailroom/internal/server"
)

// Options configures a Server. The zero value of every field picks a
// default.
type Options struct {
	// Hostname is the server's name, in the greeting's OK text. Default
	// os.Hostname().
	Hostname string
	// Logger receives one line per connection opened and closed, per
	// login and per internal error; command traces at debug level.
	// Default slog.Default().
	Logger *slog.Logger
	// TLSConfig, when set, enables STARTTLS (RFC 5804 §2.2).
	TLSConfig *tls.Config
	// AllowPlaintext reports whether a client at addr may log in with a
	// password over a connection without TLS. When it returns false,
	// AUTHENTICATE PLAIN on such a connection gets NO (ENCRYPT-NEEDED).
	// nil allows everyone.
	AllowPlaintext func(addr net.Addr) bool
	// MaxScriptSize is the largest script accepted by PUTSCRIPT and
	// CHECKSCRIPT, in octets; HAVESPACE for more is answered NO
	// (QUOTA/MAXSIZE). Default 1 MiB.
	MaxScriptSize int64
	// PreAuthTimeout bounds the wait for each command (or SASL response)
	// before login, and the TLS handshake. Default 1 minute.
	PreAuthTimeout time.Duration
	// IdleTimeout bounds the wait for each command after login. Default
	// 30 minutes.
	IdleTimeout time.Duration
	// AuthFailDelay is how long a failed login waits before its NO.
	// Default 2 seconds; negative means none.
	AuthFailDelay time.Duration
	// MaxRedirects, when positive, is advertised as the MAXREDIRECTS
	// capability (RFC 5804 §1.7): the number of redirect actions a script
	// may perform. It must agree with the Sieve engine.
	MaxRedirects int
	// Logins slows down and locks out password guessing (shared with the
	// other protocols); nil limits nothing.
	Logins *limits.Logins
	// MaxPreAuthCommands is how many commands a connection may send
	// before logging in; the next one gets BYE. 0 is unlimited.
	MaxPreAuthCommands int
}

const (
	defaultMaxScriptSize  = 1 << 20
	defaultPreAuthTimeout = time.Minute
	defaultIdleTimeout    = 30 * time.Minute
	defaultAuthFailDelay  = 2 * time.Second
	// writeTimeout bounds each flush of responses to the client.
	writeTimeout = time.Minute
	// maxBadCommands is the number of unknown or malformed commands after
	// which the connection ends with BYE.
	maxBadCommands = 10
	// maxAuthFailures is the number of failed logins after which the
	// connection ends with BYE.
	maxAuthFailures = 3
	// implementation is the IMPLEMENTATION capability (RFC 5804 §1.7).
	implementation = "mailroom"
)

// ErrServerClosed is returned by Serve once Shutdown has been called.
var ErrServerClosed = server.ErrServerClosed

// Server is a ManageSieve server. Create it with New.
type Server struct {
	backend Backend
	opts    Options
	log     *slog.Logger
	// core accepts and tracks the connections; each has a *conn.
	core *server.Server
}

// New returns a server for backend. It does not listen; call Serve.
func New(backend Backend, opts Options) *Server {
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxScriptSize <= 0 {
		opts.MaxScriptSize = defaultMaxScriptSize
	}
	if opts.PreAuthTimeout <= 0 {
		opts.PreAuthTimeout = defaultPreAuthTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = defaultIdleTimeout
	}
	if opts.AuthFailDelay == 0 {
		opts.AuthFailDelay = defaultAuthFailDelay
	}
	s := &Server{
		backend: backend,
		opts:    opts,
		log:     opts.Logger.With("component", "managesieve"),
	}
	s.core = server.New(server.Config{
		Logger:     s.log,
		NewSession: func(c *server.Conn) server.Session { return newConn(s, c) },
	})
	return s
}

// Serve accepts connections on l and serves each in its own goroutine. l
// must yield plain connections (TLS comes with STARTTLS). After Shutdown,
// Serve returns ErrServerClosed once Shutdown has returned; it returns
// other errors from l.Accept, except temporary ones (out of file
// descriptors…), which are retried.
func (s *Server) Serve(l net.Listener) error { return s.core.Serve(l) }

// Shutdown stops accepting connections and ends every connection with
// BYE: at once if it waits for a command, after the response otherwise. A
// command whose data is still arriving is cut short. It returns nil once
// every connection has ended. If ctx ends first, it closes every
// connection at once, cancels the contexts passed to the Backend and
// returns ctx.Err() soon after.
func (s *Server) Shutdown(ctx context.Context) error { return s.core.Shutdown(ctx) }

// EndAccount ends the sessions of a deleted account (their Scripts are
// AccountScripts) with BYE.
func (s *Server) EndAccount(accountID int64) {
	for _, cs := range s.core.Sessions() {
		if c := cs.(*conn); c.account.Load() == accountID {
			c.gone.Store(true)
			c.interrupt()
		}
	}
}

// authenticate checks credentials with the Backend under Options.Logins.
// A locked-out attempt fails like a wrong password (ErrAuthFailed).
func (s *Server) authenticate(ctx context.Context, remote net.Addr, user, pass string) (Scripts, error) {
	return limits.Authenticate(ctx, s.opts.Logins, remote, user, ErrAuthFailed, func() (Scripts, error) {
		return s.backend.Authenticate(ctx, user, pass)
	})
}
