package imapserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"mailroom/internal/imapwire"
	"mailroom/internal/message"
	"mailroom/internal/store"
)

func init() {
	register("FETCH", handler{fn: cmdFetch, states: selectedState, uid: true, noExpunge: true})
}

// fetchBatch is how many messages are loaded from the store at once: the
// structures of one batch are in memory together, bodies never are.
const fetchBatch = 256

type fetchKind int

const (
	fetchUID fetchKind = iota
	fetchFlags
	fetchInternalDate
	fetchSize // RFC822.SIZE
	fetchEnvelope
	fetchBody          // BODY: BODYSTRUCTURE without extension data
	fetchBodyStructure // BODYSTRUCTURE
	fetchSection       // BODY[...], BODY.PEEK[...]
	fetchBinary        // BINARY[...], BINARY.PEEK[...] (RFC 3516)
	fetchBinarySize    // BINARY.SIZE[...] (RFC 3516)
	fetchRFC822        // RFC 3501: BODY[] by another name
	fetchRFC822Header  // RFC 3501: BODY.PEEK[HEADER]
	fetchRFC822Text    // RFC 3501: BODY[TEXT]
	fetchModSeq        // RFC 7162 §3.1.4
	fetchSaveDate      // RFC 8514
	fetchPreview       // RFC 8970
)

// fetchAtt is one requested data item.
type fetchAtt struct {
	kind  fetchKind
	sec   *bodySection // fetchSection, fetchBinary, fetchBinarySize, fetchRFC822*
	peek  bool
	start int64 // partial origin
	count int64 // partial length; -1 without <partial>
}

// setsSeen reports whether fetching a sets \Seen (RFC 9051 §6.4.5).
func (a *fetchAtt) setsSeen() bool {
	switch a.kind {
	case fetchSection, fetchBinary:
		return !a.peek
	case fetchRFC822, fetchRFC822Text:
		return true
	}
	return false
}

// needsBody reports whether a's value is read from the message's bytes.
func (a *fetchAtt) needsBody() bool {
	switch a.kind {
	case fetchSection, fetchBinary, fetchBinarySize, fetchRFC822, fetchRFC822Header, fetchRFC822Text:
		return true
	}
	return false
}

func (a *fetchAtt) needsStructure() bool {
	switch a.kind {
	case fetchUID, fetchFlags, fetchInternalDate, fetchSize, fetchModSeq, fetchSaveDate:
		return false
	}
	return !a.whole()
}

// whole reports whether the item is the whole message (BODY[], RFC822),
// which is the body file as stored: no structure needed.
func (a *fetchAtt) whole() bool {
	return (a.kind == fetchSection || a.kind == fetchRFC822) && len(a.sec.path) == 0 && a.sec.spec == specAll
}

type fetchRequest struct {
	set  imapwire.SeqSet
	atts []fetchAtt
	// CHANGEDSINCE (RFC 7162 §3.1.4.1) and VANISHED (§3.2.6) modifiers.
	changedSince    uint64
	hasChangedSince bool
	vanished        bool
}

// hasWhole reports whether an item is the whole message (fetchAtt.whole).
func (r *fetchRequest) hasWhole() bool {
	for i := range r.atts {
		if r.atts[i].whole() {
			return true
		}
	}
	return false
}

func (r *fetchRequest) has(k fetchKind) bool {
	for i := range r.atts {
		if r.atts[i].kind == k {
			return true
		}
	}
	return false
}

