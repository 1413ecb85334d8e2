package pop3server

import (
	"bufio"
	"context"
	"crypto/tls"
	"time"
)

// handshakeTimeout bounds a TLS handshake, after STLS or on a pop3s
// connection.
const handshakeTimeout = time.Minute

func init() {
	// RFC 2595 §4: in AUTHORIZATION state only.
	commands["STLS"] = command{auth: true, run: (*conn).cmdStls}
}

// stlsAvailable reports whether STLS may be used now: a TLSConfig is set,
// the session is not under TLS yet, and nobody has logged in.
func (c *conn) stlsAvailable() bool {
	return c.srv.opts.TLSConfig != nil && !c.tls && c.state == stateAuthorization
}

// cmdStls is STLS (RFC 2595 §4).
func (c *conn) cmdStls(args string) error {
	if c.srv.opts.TLSConfig == nil {
		// Not offered: the same answer as before STLS existed.
		return badf("unknown command")
	}
	if args != "" {
		return badf("STLS takes no argument")
	}
	if c.tls {
		// The reply RFC 2595 §4 gives as an example.
		return badf("command not permitted when TLS active")
	}
	c.ok("begin TLS negotiation")
	if err := c.bw.Flush(); err != nil {
		return err
	}
	// The client sent what follows STLS in the clear, where anyone on the
	// path could have put it: it is dropped with the old read buffer and
	// never run as a command under TLS (RFC 3207 §4.2 discards pre-TLS
	// knowledge likewise; the command injection of CVE-2011-0411). Octets
	// still in flight reach the handshake and make it fail.
	if n := c.br.Buffered(); n > 0 {
		c.log.Info("discarding octets pipelined after STLS", "octets", n)
	}
	tc := tls.Server(c.nc, c.srv.opts.TLSConfig)
	if !c.handshake(tc) {
		return errClose
	}
	c.tlsConn = tc
	c.tls = true
	c.plaintext = true
	c.br = bufio.NewReaderSize(tc, readBufferSize)
	c.w.nc = tc // c.bw, empty now, writes through c.w
	return nil
}

// handshake runs the TLS handshake under handshakeTimeout and reports
// whether it succeeded. A failure is logged (at debug level on pop3s,
// where port scanners and clients speaking plain text are routine).
func (c *conn) handshake(tc *tls.Conn) bool {
	deadline := time.Now().Add(handshakeTimeout)
	tc.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(c.ctx, deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		if tc == c.nc {
			c.log.Debug("TLS handshake failed", "err", err)
		} else {
			c.log.Info("STLS handshake failed", "err", err)
		}
		return false
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.log.Debug("TLS established", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	return true
}
