package imapserver

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"mailroom/internal/imapwire"
	"mailroom/internal/store"
)

// msg is one message of the selected mailbox as this session sees it:
// the live mailbox's item, shared until the view changes it (own).
type msg = store.Item

// selected is the session's view of its selected mailbox: message i has
// sequence number i+1. It is brought forward from the process's live
// mailbox (store.LiveMailbox) only in sync, and keeps every message it has
// not yet reported as expunged readable: its pin holds their bodies.
type selected struct {
	id            int64
	name          string
	uidValidity   uint32
	uidNext       uint32
	highestModSeq uint64
	readOnly      bool
	msgs          []msg
	// shared: msgs is the live mailbox's published snapshot; call own
	// before changing it.
	shared   bool
	keywords []string // of the mailbox at SELECT time, then as announced
	recent   map[uint32]bool
	// noticed is the highest UID claimed \Recent by claimNoticed, to be
	// stored when the session leaves the mailbox.
	noticed uint32
	box     *store.LiveMailbox
	pin     *store.Pin
}

// seqOf returns the index of uid in msgs, or -1.
func (sel *selected) indexOf(uid uint32) int {
	i := sort.Search(len(sel.msgs), func(i int) bool { return sel.msgs[i].UID >= uid })
	if i < len(sel.msgs) && sel.msgs[i].UID == uid {
		return i
	}
	return -1
}

func (sel *selected) maxUID() uint32 {
	if len(sel.msgs) == 0 {
		return 0
	}
	return sel.msgs[len(sel.msgs)-1].UID
}

// resolve turns a sequence set (or UID set with uid) into indexes into
// msgs, ascending. Sequence numbers out of range are an error (RFC 9051
// §6.4.4 BAD); UIDs that do not exist are skipped (RFC 9051 §6.4.9).
func (s *session) resolve(set imapwire.SeqSet, uid bool) ([]int, error) {
	sel := s.sel
	if set.Saved {
		// RFC 5182: "$" is the saved result, as UIDs (removed ones skipped).
		var out []int
		for _, u := range s.searchRes {
			if i := sel.indexOf(u); i >= 0 {
				out = append(out, i)
			}
		}
		sort.Ints(out)
		return out, nil
	}
	n := uint32(len(sel.msgs))
	var out []int
	if !uid {
		if n == 0 {
			return nil, badArg("no messages in the mailbox")
		}
		for _, r := range set.Resolve(n) {
			if r.Start < 1 || r.Stop > n {
				return nil, badArg("message sequence number out of range")
			}
			for i := r.Start; i <= r.Stop; i++ {
				out = append(out, int(i-1))
			}
		}
		return out, nil
	}
	max := sel.maxUID()
	if max == 0 {
		return nil, nil
	}
	for _, r := range set.Resolve(max) {
		lo := sort.Search(len(sel.msgs), func(i int) bool { return sel.msgs[i].UID >= r.Start })
		for i := lo; i < len(sel.msgs) && sel.msgs[i].UID <= r.Stop; i++ {
			out = append(out, i)
		}
	}
	// Resolve merges ranges, so out is ascending without duplicates.
	return out, nil
}

// open loads a mailbox for SELECT/EXAMINE from the live state.
func (s *session) open(mb *store.Mailbox, readOnly bool) (*selected, error) {
	live := s.srv.st.Live()
	box, err := live.Open(s.ctx, mb)
	if err != nil {
		return nil, err
	}
	pin := live.NewPin()
	items, hms, uidNext, err := box.Snapshot(s.ctx)
	if err != nil {
		pin.Release()
		box.Close()
		if errors.Is(err, store.ErrMailboxGone) {
			return nil, no("NONEXISTENT", "no such mailbox")
		}
		return nil, err
	}
	kws, _ := box.Memo(hms, func() any { return keywordsOf(items) }).([]string)
	sel := &selected{
		id: mb.ID, name: mb.Name, uidValidity: mb.UIDValidity, uidNext: uidNext,
		highestModSeq: hms, readOnly: readOnly,
		msgs: items, shared: true, keywords: kws, box: box, pin: pin,
	}
	// SELECT takes the mailbox's \Recent messages; EXAMINE shows them
	// without taking them (RFC 3501 §6.3.2).
	first := s.srv.firstRecent(mb.ID, mb.FirstRecent)
	if !readOnly && sel.maxUID() >= first {
		if first, err = s.srv.claimRecent(s.ctx, s.acct.ID, mb.ID, sel.maxUID()); err != nil {
			pin.Release()
			box.Close()
			return nil, err
		}
	}
	if first > 0 {
		for i := len(sel.msgs) - 1; i >= 0 && sel.msgs[i].UID >= first; i-- {
			sel.setRecent(sel.msgs[i].UID)
		}
	}
	return sel, nil
}