// RFC 9051 §6.4.5 FETCH, §6.4.9 UID FETCH; RFC 7162 §3.1.4 and §3.2.6
// modifiers.
func cmdFetch(s *session, cmd *command) error {
	req, err := s.readFetch()
	if err != nil {
		return err
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if req.vanished {
		// RFC 7162 §3.2.6: BAD for each of these.
		switch {
		case !cmd.uid:
			return badArg("VANISHED is only allowed with UID FETCH")
		case !s.qresync:
			return badArg("VANISHED needs QRESYNC enabled")
		case !req.hasChangedSince:
			return badArg("VANISHED needs CHANGEDSINCE")
		}
	}
	idxs, err := s.resolve(req.set, cmd.uid)
	if err != nil {
		return err
	}
	s.enc.UTF8 = s.utf8
	if (req.hasChangedSince || req.has(fetchModSeq)) && !s.condstore {
		// RFC 7162 §3.1: FETCH MODSEQ and CHANGEDSINCE enable CONDSTORE;
		// with a mailbox selected the client learns its HIGHESTMODSEQ.
		s.condstore = true
		s.enc.Star().Atom("OK [HIGHESTMODSEQ ").Number64(s.sel.highestModSeq).Raw("] CONDSTORE enabled").CRLF()
	}
	if req.vanished {
		if err := s.vanishedEarlier(req.set, req.changedSince); err != nil {
			return err
		}
	}
	if req.hasChangedSince {
		// RFC 7162 §3.1.4.1: only messages changed after the given MODSEQ.
		keep := idxs[:0]
		for _, i := range idxs {
			if s.sel.msgs[i].ModSeq > req.changedSince {
				keep = append(keep, i)
			}
		}
		idxs = keep
	}
	return s.fetchMessages(cmd, req, idxs)
}

// readFetch reads the arguments after "FETCH": sequence-set SP
// ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att)
// ")") [SP "(" fetch-modifier *(SP fetch-modifier) ")"].
func (s *session) readFetch() (*fetchRequest, error) {
	if !s.dec.SP() {
		return nil, s.syntax()
	}
	set, ok := s.dec.SeqSet()
	if !ok || !s.dec.SP() {
		return nil, s.syntax()
	}
	req := &fetchRequest{set: set}
	if s.dec.Special('(') {
		if s.dec.Special(')') {
			return nil, syntaxErr("empty FETCH item list")
		}
		previewMods := false
		for {
			if b, _ := s.dec.Peek(); b == '(' && !previewMods && len(req.atts) > 0 && req.atts[len(req.atts)-1].kind == fetchPreview {
				// "PREVIEW (LAZY)" inside the list (RFC 8970 §3).
				s.dec.Special('(')
				first, ok := s.dec.Atom()
				if !ok {
					return nil, s.syntax()
				}
				if err := s.readPreviewMods(first); err != nil {
					return nil, err
				}
				previewMods = true
			} else {
				atts, err := s.readFetchAtt(false)
				if err != nil {
					return nil, err
				}
				req.atts = append(req.atts, atts...)
				previewMods = false
			}
			if s.dec.Special(')') {
				break
			}
			if !s.dec.SP() {
				return nil, s.syntax()
			}
		}
	} else {
		atts, err := s.readFetchAtt(true)
		if err != nil {
			return nil, err
		}
		req.atts = atts
	}
	if !s.dec.Special(' ') {
		return req, nil
	}
	if !s.dec.ExpectSpecial('(') {
		return nil, s.syntax()
	}
	first, ok := s.dec.Atom()
	if !ok {
		return nil, s.syntax()
	}
	if strings.EqualFold(first, "LAZY") && len(req.atts) == 1 && req.atts[0].kind == fetchPreview {
		// A lone "PREVIEW (LAZY)", maybe followed by modifiers.
		if err := s.readPreviewMods(first); err != nil {
			return nil, err
		}
		if !s.dec.Special(' ') {
			return req, nil
		}
		if !s.dec.ExpectSpecial('(') {
			return nil, s.syntax()
		}
		if first, ok = s.dec.Atom(); !ok {
			return nil, s.syntax()
		}
	}
	if err := s.readFetchModifiers(req, first); err != nil {
		return nil, err
	}
	return req, nil
}

// readPreviewMods reads the rest of "(" preview-mod *(SP preview-mod) ")"
// after its first modifier. LAZY (RFC 8970 §3.2) lets the server leave out
// a preview that is expensive to make; here every preview is precomputed.
func (s *session) readPreviewMods(first string) error {
	for {
		if !strings.EqualFold(first, "LAZY") {
			return syntaxErr("unknown PREVIEW modifier " + sanitize(first))
		}
		if s.dec.Special(')') {
			return nil
		}
		if !s.dec.SP() {
			return s.syntax()
		}
		var ok bool
		if first, ok = s.dec.Atom(); !ok {
			return s.syntax()
		}
	}
}

// readFetchModifiers reads the rest of the fetch-modifier list after its
// first name.
func (s *session) readFetchModifiers(req *fetchRequest, name string) error {
	for {
		switch strings.ToUpper(name) {
		case "CHANGEDSINCE":
			if !s.dec.SP() {
				return s.syntax()
			}
			n, ok := s.dec.Number64()
			if !ok {
				return s.syntax()
			}
			req.changedSince, req.hasChangedSince = n, true
		case "VANISHED":
			req.vanished = true
		default:
			return syntaxErr("unknown FETCH modifier " + sanitize(name))
		}
		if s.dec.Special(')') {
			return nil
		}
		if !s.dec.SP() {
			return s.syntax()
		}
		var ok bool
		if name, ok = s.dec.Atom(); !ok {
			return s.syntax()
		}
	}
}

// Macros (RFC 9051 §6.4.5), valid only on their own.
var fetchMacros = map[string][]fetchKind{
	"ALL":  {fetchFlags, fetchInternalDate, fetchSize, fetchEnvelope},
	"FAST": {fetchFlags, fetchInternalDate, fetchSize},
	"FULL": {fetchFlags, fetchInternalDate, fetchSize, fetchEnvelope, fetchBody},
}

var fetchSimple = map[string]fetchKind{
	"UID":           fetchUID,
	"FLAGS":         fetchFlags,
	"INTERNALDATE":  fetchInternalDate,
	"RFC822.SIZE":   fetchSize,
	"ENVELOPE":      fetchEnvelope,
	"BODYSTRUCTURE": fetchBodyStructure,
	"MODSEQ":        fetchModSeq,
	"SAVEDATE":      fetchSaveDate,
	"PREVIEW":       fetchPreview,
}

// readFetchAtt reads one fetch-att (or, with macro, a macro).
func (s *session) readFetchAtt(macro bool) ([]fetchAtt, error) {
	name, ok := s.dec.Token("a FETCH item", func(b byte) bool {
		return b == '.' || isDigitByte(b) || (b|0x20 >= 'a' && b|0x20 <= 'z')
	})
	if !ok {
		return nil, s.syntax()
	}
	up := strings.ToUpper(name)
	if kinds, ok := fetchMacros[up]; ok {
		if !macro {
			return nil, syntaxErr(up + " is a macro and cannot be in a list")
		}
		atts := make([]fetchAtt, len(kinds))
		for i, k := range kinds {
			atts[i] = fetchAtt{kind: k, count: -1}
		}
		return atts, nil
	}
	if k, ok := fetchSimple[up]; ok {
		return []fetchAtt{{kind: k, count: -1}}, nil
	}
	att := fetchAtt{count: -1}
	var err error
	switch up {
	case "RFC822":
		att.kind, att.sec = fetchRFC822, &bodySection{}
	case "RFC822.HEADER":
		att.kind, att.sec, att.peek = fetchRFC822Header, &bodySection{spec: specHeader}, true
	case "RFC822.TEXT":
		att.kind, att.sec = fetchRFC822Text, &bodySection{spec: specText}
	case "BODY":
		if b, _ := s.dec.Peek(); b != '[' {
			att.kind = fetchBody
			break
		}
		fallthrough
	case "BODY.PEEK":
		att.kind, att.peek = fetchSection, up == "BODY.PEEK"
		if att.sec, err = s.readSection(false); err != nil {
			return nil, err
		}
		if att.start, att.count, err = s.readPartial(); err != nil {
			return nil, err
		}
	case "BINARY", "BINARY.PEEK":
		att.kind, att.peek = fetchBinary, up == "BINARY.PEEK"
		if att.sec, err = s.readSection(true); err != nil {
			return nil, err
		}
		if att.start, att.count, err = s.readPartial(); err != nil {
			return nil, err
		}
	case "BINARY.SIZE":
		att.kind = fetchBinarySize
		if att.sec, err = s.readSection(true); err != nil {
			return nil, err
		}
	default:
		return nil, syntaxErr("unknown FETCH item " + sanitize(name))
	}
	return []fetchAtt{att}, nil
}

// vanishedEarlier sends "* VANISHED (EARLIER) uids" for the UIDs of set
// expunged after modseq (RFC 7162 §3.2.6). UIDs still in this session's
// view are left to the VANISHED that sync sends after the command.
func (s *session) vanishedEarlier(set imapwire.SeqSet, modseq uint64) error {
	if set.Saved {
		return nil // the saved result only holds UIDs the session still has
	}
	gone, err := s.srv.st.Vanished(s.ctx, s.acct.ID, s.sel.id, modseq)
	if err != nil {
		return err
	}
	top := max(s.sel.maxUID(), s.sel.uidNext-1)
	var out []uint32
	for _, u := range gone {
		if set.Contains(u, top) && s.sel.indexOf(u) < 0 {
			out = append(out, u)
		}
	}
	if len(out) > 0 {
		s.enc.Star().Atom("VANISHED (EARLIER) ").Raw(imapwire.FormatUIDs(out)).CRLF()
	}
	return nil
}

// fetchFailures collects what kept messages out of the answer: the FETCH
// responses of the others are sent, then a tagged NO (RFC 9051 §6.4.5).
type fetchFailures struct {
	unknownCTE  bool
	unavailable bool
	expunged    bool
}

func (f *fetchFailures) err() error {
	switch {
	case f.unknownCTE:
		// RFC 3516 §4.3.
		return no("UNKNOWN-CTE", "cannot decode the content transfer encoding of some parts")
	case f.unavailable:
		return no("UNAVAILABLE", "some messages could not be fetched")
	case f.expunged:
		// RFC 5530 §3: another session expunged messages this one still lists.
		return no("EXPUNGEISSUED", "some messages were expunged")
	}
	return nil
}

// bigWriters lend a large write buffer to responses of many messages: the
// session's own buffer stays small (it is held by every idle connection),
// and 100,000 FETCH lines then take a few dozen writes instead of a
// thousand.
var bigWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// bigResponse is the number of messages from which a FETCH borrows one.
const bigResponse = 256

// fetchMessages writes the FETCH responses for the messages at idxs
// (ascending indexes into s.sel.msgs), a batch at a time.
func (s *session) fetchMessages(cmd *command, req *fetchRequest, idxs []int) error {
	if len(idxs) >= bigResponse {
		big := bigWriters.Get().(*bufio.Writer)
		big.Reset(s.bw)
		s.enc.SetWriter(big)
		defer func() {
			big.Flush()
			s.enc.SetWriter(s.bw)
			big.Reset(nil)
			bigWriters.Put(big)
		}()
	}
	needRows, setsSeen, envOnly, needBodies := false, false, true, false
	for i := range req.atts {
		needBodies = needBodies || req.atts[i].needsBody()
		needRows = needRows || req.atts[i].needsStructure()
		setsSeen = setsSeen || req.atts[i].setsSeen()
		if req.atts[i].needsStructure() && req.atts[i].kind != fetchEnvelope {
			envOnly = false
		}
	}
	// ENVELOPE alone comes from the shared envelope cache where it can.
	envOnly = envOnly && needRows
	setsSeen = setsSeen && !s.sel.readOnly
	var fail fetchFailures
	seen := make([]bool, 0, fetchBatch)
	vals := make([]fetchValue, len(req.atts))
	uids := make([]uint32, 0, fetchBatch)
	for len(idxs) > 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		batch := idxs[:min(len(idxs), fetchBatch)]
		idxs = idxs[len(batch):]
		seen = seen[:len(batch)]
		clear(seen)
		if setsSeen {
			if err := s.markSeen(batch, seen); err != nil {
				return err
			}
		}
		var rows []store.Message
		if needRows {
			uids = uids[:0]
			for _, i := range batch {
				if envOnly && s.srv.envelopes.get(s.sel.msgs[i].BlobID) != nil {
					continue
				}
				uids = append(uids, s.sel.msgs[i].UID)
			}
			if len(uids) > 0 {
				var err error
				if rows, err = s.srv.st.MessagesByUID(s.ctx, s.acct.ID, s.sel.id, uids); err != nil {
					return err
				}
			}
		}
		if needBodies && len(batch) > 1 {
			// One store round trip for the batch's bodies rather than one
			// per message; fetchSource.open takes them from here.
			if err := s.prefetchBodies(batch); err != nil {
				return err
			}
		}
		// The bufio writer flushes as it fills; each batch gets a fresh
		// write deadline so that a long FETCH is not cut short.
		s.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
		r := 0
		for k, i := range batch {
			var row *store.Message
			var cached *message.Structure
			if envOnly {
				cached = s.srv.envelopes.get(s.sel.msgs[i].BlobID)
			}
			if needRows && cached == nil {
				// Both are in UID order; rows lacks the UIDs expunged since.
				for r < len(rows) && rows[r].UID < s.sel.msgs[i].UID {
					r++
				}
				if r < len(rows) && rows[r].UID == s.sel.msgs[i].UID {
					row = &rows[r]
				} else if cached = s.structureFromBody(s.sel.msgs[i].BlobID); cached == nil {
					// Expunged elsewhere and its body unreadable: a
					// view's pin keeps bodies, so this is a fault.
					fail.unavailable = true
					continue
				}
			}
			if err := s.fetchOne(cmd, req, i, row, cached, seen[k], vals, &fail); err != nil {
				s.dropPrefetched()
				return err
			}
		}
		s.dropPrefetched()
	}
	return fail.err()
}

