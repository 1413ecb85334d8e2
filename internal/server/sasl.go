package server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"

	"mailroom/internal/limits"
	"mailroom/internal/sasl"
)

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

// ChannelBindings returns the channel binding data (RFC 5929, RFC 9266)
// of the connection's TLS layer: upgraded, the layer set up by STARTTLS,
// or else the accepted connection when it is a *tls.Conn; zero without
// TLS.
func (c *Conn) ChannelBindings(upgraded *tls.Conn, cfg *tls.Config) sasl.ChannelBindings {
	tc := upgraded
	if tc == nil {
		tc, _ = c.nc.(*tls.Conn)
	}
	if tc == nil {
		return sasl.ChannelBindings{}
	}
	return sasl.ConnChannelBindings(tc, cfg)
}

// SCRAMKeyer is implemented by an authenticator that also keeps
// SCRAM-SHA-256 keys (directory.Directory does); T is what a login
// yields (an account, a user's scripts). When the authenticator given to
// a protocol server implements it, the server offers SCRAM-SHA-256, and on
// TLS connections SCRAM-SHA-256-PLUS.
type SCRAMKeyer[T any] interface {
	// SCRAMKeys is called with the user name of a SCRAM exchange. It
	// returns that user's keys and T (used only once the client's proof
	// checks out), or an error wrapping the protocol package's
	// authentication failure for an unknown user or one without keys (the
	// exchange then fails at the proof, as for a wrong password). Any
	// other error is a temporary failure.
	SCRAMKeys(ctx context.Context, username string) (*sasl.SCRAMKeys, T, error)
}

// SCRAM is the server side of one SCRAM-SHA-256 or SCRAM-SHA-256-PLUS
// exchange (RFC 5802, RFC 7677) whose keys come with a value of type T
// (the account, its scripts).
type SCRAM[T any] struct {
	// Server runs the exchange; Next is its Next with the proof checked
	// under the login limits, for Exchange.
	Server *sasl.SCRAMServer
	Next   func([]byte) ([]byte, bool, error)
	// Found is what keys returned with the user's keys; it is the
	// logged-in user's once the exchange has succeeded.
	Found T
}

// NewSCRAM returns the server side of a SCRAM exchange on c: -PLUS when
// plus, bound to cb. keys is called with the user name; it returns an
// error wrapping authFailed for an unknown user or one without keys (the
// exchange then fails at the proof, as for a wrong password). The proof
// is checked under logins like a password, so a locked-out user fails
// the same way.
func NewSCRAM[T any](c *Conn, logins *limits.Logins, plus bool, cb sasl.ChannelBindings, authFailed error, keys func(ctx context.Context, user string) (*sasl.SCRAMKeys, T, error)) *SCRAM[T] {
	sc := &SCRAM[T]{}
	sc.Server = sasl.NewSCRAMServer(sasl.SCRAMOptions{Plus: plus, ChannelBindings: cb,
		Lookup: func(user string) (*sasl.SCRAMKeys, error) {
			k, v, err := keys(c.ctx, user)
			if errors.Is(err, authFailed) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			sc.Found = v
			return k, nil
		}})
	sc.Next = limits.SCRAMNext(c.ctx, logins, c.nc.RemoteAddr(), sc.Server)
	return sc
}
