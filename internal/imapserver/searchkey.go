package imapserver

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"mailroom/internal/imapwire"
)

// maxSearchKeys bounds the keys of one search program: evaluation costs
// grow with it, and no client needs thousands.
const maxSearchKeys = 4096

// searchOp is the kind of a search key (RFC 9051 §6.4.4).
type searchOp uint8

const (
	opAll searchOp = iota
	opAnd          // a parenthesised list, and the program itself
	opOr
	opNot
	opSeq // sequence-set
	opUID
	opFlag   // ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, KEYWORD
	opUnflag // UNANSWERED … UNKEYWORD
	opNew
	opOld
	opRecent
	opBefore // internal date
	opOn
	opSince
	opSentBefore // Date: header
	opSentOn
	opSentSince
	opSavedBefore // save date, RFC 8514
	opSavedOn
	opSavedSince
	opLarger
	opSmaller
	opOlder // RFC 5032 WITHIN
	opYounger
	opModSeq // RFC 7162 §3.1.5
	opHeader
	opFrom // address fields, from the envelope
	opTo
	opCc
	opBcc
	opSubject
	opBody
	opText
)

// What a key needs to be decided, cheapest first. Keys of AND and OR are
// evaluated in this order, so that a cheap key can spare a store call.
const (
	costIndex     = iota // the session's view (s.sel.msgs) only
	costStructure        // the stored Structure: envelope, header names
	costHeader           // the header block of the message file
	costBody             // the text parts of the message file
)

// searchKey is one parsed search key.
type searchKey struct {
	op     searchOp
	cost   int
	set    imapwire.SeqSet
	ranges []imapwire.SeqRange // set resolved for this search
	flag   string
	day    int   // opBefore…opSavedSince: yyyymmdd
	n      int64 // LARGER, SMALLER (octets); OLDER, YOUNGER (seconds)
	modseq uint64
	field  string // HEADER field name, lower case
	raw    string // the search string as sent
	needle string // raw, case-folded
	sub    []*searchKey
}

// searchRequest is a parsed SEARCH command.
type searchRequest struct {
	charset   string
	hasReturn bool // RETURN (…) given (RFC 4731)
	min       bool
	max       bool
	count     bool
	all       bool
	save      bool // RFC 5182
	program   *searchKey
	hasModSeq bool // a MODSEQ key appears (RFC 7162 §3.1.5)
	keys      int
}

// searchParser reads a search program from the session's decoder.
type searchParser struct {
	s   *session
	req *searchRequest
	err error // a syntax error of the parser's (the decoder's own is in s.dec)
}

func (p *searchParser) fail(format string, args ...any) bool {
	if p.err == nil {
		p.err = syntaxErr(fmt.Sprintf(format, args...))
	}
	return false
}

// error returns the syntax error met.
func (p *searchParser) error() error {
	if p.s.dec.Err() == nil && p.err != nil {
		return p.err
	}
	return p.s.syntax()
}

// readSearch reads the arguments of SEARCH (RFC 9051 §6.4.4, RFC 4731 §3.1,
// RFC 4466 §2.6):
//
//	search = "SEARCH" [search-return-opts] SP search-program
//	search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
//
// On a syntax error req still tells whether SAVE was asked for.
func (s *session) readSearch() (*searchRequest, error) {
	req := &searchRequest{}
	p := &searchParser{s: s, req: req}
	if !s.dec.SP() {
		return req, s.syntax()
	}
	var first string
	if b, _ := s.dec.Peek(); !imapwire.IsSeqSetStart(b) && b != '(' {
		a, ok := s.dec.Atom()
		if !ok {
			return req, s.syntax()
		}
		first = strings.ToUpper(a)
	}
	if first == "RETURN" {
		if !s.dec.SP() || !p.readReturn() || !s.dec.SP() {
			return req, p.error()
		}
		first = ""
		if b, _ := s.dec.Peek(); !imapwire.IsSeqSetStart(b) && b != '(' {
			a, ok := s.dec.Atom()
			if !ok {
				return req, s.syntax()
			}
			first = strings.ToUpper(a)
		}
	}
	if first == "CHARSET" {
		if !s.dec.SP() {
			return req, s.syntax()
		}
		cs, ok := s.dec.AString()
		if !ok || !s.dec.SP() {
			return req, s.syntax()
		}
		req.charset = cs
		first = ""
	}
	prog, err := p.readProgram(first)
	if err != nil {
		return req, err
	}
	req.program = prog
	return req, nil
}