// prefetchBodies opens the bodies of a batch of messages at once. A body
// that fails to open is left to fetchSource.open, which reports it.
func (s *session) prefetchBodies(batch []int) error {
	ids := make([]string, len(batch))
	for k, i := range batch {
		ids[k] = s.sel.msgs[i].BlobID
	}
	bodies, _, err := s.srv.st.OpenBodies(s.ctx, ids)
	if err != nil {
		return err
	}
	if s.prefetched == nil {
		s.prefetched = make(map[string]store.Body, len(ids))
	}
	for k, b := range bodies {
		if b == nil {
			continue
		}
		if old := s.prefetched[ids[k]]; old != nil {
			old.Close() // the same body twice in a batch (a copy)
		}
		s.prefetched[ids[k]] = b
	}
	return nil
}

// dropPrefetched closes the prefetched bodies that were not used.
func (s *session) dropPrefetched() {
	for id, b := range s.prefetched {
		b.Close()
		delete(s.prefetched, id)
	}
}

// markSeen sets \Seen on the messages of batch that lack it (RFC 9051
// §6.4.5) and records which ones changed, so that their FETCH responses
// carry the new flags.
func (s *session) markSeen(batch []int, changed []bool) error {
	var uids []uint32
	for _, i := range batch {
		if !store.HasFlag(s.sel.msgs[i].Flags, `\Seen`) {
			uids = append(uids, s.sel.msgs[i].UID)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	ups, _, err := s.srv.st.SetFlags(s.ctx, s.acct.ID, s.sel.id, uids, store.FlagsAdd, []string{`\Seen`}, 0)
	if err != nil {
		return err
	}
	for _, u := range ups {
		i := s.sel.indexOf(u.UID)
		if i < 0 {
			continue
		}
		m := &s.sel.msgs[i]
		m.Flags, m.ModSeq = u.Flags, max(m.ModSeq, u.ModSeq)
		for k, j := range batch {
			if j == i {
				changed[k] = true
				break
			}
		}
	}
	return nil
}

// fetchValue is a prepared string: size bytes from r, as a literal8 when
// binary (RFC 3516 §4.2: decoded data with NUL in it).
type fetchValue struct {
	r      io.Reader
	size   int64
	binary bool
}

// fetchSource gives access to one message's structure and body file; the
// body is opened on first use.
type fetchSource struct {
	s      *session
	blobID string
	size   int64
	st     *message.Structure // nil when no item needs it
	body   store.Body
}

func (f *fetchSource) open() (store.Body, error) {
	if f.body != nil {
		return f.body, nil
	}
	b := f.s.prefetched[f.blobID]
	if b != nil {
		delete(f.s.prefetched, f.blobID)
	} else {
		var err error
		if b, err = f.s.srv.st.OpenBody(f.s.ctx, f.blobID); err != nil {
			return nil, err
		}
	}
	if b.Size() < f.size {
		b.Close()
		return nil, store.ErrBodyMissing
	}
	f.body = b
	return b, nil
}

func (f *fetchSource) close() {
	if f.body != nil {
		f.body.Close()
		f.body = nil
	}
}

// errUnknownCTE marks a BINARY of a part whose encoding is unknown.
var errUnknownCTE = errors.New("unknown content transfer encoding")

// fetchOne writes the FETCH response of message i. Everything that can fail
// is prepared before the first byte is written, so that a message is
// either answered in full or left out.
//
// vals is scratch space for the prepared values, one per item.
//
// cached, when set, is the message's entry of the envelope cache, used
// instead of row (ENVELOPE is then the only item that needs a structure).
func (s *session) fetchOne(cmd *command, req *fetchRequest, i int, row *store.Message, cached *message.Structure, seenSet bool, vals []fetchValue, fail *fetchFailures) error {
	m := &s.sel.msgs[i]
	st := cached
	clear(vals)
	if row != nil || st != nil || req.hasWhole() {
		if st == nil && row != nil {
			var err error
			if st, err = message.Decode(row.Structure); err != nil {
				s.log.Error("imap fetch: bad structure", "uid", m.UID, "err", err)
				fail.unavailable = true
				return nil
			}
			s.srv.envelopes.put(row.BlobID, st)
		}
		src := &fetchSource{s: s, blobID: m.BlobID, size: m.Size, st: st}
		defer src.close()
		for j := range req.atts {
			err := s.prepareValue(src, &req.atts[j], &vals[j])
			switch {
			case err == nil:
				continue
			case errors.Is(err, errUnknownCTE):
				fail.unknownCTE = true
			case errors.Is(err, store.ErrBodyMissing):
				s.log.Warn("imap fetch: message body missing", "uid", m.UID, "blob", src.blobID)
				fail.unavailable = true
			default:
				return err
			}
			return nil
		}
	}

	e := s.enc
	e.Star().Number(uint32(i + 1)).Raw(" FETCH (")
	first := true
	sp := func() {
		if !first {
			e.SP()
		}
		first = false
	}
	hasUID, hasFlags, hasModSeq := cmd.uid, false, false
	if cmd.uid {
		sp()
		e.Raw("UID ").Number(m.UID)
	}
	for j := range req.atts {
		a := &req.atts[j]
		if a.kind == fetchUID {
			if cmd.uid {
				continue
			}
			hasUID = true
		}
		hasFlags = hasFlags || a.kind == fetchFlags
		hasModSeq = hasModSeq || a.kind == fetchModSeq
		sp()
		if err := s.writeFetchAtt(m, st, a, &vals[j]); err != nil {
			return err
		}
	}
	if seenSet {
		// RFC 9051 §6.4.5: the flags changed, so they are sent; with
		// CONDSTORE with UID and MODSEQ (RFC 7162 §3.1).
		if !hasFlags {
			sp()
			e.Raw("FLAGS ")
			s.writeFlags(m)
		}
		if s.condstore && !hasUID {
			sp()
			e.Raw("UID ").Number(m.UID)
		}
	}
	if !hasModSeq && (req.hasChangedSince || (seenSet && s.condstore)) {
		// RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ.
		sp()
		e.Raw("MODSEQ (").Number64(m.ModSeq).Special(')')
	}
	e.Special(')').CRLF()
	return e.Err()
}

// prepareValue computes the string of a section item (and checks the
// encoding of a BINARY one) without writing anything.
func (s *session) prepareValue(src *fetchSource, a *fetchAtt, v *fetchValue) error {
	switch a.kind {
	case fetchSection, fetchRFC822, fetchRFC822Header, fetchRFC822Text:
		var loc sectionRange
		if a.whole() {
			loc.size = src.size
		} else {
			loc = a.sec.locate(src.st)
		}
		if loc.missing {
			return nil
		}
		body, err := src.open()
		if err != nil {
			return err
		}
		if loc.filter {
			// Two passes over the header block: one to learn the size of
			// the subset, one to send it.
			not := a.sec.spec == specHeaderFieldsNot
			subset := func() io.Reader {
				return newHeaderFilter(io.NewSectionReader(body, loc.start, loc.size), a.sec.fields, not)
			}
			total, err := io.Copy(io.Discard, subset())
			if err != nil {
				return err
			}
			start, size := windowRange(total, a.start, a.count)
			r := subset()
			if _, err := io.CopyN(io.Discard, r, start); err != nil {
				return err
			}
			v.r, v.size = io.LimitReader(r, size), size
			return nil
		}
		start, size := windowRange(loc.size, a.start, a.count)
		v.r, v.size = io.NewSectionReader(body, loc.start+start, size), size
	case fetchBinary:
		p, missing := a.sec.binaryPart(src.st)
		if missing {
			return nil
		}
		enc := partEncoding(p)
		if !knownEncoding(enc) {
			return errUnknownCTE
		}
		body, err := src.open()
		if err != nil {
			return err
		}
		bodyStart, bodySize := int64(0), src.st.Size
		if p != nil {
			bodyStart, bodySize = p.BodyStart, p.BodySize
		}
		decoded := func() io.Reader {
			return message.DecodeReader(enc, io.NewSectionReader(body, bodyStart, bodySize))
		}
		total := bodySize
		if !message.IdentityEncoding(enc) {
			if total, err = decodedSize(p, decoded); err != nil {
				return err
			}
		}
		start, size := windowRange(total, a.start, a.count)
		if size == 0 {
			return nil
		}
		part := func() (io.Reader, error) {
			r := decoded()
			if _, err := io.CopyN(io.Discard, r, start); err != nil {
				return nil, err
			}
			return io.LimitReader(r, size), nil
		}
		r, err := part()
		if err != nil {
			return err
		}
		// RFC 3516 §4.2: NUL needs a literal8; look before the header
		// is written, then decode again to send.
		hasNUL, err := containsNUL(r)
		if err != nil {
			return err
		}
		if v.r, err = part(); err != nil {
			return err
		}
		v.size, v.binary = size, hasNUL
	case fetchBinarySize:
		p, missing := a.sec.binaryPart(src.st)
		if missing {
			return nil
		}
		enc := partEncoding(p)
		if !knownEncoding(enc) {
			return errUnknownCTE
		}
		if p == nil {
			v.size = src.st.Size
			return nil
		}
		if message.IdentityEncoding(enc) {
			v.size = p.BodySize
			return nil
		}
		size, err := decodedSize(p, func() io.Reader {
			body, err := src.open()
			if err != nil {
				return errReader{err}
			}
			return message.DecodeReader(enc, io.NewSectionReader(body, p.BodyStart, p.BodySize))
		})
		if err != nil {
			return err
		}
		v.size = size
	}
	return nil
}

// decodedSize is the size of p's body once decoded: from the structure,
// or, for a structure stored without it, by decoding (RFC 3516 §4.2
// BINARY.SIZE).
func decodedSize(p *message.Part, decoded func() io.Reader) (int64, error) {
	if p != nil && (p.DecodedSize > 0 || p.BodySize == 0) {
		return p.DecodedSize, nil
	}
	return io.Copy(io.Discard, decoded())
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func containsNUL(r io.Reader) (bool, error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if bytes.IndexByte(buf[:n], 0) >= 0 {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// windowRange applies a partial <start.count> to a string of size bytes
// (RFC 9051 §6.4.5: a start beyond the end gives an empty string; a count
// beyond it is cut short).
func windowRange(size, start, count int64) (int64, int64) {
	if count < 0 {
		return 0, size
	}
	if start >= size {
		return size, 0
	}
	return start, min(count, size-start)
}

// writeFetchAtt writes one item of a FETCH response (RFC 9051 §7.5.2).
func (s *session) writeFetchAtt(m *msg, st *message.Structure, a *fetchAtt, v *fetchValue) error {
	e := s.enc
	switch a.kind {
	case fetchUID:
		e.Raw("UID ").Number(m.UID)
	case fetchFlags:
		e.Raw("FLAGS ")
		s.writeFlags(m)
	case fetchInternalDate:
		e.Raw("INTERNALDATE ").DateTime(m.InternalDate)
	case fetchSize:
		e.Raw("RFC822.SIZE ").Int64(m.Size)
	case fetchModSeq:
		e.Raw("MODSEQ (").Number64(m.ModSeq).Special(')')
	case fetchSaveDate:
		// RFC 8514 §4: NIL when the server does not know it.
		e.Raw("SAVEDATE ")
		if m.SaveDate.IsZero() {
			e.NIL()
		} else {
			e.DateTime(m.SaveDate)
		}
	case fetchEnvelope:
		e.Raw("ENVELOPE ")
		s.writeEnvelope(&st.Envelope)
	case fetchBody:
		e.Raw("BODY ")
		s.writeBodyStructure(&st.Root, false)
	case fetchBodyStructure:
		e.Raw("BODYSTRUCTURE ")
		s.writeBodyStructure(&st.Root, true)
	case fetchPreview:
		// RFC 8970 §3: the preview is precomputed, so LAZY makes no
		// difference; no text gives an empty string.
		e.Raw("PREVIEW ").String(st.Preview)
	case fetchRFC822:
		e.Raw("RFC822 ")
		return s.writeFetchValue(v)
	case fetchRFC822Header:
		e.Raw("RFC822.HEADER ")
		return s.writeFetchValue(v)
	case fetchRFC822Text:
		e.Raw("RFC822.TEXT ")
		return s.writeFetchValue(v)
	case fetchSection, fetchBinary:
		if a.kind == fetchSection {
			e.Raw("BODY")
		} else {
			e.Raw("BINARY")
		}
		s.writeSection(a.sec)
		if a.count >= 0 {
			// Only the origin is echoed: "BODY[]<0>".
			e.Special('<').Int64(a.start).Special('>')
		}
		e.SP()
		return s.writeFetchValue(v)
	case fetchBinarySize:
		e.Raw("BINARY.SIZE")
		s.writeSection(a.sec)
		e.SP().Int64(v.size)
	}
	return nil
}

// writeFetchValue writes a prepared string: "" when empty (as UW IMAP
// does; clients take either form), else a literal streamed from the body.
func (s *session) writeFetchValue(v *fetchValue) error {
	if v.size == 0 {
		s.enc.Raw(`""`)
		return nil
	}
	err := s.enc.Literal(v.size, v.r, v.binary)
	if err == nil {
		return nil
	}
	if s.enc.Err() != nil {
		// Short data: the client waits for bytes that cannot come.
		return s.enc.Err()
	}
	if errors.Is(err, imapwire.ErrLiteralSize) {
		// Longer than announced: what was sent is consistent, but the
		// structure does not match the file.
		s.log.Warn("imap fetch: section size mismatch", "err", err)
		return nil
	}
	return err
}

// structureFromBody parses the body of a message that is still in this
// session's view but whose row another session expunged (RFC 9051 §7.5.1
// lets the client fetch it until it is told): the view's pin keeps the
// body. It returns nil when the body cannot be read.
func (s *session) structureFromBody(blobID string) *message.Structure {
	b, err := s.srv.st.OpenBody(s.ctx, blobID)
	if err != nil {
		s.log.Warn("imap: body of a message in the view", "blob", blobID, "err", err)
		return nil
	}
	defer b.Close()
	st, err := message.Parse(io.NewSectionReader(b, 0, b.Size()))
	if err != nil {
		s.log.Warn("imap: parse body", "blob", blobID, "err", err)
		return nil
	}
	return st
}
