package imapserver

import (
	"errors"
	"fmt"

	"mailroom/internal/imapwire"
	"mailroom/internal/store"
)

func init() {
	register("COPY", handler{fn: cmdCopy, states: selectedState, uid: true})
	// RFC 6851 §4.3: MOVE may send EXPUNGE even in its sequence-number form.
	register("MOVE", handler{fn: cmdCopy, states: selectedState, uid: true})
}

// RFC 9051 §6.4.7 COPY, §6.4.8 MOVE (RFC 6851), §6.4.9 their UID forms;
// RFC 4315 §3 COPYUID.
func cmdCopy(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	set, ok := s.dec.SeqSet()
	if !ok || !s.dec.SP() {
		return s.syntax()
	}
	name, nameErr := s.readMailboxName()
	var perr *parseError
	if errors.As(nameErr, &perr) {
		return nameErr
	}
	if err := s.endLine(); err != nil {
		return err
	}
	move := cmd.name == "MOVE"
	if move && s.sel.readOnly {
		return no("", "mailbox is read-only")
	}
	idxs, err := s.resolve(set, cmd.uid)
	if err != nil {
		return err
	}
	if nameErr != nil {
		return nameErr
	}
	// RFC 9051 §6.4.7: a missing destination is NO [TRYCREATE], even when
	// nothing matches.
	dst, err := s.lookupMailbox(name, true)
	if err != nil {
		return err
	}
	if move && dst.ID == s.sel.id {
		return no("CANNOT", "messages cannot be moved into the mailbox they are in")
	}
	if len(idxs) == 0 {
		// A UID set that matches nothing: done, and no COPYUID to give.
		return nil
	}
	uids := make([]uint32, len(idxs))
	for k, i := range idxs {
		uids[k] = s.sel.msgs[i].UID
	}
	var res *store.CopyResult
	if move {
		res, err = s.srv.st.Move(s.ctx, s.acct.ID, s.sel.id, dst.ID, uids)
	} else {
		// Copies count against the quota (RFC 9208 §4.2: NO [OVERQUOTA]).
		res, err = s.srv.st.Copy(s.ctx, s.acct.ID, s.sel.id, dst.ID, uids, true)
	}
	if err != nil {
		return err
	}
	if res == nil || len(res.Pairs) == 0 {
		// Every message was expunged by another session meanwhile; sync
		// reports that.
		return nil
	}
	from := make([]uint32, len(res.Pairs))
	to := make([]uint32, len(res.Pairs))
	for i, p := range res.Pairs {
		from[i], to[i] = p.From, p.To
	}
	src, dstSet := imapwire.FormatPairs(from, to)
	code := fmt.Sprintf("COPYUID %d %s %s", res.UIDValidity, src, dstSet)
	if !move {
		return okCode(code, "COPY completed")
	}
	// RFC 6851 §4.3: COPYUID in an untagged OK before the expunges, then
	// EXPUNGE (or VANISHED with QRESYNC, RFC 7162 §3.2.10) for the moved
	// messages.
	s.enc.Star().Atom("OK [").Raw(code).Raw("] moved").CRLF()
	s.applyExpunges(from)
	return nil
}
