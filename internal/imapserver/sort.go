package imapserver

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func init() {
	register("SORT", handler{fn: cmdSort, states: selectedState, uid: true, noExpunge: true})
}

// sortKey is a sort criterion's key (RFC 5256 §3, RFC 5957 §3).
type sortKey uint8

const (
	sortArrival sortKey = iota
	sortCc
	sortDate
	sortFrom
	sortSize
	sortSubject
	sortTo
	sortDisplayFrom // RFC 5957
	sortDisplayTo
)

var sortKeyNames = map[string]sortKey{
	"ARRIVAL": sortArrival, "CC": sortCc, "DATE": sortDate, "FROM": sortFrom,
	"SIZE": sortSize, "SUBJECT": sortSubject, "TO": sortTo,
	"DISPLAYFROM": sortDisplayFrom, "DISPLAYTO": sortDisplayTo,
}

// sortCriterion is one sort-criterion: a key, maybe REVERSE.
type sortCriterion struct {
	key     sortKey
	reverse bool
}

// maxSortCriteria bounds the criteria of one SORT; there are nine keys.
const maxSortCriteria = 32

// cmdSort is SORT and UID SORT (RFC 5256 §3):
//
//	sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria
//	sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
//	sort-criterion = ["REVERSE" SP] sort-key
//	search-criteria = charset 1*(SP search-key)
//
// The search program is the one SEARCH runs; the keys come from the
// stored structures, cached with the envelopes.
func cmdSort(s *session, cmd *command) error {
	crit, req, err := s.readSort()
	if err == nil {
		err = s.sort(cmd, crit, req)
	}
	if err != nil && req != nil && req.save {
		// RFC 5182 §2.1: a failed command with SAVE empties "$".
		s.searchRes = nil
	}
	return err
}

func (s *session) sort(cmd *command, crit []sortCriterion, req *searchRequest) error {
	idxs, err := s.searchIndexes(req)
	if err != nil {
		return err
	}
	if err := s.sortIndexes(idxs, crit); err != nil {
		return err
	}
	s.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if req.hasReturn {
		// RFC 5267 §3 (ESORT): an ESEARCH response whose MIN, MAX and
		// ALL follow the sort order; RETURN () is RETURN (ALL).
		if !(req.min || req.max || req.count || req.all || req.save) {
			req.all = true
		}
		s.writeESearch(cmd, req, idxs, true)
		return nil
	}
	// RFC 5256 §4: "* SORT" and the numbers in sorted order; after a
	// MODSEQ search the highest MODSEQ (RFC 7162 §3.1.5).
	s.enc.Star().Atom("SORT")
	for _, i := range idxs {
		s.enc.SP().Number(s.number(cmd, i))
	}
	if req.hasModSeq && len(idxs) > 0 {
		s.enc.Raw(" (MODSEQ ").Number64(s.highestModSeq(idxs)).Special(')')
	}
	s.enc.CRLF()
	return nil
}

// readSort reads the arguments of SORT.
func (s *session) readSort() ([]sortCriterion, *searchRequest, error) {
	req := &searchRequest{}
	p := &searchParser{s: s, req: req}
	if !s.dec.SP() {
		return nil, nil, s.syntax()
	}
	if b, _ := s.dec.Peek(); b != '(' {
		// RFC 5267 §3: sort =/ ["UID" SP] "SORT" search-return-opts SP
		// sort-criteria SP search-criteria.
		a, ok := s.dec.Atom()
		if !ok {
			return nil, nil, s.syntax()
		}
		if !strings.EqualFold(a, "RETURN") {
			return nil, nil, syntaxErr("sort criteria or RETURN expected")
		}
		if !s.dec.SP() || !p.readReturn() || !s.dec.SP() {
			return nil, req, p.error()
		}
	}
	var crit []sortCriterion
	ok := s.dec.List(func() bool {
		if len(crit) >= maxSortCriteria {
			return p.fail("too many sort criteria")
		}
		a, ok := s.dec.Atom()
		if !ok {
			return false
		}
		c := sortCriterion{}
		if strings.EqualFold(a, "REVERSE") {
			c.reverse = true
			if !s.dec.SP() {
				return false
			}
			if a, ok = s.dec.Atom(); !ok {
				return false
			}
		}
		k, known := sortKeyNames[strings.ToUpper(a)]
		if !known {
			return p.fail("unknown sort key %s", sanitize(a))
		}
		c.key = k
		crit = append(crit, c)
		return true
	})
	if !ok {
		return nil, req, p.error()
	}
	if len(crit) == 0 {
		return nil, req, syntaxErr("empty sort criteria")
	}
	if !s.dec.SP() {
		return nil, req, s.syntax()
	}
	// The charset is not optional here (RFC 5256 §3).
	cs, ok := s.dec.AString()
	if !ok || !s.dec.SP() {
		return nil, req, s.syntax()
	}
	req.charset = cs
	prog, err := p.readProgram("")
	if err != nil {
		return nil, req, err
	}
	req.program = prog
	return crit, req, nil
}

