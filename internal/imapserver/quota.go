package imapserver

import "errors"

func init() {
	register("GETQUOTA", handler{fn: cmdGetQuota, states: authState})
	register("GETQUOTAROOT", handler{fn: cmdGetQuotaRoot, states: authState})
	register("SETQUOTA", handler{fn: cmdSetQuota, states: authState})
}

// The account has one quota root, "", which covers all its mailboxes: usage
// counts every message of the account (DESIGN: quota per account).
const quotaRoot = ""

// RFC 9208 §4.1.1 GETQUOTA.
func cmdGetQuota(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	root, ok := s.dec.AString()
	if !ok {
		return s.syntax()
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if root != quotaRoot {
		return no("NONEXISTENT", "no such quota root")
	}
	return s.writeQuota()
}

// RFC 9208 §4.1.2 GETQUOTAROOT.
func cmdGetQuotaRoot(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	name, err := s.readMailboxName()
	var perr *parseError
	if errors.As(err, &perr) {
		return err
	}
	if eerr := s.endLine(); eerr != nil {
		return eerr
	}
	if err != nil {
		return err
	}
	mb, err := s.lookupMailbox(name, false)
	if err != nil {
		return err
	}
	// RFC 9208 §4.2.2: "* QUOTAROOT" mailbox *(SP root).
	s.enc.Star().Atom("QUOTAROOT ")
	s.writeMailboxName(mb.Name)
	s.enc.SP().Quoted(quotaRoot).CRLF()
	return s.writeQuota()
}

// writeQuota sends "* QUOTA "" (...)" with current usage and the resources
// that have a limit (RFC 9208 §4.2.1; STORAGE in units of 1024 octets,
// §5.1; MESSAGE, §5.2).
func (s *session) writeQuota() error {
	acct, err := s.srv.st.AccountByID(s.ctx, s.acct.ID)
	if err != nil {
		return err
	}
	l := s.srv.st.Limits(acct)
	s.enc.Star().Atom("QUOTA ").Quoted(quotaRoot).Raw(" (")
	sep := false
	if l.Bytes > 0 {
		// Usage rounds up, so a nearly full account does not look roomier
		// than it is; the limit rounds down for the same reason.
		s.enc.Raw("STORAGE ").Int64((acct.UsedBytes + 1023) / 1024).SP().Int64(l.Bytes / 1024)
		sep = true
	}
	if l.Messages > 0 {
		if sep {
			s.enc.SP()
		}
		s.enc.Raw("MESSAGE ").Int64(acct.UsedMessages).SP().Int64(l.Messages)
	}
	s.enc.Special(')').CRLF()
	return nil
}

// RFC 9208 §4.1.3 SETQUOTA: limits belong to the administrator
// (`mailroom quota`), so QUOTASET is not announced and SETQUOTA is refused.
func cmdSetQuota(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	if _, ok := s.dec.AString(); !ok || !s.dec.SP() {
		return s.syntax()
	}
	ok := s.dec.List(func() bool {
		if _, ok := s.dec.Atom(); !ok || !s.dec.SP() {
			return false
		}
		_, ok := s.dec.Number64()
		return ok
	})
	if !ok {
		return s.syntax()
	}
	if err := s.endLine(); err != nil {
		return err
	}
	return no("NOPERM", "quota limits are set by the administrator")
}
