// Package imapserver serves mailboxes over IMAP4rev1 (RFC 3501) and
// IMAP4rev2 (RFC 9051) on top of internal/store, with the wire syntax of
// internal/imapwire. Each command family lives in its own file (fetch.go,
// search.go, idle.go…), with the RFC sections cited at the code.
//
// Invariants:
//   - A session's view of its selected mailbox (sequence numbers, flags,
//     MODSEQs) changes only in sync (selected.go), which runs between
//     commands and during IDLE. EXPUNGE responses are never sent while a
//     FETCH, STORE or SEARCH by sequence number runs (RFC 9051 §7.5.1); the
//     view catches up at the next command that allows them.
//   - Other sessions' changes are learned from the live mailbox
//     (store.LiveMailbox): its log of committed changes, asked for what
//     came after the view's MODSEQ, so a slow client never holds up a
//     writer and never misses a change; a command where nothing changed
//     reads no SQL. The store's Watch channel only wakes IDLE sessions.
//   - A message stays readable (FETCH, SEARCH, flags) until the session has
//     been told it was expunged; the view's pin (store.Pin) keeps its body.
//     A selected mailbox deleted elsewhere, or the account deleted, ends
//     the session with BYE.
//   - No socket I/O happens while holding a lock. The state shared between
//     sessions is the live state (store.Live), the \Recent claim table and
//     the connection set (internal/server), each behind its own mutex.
//   - Every store call takes the session's context, cancelled when the
//     connection closes or the server shuts down.
//   - Errors become responses in one place (respond in conn.go): *Error maps
//     to its status and response code, anything else to NO [SERVERBUG] plus
//     one log line with the connection id.
package imapserver

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"mailroom/internal/directory"
	"mailroom/internal/limits"
	"mailroom/internal/server"
	"mailroom/internal/store"
)

// Authenticator checks credentials; *directory.Directory is one. It returns
// an error wrapping ErrAuthFailed (or any error for which IsAuthFailed
// reports true) for bad credentials.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (*store.Account, error)
}

// Limits and timeouts.
const (
	// PreAuthTimeout bounds the wait for each command before login.
	PreAuthTimeout = 60 * time.Second
	// IdleTimeout is the autologout timer of an authenticated session: RFC
	// 9051 §5.4 asks for at least 30 minutes.
	IdleTimeout = 30 * time.Minute
	// WriteTimeout bounds each write to the client.
	WriteTimeout = 5 * time.Minute
	// MaxBadCommands is how many syntax errors in a row end a session.
	MaxBadCommands = 20
	// MaxAppendMessages bounds the messages of one MULTIAPPEND (RFC 3502).
	MaxAppendMessages = 1000
	// goodbyeTimeout bounds the BYE write at shutdown.
	goodbyeTimeout = 2 * time.Second
)

