package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	mrsasl "mailroom/internal/sasl"
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
		if resp, err = base64.StdEncoding.DecodeString(args[1].s); err != nil {
			c.writeResponse(no("", "Invalid base64 in SASL response"))
			return
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			c.authFailed(err)
			return
		}
		if done {
			c.loggedIn(scripts, challenge)
			return
		}
		// A server challenge is a string followed by CRLF.
		c.out = appendString(c.out, base64.StdEncoding.EncodeToString(challenge))
		c.out = append(c.out, "\r\n"...)
		if c.flush() != nil {
			return
		}
		c.setReadDeadline()
		t, err := c.p.readSASLResponse()
		if err != nil {
			var se syntaxError
			if errors.As(err, &se) {
				c.writeResponse(no("", "Syntax error in SASL response: "+string(se)))
				return
			}
			c.readFailed(err)
			c.quit = true
			return
		}
		if t.s == "*" {
			c.writeResponse(no("", "Authentication aborted"))
			return
		}
		if t.tooBig {
			c.writeResponse(no("", "SASL data too long"))
			return
		}
		if resp, err = base64.StdEncoding.DecodeString(t.s); err != nil {
			c.writeResponse(no("", "Invalid base64 in SASL response"))
			return
		}
	}
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
	// under TLS. Only the octets already buffered are in question; any
	// later ones are read by the handshake and make it fail.
	tc := tls.Server(c.raw, c.srv.opts.TLSConfig)
	deadline := time.Now().Add(c.srv.opts.PreAuthTimeout)
	tc.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(c.ctx, deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		c.log.Info("TLS handshake failed", "err", err)
		c.quit = true
		return
	}
	tc.SetDeadline(time.Time{})
	c.nc = tc
	c.isTLS = true
	c.br = bufio.NewReader(tc)
	c.bw = bufio.NewWriter(tc)
	c.p.r = c.br
	st := tc.ConnectionState()
	c.log.Info("TLS started", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
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
	c.log = c.srv.log.With("conn", c.id, "remote", c.remote)
	c.ok("Logged out")
}
