// Package pop3server implements mailroom's POP3 server: RFC 1939 (USER/PASS,
// STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL, QUIT), RFC 2449 (CAPA and
// extended response codes), RFC 3206 (SYS and AUTH response codes),
// RFC 5034 (AUTH PLAIN), RFC 2595 §4 (STLS, stls.go) and RFC 8314
// (implicit TLS, pop3s). APOP is not offered: it needs the password in the
// clear on the server.
//
// It owns the POP3 wire protocol and the session state machine
// (AUTHORIZATION, TRANSACTION, UPDATE); mail semantics stay in
// internal/store, and the package never runs SQL.
//
// Invariants:
//   - The maildrop is a snapshot taken at login (maildrop.go): message
//     numbers, sizes and UIDLs do not change until the session ends, whatever
//     IMAP or deliveries do to the mailboxes meanwhile.
//   - Nothing is deleted before QUIT in TRANSACTION state (the UPDATE state,
//     RFC 1939 §6). A dropped connection, a timeout or a Shutdown deletes
//     nothing. DELE'd messages are removed with one store call per mailbox
//     (delete = "expunge") or one HidePOP3 call (delete = "hide").
//   - A UIDL is the message's account-wide EmailID in decimal: unique within
//     the account, never reused, kept by Move, so it is stable forever.
//   - RETR and TOP open the body before answering +OK, so a message expunged
//     elsewhere is either sent whole or refused with -ERR; the body is
//     streamed from the store (io.ReaderAt) and never held in memory whole.
//   - Only the session's own goroutine writes to its connection; Shutdown
//     asks it to stop and wakes it by expiring its read deadline. No lock is
//     held while writing to a socket.
//   - With Options.Lock, an account has at most one session in TRANSACTION
//     state in this process; the lock is released only after UPDATE is done,
//     so the next session sees its deletions.
package pop3server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"mailroom/internal/directory"
	"mailroom/internal/limits"
	"mailroom/internal/server"
	"mailroom/internal/store"
)

// Authenticator checks credentials. *directory.Directory satisfies it.
type Authenticator interface {
	// Authenticate is called for PASS (after USER) and for AUTH PLAIN. It
	// returns the account, or an error wrapping directory.ErrAuthFailed
	// for bad credentials; any other error is
	// a temporary failure of the directory, answered -ERR [SYS/TEMP].
	Authenticate(ctx context.Context, username, password string) (*store.Account, error)
}

// Values of Options.Delete and Options.View (the [pop3] settings).
const (
	DeleteExpunge = "expunge"
	DeleteHide    = "hide"
	ViewInbox     = "inbox"
	ViewAll       = "all"
)

// ExpireNever is the Options.Expire value announced as "EXPIRE NEVER".
const ExpireNever = -1

// Options configures a Server. The zero value of a field picks its default,
// except where said otherwise.
type Options struct {
	// Hostname is the server's name in the greeting. Default os.Hostname().
	Hostname string
	// Logger receives a line per connection opened and closed, per login
	// and per UPDATE; the command trace (passwords redacted) is at debug
	// level. Default slog.Default().
	Logger *slog.Logger

	// Delete is what DELE+QUIT does: DeleteExpunge (default, RFC 1939:
	// gone for every client) or DeleteHide (hidden from POP3 only).
	Delete string
	// View is what the maildrop holds: ViewInbox (default) or ViewAll
	// (every mailbox but those whose special use is in ViewExclude, INBOX
	// first, then by name).
	View string
	// ViewExclude lists special uses (`\Trash`, `\Junk`…) left out of
	// ViewAll.
	ViewExclude []string
	// MarkSeen makes RETR (never TOP) add \Seen, at the end of the session.
	MarkSeen bool
	// Lock refuses a second concurrent session of one account with
	// -ERR [IN-USE]. The zero value is off; [pop3] lock defaults to true.
	Lock bool
	// Expire is announced as the EXPIRE capability (RFC 2449 §6.7), in
	// days; ExpireNever (-1) announces NEVER. It is advice only: the server
	// does not delete mail by age. The zero value announces "EXPIRE 0"
	// (clients should not leave mail on the server); [pop3] expire
	// defaults to -1.
	Expire int
	// LoginDelay, in seconds, is announced as LOGIN-DELAY (RFC 2449 §6.8)
	// and enforced between two logins of one account; 0 is off.
	LoginDelay int

	// AuthFailDelay is how long a failed login waits before its -ERR.
	// Default 1s; negative means none.
	AuthFailDelay time.Duration
	// AuthTimeout bounds the wait for each command in AUTHORIZATION state,
	// IdleTimeout in TRANSACTION state; on expiry the connection is closed
	// without a reply and nothing is deleted (RFC 1939 §3). Default 10
	// minutes each, the minimum RFC 1939 §3 asks for.
	AuthTimeout, IdleTimeout time.Duration

	// AllowPlaintext reports whether USER/PASS and AUTH PLAIN may be used
	// on a connection from remote that is not under TLS. nil allows them
	// everywhere. When it returns false, CAPA leaves out USER and SASL.
	AllowPlaintext func(remote net.Addr) bool
	// TLSConfig enables STLS (RFC 2595 §4); nil turns it off. Implicit
	// TLS (RFC 8314) needs no option: Serve a tls.NewListener.
	TLSConfig *tls.Config

	// Logins slows down and locks out password guessing (shared with the
	// other protocols); nil limits nothing.
	Logins *limits.Logins
	// MaxPreAuthCommands is how many commands a connection may send in
	// AUTHORIZATION state; the next one ends it. 0 is unlimited.
	MaxPreAuthCommands int
}

