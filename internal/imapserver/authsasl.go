package imapserver

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

// writeError is a failed write of a challenge: the connection is gone.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// errSASLCancelled is a client's "*" (RFC 9051 §6.2.2).
var errSASLCancelled = errors.New("authentication cancelled")

func (s *session) scramAuthenticator() SCRAMAuthenticator {
	a, _ := s.srv.auth.(SCRAMAuthenticator)
	return a
}

// channelBindings returns the channel binding data of the session's TLS
// layer (implicit or after STARTTLS); zero without TLS.
func (s *session) channelBindings() sasl.ChannelBindings {
	return s.c.ChannelBindings(s.tlsConn, s.srv.opts.TLSConfig)
}

// saslMechanisms lists the mechanisms AUTHENTICATE takes on this
// connection now.
func (s *session) saslMechanisms() []string {
	scram := s.scramAuthenticator() != nil
	plus := scram && s.tls && s.channelBindings().Available()
	return sasl.Mechanisms(s.plaintextAllowed(), scram, plus)
}

// authenticateSASL runs AUTHENTICATE for the mechanisms other than PLAIN
// (RFC 9051 §6.2.2): mech is upper case; ir is the initial response
// (RFC 4959 SASL-IR) when haveIR, "=" for an empty one.
func (s *session) authenticateSASL(mech, ir string, haveIR bool) error {
	resp, err := server.InitialResponse(ir, haveIR)
	if err != nil {
		return badArg("invalid base64")
	}
	switch mech {
	case sasl.Login:
		if !s.plaintextAllowed() {
			return no("PRIVACYREQUIRED", "use TLS before sending a password")
		}
		l := sasl.NewLoginServer()
		if _, err := server.Exchange(l.Next, resp, s.saslChallenge, true); err != nil {
			return s.saslFailed(err, l.Username, mech)
		}
		return s.login(l.Username, l.Password, mech)
	case sasl.SCRAMSHA256, sasl.SCRAMSHA256Plus:
		return s.authenticateSCRAM(mech, resp)
	}
	return no("CANNOT", "unsupported authentication mechanism")
}

// authenticateSCRAM runs SCRAM-SHA-256 or SCRAM-SHA-256-PLUS (RFC 5802,
// RFC 7677). No password crosses the wire, so it needs no TLS;
// -PLUS binds to the TLS channel and exists only there.
func (s *session) authenticateSCRAM(mech string, resp []byte) error {
	auth := s.scramAuthenticator()
	plus := mech == sasl.SCRAMSHA256Plus
	var cb sasl.ChannelBindings
	if s.tls {
		cb = s.channelBindings()
	}
	if auth == nil || plus && !cb.Available() {
		return no("CANNOT", "unsupported authentication mechanism")
	}
	sc := server.NewSCRAM(s.c, s.srv.opts.Logins, plus, cb, directory.ErrAuthFailed, auth.SCRAMKeys)
	// RFC 4422 §4 3c: IMAP has no additional data with success, so the
	// server-final-message goes in a continuation and the client answers
	// with an empty response (RFC 9051 §6.2.2).
	if _, err := server.Exchange(sc.Next, resp, s.saslChallenge, true); err != nil {
		return s.saslFailed(err, sc.Server.Username(), mech)
	}
	return s.loggedIn(sc.Found, mech)
}

// saslChallenge sends a challenge as a continuation request ("+ " and
// base64, RFC 9051 §6.2.2) and returns the decoded response.
func (s *session) saslChallenge(ch []byte) ([]byte, error) {
	s.enc.Raw("+ ").Raw(base64.StdEncoding.EncodeToString(ch)).CRLF()
	if err := s.flush(); err != nil {
		return nil, &writeError{err}
	}
	line, err := s.dec.ReadLine()
	if err != nil {
		return nil, &parseError{err} // too long or I/O: BYE and close
	}
	if line == "*" {
		return nil, errSASLCancelled
	}
	return server.DecodeResponse(line)
}

// saslFailed turns the error of an exchange into the tagged response.
func (s *session) saslFailed(err error, user, mech string) error {
	var ie *Error
	var pe *parseError
	var we *writeError
	switch {
	case errors.As(err, &ie), errors.As(err, &pe):
		return err
	case errors.As(err, &we):
		return we.err
	case errors.Is(err, server.ErrInvalidBase64), errors.Is(err, server.ErrNotEmpty):
		return badArg("%v", err)
	case errors.Is(err, errSASLCancelled):
		return badArg("authentication cancelled")
	case errors.Is(err, sasl.ErrAuthFailed):
		s.log.Debug("imap sasl", "err", err)
		return s.loginFailed(user, mech)
	case errors.Is(err, sasl.ErrAuthzDenied):
		return no("AUTHORIZATIONFAILED", "cannot act as another user")
	case errors.Is(err, sasl.ErrMalformed):
		return badArg("invalid %s message", mech)
	}
	s.log.Error("imap login", "mech", mech, "err", err)
	return no("UNAVAILABLE", "authentication is temporarily unavailable")
}