// readProgram reads search-key *(SP search-key) to the end of the line;
// first is the atom of the first key when it is already read. SEARCH, SORT
// and THREAD (RFC 5256 §3) share it.
func (p *searchParser) readProgram(first string) (*searchKey, error) {
	s := p.s
	prog := &searchKey{op: opAnd}
	for {
		k := p.readKey(first)
		if k == nil {
			return nil, p.error()
		}
		first = ""
		prog.sub = append(prog.sub, k)
		if s.dec.AtEOL() || s.dec.Err() != nil {
			break
		}
		if !s.dec.SP() {
			return nil, s.syntax()
		}
	}
	if err := s.endLine(); err != nil {
		return nil, err
	}
	return prog.finish(), nil
}

// readReturn reads "(" [search-return-opt *(SP search-return-opt)] ")".
func (p *searchParser) readReturn() bool {
	req := p.req
	req.hasReturn = true
	n := 0
	return p.s.dec.List(func() bool {
		if n++; n > 16 {
			return p.fail("too many RETURN options")
		}
		a, ok := p.s.dec.Atom()
		if !ok {
			return false
		}
		switch strings.ToUpper(a) {
		case "MIN":
			req.min = true
		case "MAX":
			req.max = true
		case "COUNT":
			req.count = true
		case "ALL":
			req.all = true
		case "SAVE":
			req.save = true
		default:
			// RFC 4466 §2.6.1: unknown return options are a syntax error.
			return p.fail("unknown SEARCH RETURN option %s", sanitize(a))
		}
		return true
	})
}

