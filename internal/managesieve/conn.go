package managesieve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"mailroom/internal/server"
)

// conn is one client connection and its session state. Only its own
// goroutine (Serve) touches it, except for Shutdown, interrupt and the
// closing of raw by the server core when Shutdown runs out of time.
type conn struct {
	srv    *Server
	sc     *server.Conn // the connection as the server core tracks it
	raw    net.Conn     // the accepted connection
	nc     net.Conn     // raw, or the *tls.Conn over it after STARTTLS
	br     *bufio.Reader
	bw     *bufio.Writer
	p      parser
	opened time.Time
	log    *slog.Logger
	ctx    context.Context // cancelled when the connection ends
	// stopping is set by Shutdown.
	stopping atomic.Bool

	isTLS   bool
	scripts Scripts // nil before login (RFC 5804 non-authenticated state)
	// account is the logged-in account's id (AccountScripts), for
	// Server.EndAccount; gone is set when that account was deleted.
	account      atomic.Int64
	gone         atomic.Bool
	user         string
	badCommands  int
	authFailures int
	mech         string // of the login under way, for the log
	commands     int
	preAuth      server.PreAuthLimit // commands before login (Options.MaxPreAuthCommands)
	quit         bool                // end the connection after this command's response
	out          []byte
}

func newConn(s *Server, sc *server.Conn) *conn {
	nc := sc.NetConn()
	c := &conn{
		srv:     s,
		sc:      sc,
		raw:     nc,
		nc:      nc,
		opened:  time.Now(),
		log:     sc.Logger(),
		ctx:     sc.Context(),
		preAuth: server.PreAuthLimit{Max: s.opts.MaxPreAuthCommands},
	}
	c.br = bufio.NewReader(nc)
	c.bw = bufio.NewWriter(nc)
	c.p = parser{r: c.br, scriptLimit: MaxStringLength}
	return c
}

// Shutdown asks the connection to end with BYE (Server.Shutdown).
func (c *conn) Shutdown() {
	c.stopping.Store(true)
	c.interrupt()
}

// interrupt wakes the connection's goroutine from a read, for Shutdown
// and EndAccount, which have already set their flag: Serve sets its read
// deadline before checking the flags, so either it sees the flag or this
// deadline ends its read.
func (c *conn) interrupt() {
	c.raw.SetReadDeadline(time.Now())
}

// Serve runs the session. A panic is recovered by the server core, after
// close ran.
func (c *conn) Serve() {
	defer c.close()
	c.log.Info("connection opened")

	// RFC 5804 §1.7: the server greets with its capabilities and OK.
	c.writeCapabilities()
	c.writeResponse(response{status: "OK", text: c.srv.opts.Hostname + " ManageSieve ready"})
	if c.flush() != nil {
		return
	}
	for !c.quit {
		if !c.waitForCommand() {
			return
		}
		cmd, err := c.p.readCommand()
		if err != nil {
			if !c.readFailed(err) {
				return
			}
		} else if c.tooManyPreAuth() {
			c.log.Info("closing connection", "reason", "too many commands before login")
			c.bye("", "Too many commands before login")
		} else {
			c.commands++
			c.dispatch(cmd)
		}
		if c.flush() != nil {
			return
		}
	}
}

// tooManyPreAuth counts a command before login and reports whether it is
// one more than Options.MaxPreAuthCommands.
func (c *conn) tooManyPreAuth() bool {
	return c.scripts == nil && c.preAuth.Exceeded()
}

// waitForCommand sets the read deadline for the next command. It returns
// false, having said BYE, when the server is shutting down.
func (c *conn) waitForCommand() bool {
	c.setReadDeadline()
	if c.stopping.Load() {
		c.bye("", "Server shutting down")
		return false
	}
	if c.gone.Load() {
		c.bye("", "Account deleted")
		return false
	}
	return true
}

func (c *conn) setReadDeadline() {
	d := c.srv.opts.PreAuthTimeout
	if c.scripts != nil {
		d = c.srv.opts.IdleTimeout
	}
	c.nc.SetReadDeadline(time.Now().Add(d))
}

