package imapserver

import (
	"errors"
	"fmt"
	"sort"
	"strings"

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
	if res == nil {
		res = &store.CopyResult{}
	}
	if len(res.Pairs) < len(uids) {
		// Another session expunged some of them meanwhile. They are still
		// in this session's view, which may read them until it is told
		// (RFC 9051 §7.5.1), so they are copied from the view: its pin
		// keeps their bodies. (A MOVE of one is a copy: it is gone from
		// here already.)
		if err := s.copyFromView(res, uids, dst.ID); err != nil {
			return err
		}
	}
	if len(res.Pairs) == 0 {
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

// copyFromView appends to dst the messages of uids that the store did not
// copy (their rows are gone) but this session's view still shows, with the
// view's flags and dates and the bodies its pin holds, and adds their
// pairs to res in source UID order.
func (s *session) copyFromView(res *store.CopyResult, uids []uint32, dst int64) error {
	done := make(map[uint32]bool, len(res.Pairs))
	for _, p := range res.Pairs {
		done[p.From] = true
	}
	var msgs []store.AppendMessage
	var from []uint32
	for _, u := range uids {
		i := s.sel.indexOf(u)
		if done[u] || i < 0 {
			continue
		}
		m := &s.sel.msgs[i]
		st := s.structureFromBody(m.BlobID)
		if st == nil {
			// Unreadable after all: nothing to copy it from.
			continue
		}
		var flags []string
		for _, f := range m.Flags {
			// RFC 9051 §2.3.2: \Recent is never copied as a flag.
			if !strings.EqualFold(f, `\Recent`) {
				flags = append(flags, f)
			}
		}
		msgs = append(msgs, store.AppendMessage{MailboxID: dst, Body: store.BlobRef{ID: m.BlobID, Size: m.Size},
			Flags: flags, InternalDate: m.InternalDate, Structure: st.Encode()})
		from = append(from, u)
	}
	if len(msgs) == 0 {
		return nil
	}
	// Copies count against the quota (RFC 9208 §4.2), moves too: these
	// add messages.
	results, err := s.srv.st.Append(s.ctx, s.acct.ID, msgs, true)
	if errors.Is(err, store.ErrBodyMissing) {
		s.log.Warn("imap copy: body of a message in the view is gone", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	for k, r := range results {
		res.UIDValidity = r.UIDValidity
		res.Pairs = append(res.Pairs, store.UIDPair{From: from[k], To: r.UID})
	}
	sort.Slice(res.Pairs, func(i, j int) bool { return res.Pairs[i].From < res.Pairs[j].From })
	return nil
}