// ErrServerClosed is returned by Serve once Shutdown has been called.
var ErrServerClosed = server.ErrServerClosed

const (
	defaultTimeout       = 10 * time.Minute // RFC 1939 §3: autologout after at least 10 minutes
	defaultAuthFailDelay = time.Second
	// writeTimeout bounds each write to a client; a client that stops
	// reading in the middle of a RETR is dropped after it.
	writeTimeout = 5 * time.Minute
	// goodbyeTimeout bounds the write of the -ERR sent to a connection
	// closed by Shutdown.
	goodbyeTimeout = 2 * time.Second
	// updateTimeout bounds the store calls of UPDATE and of marking
	// messages \Seen at the end of a session, which run even when the
	// connection has gone.
	updateTimeout = 30 * time.Second
)

// Server is a POP3 server. Create it with New.
type Server struct {
	st   store.Store
	auth Authenticator
	opts Options
	log  *slog.Logger
	// viewExclude is Options.ViewExclude as a set.
	viewExclude map[string]bool

	// core accepts and tracks the connections; each has a *conn.
	core *server.Server

	mu        sync.Mutex
	locked    map[int64]bool      // accounts with a session in TRANSACTION (Options.Lock)
	lastLogin map[int64]time.Time // per account, for LoginDelay
}

// New returns a server over st that checks credentials with auth. It does
// not listen; call Serve.
func New(st store.Store, auth Authenticator, opts Options) *Server {
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch opts.Delete {
	case "":
		opts.Delete = DeleteExpunge
	case DeleteExpunge, DeleteHide:
	default:
		// Config validation prevents this; losing no mail is the safe guess.
		opts.Logger.Warn("pop3server: unknown Delete, using hide", "delete", opts.Delete)
		opts.Delete = DeleteHide
	}
	switch opts.View {
	case "":
		opts.View = ViewInbox
	case ViewInbox, ViewAll:
	default:
		opts.Logger.Warn("pop3server: unknown View, using inbox", "view", opts.View)
		opts.View = ViewInbox
	}
	if opts.AuthFailDelay == 0 {
		opts.AuthFailDelay = defaultAuthFailDelay
	}
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = defaultTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = defaultTimeout
	}
	if opts.Expire < ExpireNever {
		opts.Expire = ExpireNever
	}
	if opts.LoginDelay < 0 {
		opts.LoginDelay = 0
	}
	s := &Server{
		st:          st,
		auth:        auth,
		opts:        opts,
		log:         opts.Logger.With("component", "pop3server"),
		viewExclude: make(map[string]bool),
		locked:      make(map[int64]bool),
		lastLogin:   make(map[int64]time.Time),
	}
	for _, u := range opts.ViewExclude {
		s.viewExclude[u] = true
	}
	s.core = server.New(server.Config{
		Logger:     s.log,
		NewSession: func(c *server.Conn) server.Session { return newConn(s, c) },
	})
	return s
}

// Serve accepts connections on l and serves each in its own goroutine. A
// connection that is a *tls.Conn (from a tls.NewListener) is under TLS
// from the start (RFC 8314): its handshake runs before the greeting. After
// Shutdown, Serve returns ErrServerClosed once Shutdown has returned; other
// errors from l.Accept are returned as they come, except temporary ones
// (out of file descriptors…), after which Accept is retried with a growing
// pause.
func (s *Server) Serve(l net.Listener) error { return s.core.Serve(l) }

