package managesieve

import (
	"bufio"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	mrsasl "mailroom/internal/sasl"
	"mailroom/internal/server"
)

// errAuthzDenied is a PLAIN authorization identity other than the user's
// own: mailroom has no proxy authorization.
var errAuthzDenied = errors.New("managesieve: authorization identity differs from authentication identity")

// newSASLServer returns the server side of a mechanism named in
// saslMechanisms (upper case), which on success sets *scripts. LOGIN and
// SCRAM-SHA-256(-PLUS) are in authsasl.go.
func (c *conn) newSASLServer(mech string, scripts *Scripts) sasl.Server {
	switch mech {
	case mrsasl.Login:
		return c.newLoginServer(scripts)
	case mrsasl.SCRAMSHA256, mrsasl.SCRAMSHA256Plus:
		return c.newSCRAMServer(mech, scripts)
	case sasl.Plain:
		// RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd.
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return errAuthzDenied
			}
			s, err := c.srv.authenticate(c.ctx, c.raw.RemoteAddr(), username, password)
			if err != nil {
				return err
			}
			if s == nil {
				return errors.New("managesieve: backend returned no scripts and no error")
			}
			*scripts = s
			return nil
		})
	}
	return nil
}

// cmdAuthenticate runs a SASL exchange (RFC 5804 §2.1): AUTHENTICATE
// mechanism [initial-response]; server challenges and client responses
// are base64 in strings, one per line; a client response of "*" aborts.
func (c *conn) cmdAuthenticate(args []token) {
	if args[0].tooBig || (len(args) > 1 && args[1].tooBig) {
		c.writeResponse(no("", "SASL data too long"))
		return
	}
	mech := strings.ToUpper(args[0].s)
	c.mech = mech
	var scripts Scripts
	srv := c.newSASLServer(mech, &scripts)
	if srv == nil {
		c.writeResponse(no("", "Unsupported SASL mechanism"))
		return
	}
	// RFC 5804 §2.1.1: PLAIN (and LOGIN) is meant to run under TLS;
	// ENCRYPT-NEEDED (§1.3) tells the client to use STARTTLS first.
	if (mech == sasl.Plain || mech == mrsasl.Login) && !c.isTLS && c.srv.opts.AllowPlaintext != nil && !c.srv.opts.AllowPlaintext(c.raw.RemoteAddr()) {
		c.writeResponse(no(codeEncryptNeeded, "Use STARTTLS before logging in with a password"))
		return
	}

	var resp []byte // nil: no initial response
	if len(args) > 1 {
		var err error
		if resp, err = server.DecodeResponse(args[1].s); err != nil {
			c.writeResponse(no("", "Invalid base64 in SASL response"))
			return
		}
	}
	// RFC 5804 §2.1: additional data with success goes with the OK.
	final, err := server.Exchange(srv.Next, resp, c.saslChallenge, false)
	switch {
	case errors.Is(err, errAnswered):
	case err != nil:
		c.authFailed(err)
	default:
		c.loggedIn(scripts, final)
	}
}

// errAnswered ends an exchange whose response saslChallenge has queued.
var errAnswered = errors.New("managesieve: answered")

// saslChallenge sends a server challenge, a string followed by CRLF, and
// returns the client's response; a client response of "*" aborts. Any
// error is errAnswered: the response to AUTHENTICATE is queued, or the
// connection is ending.
func (c *conn) saslChallenge(challenge []byte) ([]byte, error) {
	c.out = appendString(c.out, base64.StdEncoding.EncodeToString(challenge))
	c.out = append(c.out, "\r\n"...)
	if c.flush() != nil {
		return nil, errAnswered
	}
	c.setReadDeadline()
	t, err := c.p.readSASLResponse()
	if err != nil {
		var se syntaxError
		if errors.As(err, &se) {
			c.writeResponse(no("", "Syntax error in SASL response: "+string(se)))
			return nil, errAnswered
		}
		c.readFailed(err)
		c.quit = true
		return nil, errAnswered
	}
	if t.s == "*" {
		c.writeResponse(no("", "Authentication aborted"))
		return nil, errAnswered
	}
	if t.tooBig {
		c.writeResponse(no("", "SASL data too long"))
		return nil, errAnswered
	}
	resp, err := server.DecodeResponse(t.s)
	if err != nil {
		c.writeResponse(no("", "Invalid base64 in SASL response"))
		return nil, errAnswered
	}
	return resp, nil
}

func (c *conn) loggedIn(scripts Scripts, final []byte) {
	c.scripts = scripts
	if a, ok := scripts.(AccountScripts); ok {
		c.account.Store(a.AccountID())
	}
	c.user = scripts.Owner()
	c.p.scriptLimit = c.srv.opts.MaxScriptSize
	c.log = c.log.With("user", c.user)
	c.log.Info("logged in", "mech", c.mech, "tls", c.isTLS)
	r := response{status: "OK", text: "Logged in"}
	if len(final) > 0 {
		// Additional data with success (RFC 5804 §2.1, resp-code-sasl).
		r.code = codeWithString("SASL", base64.StdEncoding.EncodeToString(final))
	}
	c.writeResponse(r)
}

// authFailed answers a failed exchange, after Options.AuthFailDelay for
// bad credentials, and ends the connection after maxAuthFailures.
func (c *conn) authFailed(err error) {
	r, internal := toResponse(err)
	switch {
	case errors.Is(err, errAuthzDenied):
		r, internal = no("", "Authorization identity not allowed"), false
	case internal && strings.HasPrefix(err.Error(), "sasl: "):
		// go-sasl's own errors: a malformed message.
		r, internal = no("", "Malformed SASL message"), false
	}
	if internal {
		c.log.Error("backend error", "command", "AUTHENTICATE", "err", err)
		c.writeResponse(r)
		return
	}
	c.authFailures++
	c.log.Info("login failed", "mech", c.mech, "err", err, "failures", c.authFailures)
	if d := c.srv.opts.AuthFailDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
		}
	}
	c.writeResponse(r)
	if c.authFailures >= maxAuthFailures {
		c.bye("", "Too many failed logins")
	}
}

// cmdStartTLS upgrades the connection (RFC 5804 §2.2).
func (c *conn) cmdStartTLS([]token) {
	if c.srv.opts.TLSConfig == nil {
		c.writeResponse(no("", "STARTTLS is not available"))
		return
	}
	if c.isTLS {
		c.writeResponse(no("", "TLS is already in use"))
		return
	}
	c.ok("Begin TLS negotiation now")
	if c.flush() != nil {
		return
	}
	// Whatever the client sent after STARTTLS and before the handshake is
	// dropped: it was sent in the clear and must not be taken as commands
	// under TLS.
	tc := c.sc.StartTLS(c.srv.opts.TLSConfig, c.br.Buffered(), c.srv.opts.PreAuthTimeout)
	if tc == nil {
		c.quit = true
		return
	}
	c.nc = tc
	c.isTLS = true
	c.br = bufio.NewReader(tc)
	c.bw = bufio.NewWriter(tc)
	c.p.r = c.br
	c.log.Info("TLS started")
	// "After the TLS layer is established, the server MUST re-issue the
	// capability results, followed by an OK response." (§2.2)
	c.writeCapabilities()
	c.ok("TLS started")
}

// cmdUnauthenticate returns to the non-authenticated state (RFC 5804
// §2.14). TLS stays.
func (c *conn) cmdUnauthenticate([]token) {
	c.log.Info("logged out")
	c.scripts = nil
	c.user = ""
	c.p.scriptLimit = MaxStringLength
	c.log = c.sc.Logger()
	c.ok("Logged out")
}
