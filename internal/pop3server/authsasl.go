package pop3server

import (
	"encoding/base64"
	"errors"

	"mailroom/internal/directory"
	"mailroom/internal/sasl"
	"mailroom/internal/server"
	"mailroom/internal/store"
)

// SCRAMAuthenticator is implemented by an Authenticator that also keeps
// SCRAM-SHA-256 keys (server.SCRAMKeyer); its error for an unknown user
// wraps directory.ErrAuthFailed.
type SCRAMAuthenticator = server.SCRAMKeyer[*store.Account]

// connError is a read error during an exchange: it ends the connection
// as it would between commands.
type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }

// errSASLCancelled is a client's "*" (RFC 5034 §4).
var errSASLCancelled = badf("authentication cancelled")

func (c *conn) scramAuthenticator() SCRAMAuthenticator {
	a, _ := c.srv.auth.(SCRAMAuthenticator)
	return a
}

// channelBindings returns the channel binding data of the connection's
// TLS layer (implicit or after STLS); zero without TLS.
func (c *conn) channelBindings() sasl.ChannelBindings {
	return c.sc.ChannelBindings(c.tlsConn, c.srv.opts.TLSConfig)
}

// saslMechanisms lists the mechanisms AUTH takes on this connection:
// PLAIN and LOGIN where a password may be sent, SCRAM (which sends none)
// everywhere, -PLUS under TLS.
func (c *conn) saslMechanisms() []string {
	scram := c.scramAuthenticator() != nil
	plus := scram && c.tls && c.channelBindings().Available()
	return sasl.Mechanisms(c.plaintext, scram, plus)
}

// authSASL runs AUTH (RFC 5034 §4) for LOGIN and SCRAM-SHA-256(-PLUS);
// mech is upper case.
func (c *conn) authSASL(mech, initial string, hasInitial bool) error {
	// RFC 5034 §4: "=" is an empty initial response.
	resp, err := server.InitialResponse(initial, hasInitial)
	if err != nil {
		return badf("invalid base64")
	}
	switch mech {
	case sasl.Login:
		if !c.plaintext {
			return errPlaintext
		}
		l := sasl.NewLoginServer()
		if _, err := server.Exchange(l.Next, resp, c.saslChallenge, true); err != nil {
			return c.saslFailed(err, l.Username, mech)
		}
		return c.login(l.Username, l.Password)
	case sasl.SCRAMSHA256, sasl.SCRAMSHA256Plus:
		return c.authSCRAM(mech, resp)
	}
	return badf("unsupported authentication mechanism")
}

// authSCRAM runs SCRAM-SHA-256 or SCRAM-SHA-256-PLUS (RFC 5802, RFC
// 7677).
func (c *conn) authSCRAM(mech string, resp []byte) error {
	auth := c.scramAuthenticator()
	plus := mech == sasl.SCRAMSHA256Plus
	var cb sasl.ChannelBindings
	if c.tls {
		cb = c.channelBindings()
	}
	if auth == nil || plus && !cb.Available() {
		return badf("unsupported authentication mechanism")
	}
	// The proof is checked under Options.Logins like a password.
	sc := server.NewSCRAM(c.sc, c.srv.opts.Logins, plus, cb, directory.ErrAuthFailed, auth.SCRAMKeys)
	// RFC 4422 §4 3c: the server-final-message goes in a last challenge,
	// answered with an empty response, since POP3 has no additional data
	// with success (RFC 5034 §4).
	if _, err := server.Exchange(sc.Next, resp, c.saslChallenge, true); err != nil {
		return c.saslFailed(err, sc.Server.Username(), mech)
	}
	return c.loggedIn(sc.Found)
}

// saslChallenge sends "+ " and the base64 challenge (RFC 5034 §4) and
// returns the decoded response.
func (c *conn) saslChallenge(ch []byte) ([]byte, error) {
	c.bw.WriteString("+ " + base64.StdEncoding.EncodeToString(ch) + "\r\n")
	line, err := c.readLine(maxSASLLineLength)
	if c.debug && err == nil {
		c.log.Debug("C: <redacted>")
	}
	switch {
	case err == errLineTooLong:
		return nil, badf("line too long")
	case err != nil:
		return nil, &connError{err}
	case line == "*":
		// RFC 5034 §4: "*" cancels, answered with -ERR.
		return nil, errSASLCancelled
	}
	return server.DecodeResponse(line)
}

// saslFailed turns the error of an exchange into the reply.
func (c *conn) saslFailed(err error, user, mech string) error {
	var re *respError
	switch {
	case errors.As(err, &re):
		return err
	case errors.Is(err, server.ErrInvalidBase64), errors.Is(err, server.ErrNotEmpty):
		return badf("%v", err)
	case errors.Is(err, sasl.ErrAuthFailed):
		c.log.Debug("sasl", "mech", mech, "err", err)
		return c.loginFailed(user)
	case errors.Is(err, sasl.ErrAuthzDenied):
		return badf("cannot act as another user")
	case errors.Is(err, sasl.ErrMalformed):
		return badf("invalid %s message", mech)
	}
	var ce *connError
	if errors.As(err, &ce) {
		return ce.err // the connection failed or is closing: end it
	}
	c.log.Error("authenticate", "mech", mech, "user", user, "err", err)
	// RFC 3206 §4.
	return errorf("SYS/TEMP", "authentication is unavailable, try again later")
}