// readKey reads one search-key; name is its already read atom, if any.
// It returns nil on a syntax error.
func (p *searchParser) readKey(name string) *searchKey {
	d := p.s.dec
	if p.req.keys++; p.req.keys > maxSearchKeys {
		p.fail("search program too large (at most %d keys)", maxSearchKeys)
		return nil
	}
	if name == "" {
		b, ok := d.Peek()
		if !ok {
			return nil
		}
		switch {
		case b == '(':
			k := &searchKey{op: opAnd}
			ok := d.List(func() bool {
				sub := p.readKey("")
				if sub == nil {
					return false
				}
				k.sub = append(k.sub, sub)
				return true
			})
			if !ok {
				return nil
			}
			if len(k.sub) == 0 {
				p.fail("empty search key list")
				return nil
			}
			return k.finish()
		case imapwire.IsSeqSetStart(b):
			set, ok := d.SeqSet()
			if !ok {
				return nil
			}
			return &searchKey{op: opSeq, set: set}
		}
		a, ok := d.Atom()
		if !ok {
			return nil
		}
		name = strings.ToUpper(a)
	}
	k := &searchKey{}
	var ok bool
	switch name {
	case "ALL":
		k.op = opAll
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN":
		k.op, k.flag = opFlag, `\`+name[:1]+strings.ToLower(name[1:])
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		k.op, k.flag = opUnflag, `\`+name[2:3]+strings.ToLower(name[3:])
	case "KEYWORD", "UNKEYWORD":
		k.op = opFlag
		if name == "UNKEYWORD" {
			k.op = opUnflag
		}
		// flag-keyword = atom (RFC 9051 §9).
		if !d.SP() {
			return nil
		}
		if k.flag, ok = d.Atom(); !ok {
			return nil
		}
	case "NEW":
		k.op = opNew
	case "OLD":
		k.op = opOld
	case "RECENT":
		k.op = opRecent
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		k.op = map[string]searchOp{
			"BEFORE": opBefore, "ON": opOn, "SINCE": opSince,
			"SENTBEFORE": opSentBefore, "SENTON": opSentOn, "SENTSINCE": opSentSince,
			"SAVEDBEFORE": opSavedBefore, "SAVEDON": opSavedOn, "SAVEDSINCE": opSavedSince,
		}[name]
		if !d.SP() {
			return nil
		}
		t, ok := d.Date()
		if !ok {
			return nil
		}
		k.day = dayNumber(t)
	case "SAVEDATESUPPORTED":
		// RFC 8514 §4: every mailbox here keeps save dates.
		k.op = opAll
	case "LARGER", "SMALLER":
		k.op = opLarger
		if name == "SMALLER" {
			k.op = opSmaller
		}
		if !d.SP() {
			return nil
		}
		n, ok := d.Number64()
		if !ok {
			return nil
		}
		k.n = int64(n)
	case "OLDER", "YOUNGER":
		k.op = opOlder
		if name == "YOUNGER" {
			k.op = opYounger
		}
		if !d.SP() {
			return nil
		}
		n, ok := d.NZNumber()
		if !ok {
			return nil
		}
		k.n = int64(n)
	case "UID":
		k.op = opUID
		if !d.SP() {
			return nil
		}
		if k.set, ok = d.SeqSet(); !ok {
			return nil
		}
	case "MODSEQ":
		// RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP
		// mod-sequence-valzer. The entry is parsed and ignored: the
		// server keeps one MODSEQ per message.
		k.op = opModSeq
		p.req.hasModSeq = true
		if !d.SP() {
			return nil
		}
		if b, _ := d.Peek(); b == '"' {
			if _, ok := d.Quoted(); !ok {
				return nil
			}
			if !d.SP() {
				return nil
			}
			t, ok := d.Atom()
			if !ok {
				return nil
			}
			switch strings.ToLower(t) {
			case "priv", "shared", "all":
			default:
				p.fail("entry type must be priv, shared or all")
				return nil
			}
			if !d.SP() {
				return nil
			}
		}
		if k.modseq, ok = d.Number64(); !ok {
			return nil
		}
	case "HEADER":
		k.op = opHeader
		if !d.SP() {
			return nil
		}
		f, ok := d.AString()
		if !ok || !d.SP() {
			return nil
		}
		if f == "" || strings.ContainsFunc(f, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == ':' }) {
			p.fail("invalid header field name")
			return nil
		}
		k.field = strings.ToLower(f)
		if k.raw, ok = d.AString(); !ok {
			return nil
		}
	case "FROM", "TO", "CC", "BCC", "SUBJECT", "BODY", "TEXT":
		k.op = map[string]searchOp{
			"FROM": opFrom, "TO": opTo, "CC": opCc, "BCC": opBcc,
			"SUBJECT": opSubject, "BODY": opBody, "TEXT": opText,
		}[name]
		if !d.SP() {
			return nil
		}
		if k.raw, ok = d.AString(); !ok {
			return nil
		}
		if k.raw == "" && k.op <= opSubject {
			// An empty string asks for the field, as with HEADER.
			k.op, k.field = opHeader, strings.ToLower(name)
		}
	case "NOT":
		if !d.SP() {
			return nil
		}
		if !d.Enter() {
			d.Leave()
			return nil
		}
		sub := p.readKey("")
		d.Leave()
		if sub == nil {
			return nil
		}
		k.op, k.sub = opNot, []*searchKey{sub}
	case "OR":
		if !d.SP() {
			return nil
		}
		if !d.Enter() {
			d.Leave()
			return nil
		}
		a := p.readKey("")
		var b *searchKey
		if a != nil && d.SP() {
			b = p.readKey("")
		}
		d.Leave()
		if a == nil || b == nil {
			return nil
		}
		k.op, k.sub = opOr, []*searchKey{a, b}
	default:
		p.fail("unknown search key %s", sanitize(name))
		return nil
	}
	return k.finish()
}

// finish computes the key's cost and orders the keys of AND and OR by it.
func (k *searchKey) finish() *searchKey {
	switch k.op {
	case opAnd, opOr, opNot:
		sort.SliceStable(k.sub, func(i, j int) bool { return k.sub[i].cost < k.sub[j].cost })
		for _, sub := range k.sub {
			k.cost = max(k.cost, sub.cost)
		}
	case opSentBefore, opSentOn, opSentSince, opFrom, opTo, opCc, opBcc, opSubject:
		k.cost = costStructure
	case opHeader:
		k.cost = costHeader
		if envelopeField(k.field) {
			k.cost = costStructure
		}
	case opBody, opText:
		k.cost = costBody
	default:
		k.cost = costIndex
	}
	return k
}

// envelopeField reports whether a HEADER search on the field can be
// answered from the envelope (its raw value is kept there).
func envelopeField(f string) bool {
	switch f {
	case "subject", "date", "message-id", "in-reply-to":
		return true
	}
	return false
}

// prepare checks the search strings and folds them for matching.
func (k *searchKey) prepare() error {
	for _, sub := range k.sub {
		if err := sub.prepare(); err != nil {
			return err
		}
	}
	if k.raw != "" {
		if !utf8.ValidString(k.raw) {
			return badArg("search string is not valid UTF-8")
		}
		k.needle = foldString(k.raw)
	}
	return nil
}

// dayNumber is the calendar date of t in its own zone, as yyyymmdd.
func dayNumber(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// foldString folds s for case-insensitive matching.
func foldString(s string) string { return string(foldAppend(nil, []byte(s))) }

// foldAppend appends the case-folded form of UTF-8 text b to dst. Invalid
// bytes become U+FFFD.
func foldAppend(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(unicode.ToUpper(r)))
		i += n
	}
	return dst
}