// readFailed handles an error from reading a command or SASL response. It
// returns true when the connection goes on (a syntax error, answered with
// NO), false when it ends.
func (c *conn) readFailed(err error) bool {
	var se syntaxError
	var fe *fatalError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		c.writeResponse(no("", "Syntax error: "+string(se)))
		return c.badCommand()
	case errors.As(err, &fe):
		c.log.Info("closing connection", "reason", fe.text)
		c.bye(fe.code, fe.text)
	case c.stopping.Load():
		c.bye("", "Server shutting down")
	case c.gone.Load():
		c.bye("", "Account deleted")
	case errors.As(err, &ne) && ne.Timeout():
		c.log.Info("closing connection", "reason", "timeout")
		c.bye("", "Timeout, closing connection")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
	default:
		c.log.Debug("read failed", "err", err)
	}
	return false
}

// badCommand counts an unknown or malformed command. It returns false,
// having said BYE, when there have been too many.
func (c *conn) badCommand() bool {
	c.badCommands++
	if c.badCommands >= maxBadCommands {
		c.log.Info("closing connection", "reason", "too many bad commands")
		c.bye("", "Too many bad commands")
		return false
	}
	return true
}

// bye queues a BYE response (RFC 5804 §1.3) and ends the session after it
// is flushed.
func (c *conn) bye(code, text string) {
	c.writeResponse(response{status: "BYE", code: code, text: text})
	c.quit = true
}

func (c *conn) close() {
	c.flush()
	c.nc.Close() // the server core closes raw and cancels ctx
	c.log.Info("connection closed", "duration", time.Since(c.opened).Round(time.Millisecond).String(), "commands", c.commands)
}

// flush sends the queued responses.
func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.bw.Write(c.out)
	if err == nil {
		err = c.bw.Flush()
	}
	c.out = c.out[:0]
	if err != nil {
		c.quit = true
		c.log.Debug("write failed", "err", err)
	}
	return err
}

func (c *conn) writeResponse(r response) {
	c.out = appendResponse(c.out, r)
}

func (c *conn) ok(text string) { c.writeResponse(response{status: "OK", text: text}) }

// fail answers NO for err, mapped by toResponse; internal errors are
// logged.
func (c *conn) fail(cmd string, err error) {
	r, internal := toResponse(err)
	if internal {
		c.log.Error("backend error", "command", cmd, "err", err)
	}
	c.writeResponse(r)
}

// writeCapabilities queues the capability lines (RFC 5804 §1.7), without
// the OK that ends them.
func (c *conn) writeCapabilities() {
	line := func(name string, value ...string) {
		c.out = appendString(c.out, name)
		for _, v := range value {
			c.out = append(c.out, ' ')
			c.out = appendString(c.out, v)
		}
		c.out = append(c.out, "\r\n"...)
	}
	line("IMPLEMENTATION", implementation)
	line("SASL", strings.Join(c.saslMechanisms(), " "))
	line("SIEVE", strings.Join(c.srv.backend.Extensions(), " "))
	// STARTTLS is not offered once TLS is in use (RFC 5804 §1.7) nor after
	// login, where the command is not allowed (§4 command-nonauth).
	if c.srv.opts.TLSConfig != nil && !c.isTLS && c.scripts == nil {
		line("STARTTLS")
	}
	if c.srv.opts.MaxRedirects > 0 {
		line("MAXREDIRECTS", fmt.Sprint(c.srv.opts.MaxRedirects))
	}
	// OWNER only in the authenticated state (RFC 5804 §1.7).
	if c.scripts != nil {
		line("OWNER", c.user)
	}
	line("UNAUTHENTICATE") // RFC 5804 §2.14.
	line("VERSION", "1.0")
}

// handler runs one command. args have been checked against the command's
// minArgs and maxArgs.
type handler struct {
	// state is where the command is allowed: anyState, nonAuthState or
	// authState (RFC 5804 §4 command-any, command-nonauth, command-auth).
	state            int
	minArgs, maxArgs int
	run              func(c *conn, args []token)
}

