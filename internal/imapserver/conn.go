package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"mailroom/internal/imapwire"
	"mailroom/internal/server"
	"mailroom/internal/store"
)

type state int

const (
	stateNotAuth state = iota
	stateAuth
	stateSelected
	stateLogout
)

// session is one client connection.
type session struct {
	srv *Server
	// conn is the accepted connection (a *tls.Conn on an implicit TLS
	// listener); it stays the same after STARTTLS, so that other
	// goroutines may set its deadlines and close it.
	conn net.Conn
	c    *server.Conn // conn as the server core tracks it
	log  *slog.Logger
	// ctx is cancelled when the connection closes, and when Shutdown
	// runs out of time.
	ctx context.Context
	br  *bufio.Reader
	bw  *bufio.Writer
	dec *imapwire.Decoder
	enc *imapwire.Encoder

	state   state
	acct    *store.Account
	tls     bool      // under TLS: implicit (RFC 8314) or after STARTTLS
	tlsConn *tls.Conn // the TLS layer over conn after STARTTLS

	// Enabled extensions (RFC 5161 ENABLE, or implicitly by use).
	rev2      bool // IMAP4rev2
	utf8      bool // UTF8=ACCEPT (RFC 9755), implied by rev2
	condstore bool // RFC 7162 §3.1
	qresync   bool // RFC 7162 §3.2

	sel *selected
	// searchRes is the saved search result (RFC 5182), as UIDs.
	searchRes []uint32
	// prefetched holds the bodies of the FETCH batch being answered, by
	// blob id, until fetchSource.open takes them (fetchMessages).
	prefetched map[string]store.Body

	bad        int                 // syntax errors in a row
	preAuth    server.PreAuthLimit // commands before login (Options.MaxPreAuthCommands)
	compressed bool                // COMPRESS=DEFLATE is on (RFC 4978)

	closeOnce sync.Once
	mu        sync.Mutex // guards endReason and accountID
	endReason string     // set when the session must end: told in BYE
	accountID int64      // of acct, for Server.EndAccount
	idling    bool
}

// command is the command being run.
type command struct {
	tag  string
	name string // upper case, without "UID "
	uid  bool   // the UID form (RFC 9051 §6.4.9)
}

func (s *Server) newSession(c *server.Conn) *session {
	nc := c.NetConn()
	sess := &session{
		srv: s, conn: nc, c: c, ctx: c.Context(), log: c.Logger(),
		preAuth: server.PreAuthLimit{Max: s.opts.MaxPreAuthCommands},
	}
	_, sess.tls = nc.(*tls.Conn)
	sess.setStream(nc)
	return sess
}

// setStream makes rw what commands are read from and responses written to:
// the connection, or the TLS layer over it after STARTTLS.
func (s *session) setStream(rw io.ReadWriter) {
	s.br = bufio.NewReaderSize(rw, 4096)
	s.bw = bufio.NewWriterSize(rw, 4096)
	s.dec = imapwire.NewDecoder(s.br, imapwire.DecoderOptions{Continue: s.continueLiteral})
	s.enc = imapwire.NewEncoder(s.bw)
}

func (s *session) continueLiteral() error {
	s.enc.Raw("+ Ready for literal data").CRLF()
	return s.flush()
}

func (s *session) flush() error {
	s.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
	return s.enc.Flush()
}

// Shutdown is called by Server.Shutdown: an idle session gets a BYE at
// once; a busy one ends after its current command.
func (s *session) Shutdown() { s.end("server shutting down") }

// end makes the session say BYE with reason and close: at once when it
// waits for a command or in IDLE, else after its current command.
func (s *session) end(reason string) {
	s.mu.Lock()
	if s.endReason == "" {
		s.endReason = reason
	}
	s.mu.Unlock()
	// Unblock a read waiting for the next command; Serve sees endReason.
	s.conn.SetReadDeadline(time.Now())
}

func (s *session) isShuttingDown() bool { return s.ending() != "" }

// ending returns why the session must end, or "".
func (s *session) ending() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endReason
}

func (s *session) close() {
	s.closeOnce.Do(func() {
		if s.tlsConn != nil {
			s.tlsConn.Close() // sends close_notify, closes conn
		} else {
			s.conn.Close()
		}
	})
}

