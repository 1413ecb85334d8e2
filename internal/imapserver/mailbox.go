package imapserver

import (
	"errors"
	"strings"

	"mailroom/internal/imapwire"
	"mailroom/internal/store"
)

func init() {
	register("SELECT", handler{fn: cmdSelect, states: authState, noSync: true})
	register("EXAMINE", handler{fn: cmdSelect, states: authState, noSync: true})
	register("CLOSE", handler{fn: cmdClose, states: selectedState, noSync: true})
	register("UNSELECT", handler{fn: cmdUnselect, states: selectedState, noSync: true})
	register("CHECK", handler{fn: cmdCheck, states: selectedState})
	register("CREATE", handler{fn: cmdCreate, states: authState})
	register("DELETE", handler{fn: cmdDelete, states: authState})
	register("RENAME", handler{fn: cmdRename, states: authState})
	register("SUBSCRIBE", handler{fn: cmdSubscribe, states: authState})
	register("UNSUBSCRIBE", handler{fn: cmdSubscribe, states: authState})
}

// systemFlags are the flags every mailbox supports (RFC 9051 §2.3.2).
var systemFlags = []string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`}

// RFC 9051 §6.3.2 SELECT, §6.3.3 EXAMINE; RFC 7162 §3.1.8 (CONDSTORE) and
// §3.2.5 (QRESYNC) parameters.
func cmdSelect(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	name, nameErr := s.readMailboxName()
	if perr := (*parseError)(nil); errors.As(nameErr, &perr) {
		return nameErr
	}
	var condstore, qresyncOff bool
	var qr *qresyncParams
	if s.dec.Special(' ') {
		ok := s.dec.List(func() bool {
			p, ok := s.dec.Atom()
			if !ok {
				return false
			}
			switch strings.ToUpper(p) {
			case "CONDSTORE":
				condstore = true
				return true
			case "QRESYNC":
				if !s.qresync {
					qresyncOff = true
					return false
				}
				if !s.dec.SP() {
					return false
				}
				qr, ok = s.readQresync()
				return ok
			}
			return false
		})
		if !ok {
			if qresyncOff {
				return syntaxErr("QRESYNC must be enabled first (RFC 7162 §3.2.3)")
			}
			if s.dec.Err() == nil {
				return syntaxErr("unknown SELECT parameter")
			}
			return s.syntax()
		}
	}
	if err := s.endLine(); err != nil {
		return err
	}
	// Leaving the selected mailbox first (RFC 9051 §6.3.2: even when the
	// new SELECT fails).
	if s.sel != nil {
		s.closeSelected()
		// RFC 7162 §3.2.11, RFC 9051 §7.1: [CLOSED] marks where the old
		// mailbox's responses end.
		s.enc.Star().Atom("OK [CLOSED] previous mailbox closed").CRLF()
	}
	if nameErr != nil {
		return nameErr
	}
	mb, err := s.lookupMailbox(name, false)
	if err != nil {
		return err
	}
	if condstore {
		s.condstore = true
	}
	readOnly := cmd.name == "EXAMINE"
	sel, err := s.open(mb, readOnly)
	if err != nil {
		return err
	}
	s.sel = sel
	s.state = stateSelected
	s.searchRes = nil

	s.enc.Star().Number(uint32(len(sel.msgs))).Atom(" EXISTS").CRLF()
	if !s.rev2 {
		s.enc.Star().Number(uint32(sel.recentCount())).Atom(" RECENT").CRLF()
		for i := range sel.msgs {
			if !store.HasFlag(sel.msgs[i].Flags, `\Seen`) {
				s.enc.Star().Atom("OK [UNSEEN ").Number(uint32(i + 1)).Raw("] first unseen").CRLF()
				break
			}
		}
	}
	flags := s.flagsInUse()
	s.enc.Star().Atom("FLAGS (").Raw(strings.Join(flags, " ")).Raw(")").CRLF()
	if readOnly {
		s.enc.Star().Atom("OK [PERMANENTFLAGS ()] read-only mailbox").CRLF()
	} else {
		s.enc.Star().Atom("OK [PERMANENTFLAGS (").Raw(strings.Join(flags, " ")).Raw(` \*)] flags and keywords can be stored`).CRLF()
	}
	s.enc.Star().Atom("OK [UIDVALIDITY ").Number(sel.uidValidity).Raw("] UIDs valid").CRLF()
	s.enc.Star().Atom("OK [UIDNEXT ").Number(sel.uidNext).Raw("] predicted next UID").CRLF()
	if s.condstore {
		s.enc.Star().Atom("OK [HIGHESTMODSEQ ").Number64(sel.highestModSeq).Raw("] highest").CRLF()
	}
	if s.rev2 {
		// RFC 9051 §6.3.2: the mailbox's LIST response.
		s.writeListLine(listEntry{name: mb.Name, specialUse: mb.SpecialUse, exists: true}, false, nil)
	}
	if qr != nil && qr.uidValidity == sel.uidValidity {
		if err := s.qresyncReport(qr); err != nil {
			return err
		}
	}
	if readOnly {
		return okCode("READ-ONLY", cmd.name+" completed")
	}
	return okCode("READ-WRITE", cmd.name+" completed")
}

// flagsInUse lists the system flags and the keywords of the mailbox's
// messages (RFC 9051 §7.3.5 FLAGS).
func (s *session) flagsInUse() []string {
	return append(append([]string(nil), systemFlags...), s.sel.keywords...)
}

// qresyncParams are SELECT's QRESYNC parameters (RFC 7162 §3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modSeq      uint64
	knownUIDs   *imapwire.SeqSet
}

func (s *session) readQresync() (*qresyncParams, bool) {
	qr := &qresyncParams{}
	n := 0
	ok := s.dec.List(func() bool {
		n++
		var ok bool
		switch n {
		case 1:
			qr.uidValidity, ok = s.dec.NZNumber()
		case 2:
			qr.modSeq, ok = s.dec.Number64()
		case 3:
			if b, _ := s.dec.Peek(); b == '(' {
				return s.skipSeqMatch()
			}
			var set imapwire.SeqSet
			set, ok = s.dec.SeqSet()
			qr.knownUIDs = &set
		case 4:
			return s.skipSeqMatch()
		}
		return ok
	})
	return qr, ok && n >= 2
}

// skipSeqMatch reads the optional seq-match-data: it only helps a server
// that cannot report expunges exactly, and the tombstones here can.
func (s *session) skipSeqMatch() bool {
	return s.dec.List(func() bool {
		_, ok := s.dec.SeqSet()
		return ok
	})
}

// qresyncReport sends what changed since the client's MODSEQ: VANISHED
// (EARLIER) for expunged UIDs it may know, FETCH for changed messages
// (RFC 7162 §3.2.5.2).
func (s *session) qresyncReport(qr *qresyncParams) error {
	sel := s.sel
	vanished, err := s.srv.st.Vanished(s.ctx, s.acct.ID, sel.id, qr.modSeq)
	if err != nil {
		return err
	}
	if qr.knownUIDs != nil {
		max := uint32(0)
		for _, u := range vanished {
			max = maxU32(max, u)
		}
		keep := vanished[:0]
		for _, u := range vanished {
			if qr.knownUIDs.Contains(u, max) {
				keep = append(keep, u)
			}
		}
		vanished = keep
	}
	if len(vanished) > 0 {
		s.enc.Star().Atom("VANISHED (EARLIER) ").Raw(imapwire.FormatUIDs(vanished)).CRLF()
	}
	for i := range sel.msgs {
		m := &sel.msgs[i]
		if m.ModSeq <= qr.modSeq {
			continue
		}
		if qr.knownUIDs != nil && !qr.knownUIDs.Contains(m.UID, sel.maxUID()) {
			continue
		}
		s.writeFlagsFetch(i)
	}
	return nil
}

func maxU32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// RFC 9051 §6.4.1 CLOSE: expunge silently (read-write only), then leave.
func cmdClose(s *session, cmd *command) error {
	if err := s.endLine(); err != nil {
		return err
	}
	var err error
	if !s.sel.readOnly {
		err = s.expungeDeleted(false)
	}
	s.closeSelected()
	return err
}

// RFC 3691 UNSELECT (RFC 9051 §6.4.2): leave without expunging.
func cmdUnselect(s *session, cmd *command) error {
	if err := s.endLine(); err != nil {
		return err
	}
	s.closeSelected()
	return nil
}

// RFC 3501 §6.4.1 CHECK: every change is durable when it is answered, so
// there is nothing to do beyond the updates sync sends.
func cmdCheck(s *session, cmd *command) error { return s.endLine() }

// RFC 9051 §6.3.4 CREATE; RFC 6154 §3 CREATE-SPECIAL-USE.
func cmdCreate(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	name, nameErr := s.readMailboxName()
	if perr := (*parseError)(nil); errors.As(nameErr, &perr) {
		return nameErr
	}
	var uses []string
	if s.dec.Special(' ') {
		ok := s.dec.List(func() bool {
			p, ok := s.dec.Atom()
			if !ok || !strings.EqualFold(p, "USE") || !s.dec.SP() {
				return false
			}
			return s.dec.List(func() bool {
				u, ok := s.dec.Token("a special-use flag", func(b byte) bool { return b == '\\' || imapwire.IsAtomChar(b) })
				uses = append(uses, u)
				return ok
			})
		})
		if !ok {
			return s.syntax()
		}
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if nameErr != nil {
		return nameErr
	}
	special := ""
	for _, u := range uses {
		c := canonicalSpecialUse(u)
		if c == "" {
			return no("USEATTR", "unknown special-use attribute %s", sanitize(u))
		}
		if special != "" && special != c {
			return no("USEATTR", "one special-use attribute per mailbox")
		}
		special = c
	}
	if name == "INBOX" {
		return no("ALREADYEXISTS", "INBOX always exists")
	}
	if err := s.roomForMailboxes(levels(name)...); err != nil {
		return err
	}
	// RFC 9051 §6.3.4: create missing superior levels as well.
	if err := s.createParents(name, ""); err != nil {
		return err
	}
	_, err := s.srv.st.CreateMailbox(s.ctx, s.acct.ID, store.NewMailbox{Name: name, SpecialUse: special})
	return err
}

func canonicalSpecialUse(u string) string {
	for _, c := range []string{store.SpecialAll, store.SpecialArchive, store.SpecialDrafts, store.SpecialFlagged, store.SpecialJunk, store.SpecialSent, store.SpecialTrash} {
		if strings.EqualFold(u, c) {
			return c
		}
	}
	return ""
}

// RFC 9051 §6.3.5 DELETE. Children stay; the deleted level then shows as
// \NonExistent in LIST.
func cmdDelete(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	name, err := s.readMailboxName()
	if perr := (*parseError)(nil); errors.As(err, &perr) {
		return err
	}
	// An invalid name is answered after the end of the line is read.
	if err := s.endLine(); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return no("CANNOT", "INBOX cannot be deleted")
	}
	err = s.srv.st.DeleteMailbox(s.ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return no("NONEXISTENT", "no such mailbox")
	}
	return err
}

// RFC 9051 §6.3.6 RENAME, including RENAME INBOX (its messages move to the
// new mailbox and INBOX stays, empty; done by the store).
func cmdRename(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	from, ferr := s.readMailboxName()
	if perr := (*parseError)(nil); errors.As(ferr, &perr) {
		return ferr
	}
	if !s.dec.SP() {
		return s.syntax()
	}
	to, terr := s.readMailboxName()
	if perr := (*parseError)(nil); errors.As(terr, &perr) {
		return terr
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	if terr != nil {
		return terr
	}
	// New superior levels count, and so does the new mailbox of a RENAME
	// INBOX (INBOX stays).
	created := levels(to)
	if from != "INBOX" {
		created = created[:len(created)-1]
	}
	if err := s.roomForMailboxes(created...); err != nil {
		return err
	}
	// Superior levels of the new name are created as for CREATE.
	if err := s.createParents(to, from); err != nil {
		return err
	}
	err := s.srv.st.RenameMailbox(s.ctx, s.acct.ID, from, to)
	if errors.Is(err, store.ErrNotFound) {
		return no("NONEXISTENT", "no such mailbox")
	}
	if errors.Is(err, store.ErrNotPermitted) {
		return no("CANNOT", "a mailbox cannot be renamed to INBOX or into itself")
	}
	return err
}

// RFC 9051 §6.3.7 SUBSCRIBE, §6.3.8 UNSUBSCRIBE.
func cmdSubscribe(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	name, err := s.readMailboxName()
	if perr := (*parseError)(nil); errors.As(err, &perr) {
		return err
	}
	// An invalid name is answered after the end of the line is read.
	if err := s.endLine(); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	err = s.srv.st.SetSubscribed(s.ctx, s.acct.ID, name, cmd.name == "SUBSCRIBE")
	if errors.Is(err, store.ErrNotFound) {
		if cmd.name == "UNSUBSCRIBE" {
			// Unsubscribing a mailbox that is gone is a success: the
			// client's goal is reached.
			return nil
		}
		return no("NONEXISTENT", "no such mailbox")
	}
	return err
}

// levels returns name and its superior levels, outermost first:
// "a/b/c" gives "a", "a/b", "a/b/c".
func levels(name string) []string {
	var out []string
	for i := range len(name) {
		if name[i] == store.Delimiter {
			out = append(out, name[:i])
		}
	}
	return append(out, name)
}

// roomForMailboxes answers NO [LIMIT] (RFC 5530) when creating those of
// names that do not exist would take the account over
// Options.MaxMailboxes. Two sessions creating at once may both pass: the
// limit is against a flood, not exact.
func (s *session) roomForMailboxes(names ...string) error {
	limit := s.srv.opts.MaxMailboxes
	if limit <= 0 || len(names) == 0 {
		return nil
	}
	mbs, err := s.srv.st.Mailboxes(s.ctx, s.acct.ID)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(mbs))
	for _, m := range mbs {
		have[m.Name] = true
	}
	n := len(mbs)
	for _, name := range names {
		if !have[name] {
			have[name] = true
			n++
		}
	}
	if n > len(mbs) && n > limit {
		return no("LIMIT", "too many mailboxes: an account may have %d", limit)
	}
	return nil
}

// createParents creates the missing superior levels of name (RFC 9051
// §6.3.4), stopping below stop ("" for none: RENAME of a mailbox into its
// own hierarchy must not create the mailbox it moves).
func (s *session) createParents(name, stop string) error {
	parts := strings.Split(name, string(store.Delimiter))
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], string(store.Delimiter))
		if parent == stop {
			return nil
		}
		if _, err := s.srv.st.CreateMailbox(s.ctx, s.acct.ID, store.NewMailbox{Name: parent}); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
	}
	return nil
}