// closeSelected leaves the selected mailbox: the view's bodies may go.
func (s *session) closeSelected() {
	if s.sel == nil {
		return
	}
	if s.sel.noticed > 0 {
		// Store the \Recent claims made while selected (claimNoticed),
		// also when the connection is going away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		if _, err := s.srv.st.ClaimRecent(ctx, s.acct.ID, s.sel.id, s.sel.noticed); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("store recent claims", "mailbox", s.sel.name, "err", err)
		}
		cancel()
	}
	s.sel.pin.Release()
	s.sel.box.Close()
	s.sel, s.searchRes = nil, nil
	if s.state == stateSelected {
		s.state = stateAuth
	}
}

func (sel *selected) setRecent(uid uint32) {
	if sel.recent == nil {
		sel.recent = map[uint32]bool{}
	}
	sel.recent[uid] = true
}

func (sel *selected) isRecent(uid uint32) bool { return sel.recent[uid] }

func (sel *selected) recentCount() int { return len(sel.recent) }

// sync brings the session's view up to date with the live mailbox and
// writes the untagged responses for it: EXPUNGE or VANISHED (only when
// allowExpunge), EXISTS and RECENT, FETCH for flag changes. RFC 9051
// §7.5.1, RFC 7162 §3.2.10 (VANISHED with QRESYNC), §3.1.4 (MODSEQ in
// FETCH with CONDSTORE). When nothing changed it reads nothing but the
// live mailbox's MODSEQ.
func (s *session) sync(allowExpunge bool) {
	sel := s.sel
	if sel == nil || !allowExpunge {
		// Without expunges the view could still learn new messages and
		// flags, but doing it all at the next allowed point keeps the
		// bookkeeping simple and is what RFC 9051 §5.2 permits.
		return
	}
	gen := s.srv.st.Live().Gen()
	d, err := sel.box.Since(s.ctx, sel.highestModSeq)
	if errors.Is(err, store.ErrMailboxGone) {
		s.goneMailbox()
		return
	}
	if err != nil {
		s.log.Warn("imap sync", "err", err)
		return
	}
	if d != nil {
		sel.name = d.Name
		vanished := d.Expunged
		if d.Resync {
			vanished = vanishedFrom(sel.msgs, d.Current)
		}
		s.applyExpunges(vanished)
		s.applyChanges(d.Changed)
		sel.highestModSeq = max(sel.highestModSeq, d.ModSeq)
		sel.uidNext = max(sel.uidNext, d.UIDNext)
	}
	// Everything expunged up to gen is now out of the view.
	sel.pin.Advance(gen)
}

// vanishedFrom returns the UIDs of view missing from current (both in UID
// order).
func vanishedFrom(view, current []msg) []uint32 {
	var out []uint32
	j := 0
	for i := range view {
		u := view[i].UID
		for j < len(current) && current[j].UID < u {
			j++
		}
		if j >= len(current) || current[j].UID != u {
			out = append(out, u)
		}
	}
	return out
}

// goneMailbox handles the selected mailbox deleted (or renamed over)
// elsewhere: the session cannot go on under the old UIDVALIDITY, so it is
// told and ended, as Dovecot and Cyrus do (the client reconnects and sees
// the mailbox list as it is now).
func (s *session) goneMailbox() {
	s.goodbyeNoFlush("selected mailbox was deleted, have to disconnect")
	s.closeSelected()
	s.state = stateLogout
}

// applyExpunges removes the given UIDs from the view, announcing each.
func (s *session) applyExpunges(uids []uint32) {
	sel := s.sel
	var gone []uint32
	var seqs []int
	for _, u := range uids {
		if i := sel.indexOf(u); i >= 0 {
			gone = append(gone, u)
			seqs = append(seqs, i)
		}
	}
	if len(gone) == 0 {
		return
	}
	sort.Ints(seqs)
	sel.own()
	if s.qresync {
		// RFC 7162 §3.2.10: VANISHED instead of EXPUNGE.
		s.enc.Star().Atom("VANISHED ").Raw(imapwire.FormatUIDs(gone)).CRLF()
	} else {
		// Highest first, so each number is still valid when sent.
		for k := len(seqs) - 1; k >= 0; k-- {
			s.enc.Star().Number(uint32(seqs[k] + 1)).Raw(" EXPUNGE").CRLF()
		}
	}
	keep := sel.msgs[:0]
	k := 0
	for i := range sel.msgs {
		if k < len(seqs) && seqs[k] == i {
			k++
			delete(sel.recent, sel.msgs[i].UID)
			continue
		}
		keep = append(keep, sel.msgs[i])
	}
	sel.msgs = keep
	s.dropSearchRes(gone)
}

