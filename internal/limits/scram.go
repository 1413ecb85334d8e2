package limits

import (
	"context"
	"net"

	"mailroom/internal/sasl"
)

// SCRAMNext returns the step function of a SCRAM exchange whose proof
// step, the one that checks the password, runs under l like a password
// login: delayed for a failing address, refused during a lockout, and
// counted. Every protocol's SCRAM goes through it.
func SCRAMNext(ctx context.Context, l *Logins, remote net.Addr, srv *sasl.SCRAMServer) func([]byte) ([]byte, bool, error) {
	return func(resp []byte) ([]byte, bool, error) {
		if !srv.AwaitingProof() {
			return srv.Next(resp)
		}
		type out struct {
			ch   []byte
			done bool
		}
		o, err := Authenticate(ctx, l, remote, srv.Username(), sasl.ErrAuthFailed, func() (out, error) {
			ch, done, err := srv.Next(resp)
			return out{ch, done}, err
		})
		return o.ch, o.done, err
	}
}
