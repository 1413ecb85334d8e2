package imapserver

import (
	"slices"
	"strings"
	"time"

	"mailroom/internal/imapwire"
)

func init() {
	register("SEARCH", handler{fn: cmdSearch, states: selectedState, uid: true, noExpunge: true})
}

// cmdSearch is SEARCH and UID SEARCH: RFC 9051 §6.4.4 and RFC 3501 §6.4.4,
// with ESEARCH (RFC 4731), SEARCHRES (RFC 5182), CONDSTORE's MODSEQ key
// (RFC 7162 §3.1.5), WITHIN (RFC 5032) and SAVEDATE (RFC 8514).
//
// Keys that need only flags, numbers, sizes and dates are decided from the
// session's view; the stored structure is loaded (a batch at a time) only
// for messages those keys leave undecided, and the message file is opened
// only for HEADER fields the envelope lacks, BODY and TEXT.
func cmdSearch(s *session, cmd *command) error {
	req, err := s.readSearch()
	if err != nil {
		if req.save {
			// RFC 5182 §2.1: a failed SEARCH with SAVE empties "$".
			s.searchRes = nil
		}
		return err
	}
	if err := s.search(cmd, req); err != nil {
		if req.save {
			s.searchRes = nil
		}
		return err
	}
	return nil
}

func (s *session) search(cmd *command, req *searchRequest) error {
	switch strings.ToUpper(req.charset) {
	case "", "UTF-8", "US-ASCII":
	default:
		// RFC 9051 §6.4.4.
		return no("BADCHARSET (UTF-8 US-ASCII)", "unsupported charset")
	}
	idxs, err := s.runSearch(req)
	if err != nil {
		return err
	}
	s.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if !req.hasReturn && !s.rev2 {
		s.writeSearch(cmd, req, idxs)
		return nil
	}
	if !req.hasReturn || !(req.min || req.max || req.count || req.all || req.save) {
		// RETURN () is RETURN (ALL) (RFC 4731 §3.1); so is SEARCH
		// without RETURN under IMAP4rev2 (RFC 9051 §6.4.4).
		req.all = true
	}
	s.writeESearch(cmd, req, idxs, false)
	return nil
}

// runSearch runs the search program of req (SEARCH, SORT, THREAD) and
// returns the indexes (into s.sel.msgs) of the matches, ascending.
func (s *session) runSearch(req *searchRequest) ([]int, error) {
	if err := req.program.prepare(); err != nil {
		return nil, err
	}
	if req.hasModSeq && !s.condstore {
		// RFC 7162 §3.1: SEARCH MODSEQ enables CONDSTORE; with a mailbox
		// selected the client learns its HIGHESTMODSEQ.
		s.condstore = true
		s.enc.Star().Atom("OK [HIGHESTMODSEQ ").Number64(s.sel.highestModSeq).Raw("] CONDSTORE enabled").CRLF()
	}
	e := &searchEval{s: s, now: time.Now()}
	if len(s.searchRes) > 0 {
		e.saved = slices.Clone(s.searchRes)
		slices.Sort(e.saved)
	}
	return e.run(req.program)
}

// number is the sequence number or UID of message index i.
func (s *session) number(cmd *command, i int) uint32 {
	if cmd.uid {
		return s.sel.msgs[i].UID
	}
	return uint32(i + 1)
}

// highestModSeq is the largest MODSEQ of the messages at idxs.
func (s *session) highestModSeq(idxs []int) uint64 {
	var h uint64
	for _, i := range idxs {
		h = max(h, s.sel.msgs[i].ModSeq)
	}
	return h
}

// writeSearch writes "* SEARCH n…" (RFC 9051 §7.3.5, RFC 3501 §7.2.5),
// with "(MODSEQ m)" after a MODSEQ search that found something (RFC 7162
// §3.1.5).
func (s *session) writeSearch(cmd *command, req *searchRequest, idxs []int) {
	s.enc.Star().Atom("SEARCH")
	for _, i := range idxs {
		s.enc.SP().Number(s.number(cmd, i))
	}
	if req.hasModSeq && len(idxs) > 0 {
		s.enc.Raw(" (MODSEQ ").Number64(s.highestModSeq(idxs)).Special(')')
	}
	s.enc.CRLF()
}

// writeESearch answers SEARCH RETURN (RFC 4731 §3.1, RFC 9051 §7.3.4) and
// saves the result for SAVE (RFC 5182 §2.4). idxs are ascending, or, when
// sorted (ESORT, RFC 5267 §3), in sort order: MIN and MAX are then the
// first and the last sorted, and ALL keeps the order.
func (s *session) writeESearch(cmd *command, req *searchRequest, idxs []int, sorted bool) {
	if req.save {
		// RFC 5182 §2.4: with MIN and/or MAX but neither ALL nor COUNT,
		// only what they return is saved.
		saved := idxs
		if (req.min || req.max) && !req.all && !req.count && len(idxs) > 0 {
			saved = nil
			if req.min {
				saved = append(saved, idxs[0])
			}
			if req.max && (!req.min || len(idxs) > 1) {
				saved = append(saved, idxs[len(idxs)-1])
			}
		}
		s.searchRes = make([]uint32, len(saved))
		for k, i := range saved {
			s.searchRes[k] = s.sel.msgs[i].UID
		}
		if sorted {
			// "$" is a set (RFC 5182 §2.4); keep it in UID order.
			slices.Sort(s.searchRes)
		}
		if !req.min && !req.max && !req.count && !req.all {
			// RFC 5182 §2.1: SAVE alone sends no ESEARCH response.
			return
		}
	}
	s.enc.Star().Atom("ESEARCH (TAG ").Quoted(cmd.tag).Special(')')
	if cmd.uid {
		s.enc.Raw(" UID")
	}
	// RFC 4731 §3.1: MIN, MAX and ALL are left out when nothing matched.
	if len(idxs) > 0 {
		if req.min {
			s.enc.Raw(" MIN ").Number(s.number(cmd, idxs[0]))
		}
		if req.max {
			s.enc.Raw(" MAX ").Number(s.number(cmd, idxs[len(idxs)-1]))
		}
	}
	if req.count {
		s.enc.Raw(" COUNT ").Number(uint32(len(idxs)))
	}
	if req.all && len(idxs) > 0 {
		nums := make([]uint32, len(idxs))
		for k, i := range idxs {
			nums[k] = s.number(cmd, i)
		}
		if sorted {
			s.enc.Raw(" ALL ").Raw(formatOrdered(nums))
		} else {
			s.enc.Raw(" ALL ").Raw(imapwire.FormatUIDs(nums))
		}
	}
	if req.hasModSeq && len(idxs) > 0 {
		// RFC 4731 §3.2: the highest MODSEQ of the messages returned; with
		// only MIN and/or MAX, of those.
		of := idxs
		if !req.all && !req.count {
			of = nil
			if req.min {
				of = append(of, idxs[0])
			}
			if req.max {
				of = append(of, idxs[len(idxs)-1])
			}
		}
		if len(of) > 0 {
			s.enc.Raw(" MODSEQ ").Number64(s.highestModSeq(of))
		}
	}
	s.enc.CRLF()
}