func (s *session) dropSearchRes(gone []uint32) {
	if len(s.searchRes) == 0 {
		return
	}
	g := map[uint32]bool{}
	for _, u := range gone {
		g[u] = true
	}
	keep := s.searchRes[:0]
	for _, u := range s.searchRes {
		if !g[u] {
			keep = append(keep, u)
		}
	}
	s.searchRes = keep
}

// applyChanges merges rows changed since the view's HIGHESTMODSEQ: new
// messages (EXISTS, RECENT) and flag changes (FETCH).
func (s *session) applyChanges(changed []msg) {
	sel := s.sel
	if len(changed) > 0 {
		sel.own()
	}
	maxUID := sel.maxUID()
	var added []msg
	for i := range changed {
		m := &changed[i]
		if m.UID > maxUID {
			added = append(added, *m)
			continue
		}
		idx := sel.indexOf(m.UID)
		if idx < 0 {
			continue // expunged from the view earlier
		}
		cur := &sel.msgs[idx]
		if m.ModSeq <= cur.ModSeq {
			continue // this session already knows (its own STORE)
		}
		s.noteKeywords(m.Flags)
		flagsChanged := !equalFlags(cur.Flags, m.Flags)
		cur.ModSeq = m.ModSeq
		cur.Flags = m.Flags
		if flagsChanged || s.condstore {
			s.writeFlagsFetch(idx)
		}
	}
	if len(added) > 0 {
		first := uint32(0)
		if !sel.readOnly {
			top := added[len(added)-1].UID
			if first = s.srv.claimNoticed(sel.id, top); first > 0 {
				sel.noticed = top
			}
		}
		for i := range added {
			if first > 0 && added[i].UID >= first {
				sel.setRecent(added[i].UID)
			}
		}
		for i := range added {
			s.noteKeywords(added[i].Flags)
		}
		sel.msgs = append(sel.msgs, added...)
		s.enc.Star().Number(uint32(len(sel.msgs))).Raw(" EXISTS").CRLF()
		if !s.rev2 {
			s.enc.Star().Number(uint32(sel.recentCount())).Raw(" RECENT").CRLF()
		}
	}
}

// writeFlagsFetch sends "* n FETCH (UID u FLAGS (...) [MODSEQ (m)])".
func (s *session) writeFlagsFetch(idx int) {
	m := &s.sel.msgs[idx]
	s.enc.Star().Number(uint32(idx + 1)).Raw(" FETCH (UID ").Number(m.UID).Raw(" FLAGS ")
	s.writeFlags(m)
	if s.condstore {
		s.enc.Raw(" MODSEQ (").Number64(m.ModSeq).Special(')')
	}
	s.enc.Raw(")").CRLF()
}

// writeFlags writes a message's flag list, with \Recent for IMAP4rev1.
func (s *session) writeFlags(m *msg) {
	s.enc.Special('(')
	for i, f := range m.Flags {
		if i > 0 {
			s.enc.SP()
		}
		s.enc.Atom(f)
	}
	if !s.rev2 && s.sel.isRecent(m.UID) {
		if len(m.Flags) > 0 {
			s.enc.SP()
		}
		s.enc.Atom(`\Recent`)
	}
	s.enc.Special(')')
}

func equalFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// noteKeywords announces keywords new to the selected mailbox with FLAGS
// and PERMANENTFLAGS (RFC 9051 §7.3.5: FLAGS is sent again when the set of
// flags changes).
func (s *session) noteKeywords(flags []string) {
	sel := s.sel
	var added bool
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) || containsFold(sel.keywords, f) {
			continue
		}
		// keywords may be the shared index's slice: never append in place.
		sel.keywords = append(sel.keywords[:len(sel.keywords):len(sel.keywords)], f)
		added = true
	}
	if !added {
		return
	}
	sort.Strings(sel.keywords)
	flagList := strings.Join(s.flagsInUse(), " ")
	s.enc.Star().Atom("FLAGS (").Raw(flagList).Raw(")").CRLF()
	if !sel.readOnly {
		s.enc.Star().Atom("OK [PERMANENTFLAGS (").Raw(flagList).Raw(` \*)] flags and keywords can be stored`).CRLF()
	}
}
