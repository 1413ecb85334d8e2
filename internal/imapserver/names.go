package imapserver

import (
	"errors"
	"strings"

	"mailroom/internal/imapwire"
	"mailroom/internal/store"
)

// readMailboxName reads a mailbox argument (astring) and returns it as a
// canonical UTF-8 name. IMAP4rev1 clients send modified UTF-7 (RFC 3501
// §5.1.3); after ENABLE IMAP4rev2 or UTF8=ACCEPT names are UTF-8 (RFC 9051
// §5.1, RFC 9755 §3). A syntax error is returned as a parseError; an
// invalid name as NO [CANNOT].
func (s *session) readMailboxName() (string, error) {
	raw, ok := s.dec.AString()
	if !ok {
		return "", s.syntax()
	}
	return s.mailboxName(raw)
}

// mailboxName decodes and validates a raw mailbox argument.
func (s *session) mailboxName(raw string) (string, error) {
	name := raw
	if !s.utf8 {
		dec, err := imapwire.DecodeMUTF7(raw)
		if err != nil {
			return "", no("CANNOT", "mailbox name is not valid modified UTF-7 (RFC 3501 §5.1.3)")
		}
		name = dec
	}
	// A trailing delimiter names the same mailbox (RFC 9051 §6.3.4 CREATE).
	if len(name) > 1 && strings.HasSuffix(name, string(store.Delimiter)) {
		name = strings.TrimSuffix(name, string(store.Delimiter))
	}
	c, err := store.CanonicalMailboxName(name)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, store.ErrInvalidName) {
			msg = strings.TrimPrefix(msg, store.ErrInvalidName.Error()+": ")
		}
		return "", no("CANNOT", "invalid mailbox name: %s", msg)
	}
	return c, nil
}

// wireName encodes a mailbox name for this client.
func (s *session) wireName(name string) string {
	if s.utf8 {
		return name
	}
	return imapwire.EncodeMUTF7(name)
}

// writeMailboxName writes a mailbox name as an astring for this client.
func (s *session) writeMailboxName(name string) {
	if name == "INBOX" {
		s.enc.Atom("INBOX")
		return
	}
	s.enc.AString(s.wireName(name))
}

// lookupMailbox returns the named mailbox of the session's account, with
// NO [TRYCREATE] when it does not exist (RFC 9051 §6.3.2, for COPY, MOVE and
// APPEND destinations) or NO [NONEXISTENT] (tryCreate false).
func (s *session) lookupMailbox(name string, tryCreate bool) (*store.Mailbox, error) {
	ctx := s.ctx
	if tryCreate {
		// The target of APPEND, COPY or MOVE: the write that follows is
		// ordered after what this read sees (store.Unsynced).
		ctx = store.Unsynced(ctx)
	}
	mb, err := s.srv.st.Mailbox(ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		if tryCreate {
			return nil, no("TRYCREATE", "no such mailbox")
		}
		return nil, no("NONEXISTENT", "no such mailbox")
	}
	return mb, err
}

// listArg reads a LIST reference or pattern: a string, or bare characters
// accepted by valid (UTF-8 allowed). "~" is one of those (an ATOM-CHAR,
// RFC 3501 §9): a literal8 is APPEND data only (RFC 3516 §4.2), so "~foo"
// is a pattern.
func (s *session) listArg(valid func(byte) bool) (string, bool) {
	if b, _ := s.dec.Peek(); b == '"' || b == '{' {
		return s.dec.String()
	}
	return s.dec.TokenUTF8("a mailbox pattern", valid)
}