const (
	anyState = iota
	nonAuthState
	authState
)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"CAPABILITY":     {anyState, 0, 0, (*conn).cmdCapability},
		"LOGOUT":         {anyState, 0, 0, (*conn).cmdLogout},
		"NOOP":           {anyState, 0, 1, (*conn).cmdNoop},
		"AUTHENTICATE":   {nonAuthState, 1, 2, (*conn).cmdAuthenticate},
		"STARTTLS":       {nonAuthState, 0, 0, (*conn).cmdStartTLS},
		"UNAUTHENTICATE": {authState, 0, 0, (*conn).cmdUnauthenticate},
		"HAVESPACE":      {authState, 2, 2, (*conn).cmdHaveSpace},
		"PUTSCRIPT":      {authState, 2, 2, (*conn).cmdPutScript},
		"CHECKSCRIPT":    {authState, 1, 1, (*conn).cmdCheckScript},
		"LISTSCRIPTS":    {authState, 0, 0, (*conn).cmdListScripts},
		"SETACTIVE":      {authState, 1, 1, (*conn).cmdSetActive},
		"GETSCRIPT":      {authState, 1, 1, (*conn).cmdGetScript},
		"DELETESCRIPT":   {authState, 1, 1, (*conn).cmdDeleteScript},
		"RENAMESCRIPT":   {authState, 2, 2, (*conn).cmdRenameScript},
	}
}

func (c *conn) dispatch(cmd *command) {
	c.trace(cmd)
	h, ok := handlers[cmd.name]
	if !ok {
		c.writeResponse(no("", "Unknown command"))
		c.badCommand()
		return
	}
	switch {
	case h.state == authState && c.scripts == nil:
		c.writeResponse(no("", "Log in first"))
		return
	case h.state == nonAuthState && c.scripts != nil:
		c.writeResponse(no("", "Already logged in"))
		return
	}
	if len(cmd.args) < h.minArgs || len(cmd.args) > h.maxArgs {
		c.writeResponse(no("", "Wrong number of arguments"))
		c.badCommand()
		return
	}
	// Every argument but HAVESPACE's number is a string (RFC 5804 §4).
	for i, a := range cmd.args {
		if !a.isString && !(cmd.name == "HAVESPACE" && i == 1) {
			c.writeResponse(no("", "Arguments must be quoted strings or literals"))
			c.badCommand()
			return
		}
	}
	h.run(c, cmd.args)
}

// maxLoggedArg is the longest argument trace logs as it is; a longer one
// is logged as its length (a 64 KiB literal is no help in a log line).
const maxLoggedArg = 256

// trace logs a command at debug level without passwords or scripts.
func (c *conn) trace(cmd *command) {
	if !c.log.Enabled(c.ctx, slog.LevelDebug) {
		return
	}
	var b strings.Builder
	b.WriteString(cmd.name)
	for i, a := range cmd.args {
		b.WriteByte(' ')
		switch {
		case cmd.name == "AUTHENTICATE" && i > 0:
			b.WriteString("<redacted>")
		case cmd.name == "PUTSCRIPT" && i == 1, cmd.name == "CHECKSCRIPT":
			fmt.Fprintf(&b, "<script, %d octets>", len(a.s))
		case a.tooBig:
			b.WriteString("<literal too big>")
		case len(a.s) > maxLoggedArg:
			fmt.Fprintf(&b, "<%d octets>", len(a.s))
		case a.isString:
			b.Write(appendString(nil, a.s))
		default:
			b.WriteString(a.s)
		}
	}
	c.log.Debug("command", "line", b.String())
}

// RFC 5804 §2.4.
func (c *conn) cmdCapability([]token) {
	c.writeCapabilities()
	c.ok("")
}

// RFC 5804 §2.3.
func (c *conn) cmdLogout([]token) {
	c.ok("Logout completed")
	c.quit = true
}

// RFC 5804 §2.13: the optional string comes back in a TAG response code.
func (c *conn) cmdNoop(args []token) {
	if len(args) == 0 {
		c.ok("Done")
		return
	}
	if args[0].tooBig {
		c.writeResponse(no("", "Tag too long"))
		return
	}
	c.writeResponse(response{status: "OK", code: codeWithString("TAG", args[0].s), text: "Done"})
}
