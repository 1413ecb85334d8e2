package pop3server

import (
	"bufio"
	"bytes"
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

	"mailroom/internal/server"
	"mailroom/internal/store"
)

// Limits on what a client may send.
const (
	// maxLineLength bounds a command line, CRLF included. RFC 2449 §4
	// limits commands to 255 octets; longer lines get -ERR and are
	// discarded, so a sloppy client is told rather than cut off.
	maxLineLength = 1024
	// maxSASLLineLength bounds an AUTH command line and a SASL response
	// line: base64 makes PLAIN credentials a third longer, and a password
	// may be up to 1024 octets (directory.MaxPasswordLen).
	maxSASLLineLength = 4096
	// maxBadCommands is how many bad commands in a row (unknown, out of
	// state, bad arguments, too long) end the connection.
	maxBadCommands = 20
	// maxAuthFailures is how many failed logins end the connection.
	maxAuthFailures = 3
	// readBufferSize and writeBufferSize size the connection's buffers;
	// the write buffer is what RETR streams through.
	readBufferSize  = 4 << 10
	writeBufferSize = 32 << 10
)

// state is the session state of RFC 1939 §3.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate
)

func (s state) String() string {
	switch s {
	case stateAuthorization:
		return "AUTHORIZATION"
	case stateTransaction:
		return "TRANSACTION"
	}
	return "UPDATE"
}

// respError is a -ERR reply. Handlers return it; Serve writes it.
type respError struct {
	Code string // RFC 2449 §8 response code without brackets ("AUTH", "SYS/TEMP"…); "" for none
	Text string
	// Bad marks a client mistake (unknown command, wrong state, bad
	// argument) that counts towards maxBadCommands.
	Bad bool
}

func (e *respError) Error() string {
	if e.Code == "" {
		return e.Text
	}
	return "[" + e.Code + "] " + e.Text
}

// badf returns an Error for a client mistake.
func badf(format string, args ...any) *respError {
	return &respError{Text: fmt.Sprintf(format, args...), Bad: true}
}

// errorf returns an Error that is not the client's mistake.
func errorf(code, format string, args ...any) *respError {
	return &respError{Code: code, Text: fmt.Sprintf(format, args...)}
}

var (
	// errClose ends the connection after the reply that came before it.
	errClose = errors.New("close connection")
	// errStopping ends the connection with the shutdown goodbye.
	errStopping = errors.New("server shutting down")
	// errTimeout ends the connection silently (RFC 1939 §3).
	errTimeout = errors.New("timeout")
	// errLineTooLong is a line over the limit, discarded.
	errLineTooLong = errors.New("line too long")
)

// conn is one client connection and its POP3 session.
type conn struct {
	srv       *Server
	sc        *server.Conn // nc as the server core tracks it
	nc        net.Conn
	opened    time.Time
	log       *slog.Logger
	debug     bool            // log the command trace
	ctx       context.Context // cancelled when the connection closes
	br        *bufio.Reader
	bw        *bufio.Writer
	w         deadlineWriter
	plaintext bool      // USER/PASS and AUTH PLAIN allowed
	tls       bool      // under TLS: implicit (RFC 8314) or after STLS
	tlsConn   *tls.Conn // the TLS layer over nc after STLS

	// Session state, touched only by the session goroutine.
	state        state
	user         string // from USER, waiting for PASS; "" when none
	authFailures int
	mech         string // of the login under way ("USER", "PLAIN"…), for the log
	badCommands  int
	preAuth      server.PreAuthLimit // commands in AUTHORIZATION state (Options.MaxPreAuthCommands)
	account      *store.Account
	drop         *maildrop
	retrieved    int // RETR commands that sent a message

	mu        sync.Mutex
	busy      bool  // running a command (not waiting for a line)
	stopping  bool  // Shutdown (or the account's deletion) asked the session to end
	deleted   bool  // the account was deleted
	accountID int64 // of account, for Server.EndAccount
}

func newConn(s *Server, sc *server.Conn) *conn {
	nc := sc.NetConn()
	c := &conn{
		srv:     s,
		sc:      sc,
		nc:      nc,
		opened:  time.Now(),
		busy:    true,
		log:     sc.Logger(),
		ctx:     sc.Context(),
		preAuth: server.PreAuthLimit{Max: s.opts.MaxPreAuthCommands},
	}
	c.debug = c.log.Enabled(context.Background(), slog.LevelDebug)
	c.br = bufio.NewReaderSize(nc, readBufferSize)
	c.w = deadlineWriter{nc: nc, timeout: writeTimeout}
	c.bw = bufio.NewWriterSize(&c.w, writeBufferSize)
	_, c.tls = nc.(*tls.Conn)
	c.plaintext = c.tls || s.plaintextAllowed(nc.RemoteAddr())
	return c
}

