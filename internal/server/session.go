package server

import (
	"context"
	"crypto/tls"
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
