package imapserver

import (
	"strconv"

	"mailroom/internal/imapwire"
	"mailroom/internal/store"
)

func init() {
	register("EXPUNGE", handler{fn: cmdExpunge, states: selectedState, uid: true})
}

// expungeDeleted removes the messages flagged \Deleted from the selected
// mailbox; with announce it sends EXPUNGE/VANISHED for them. CLOSE calls it
// without announcing (RFC 9051 §6.4.1).
func (s *session) expungeDeleted(announce bool) error {
	uids, err := s.srv.st.Expunge(s.ctx, s.acct.ID, s.sel.id, nil)
	if err != nil {
		return err
	}
	if announce {
		s.applyExpunges(uids)
	}
	return nil
}

// RFC 9051 §6.4.3 EXPUNGE; RFC 4315 §2.1 (RFC 9051 §6.4.9) UID EXPUNGE;
// RFC 7162 §3.2.7 and §3.2.9 (HIGHESTMODSEQ in the tagged OK).
func cmdExpunge(s *session, cmd *command) error {
	var set imapwire.SeqSet
	if cmd.uid {
		var ok bool
		if !s.dec.SP() {
			return s.syntax()
		}
		if set, ok = s.dec.SeqSet(); !ok {
			return s.syntax()
		}
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if s.sel.readOnly {
		return no("", "mailbox is read-only")
	}
	if !cmd.uid {
		// Everything flagged \Deleted in the store, including flags this
		// session has not reported yet: what the client asked for is an
		// expunge of the mailbox, not of its possibly stale view.
		if err := s.expungeDeleted(true); err != nil {
			return err
		}
	} else {
		uids, err := s.deletedAmong(set)
		if err != nil {
			return err
		}
		// An empty list must not reach the store: nil there means "every
		// \Deleted message".
		if len(uids) > 0 {
			removed, err := s.srv.st.Expunge(s.ctx, s.acct.ID, s.sel.id, uids)
			if err != nil {
				return err
			}
			s.applyExpunges(removed)
		}
	}
	if s.condstore {
		// Bring the view up to date now, so that the HIGHESTMODSEQ sent
		// covers everything this session has reported.
		s.sync(true)
		return okCode("HIGHESTMODSEQ "+strconv.FormatUint(s.sel.highestModSeq, 10), cmd.name+" completed")
	}
	return nil
}

// deletedAmong returns the UIDs of set (in the session's view) whose
// message is flagged \Deleted in the store now. Flags changed since the
// view's HIGHESTMODSEQ are read again, so a \Deleted another session has
// just cleared does not count. A change landing between this read and the
// expunge can still slip through; the store offers no conditional expunge.
func (s *session) deletedAmong(set imapwire.SeqSet) ([]uint32, error) {
	idxs, err := s.resolve(set, true)
	if err != nil || len(idxs) == 0 {
		return nil, err
	}
	changed, err := s.srv.st.ChangedSince(s.ctx, s.acct.ID, s.sel.id, s.sel.highestModSeq)
	if err != nil {
		return nil, err
	}
	current := make(map[uint32][]string, len(changed))
	for i := range changed {
		current[changed[i].UID] = changed[i].Flags
	}
	var uids []uint32
	for _, i := range idxs {
		m := &s.sel.msgs[i]
		flags, ok := current[m.uid]
		if !ok {
			flags = m.flags
		}
		if store.HasFlag(flags, `\Deleted`) {
			uids = append(uids, m.uid)
		}
	}
	return uids, nil
}
