package managesieve

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/emersion/go-sasl"

	mrsasl "mailroom/internal/sasl"
	"mailroom/internal/server"
)

// SCRAMBackend is implemented by a Backend that also keeps SCRAM-SHA-256
// keys (server.SCRAMKeyer); its error for an unknown user wraps
// ErrAuthFailed, and its other errors are answered with NO (TRYLATER)
// and logged.
type SCRAMBackend = server.SCRAMKeyer[Scripts]

func (c *conn) scramBackend() SCRAMBackend {
	b, _ := c.srv.backend.(SCRAMBackend)
	return b
}

// channelBindings returns the channel binding data of the connection's
// TLS layer; zero without TLS.
func (c *conn) channelBindings() mrsasl.ChannelBindings {
	tc, ok := c.nc.(*tls.Conn)
	if !ok || !c.isTLS {
		return mrsasl.ChannelBindings{}
	}
	return c.sc.ChannelBindings(tc, c.srv.opts.TLSConfig)
}

// saslMechanisms is the SASL capability (RFC 5804 §1.7), in the order
// offered. PLAIN and LOGIN are listed even where the client must use
// STARTTLS first (cmdAuthenticate answers ENCRYPT-NEEDED); SCRAM sends no
// password and needs no TLS; -PLUS exists only under TLS.
func (c *conn) saslMechanisms() []string {
	scram := c.scramBackend() != nil
	plus := scram && c.isTLS && c.channelBindings().Available()
	return mrsasl.Mechanisms(true, scram, plus)
}

// saslError maps the errors of package sasl to this package's.
func saslError(err error) error {
	switch {
	case errors.Is(err, mrsasl.ErrAuthFailed):
		return fmt.Errorf("%w: %v", ErrAuthFailed, err)
	case errors.Is(err, mrsasl.ErrAuthzDenied):
		return errAuthzDenied
	}
	return err // ErrMalformed reads "sasl: …": answered as a malformed message
}

// serverFunc adapts a function to sasl.Server.
type serverFunc func([]byte) ([]byte, bool, error)

func (f serverFunc) Next(resp []byte) ([]byte, bool, error) { return f(resp) }

// newLoginServer runs LOGIN (draft-murchison-sasl-login) and checks the
// password as PLAIN does.
func (c *conn) newLoginServer(scripts *Scripts) sasl.Server {
	l := mrsasl.NewLoginServer()
	return serverFunc(func(resp []byte) ([]byte, bool, error) {
		ch, done, err := l.Next(resp)
		if err != nil || !done {
			return ch, done, saslError(err)
		}
		s, err := c.srv.authenticate(c.ctx, c.raw.RemoteAddr(), l.Username, l.Password)
		if err != nil {
			return nil, false, err
		}
		if s == nil {
			return nil, false, errors.New("managesieve: backend returned no scripts and no error")
		}
		*scripts = s
		return nil, true, nil
	})
}

// newSCRAMServer runs SCRAM-SHA-256 or SCRAM-SHA-256-PLUS (RFC 5802, RFC
// 7677); nil when not offered on this connection.
func (c *conn) newSCRAMServer(mech string, scripts *Scripts) sasl.Server {
	b := c.scramBackend()
	plus := mech == mrsasl.SCRAMSHA256Plus
	cb := c.channelBindings()
	if b == nil || plus && !cb.Available() {
		return nil
	}
	sc := server.NewSCRAM(c.sc, c.srv.opts.Logins, plus, cb, ErrAuthFailed, b.SCRAMKeys)
	return serverFunc(func(resp []byte) ([]byte, bool, error) {
		proof := sc.Server.AwaitingProof()
		ch, done, err := sc.Next(resp)
		if err != nil || !proof {
			return ch, done, saslError(err)
		}
		if sc.Found == nil {
			return nil, false, errors.New("managesieve: backend returned no scripts and no error")
		}
		// RFC 5804 §2.1: the server-final-message goes with the OK
		// (resp-code-sasl).
		*scripts = sc.Found
		return ch, done, nil
	})
}