// searchIndexes checks the charset and runs the search program of req,
// returning the indexes (into s.sel.msgs) of the matches, ascending.
func (s *session) searchIndexes(req *searchRequest) ([]int, error) {
	switch strings.ToUpper(req.charset) {
	case "UTF-8", "US-ASCII":
	default:
		// RFC 5256 §3: NO [BADCHARSET] for a charset not supported.
		return nil, no("BADCHARSET (UTF-8 US-ASCII)", "unsupported charset")
	}
	return s.runSearch(req)
}

// sortRow is one message being sorted.
type sortRow struct {
	i    int // index into s.sel.msgs; ascending i is sequence order
	k    *sortKeys
	date int64 // sent date, else internal date (RFC 5256 §2.2)
}

// sortRows loads the sort keys of the messages at idxs.
func (s *session) sortRows(idxs []int) ([]sortRow, error) {
	keys, err := s.loadSortKeys(idxs)
	if err != nil {
		return nil, err
	}
	rows := make([]sortRow, len(idxs))
	for n, i := range idxs {
		k := keys[n]
		rows[n] = sortRow{i: i, k: k, date: k.date}
		if !k.hasDate {
			rows[n].date = s.sel.msgs[i].InternalDate.Unix()
		}
	}
	return rows, nil
}

// sortIndexes sorts idxs (ascending) by crit in place. Messages equal by
// every criterion stay in sequence order (RFC 5256 §3); REVERSE reverses
// its own criterion only.
func (s *session) sortIndexes(idxs []int, crit []sortCriterion) error {
	rows, err := s.sortRows(idxs)
	if err != nil {
		return err
	}
	msgs := s.sel.msgs
	slices.SortFunc(rows, func(a, b sortRow) int {
		for _, c := range crit {
			var r int
			switch c.key {
			case sortArrival:
				r = msgs[a.i].InternalDate.Compare(msgs[b.i].InternalDate)
			case sortCc:
				r = strings.Compare(a.k.cc, b.k.cc)
			case sortDate:
				r = cmp.Compare(a.date, b.date)
			case sortFrom:
				r = strings.Compare(a.k.from, b.k.from)
			case sortSize:
				r = cmp.Compare(msgs[a.i].Size, msgs[b.i].Size)
			case sortSubject:
				r = strings.Compare(a.k.subject, b.k.subject)
			case sortTo:
				r = strings.Compare(a.k.to, b.k.to)
			case sortDisplayFrom:
				r = strings.Compare(a.k.displayFrom, b.k.displayFrom)
			case sortDisplayTo:
				r = strings.Compare(a.k.displayTo, b.k.displayTo)
			}
			if r != 0 {
				if c.reverse {
					return -r
				}
				return r
			}
		}
		return cmp.Compare(a.i, b.i)
	})
	for n := range rows {
		idxs[n] = rows[n].i
	}
	return nil
}

// formatOrdered writes nums as a sequence-set that keeps their order:
// only runs of consecutive ascending numbers become ranges (RFC 5267 §3.1
// ALL: the numbers in sort order).
func formatOrdered(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}