// deadlineWriter renews the write deadline before each write, so that a
// long RETR is bounded per write, not as a whole.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.nc.Write(p)
}

// Serve runs the session until QUIT, an error, a timeout or Shutdown. A
// panic is recovered by the server core, after close ran.
func (c *conn) Serve() {
	defer c.close()
	if tc, ok := c.nc.(*tls.Conn); ok && !c.sc.Handshake(tc, handshakeTimeout) {
		return
	}
	c.log.Info("connection opened", "tls", c.tls)
	// RFC 1939 §4: the greeting. No APOP timestamp: APOP is not offered.
	c.writeLine("+OK " + c.srv.opts.Hostname + " POP3 server ready")
	for {
		// AUTH lines may be longer; dispatch holds other commands to
		// maxLineLength.
		line, err := c.readLine(maxSASLLineLength)
		switch {
		case err == errLineTooLong:
			err = badf("line too long")
		case err != nil:
			c.end(err)
			return
		case c.tooManyPreAuth():
			c.writeLine("-ERR too many commands before login, closing connection")
			c.log.Info("too many commands before login")
			c.end(errClose)
			return
		default:
			err = c.dispatch(line)
		}
		if err != nil && !c.reply(err) {
			return
		}
	}
}

// tooManyPreAuth counts a command in AUTHORIZATION state and reports
// whether it is one more than Options.MaxPreAuthCommands.
func (c *conn) tooManyPreAuth() bool {
	return c.state == stateAuthorization && c.preAuth.Exceeded()
}

// reply answers a failed command with -ERR (or ends the connection, for
// the sentinel errors) and reports whether the session goes on.
func (c *conn) reply(err error) bool {
	var e *respError
	switch {
	case errors.As(err, &e):
	case errors.Is(err, errClose), errors.Is(err, errStopping), errors.Is(err, errTimeout), isNetError(err):
		c.end(err)
		return false
	default:
		// An unexpected error: say little to the client, log it once.
		c.log.Error("command failed", "state", c.state.String(), "err", err)
		e = errorf("SYS/TEMP", "internal error, try again later")
	}
	c.writeLine("-ERR " + e.Error())
	if e.Bad {
		c.badCommands++
		if c.badCommands >= maxBadCommands {
			c.writeLine("-ERR too many bad commands, closing connection")
			c.log.Info("too many bad commands")
			c.end(errClose)
			return false
		}
	}
	return true
}

// end finishes the connection for the reason err. A session in
// TRANSACTION state does not enter UPDATE: nothing is deleted.
func (c *conn) end(err error) {
	switch {
	case errors.Is(err, errStopping):
		c.w.timeout = goodbyeTimeout
		c.mu.Lock()
		deleted := c.deleted
		c.mu.Unlock()
		if deleted {
			c.writeLine("-ERR [SYS/PERM] account deleted")
		} else {
			c.writeLine("-ERR [SYS/TEMP] server shutting down")
		}
		c.bw.Flush()
	case errors.Is(err, errTimeout):
		// RFC 1939 §3: close without a reply and without removing messages.
		c.log.Info("autologout timer expired", "state", c.state.String())
	case errors.Is(err, errClose):
		c.bw.Flush()
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		c.log.Info("connection error", "err", err)
	}
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}

// close ends the session (marking \Seen what RETR sent, without UPDATE)
// and closes the connection.
func (c *conn) close() {
	if c.state == stateTransaction {
		c.finishSession(false)
		c.drop.pin.Release()
	}
	if c.tlsConn != nil {
		c.tlsConn.Close() // sends close_notify, closes nc
	} else {
		c.nc.Close()
	}
	// The server core cancels ctx.
	c.log.Info("connection closed", "duration", time.Since(c.opened).Round(time.Millisecond).String(), "retrieved", c.retrieved)
}

// Shutdown asks the session to end (Server.Shutdown).
func (c *conn) Shutdown() { c.stop() }

// stop asks the session to end (Shutdown, EndAccount). A session waiting
// for a line is woken by an expired read deadline; a busy one ends after
// its command.
func (c *conn) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	if !c.busy {
		c.nc.SetReadDeadline(time.Now())
	}
}