// Options configure a Server. Zero values pick defaults.
type Options struct {
	Hostname string
	Logger   *slog.Logger
	// MaxMessageSize is the largest message APPEND takes (APPENDLIMIT,
	// RFC 7889). Default 50 MiB.
	MaxMessageSize int64
	// TLSConfig enables STARTTLS (RFC 9051 §6.2.1); nil turns it off.
	// Implicit TLS (RFC 8314) needs no option: Serve a tls.NewListener.
	TLSConfig *tls.Config
	// AllowPlaintext reports whether a client at this address may send a
	// password without TLS. Nil allows everyone. When it returns false,
	// the session announces LOGINDISABLED and no AUTH=PLAIN, and LOGIN and
	// AUTHENTICATE PLAIN answer NO [PRIVACYREQUIRED] (RFC 9051 §6.2.3).
	AllowPlaintext func(remote net.Addr) bool
	// AuthFailDelay is the pause before answering a failed login. Default 1s.
	AuthFailDelay time.Duration
	// PreAuthTimeout and IdleTimeout override the constants (tests).
	PreAuthTimeout, IdleTimeout time.Duration
	// PollInterval is how often an IDLE session checks the store besides its
	// Watch wake-ups (a safety net). Default 1s... the store's own poller
	// already covers other processes, so the default is 30s.
	PollInterval time.Duration
	// Logins slows down and locks out password guessing (shared with the
	// other protocols); nil limits nothing.
	Logins *limits.Logins
	// MaxPreAuthCommands is how many commands a connection may send
	// before logging in; the next one gets BYE. 0 is unlimited.
	MaxPreAuthCommands int
	// MaxMailboxes bounds the mailboxes of an account: CREATE and RENAME
	// that would make more answer NO [LIMIT]. 0 is unlimited.
	MaxMailboxes int
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = server.ErrServerClosed

// Server is an IMAP server. Create it with New.
type Server struct {
	st   store.Store
	auth Authenticator
	opts Options
	log  *slog.Logger
	// core accepts and tracks the connections; each has a *session.
	core *server.Server

	envelopes envelopeCache

	recentMu sync.Mutex
	recent   map[int64]uint32 // mailbox id → highest UID this process has claimed \Recent for
}

// New returns a server for st.
func New(st store.Store, auth Authenticator, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 50 << 20
	}
	if opts.AuthFailDelay == 0 {
		opts.AuthFailDelay = time.Second
	}
	if opts.PreAuthTimeout <= 0 {
		opts.PreAuthTimeout = PreAuthTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = IdleTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 30 * time.Second
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	s := &Server{
		st: st, auth: auth, opts: opts, log: opts.Logger,
		recent: map[int64]uint32{},
	}
	s.core = server.New(server.Config{
		Logger:     opts.Logger,
		NewSession: func(c *server.Conn) server.Session { return s.newSession(c) },
	})
	return s
}

// Serve accepts connections on l until Shutdown. It always returns a
// non-nil error: ErrServerClosed after Shutdown. Connections that are a
// *tls.Conn (from a tls.NewListener) are under TLS from the start (RFC
// 8314): the handshake runs in the session before the greeting.
func (s *Server) Serve(l net.Listener) error { return s.core.Serve(l) }

// Shutdown stops accepting, tells every session goodbye (BYE: at once when
// it waits for a command, else after its command) and waits for them to
// end. When ctx ends first, it cancels every session's context, closes
// every connection and returns ctx.Err() soon after.
func (s *Server) Shutdown(ctx context.Context) error { return s.core.Shutdown(ctx) }

// authenticate checks credentials under Options.Logins. A locked-out
// attempt fails like a wrong password (directory.ErrAuthFailed).
func (s *Server) authenticate(ctx context.Context, remote net.Addr, user, pass string) (*store.Account, error) {
	return limits.Authenticate(ctx, s.opts.Logins, remote, user, directory.ErrAuthFailed, func() (*store.Account, error) {
		return s.auth.Authenticate(ctx, user, pass)
	})
}

// EndAccount ends every session of a deleted account with a BYE; nothing
// of the account is reachable to them afterwards (its rows are gone, and
// its ids are never handed out again).
func (s *Server) EndAccount(accountID int64) {
	for _, cs := range s.core.Sessions() {
		sess := cs.(*session)
		sess.mu.Lock()
		mine := sess.accountID == accountID
		sess.mu.Unlock()
		if mine {
			sess.end("account deleted")
		}
	}
}

// claimRecent gives \Recent (RFC 3501 §2.3.2) to a session that SELECTs a
// mailbox: the UIDs up to uidMax that no session has claimed; it returns
// the first UID claimed (0 when none). The claim is made in the store, so
// mail that arrived while no session had the mailbox selected is recent to
// the next one, after a restart too. recent remembers how far this
// process's sessions have claimed (claimNoticed), which the store may not
// know yet.
func (s *Server) claimRecent(ctx context.Context, accountID, mailboxID int64, uidMax uint32) (uint32, error) {
	first, err := s.st.ClaimRecent(ctx, accountID, mailboxID, uidMax)
	if err != nil {
		return 0, err
	}
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	if first > 0 && first <= s.recent[mailboxID] {
		first = s.recent[mailboxID] + 1 // taken here already, not yet stored
	}
	if first > uidMax {
		first = 0
	}
	if s.recent[mailboxID] < uidMax {
		s.recent[mailboxID] = uidMax
	}
	return first, nil
}

// firstRecent is the lowest UID of a mailbox that no session has claimed
// \Recent, from what the store says (stored) and what this process's
// sessions have claimed but not stored yet.
func (s *Server) firstRecent(mailboxID int64, stored uint32) uint32 {
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	return max(stored, s.recent[mailboxID]+1)
}

// claimNoticed gives \Recent for mail a session notices while it has the
// mailbox selected: the UIDs up to uidMax that no session of this process
// has taken. It does not write: the session stores how far it claimed when
// it leaves the mailbox (selected.noticed), so that new mail costs no
// extra write per session. A crash before then makes those messages recent
// once more to the next SELECT, which RFC 3501 allows.
func (s *Server) claimNoticed(mailboxID int64, uidMax uint32) uint32 {
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	last := s.recent[mailboxID]
	if uidMax <= last {
		return 0
	}
	s.recent[mailboxID] = uidMax
	return last + 1
}