// Shutdown stops accepting connections and ends every session: a session
// waiting for a command is told -ERR [SYS/TEMP] and closed at once; a
// command in progress (a RETR being sent, an UPDATE being committed) is
// finished first. A session in TRANSACTION state does not enter UPDATE:
// nothing is deleted. Shutdown returns nil once every connection is closed.
// If ctx ends first, it closes every connection at once, cancels store
// calls in progress and returns ctx.Err() soon after.
func (s *Server) Shutdown(ctx context.Context) error { return s.core.Shutdown(ctx) }

// authenticate checks credentials under Options.Logins. A locked-out
// attempt fails like a wrong password (directory.ErrAuthFailed).
func (s *Server) authenticate(ctx context.Context, remote net.Addr, user, pass string) (*store.Account, error) {
	return limits.Authenticate(ctx, s.opts.Logins, remote, user, directory.ErrAuthFailed, func() (*store.Account, error) {
		return s.auth.Authenticate(ctx, user, pass)
	})
}

// loginError is why an authenticated user may not start a session now.
type loginError int

const (
	loginOK loginError = iota
	loginInUse
	loginTooSoon
)

// beginSession takes the account's lock (Options.Lock) and checks the
// login delay (Options.LoginDelay). On loginOK the caller must call
// endSession when the session ends.
func (s *Server) beginSession(accountID int64, now time.Time) loginError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Lock && s.locked[accountID] {
		return loginInUse
	}
	// RFC 2449 §6.8: LOGIN-DELAY is the minimum time between logins.
	if d := time.Duration(s.opts.LoginDelay) * time.Second; d > 0 {
		if last, ok := s.lastLogin[accountID]; ok && now.Sub(last) < d {
			return loginTooSoon
		}
		if len(s.lastLogin) >= maxLoginDelayEntries {
			for id, t := range s.lastLogin {
				if now.Sub(t) >= d {
					delete(s.lastLogin, id)
				}
			}
		}
		s.lastLogin[accountID] = now
	}
	if s.opts.Lock {
		s.locked[accountID] = true
	}
	return loginOK
}

// maxLoginDelayEntries is the size of the login-time table above which
// entries older than the login delay are dropped.
const maxLoginDelayEntries = 4096

// EndAccount ends the sessions of a deleted account: each is told and
// closed, deleting nothing (its rows are already gone).
func (s *Server) EndAccount(accountID int64) {
	for _, cs := range s.core.Sessions() {
		c := cs.(*conn)
		c.mu.Lock()
		mine := c.accountID == accountID
		if mine {
			c.deleted = true
		}
		c.mu.Unlock()
		if mine {
			c.stop()
		}
	}
}

func (s *Server) endSession(accountID int64) {
	if !s.opts.Lock {
		return
	}
	s.mu.Lock()
	delete(s.locked, accountID)
	s.mu.Unlock()
}

// plaintextAllowed reports whether USER/PASS and AUTH PLAIN are allowed on
// a connection from remote without TLS. A connection under TLS (after
// STLS, or on pop3s) always allows them (conn.plaintext).
func (s *Server) plaintextAllowed(remote net.Addr) bool {
	return s.opts.AllowPlaintext == nil || s.opts.AllowPlaintext(remote)
}

// capabilities returns the CAPA lines (RFC 2449 §5) for a session in the
// given state; stls is whether STLS may be used now; mechs are the SASL
// mechanisms AUTH takes now.
func (s *Server) capabilities(authorization, plaintext, stls bool, mechs []string) []string {
	caps := []string{"TOP", "UIDL"}
	// RFC 2449 §6.3 USER; RFC 5034 §3 SASL. Both are login commands,
	// offered only before login.
	if authorization && plaintext {
		caps = append(caps, "USER")
	}
	if authorization && len(mechs) > 0 {
		caps = append(caps, "SASL "+strings.Join(mechs, " "))
	}
	if stls {
		caps = append(caps, "STLS") // RFC 2595 §4
	}
	caps = append(caps, "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING")
	if s.opts.Expire == ExpireNever {
		caps = append(caps, "EXPIRE NEVER")
	} else {
		caps = append(caps, fmt.Sprintf("EXPIRE %d", s.opts.Expire))
	}
	if s.opts.LoginDelay > 0 {
		caps = append(caps, fmt.Sprintf("LOGIN-DELAY %d", s.opts.LoginDelay))
	}
	return append(caps, "IMPLEMENTATION mailroom")
}