// readLine flushes pending replies when no further command is buffered
// (RFC 2449 §6.6 PIPELINING: replies to a batch go out together), then
// reads one line of at most limit octets, without its line end. A line over
// the limit is read to its end and discarded (errLineTooLong).
func (c *conn) readLine(limit int) (string, error) {
	if c.br.Buffered() == 0 {
		if err := c.bw.Flush(); err != nil {
			return "", err
		}
	}
	timeout := c.srv.opts.AuthTimeout
	if c.state != stateAuthorization {
		timeout = c.srv.opts.IdleTimeout
	}
	// The deadline is set under mu so that it cannot undo the expired
	// deadline with which stop wakes an idle session.
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return "", errStopping
	}
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	c.busy = false
	c.mu.Unlock()

	var line []byte
	tooLong := false
	var err error
	for {
		var frag []byte
		frag, err = c.br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > limit {
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if err != bufio.ErrBufferFull {
			break
		}
	}

	c.mu.Lock()
	c.busy = true
	stopping := c.stopping
	c.mu.Unlock()
	switch {
	case stopping:
		return "", errStopping
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", errTimeout
		}
		return "", err
	case tooLong:
		return "", errLineTooLong
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
	return string(line), nil
}

// writeLine buffers one reply line and its CRLF.
func (c *conn) writeLine(s string) {
	if c.debug {
		c.log.Debug("S: " + s)
	}
	c.bw.WriteString(s)
	c.bw.WriteString("\r\n")
}

// ok buffers a +OK reply: the command succeeded, so the count of bad
// commands starts again.
func (c *conn) ok(format string, args ...any) {
	c.badCommands = 0
	if len(args) > 0 {
		format = fmt.Sprintf(format, args...)
	}
	if format == "" {
		c.writeLine("+OK")
		return
	}
	c.writeLine("+OK " + format)
}

// endMultiline ends a multi-line reply (RFC 1939 §3).
func (c *conn) endMultiline() {
	c.bw.WriteString(".\r\n")
}

// command is one POP3 command: the states it is valid in and its handler.
type command struct {
	auth, trans bool
	run         func(c *conn, args string) error
}

// commands by keyword. RFC 1939 §3: keywords are case-insensitive.
var commands = map[string]command{
	// RFC 1939 §4, §7, RFC 2449 §5, RFC 5034 §4
	"USER": {auth: true, run: (*conn).cmdUser},
	"PASS": {auth: true, run: (*conn).cmdPass},
	"AUTH": {auth: true, run: (*conn).cmdAuth},
	"CAPA": {auth: true, trans: true, run: (*conn).cmdCapa},
	"QUIT": {auth: true, trans: true, run: (*conn).cmdQuit},
	// STLS (RFC 2595 §4) is added by stls.go.

	// RFC 1939 §5, §7
	"STAT": {trans: true, run: (*conn).cmdStat},
	"LIST": {trans: true, run: (*conn).cmdList},
	"RETR": {trans: true, run: (*conn).cmdRetr},
	"DELE": {trans: true, run: (*conn).cmdDele},
	"NOOP": {trans: true, run: (*conn).cmdNoop},
	"RSET": {trans: true, run: (*conn).cmdRset},
	"TOP":  {trans: true, run: (*conn).cmdTop},
	"UIDL": {trans: true, run: (*conn).cmdUidl},
}

// dispatch runs one command line.
func (c *conn) dispatch(line string) error {
	keyword, args, _ := strings.Cut(line, " ")
	keyword = strings.ToUpper(keyword)
	if c.debug {
		c.log.Debug("C: " + redact(keyword, line))
	}
	if len(line) > maxLineLength-2 && keyword != "AUTH" {
		return badf("line too long")
	}
	cmd, ok := commands[keyword]
	if !ok {
		return badf("unknown command")
	}
	if (c.state == stateAuthorization && !cmd.auth) || (c.state == stateTransaction && !cmd.trans) {
		return badf("command not valid in %s state", c.state)
	}
	// RFC 1939 §7: USER is to be followed by PASS; anything else
	// forgets the name.
	if keyword != "PASS" {
		c.user = ""
	}
	return cmd.run(c, args)
}

// redact hides credentials in the command trace.
func redact(keyword, line string) string {
	switch keyword {
	case "PASS":
		return "PASS <redacted>"
	case "AUTH":
		if f := strings.Fields(line); len(f) > 2 {
			return "AUTH " + f[1] + " <redacted>"
		}
	}
	return line
}
