package imapserver

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
		return errAlreadyAnswered // Serve sees the write error and ends
	}
	// RFC 9051 §6.2.1: the handshake starts right after the CRLF of the
	// tagged OK; what the client pipelined after STARTTLS is dropped.
	tc := s.c.StartTLS(s.srv.opts.TLSConfig, s.br.Buffered(), s.srv.opts.PreAuthTimeout)
	if tc == nil {
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
