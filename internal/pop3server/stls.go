package pop3server

import (
	"bufio"
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
	// What the client pipelined after STLS was sent in the clear: it is
	// dropped with the old read buffer.
	tc := c.sc.StartTLS(c.srv.opts.TLSConfig, c.br.Buffered(), handshakeTimeout)
	if tc == nil {
		return errClose
	}
	c.tlsConn = tc
	c.tls = true
	c.plaintext = true
	c.br = bufio.NewReaderSize(tc, readBufferSize)
	c.w.nc = tc // c.bw, empty now, writes through c.w
	return nil
}
