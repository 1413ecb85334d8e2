package imapserver

import (
	"strings"

	"mailroom/internal/store"
)

// RFC 9051 §6.3.11 STATUS; RFC 8438 SIZE; RFC 7162 §3.1.6 HIGHESTMODSEQ;
// RFC 7889 APPENDLIMIT.
func cmdStatus(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	name, nameErr := s.readMailboxName()
	if perr := (*parseError)(nil); asParseError(nameErr, &perr) {
		return nameErr
	}
	if !s.dec.SP() {
		return s.syntax()
	}
	items, ok := s.readStatusItems()
	if !ok {
		return s.syntax()
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if nameErr != nil {
		return nameErr
	}
	mb, err := s.lookupMailbox(name, false)
	if err != nil {
		return err
	}
	return s.writeStatus(mb, items)
}

var statusItems = map[string]bool{
	"MESSAGES": true, "RECENT": true, "UIDNEXT": true, "UIDVALIDITY": true, "UNSEEN": true,
	"DELETED": true, "SIZE": true, "HIGHESTMODSEQ": true, "APPENDLIMIT": true,
}

func (s *session) readStatusItems() ([]string, bool) {
	var items []string
	ok := s.dec.List(func() bool {
		a, ok := s.dec.Atom()
		a = strings.ToUpper(a)
		if !ok || !statusItems[a] {
			return false
		}
		items = append(items, a)
		return true
	})
	return items, ok && len(items) > 0
}

// writeStatus writes "* STATUS name (item value ...)".
func (s *session) writeStatus(mb *store.Mailbox, items []string) error {
	var unseen, deleted uint32
	needCounts := false
	selected := s.sel != nil && s.sel.id == mb.ID
	for _, it := range items {
		if it == "UNSEEN" || it == "DELETED" || (it == "RECENT" && !selected) {
			needCounts = true
		}
	}
	// RECENT of a mailbox this session has not selected: the messages no
	// SELECT has claimed yet (RFC 3501 §2.3.2).
	recent := 0
	firstRecent := s.srv.firstRecent(mb.ID, mb.FirstRecent)
	if needCounts {
		if s.sel != nil && s.sel.id == mb.ID {
			for i := range s.sel.msgs {
				unseen, deleted = countFlags(s.sel.msgs[i].Flags, unseen, deleted)
			}
		} else {
			list, err := s.srv.st.ChangedSince(s.ctx, s.acct.ID, mb.ID, 0)
			if err != nil {
				return err
			}
			for i := range list {
				unseen, deleted = countFlags(list[i].Flags, unseen, deleted)
				if list[i].UID >= firstRecent {
					recent++
				}
			}
		}
	}
	s.enc.Star().Atom("STATUS ")
	s.writeMailboxName(mb.Name)
	s.enc.Raw(" (")
	for i, it := range items {
		if i > 0 {
			s.enc.SP()
		}
		s.enc.Atom(it).SP()
		switch it {
		case "MESSAGES":
			s.enc.Int64(mb.Messages)
		case "RECENT":
			n := recent
			if selected {
				n = s.sel.recentCount()
			}
			s.enc.Number(uint32(n))
		case "UIDNEXT":
			s.enc.Number(mb.UIDNext)
		case "UIDVALIDITY":
			s.enc.Number(mb.UIDValidity)
		case "UNSEEN":
			s.enc.Number(unseen)
		case "DELETED":
			s.enc.Number(deleted)
		case "SIZE":
			s.enc.Int64(mb.Size)
		case "HIGHESTMODSEQ":
			s.enc.Number64(mb.HighestModSeq)
		case "APPENDLIMIT":
			s.enc.Int64(s.srv.opts.MaxMessageSize)
		}
	}
	s.enc.Special(')').CRLF()
	return nil
}

func countFlags(flags []string, unseen, deleted uint32) (uint32, uint32) {
	if !store.HasFlag(flags, `\Seen`) {
		unseen++
	}
	if store.HasFlag(flags, `\Deleted`) {
		deleted++
	}
	return unseen, deleted
}
