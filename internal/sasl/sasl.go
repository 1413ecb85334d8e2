// Package sasl holds the server side of the SASL mechanisms mailroom offers
// beyond PLAIN: LOGIN (draft-murchison-sasl-login) and SCRAM-SHA-256 and
// SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677), with the channel binding data
// they need (tls-exporter, RFC 9266; tls-server-end-point, RFC 5929). It
// also derives and encodes the SCRAM keys the directory stores.
//
// The package knows nothing of accounts or protocols: a protocol package
// drives a Server with the client's decoded responses and sends back the
// challenges, and looks accounts up through a callback.
//
// Invariants:
//   - Only derived keys (salt, iteration count, StoredKey, ServerKey) are
//     stored or handled; a SCRAM exchange never sees a password.
//   - For an unknown user, or a user without SCRAM keys, the SCRAM server
//     answers the first message with a salt derived from the user name and
//     a per-process secret and the usual iteration count, and fails at the
//     proof, exactly as for a wrong password.
//   - Failures that depend on the credentials wrap ErrAuthFailed; failures
//     of the message syntax wrap ErrMalformed; errors from the lookup are
//     passed through unchanged.
package sasl

import (
	"errors"
)

// Mechanism names (RFC 4422 §3.1), as announced in capabilities.
const (
	Plain           = "PLAIN"
	Login           = "LOGIN"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
)

// Errors returned by Server.Next. Test them with errors.Is.
var (
	// ErrAuthFailed: wrong password, unknown user, user without SCRAM
	// keys, or channel binding data that does not match.
	ErrAuthFailed = errors.New("sasl: authentication failed")
	// ErrMalformed: a client message that does not follow the mechanism.
	ErrMalformed = errors.New("sasl: malformed message")
	// ErrAuthzDenied: an authorization identity other than the
	// authentication identity; there is no proxy authorization.
	ErrAuthzDenied = errors.New("sasl: authorization identity differs from authentication identity")
)

// Server is the server side of one exchange, the same shape as
// github.com/emersion/go-sasl's Server. Next is called first with the
// initial response (nil when the client sent none), then with each decoded
// client response. It returns the next challenge, or done with the
// optional additional data for the success outcome (RFC 4422 §3.6).
type Server interface {
	Next(response []byte) (challenge []byte, done bool, err error)
}

// Mechanisms lists the mechanisms to announce, strongest first:
// SCRAM-SHA-256-PLUS when scram and plus (a TLS connection with channel
// binding data), SCRAM-SHA-256 when scram, and PLAIN and LOGIN when
// plaintext passwords may be sent on this connection.
func Mechanisms(plaintext, scram, plus bool) []string {
	var m []string
	if scram && plus {
		m = append(m, SCRAMSHA256Plus)
	}
	if scram {
		m = append(m, SCRAMSHA256)
	}
	if plaintext {
		m = append(m, Plain, Login)
	}
	return m
}
