package server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"time"
)

// Handshake runs the TLS handshake of tc, a layer over c, bounded by
// timeout and by c's context, and reports whether it succeeded. A failure
// is logged: at debug level when tc is the accepted connection (an
// implicit TLS listener, RFC 8314, where port scanners and clients
// speaking plain text are routine), at info level after STARTTLS.
func (c *Conn) Handshake(tc *tls.Conn, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	tc.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(c.ctx, deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		if c.nc == tc {
			c.log.Debug("TLS handshake failed", "err", err)
		} else {
			c.log.Info("STARTTLS handshake failed", "err", err)
		}
		return false
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.log.Debug("TLS established", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	return true
}

// StartTLS begins TLS over the accepted connection once the protocol's
// STARTTLS (or STLS) has been answered, and returns the TLS layer, or nil
// when the handshake failed (the session then ends). buffered is how many
// octets the session's reader still holds: the client sent them in the
// clear after the command, where anyone on the path could have put them,
// so they are dropped with that reader and never run as commands under TLS
// (RFC 3207 §4.2 discards pre-TLS knowledge likewise; the command
// injection of CVE-2011-0411). Octets still in flight reach the handshake
// and make it fail.
func (c *Conn) StartTLS(cfg *tls.Config, buffered int, timeout time.Duration) *tls.Conn {
	if buffered > 0 {
		c.log.Info("discarding octets pipelined after STARTTLS", "octets", buffered)
	}
	tc := tls.Server(c.nc, cfg)
	if !c.Handshake(tc, timeout) {
		return nil
	}
	return tc
}

// PreAuthLimit counts the commands a connection sends before logging in.
type PreAuthLimit struct {
	// Max is how many are allowed; 0 is unlimited.
	Max int
	n   int
}

// Exceeded counts one more command before login and reports whether it
// is one more than Max.
func (l *PreAuthLimit) Exceeded() bool {
	if l.Max <= 0 {
		return false
	}
	l.n++
	return l.n > l.Max
}

// SASL errors.
var (
	// ErrInvalidBase64 is a response that is not base64.
	ErrInvalidBase64 = errors.New("invalid base64")
	// ErrNotEmpty is a response other than the empty one that must answer
	// the server-final-message (see Exchange).
	ErrNotEmpty = errors.New("expected an empty response")
)

// InitialResponse decodes a SASL initial response (RFC 4959 SASL-IR, RFC
// 5034 §4, RFC 5804 §2.1): nil when the client sent none (have is
// false), empty for "=".
func InitialResponse(ir string, have bool) ([]byte, error) {
	if !have {
		return nil, nil
	}
	if ir == "=" {
		return []byte{}, nil
	}
	resp, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		return nil, ErrInvalidBase64
	}
	return resp, nil
}

// DecodeResponse decodes a SASL response line sent in base64.
func DecodeResponse(line string) ([]byte, error) {
	resp, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		return nil, ErrInvalidBase64
	}
	return resp, nil
}

// Exchange runs one SASL exchange: it feeds resp (nil: no initial
// response), then the client's responses, to next until next is done, and
// returns the additional data of its success. challenge sends a challenge
// in the protocol's words and returns the client's response. With
// finalInChallenge (protocols that have no additional data with success,
// IMAP and POP3), additional data goes in one last challenge, which the
// client must answer with an empty response (RFC 4422 §4 3c), and Exchange
// returns nil.
func Exchange(next func([]byte) ([]byte, bool, error), resp []byte, challenge func([]byte) ([]byte, error), finalInChallenge bool) ([]byte, error) {
	for {
		ch, done, err := next(resp)
		if err != nil {
			return nil, err
		}
		if done {
			if !finalInChallenge || len(ch) == 0 {
				return ch, nil
			}
			last, err := challenge(ch)
			if err != nil {
				return nil, err
			}
			if len(last) > 0 {
				return nil, ErrNotEmpty
			}
			return nil, nil
		}
		if resp, err = challenge(ch); err != nil {
			return nil, err
		}
	}
}
