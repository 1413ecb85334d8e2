package imapserver

import (
	"strconv"

	"mailroom/internal/imapwire"
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
		uids, err := s.uidsIn(set)
		if err != nil {
			return err
		}
		// The store checks \Deleted in the same transaction that
		// expunges, so a flag cleared by another session a moment ago is
		// respected (RFC 4315 §2.1).
		removed, err := s.srv.st.ExpungeDeleted(s.ctx, s.acct.ID, s.sel.id, uids)
		if err != nil {
			return err
		}
		s.applyExpunges(removed)
	}
	if s.condstore {
		// Bring the view up to date now, so that the HIGHESTMODSEQ sent
		// covers everything this session has reported.
		s.sync(true)
		return okCode("HIGHESTMODSEQ "+strconv.FormatUint(s.sel.highestModSeq, 10), cmd.name+" completed")
	}
	return nil
}

// uidsIn lists the UIDs of the view that are in set.
func (s *session) uidsIn(set imapwire.SeqSet) ([]uint32, error) {
	idxs, err := s.resolve(set, true)
	if err != nil {
		return nil, err
	}
	uids := make([]uint32, 0, len(idxs))
	for _, i := range idxs {
		uids = append(uids, s.sel.msgs[i].UID)
	}
	return uids, nil
}
