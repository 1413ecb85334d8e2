package imapserver

import (
	"context"
	"crypto/tls"
	"time"
)

func init() {
	register("STARTTLS", handler{fn: cmdStartTLS, states: notAuthState})
}

// RFC 9051 §6.2.1 STARTTLS, RFC 2595 §3.1. Only before login (the handler
// table allows it in the not-authenticated state only), only when a
// TLSConfig is set and TLS is not in use yet.
func cmdStartTLS(s *session, cmd *command) error {
	if err := s.endLine(); err != nil {
		return err
	}
	if s.srv.opts.TLSConfig == nil {
		return badArg("STARTTLS is not available")
	}
	if s.tls {
		return badArg("TLS is already in use")
	}
	s.enc.Raw(cmd.tag).Raw(" OK Begin TLS negotiation now").CRLF()
	if s.flush() != nil {
		return errAlreadyAnswered // serve sees the write error and ends
	}
	// RFC 9051 §6.2.1: the handshake starts right after the CRLF of the
	// tagged OK. Whatever the client sent after the STARTTLS line came in
	// the clear, where anyone on the path could have put it: it is dropped
	// with the old buffer and never run as a command under TLS (RFC 3207
	// §4.2 discards pre-TLS knowledge likewise; the command injection of
	// CVE-2011-0411). Octets still in flight reach the handshake and make it
	// fail.
	if n := s.br.Buffered(); n > 0 {
		s.log.Info("imap discarding octets pipelined after STARTTLS", "octets", n)
	}
	tc := tls.Server(s.conn, s.srv.opts.TLSConfig)
	if !s.handshake(tc) {
		s.state = stateLogout
		return errAlreadyAnswered
	}
	s.tlsConn = tc
	s.tls = true
	s.setStream(tc)
	// RFC 9051 §6.2.1: the client discards what it knew of the
	// capabilities and asks again; the new list has AUTH=PLAIN and no
	// STARTTLS (capabilities).
	return errAlreadyAnswered
}

// handshake runs the TLS handshake under the pre-login deadline and
// reports whether it succeeded. A failure is logged (at debug level on an
// implicit TLS listener, where port scanners and clients speaking plain
// text are routine) and ends the session.
func (s *session) handshake(tc *tls.Conn) bool {
	deadline := time.Now().Add(s.srv.opts.PreAuthTimeout)
	tc.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		if s.conn == tc {
			s.log.Debug("imap TLS handshake failed", "err", err)
		} else {
			s.log.Info("imap STARTTLS handshake failed", "err", err)
		}
		return false
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	s.log.Debug("imap TLS established", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	return true
}