// Serve runs the session until LOGOUT, an error, a timeout or Shutdown.
// A panic is recovered by the server core, after these defers ran.
func (s *session) Serve() {
	defer s.close()
	defer s.closeSelected()
	s.log.Debug("imap connection", "tls", s.tls)
	if tc, ok := s.conn.(*tls.Conn); ok && !s.c.Handshake(tc, s.srv.opts.PreAuthTimeout) {
		return
	}
	s.enc.Star().Atom("OK [CAPABILITY ").Raw(s.capabilities()).Raw("] mailroom ready").CRLF()
	if s.flush() != nil {
		return
	}
	for s.state != stateLogout {
		if r := s.ending(); r != "" {
			s.goodbye(r)
			return
		}
		timeout := s.srv.opts.PreAuthTimeout
		if s.state != stateNotAuth {
			timeout = s.srv.opts.IdleTimeout
		}
		s.conn.SetReadDeadline(time.Now().Add(timeout))
		if s.isShuttingDown() {
			s.conn.SetReadDeadline(time.Now())
		}
		if _, err := s.br.Peek(1); err != nil {
			var ne net.Error
			switch {
			case s.isShuttingDown():
				s.goodbye(s.ending())
			case errors.As(err, &ne) && ne.Timeout():
				s.goodbye("autologout: idle for too long")
			}
			return
		}
		if s.state == stateNotAuth && s.preAuth.Exceeded() {
			s.log.Info("imap: too many commands before login")
			s.goodbye("too many commands before login")
			return
		}
		if !s.readCommand() {
			return
		}
		if s.enc.Err() != nil {
			return
		}
		// Flush only when the client has nothing more pipelined.
		if !s.dec.Buffered() || s.state == stateLogout {
			if s.flush() != nil {
				return
			}
		}
	}
}

func (s *session) goodbye(text string) {
	s.goodbyeNoFlush(text)
	s.enc.Flush()
}

// goodbyeNoFlush queues a BYE before the tagged reply of the current
// command (the session then ends).
func (s *session) goodbyeNoFlush(text string) {
	s.conn.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
	s.enc.Star().Atom("BYE ").Raw(text).CRLF()
}

// readCommand reads and runs one command; false ends the session.
func (s *session) readCommand() bool {
	s.dec.Reset()
	tag, ok := s.dec.Token("a tag", isTagChar)
	if !ok {
		return s.syntaxError("*", s.dec.Err())
	}
	if !s.dec.SP() {
		return s.syntaxError(tag, s.dec.Err())
	}
	name, ok := s.dec.Atom()
	if !ok {
		return s.syntaxError(tag, s.dec.Err())
	}
	cmd := &command{tag: tag, name: strings.ToUpper(name)}
	if cmd.name == "UID" {
		cmd.uid = true
		if !s.dec.SP() {
			return s.syntaxError(tag, s.dec.Err())
		}
		if name, ok = s.dec.Atom(); !ok {
			return s.syntaxError(tag, s.dec.Err())
		}
		cmd.name = strings.ToUpper(name)
	}
	h, ok := handlers[cmd.name]
	if !ok || (cmd.uid && !h.uid) {
		s.dec.DiscardLine()
		if s.dec.Err() != nil && imapwire.IsFatal(s.dec.Err()) {
			return false
		}
		return s.badCommand(tag, "unknown command "+sanitize(name))
	}
	if !h.states[s.state] {
		s.dec.DiscardLine()
		return s.respondBad(cmd, fmt.Sprintf("%s is not allowed %s", cmd.name, s.stateName()))
	}
	s.log.Debug("imap command", "tag", tag, "cmd", cmd.name, "uid", cmd.uid)
	if s.sel != nil && h.mutates {
		s.sel.own()
	}
	err := h.fn(s, cmd)
	var perr *parseError
	if errors.As(err, &perr) || (err == nil && s.dec.Err() != nil) {
		derr := s.dec.Err()
		if derr == nil {
			derr = perr.err
		}
		return s.syntaxError(tag, derr)
	}
	s.bad = 0
	if s.state == stateLogout {
		s.respond(cmd, err)
		return true
	}
	// Untagged updates for the selected mailbox before the tagged reply
	// (RFC 9051 §7.5.1 for when expunges may be sent).
	if s.sel != nil && !h.noSync {
		s.sync(!h.noExpunge || cmd.uid)
	}
	s.respond(cmd, err)
	return true
}

func (s *session) stateName() string {
	switch s.state {
	case stateNotAuth:
		return "before login"
	case stateAuth:
		return "without a selected mailbox"
	case stateSelected:
		return "with a mailbox selected"
	}
	return "now"
}

// isTagChar: tag = 1*<any ASTRING-CHAR except "+">.
func isTagChar(b byte) bool { return b != '+' && imapwire.IsAStringChar(b) }

func sanitize(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
}

// syntaxError answers BAD, skips the rest of the command and counts it.
func (s *session) syntaxError(tag string, err error) bool {
	if err == nil {
		err = errors.New("syntax error")
	}
	if imapwire.IsFatal(err) {
		var we *imapwire.Error
		if errors.As(err, &we) {
			s.goodbye(we.Msg)
		}
		return false
	}
	msg := err.Error()
	if !s.dec.DiscardLine() {
		s.goodbye(msg)
		return false
	}
	return s.badCommand(tag, msg)
}

func (s *session) badCommand(tag, msg string) bool {
	s.bad++
	s.enc.Raw(tag).Raw(" BAD ").Raw(sanitizeText(msg)).CRLF()
	if s.bad >= MaxBadCommands {
		s.goodbye("too many bad commands")
		return false
	}
	return true
}

func sanitizeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Error is a command's failure (or an OK with a response code). Status is
// "NO", "BAD" or "OK"; Code is a response code without brackets.
type Error struct {
	Status string
	Code   string
	Text   string
}

func (e *Error) Error() string { return e.Status + " " + e.Text }

func no(code, format string, args ...any) *Error {
	return &Error{Status: "NO", Code: code, Text: fmt.Sprintf(format, args...)}
}

func badArg(format string, args ...any) *Error {
	return &Error{Status: "BAD", Text: fmt.Sprintf(format, args...)}
}

func okCode(code, text string) *Error { return &Error{Status: "OK", Code: code, Text: text} }

// parseError marks a syntax error found by a handler: BAD, and the rest of
// the line is skipped.
type parseError struct{ err error }

func (e *parseError) Error() string { return e.err.Error() }

// syntaxErr is a parseError with a message of the handler's.
func syntaxErr(msg string) error { return &parseError{&imapwire.Error{Msg: msg}} }

// syntax returns the decoder's error as a parseError.
func (s *session) syntax() error {
	err := s.dec.Err()
	if err == nil {
		err = &imapwire.Error{Msg: "syntax error"}
	}
	return &parseError{err}
}

// endLine checks the end of the command line.
func (s *session) endLine() error {
	if !s.dec.CRLF() {
		return s.syntax()
	}
	return nil
}

// errAlreadyAnswered: the handler wrote its tagged response itself.
var errAlreadyAnswered = errors.New("answered")

// respond writes the tagged response for err.
func (s *session) respond(cmd *command, err error) {
	if err == errAlreadyAnswered {
		return
	}
	status, code, text := "OK", "", cmd.name+" completed"
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &e):
		status, code = e.Status, e.Code
		if e.Text != "" {
			text = e.Text
		}
	case errors.Is(err, context.Canceled):
		status, text = "NO", "cancelled"
	default:
		status, code, text = storeError(err)
		if code == "SERVERBUG" {
			s.log.Error("imap command failed", "cmd", cmd.name, "err", err)
		}
	}
	s.enc.Raw(cmd.tag).SP().Atom(status).SP()
	if code != "" {
		s.enc.Special('[').Raw(code).Raw("] ")
	}
	s.enc.Raw(sanitizeText(text)).CRLF()
}

func (s *session) respondBad(cmd *command, text string) bool {
	return s.badCommand(cmd.tag, text)
}

// storeError maps store errors to a response (RFC 5530 codes).
func storeError(err error) (status, code, text string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "NO", "NONEXISTENT", "no such mailbox"
	case errors.Is(err, store.ErrExists):
		return "NO", "ALREADYEXISTS", "mailbox already exists"
	case errors.Is(err, store.ErrOverQuota):
		return "NO", "OVERQUOTA", "mailbox is full"
	case errors.Is(err, store.ErrInvalidName):
		return "NO", "CANNOT", "invalid mailbox name"
	case errors.Is(err, store.ErrMailboxInUse), errors.Is(err, store.ErrNotPermitted):
		return "NO", "CANNOT", err.Error()
	case errors.Is(err, store.ErrBodyMissing):
		return "NO", "UNAVAILABLE", "message body is missing"
	case errors.Is(err, store.ErrClosed):
		return "NO", "UNAVAILABLE", "server shutting down"
	case errors.Is(err, store.ErrKeywordLimit):
		return "NO", "LIMIT", err.Error()
	case store.NoSpace(err):
		// RFC 5530 UNAVAILABLE: a temporary failure; nothing was stored.
		return "NO", "UNAVAILABLE", "server disk full, try again later"
	}
	return "NO", "SERVERBUG", "internal error"
}

// handler describes one command.
type handler struct {
	fn     func(s *session, cmd *command) error
	states map[state]bool
	uid    bool // has a UID form
	// noExpunge: EXPUNGE responses may not be sent after the non-UID form
	// (FETCH, STORE, SEARCH: RFC 9051 §7.5.1).
	noExpunge bool
	// noSync: the handler does its own updates (SELECT, IDLE, NOOP…).
	noSync bool
	// mutates: the handler may change s.sel.msgs in place.
	mutates bool
}

var (
	anyState      = map[state]bool{stateNotAuth: true, stateAuth: true, stateSelected: true}
	notAuthState  = map[state]bool{stateNotAuth: true}
	authState     = map[state]bool{stateAuth: true, stateSelected: true}
	selectedState = map[state]bool{stateSelected: true}
)

// handlers is filled by each command family's init.
var handlers = map[string]handler{}

func register(name string, h handler) {
	if _, dup := handlers[name]; dup {
		panic("imapserver: command registered twice: " + name)
	}
	handlers[name] = h
}

// readAll drains r (a literal the handler will not use).
func readAll(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func asParseError(err error, target **parseError) bool { return errors.As(err, target) }
