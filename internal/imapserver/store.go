package imapserver

import (
	"strings"

	"mailroom/internal/imapwire"
	"mailroom/internal/store"
)

func init() {
	register("STORE", handler{fn: cmdStore, states: selectedState, uid: true, noExpunge: true})
}

// RFC 9051 §6.4.6 STORE, §6.4.9 UID STORE; RFC 7162 §3.1.3 UNCHANGEDSINCE.
//
//	store = "STORE" SP sequence-set [SP store-modifiers] SP store-att-flags
func cmdStore(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	set, ok := s.dec.SeqSet()
	if !ok || !s.dec.SP() {
		return s.syntax()
	}
	var unchangedSince uint64
	conditional := false
	if b, _ := s.dec.Peek(); b == '(' {
		bad := ""
		ok := s.dec.List(func() bool {
			name, ok := s.dec.Atom()
			if !ok {
				return false
			}
			if !strings.EqualFold(name, "UNCHANGEDSINCE") || conditional {
				bad = "unknown or repeated STORE modifier"
				return false
			}
			conditional = true
			if !s.dec.SP() {
				return false
			}
			// mod-sequence-valzer: 0 is allowed, and then every message fails.
			unchangedSince, ok = s.dec.Number64()
			return ok
		})
		if !ok {
			if bad != "" && s.dec.Err() == nil {
				return syntaxErr(bad)
			}
			return s.syntax()
		}
		if !s.dec.SP() {
			return s.syntax()
		}
	}
	item, ok := s.dec.Atom()
	if !ok {
		return s.syntax()
	}
	op, silent, known := storeItem(item)
	if !known {
		return syntaxErr("expected FLAGS, +FLAGS or -FLAGS")
	}
	if !s.dec.SP() {
		return s.syntax()
	}
	var flags []string
	if b, _ := s.dec.Peek(); b == '(' {
		if flags, ok = s.storeFlagList(); !ok {
			return s.syntax()
		}
	} else {
		// RFC 9051 §9: flag *(SP flag) without parentheses.
		for {
			f, ok := s.storeFlag()
			if !ok {
				return s.syntax()
			}
			flags = append(flags, f)
			if !s.dec.Special(' ') {
				break
			}
		}
	}
	if err := s.endLine(); err != nil {
		return err
	}

	for _, f := range flags {
		// RFC 9051 §2.3.2: \Recent is the server's to set.
		if strings.EqualFold(f, `\Recent`) {
			return badArg(`\Recent cannot be stored`)
		}
	}
	if s.sel.readOnly {
		// RFC 9051 §6.3.3: nothing may change in a mailbox opened by EXAMINE.
		return no("", "mailbox is read-only")
	}
	if op != store.FlagsRemove {
		fresh := 0
		for _, f := range flags {
			if !strings.HasPrefix(f, `\`) && !containsFold(s.sel.keywords, f) {
				fresh++
			}
		}
		if fresh > 0 && len(s.sel.keywords)+fresh > maxMailboxKeywords {
			return no("LIMIT", "at most %d keywords in one mailbox", maxMailboxKeywords)
		}
	}
	idxs, err := s.resolve(set, cmd.uid)
	if err != nil {
		return err
	}
	if conditional {
		// RFC 7162 §3.1: UNCHANGEDSINCE is a CONDSTORE enabling command, and
		// its own FETCH responses already carry MODSEQ.
		s.condstore = true
	}
	if len(idxs) == 0 {
		return nil
	}
	uids := make([]uint32, len(idxs))
	for k, i := range idxs {
		uids[k] = s.sel.msgs[i].UID
	}

	var updates []store.FlagUpdate
	var failed []uint32
	if conditional && unchangedSince == 0 {
		// RFC 7162 §3.1.3: UNCHANGEDSINCE 0 always fails, every message has
		// a MODSEQ. The store reads 0 as "unconditional".
		failed = uids
	} else {
		updates, failed, err = s.srv.st.SetFlags(s.ctx, s.acct.ID, s.sel.id, uids, op, flags, unchangedSince)
		if err != nil {
			return err
		}
	}

	// Record the outcome in the view, so that sync does not report it again,
	// and tell the client. Without .SILENT every message of the set gets its
	// FETCH, changed or not (RFC 9051 §6.4.6). With .SILENT a FETCH is still
	// due when the flags are not what the client can work out itself
	// (another session changed them meanwhile), and with CONDSTORE whenever
	// the MODSEQ moved (RFC 7162 §3.1.3: "even if the .SILENT suffix is
	// specified").
	if len(updates) > 0 {
		s.sel.own()
	}
	for _, u := range updates {
		s.noteKeywords(u.Flags)
	}
	for _, u := range updates {
		i := s.sel.indexOf(u.UID)
		if i < 0 {
			continue
		}
		cur := &s.sel.msgs[i]
		expected := store.ApplyFlags(cur.Flags, op, flags)
		modseqMoved := u.ModSeq > cur.ModSeq
		cur.Flags = u.Flags
		if modseqMoved {
			cur.ModSeq = u.ModSeq
		}
		switch {
		case !silent || !store.EqualFlags(expected, u.Flags):
			s.writeStoreFetch(i, true, cmd.uid)
		case s.condstore && modseqMoved:
			s.writeStoreFetch(i, false, cmd.uid)
		}
	}

	if len(failed) > 0 {
		// RFC 7162 §3.1.3: MODIFIED lists what was not changed, as UIDs
		// for UID STORE and sequence numbers for STORE.
		nums := failed
		if !cmd.uid {
			nums = make([]uint32, 0, len(failed))
			for _, u := range failed {
				if i := s.sel.indexOf(u); i >= 0 {
					nums = append(nums, uint32(i+1))
				}
			}
		}
		return okCode("MODIFIED "+imapwire.FormatUIDs(nums), "conditional STORE failed for some messages")
	}
	return nil
}

// storeItem decodes "FLAGS", "+FLAGS" or "-FLAGS" with an optional ".SILENT".
func storeItem(item string) (op store.FlagOp, silent, ok bool) {
	u := strings.ToUpper(item)
	if rest, found := strings.CutSuffix(u, ".SILENT"); found {
		u, silent = rest, true
	}
	switch u {
	case "FLAGS":
		return store.FlagsReplace, silent, true
	case "+FLAGS":
		return store.FlagsAdd, silent, true
	case "-FLAGS":
		return store.FlagsRemove, silent, true
	}
	return 0, false, false
}

// maxMailboxKeywords bounds the keywords in use in one mailbox (each
// message has its own bound, store.MaxKeywords): every session's FLAGS
// and PERMANENTFLAGS list them all.
const maxMailboxKeywords = 256

// storeFlag reads a flag: a system flag ("\" atom) or a keyword (atom).
// Unknown system flags are let through; the store drops them (they are not
// in PERMANENTFLAGS, RFC 9051 §7.1).
func (s *session) storeFlag() (string, bool) {
	if s.dec.Special('\\') {
		a, ok := s.dec.Atom()
		return `\` + a, ok
	}
	return s.dec.Atom()
}

// storeFlagList reads flag-list = "(" [flag *(SP flag)] ")".
func (s *session) storeFlagList() ([]string, bool) {
	flags := []string{}
	ok := s.dec.List(func() bool {
		f, ok := s.storeFlag()
		flags = append(flags, f)
		return ok
	})
	return flags, ok
}

// writeStoreFetch sends a STORE's FETCH response:
// "* n FETCH ([FLAGS (...)] [UID u] [MODSEQ (m)])". UID is there for UID
// STORE (RFC 9051 §6.4.9), MODSEQ once CONDSTORE is on (RFC 7162 §3.1.4.2).
func (s *session) writeStoreFetch(idx int, withFlags, withUID bool) {
	m := &s.sel.msgs[idx]
	s.enc.Star().Number(uint32(idx + 1)).Raw(" FETCH (")
	sep := false
	if withFlags {
		s.enc.Raw("FLAGS ")
		s.writeFlags(m)
		sep = true
	}
	if withUID {
		if sep {
			s.enc.SP()
		}
		s.enc.Raw("UID ").Number(m.UID)
		sep = true
	}
	if s.condstore {
		if sep {
			s.enc.SP()
		}
		s.enc.Raw("MODSEQ (").Number64(m.ModSeq).Special(')')
	}
	s.enc.Special(')').CRLF()
}
