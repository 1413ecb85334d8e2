package imapserver

import (
	"bytes"
	"errors"
	"io"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"mailroom/internal/imapwire"
	"mailroom/internal/message"
	"mailroom/internal/store"
)

// searchBatch is how many messages' structures are loaded per store call.
const searchBatch = 500

// maxSearchHeader bounds the bytes of a header block read for HEADER and
// TEXT; the rest of a larger header is not searched.
const maxSearchHeader = 1 << 20

// tri is a three-valued truth: a key that needs data not loaded yet is
// unknown.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

// searchEval evaluates a program over the selected mailbox.
type searchEval struct {
	s     *session
	now   time.Time
	saved []uint32 // "$" (RFC 5182), sorted
	// Reused from one text part to the next: a search of a big mailbox
	// otherwise makes tens of KB of garbage per message.
	copyBuf []byte
	latin1  latin1Reader
}

// msgCtx is what is known of one message while it is evaluated. The
// structure, header and body are loaded when a key first needs them.
type msgCtx struct {
	seq uint32 // sequence number
	m   *msg
	st  *message.Structure // nil: not loaded, or gone from the store

	body    store.Body
	bodyErr error
	opened  bool

	hdr     []headerField // top-level header, parsed
	hdrRead bool
}

type headerField struct {
	name  string // as sent
	value string // unfolded, trimmed, raw
}

func (mc *msgCtx) close() {
	if mc.body != nil {
		mc.body.Close()
		mc.body = nil
	}
}

// run returns the indexes (into s.sel.msgs) of the messages matching prog,
// ascending.
func (e *searchEval) run(prog *searchKey) ([]int, error) {
	s := e.s
	msgs := s.sel.msgs
	e.resolveSets(prog)
	var out []int
	if prog.cost == costIndex {
		for i := range msgs {
			mc := msgCtx{seq: uint32(i + 1), m: &msgs[i]}
			if e.cheap(prog, &mc) == triTrue {
				out = append(out, i)
			}
		}
		return out, nil
	}
	pending := make([]int, 0, searchBatch)
	uids := make([]uint32, 0, searchBatch)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := s.ctx.Err(); err != nil {
			return err
		}
		// A program that needs no more than the envelope runs from the
		// shared envelope cache where it can.
		envOnly := prog.cost <= costStructure
		uids = uids[:0]
		for _, i := range pending {
			if envOnly && s.srv.envelopes.get(msgs[i].BlobID) != nil {
				continue
			}
			uids = append(uids, msgs[i].UID)
		}
		var rows []store.Message
		if len(uids) > 0 {
			var err error
			if rows, err = s.srv.st.MessagesByUID(s.ctx, s.acct.ID, s.sel.id, uids); err != nil {
				return err
			}
		}
		if prog.cost >= costHeader {
			// One store round trip for the batch's bodies (openBody
			// takes them from here).
			if err := s.prefetchBodies(pending); err != nil {
				return err
			}
			defer s.dropPrefetched()
		}
		r := 0
		for _, i := range pending {
			mc := msgCtx{seq: uint32(i + 1), m: &msgs[i]}
			if envOnly {
				mc.st = s.srv.envelopes.get(msgs[i].BlobID)
			}
			// Both are in UID order; rows lacks messages expunged since.
			for r < len(rows) && rows[r].UID < msgs[i].UID {
				r++
			}
			if mc.st == nil && r < len(rows) && rows[r].UID == msgs[i].UID {
				if st, err := message.Decode(rows[r].Structure); err == nil {
					mc.st = st
					s.srv.envelopes.put(rows[r].BlobID, st)
				} else {
					s.log.Warn("imap search: bad structure", "uid", msgs[i].UID, "err", err)
				}
				rows[r].Structure = nil
			}
			if mc.st == nil {
				// Expunged elsewhere, not yet from this view: still
				// searchable, from its body (RFC 9051 §7.5.1).
				mc.st = s.structureFromBody(msgs[i].BlobID)
			}
			match, err := e.match(prog, &mc)
			mc.close()
			if err != nil {
				return err
			}
			if match {
				out = append(out, i)
			}
		}
		pending = pending[:0]
		return nil
	}
	for i := range msgs {
		mc := msgCtx{seq: uint32(i + 1), m: &msgs[i]}
		switch e.cheap(prog, &mc) {
		case triTrue:
			out = append(out, i)
		case triUnknown:
			pending = append(pending, i)
			if len(pending) == searchBatch {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// resolveSets turns the sequence sets and UID sets of k into sorted,
// merged ranges, so that each test is a binary search however long the
// set a client sent.
func (e *searchEval) resolveSets(k *searchKey) {
	for _, sub := range k.sub {
		e.resolveSets(sub)
	}
	switch {
	case k.set.Saved:
	case k.op == opSeq:
		k.ranges = k.set.Resolve(uint32(len(e.s.sel.msgs)))
	case k.op == opUID:
		k.ranges = k.set.Resolve(e.s.sel.maxUID())
	}
}

// inRanges reports whether n is in ranges (sorted, disjoint).
func inRanges(ranges []imapwire.SeqRange, n uint32) bool {
	i := sort.Search(len(ranges), func(i int) bool { return ranges[i].Stop >= n })
	return i < len(ranges) && ranges[i].Start <= n
}

// cheap evaluates k from the session's view alone.
func (e *searchEval) cheap(k *searchKey, mc *msgCtx) tri {
	switch k.op {
	case opAnd:
		res := triTrue
		for _, sub := range k.sub {
			switch e.cheap(sub, mc) {
			case triFalse:
				return triFalse
			case triUnknown:
				res = triUnknown
			}
		}
		return res
	case opOr:
		res := triFalse
		for _, sub := range k.sub {
			switch e.cheap(sub, mc) {
			case triTrue:
				return triTrue
			case triUnknown:
				res = triUnknown
			}
		}
		return res
	case opNot:
		switch e.cheap(k.sub[0], mc) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triUnknown
	}
	if k.cost > costIndex {
		return triUnknown
	}
	if e.index(k, mc) {
		return triTrue
	}
	return triFalse
}

// match evaluates k fully, loading what it needs.
func (e *searchEval) match(k *searchKey, mc *msgCtx) (bool, error) {
	switch k.op {
	case opAnd:
		for _, sub := range k.sub {
			if ok, err := e.match(sub, mc); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case opOr:
		for _, sub := range k.sub {
			if ok, err := e.match(sub, mc); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case opNot:
		ok, err := e.match(k.sub[0], mc)
		return !ok, err
	}
	if k.cost == costIndex {
		return e.index(k, mc), nil
	}
	if mc.st == nil {
		// Gone from the store, or unreadable: nothing of it matches.
		return false, nil
	}
	env := &mc.st.Envelope
	switch k.op {
	case opSentBefore, opSentOn, opSentSince:
		return compareDay(k, sentDay(env.Date, mc.m.InternalDate)), nil
	case opSubject:
		if env.Subject == "" && mc.st.Truncated {
			return e.headerMatch(mc, "subject", k.needle)
		}
		return containsFolded(message.DecodeHeader(env.Subject), k.needle), nil
	case opFrom, opTo, opCc, opBcc:
		field, list := "from", env.From
		switch k.op {
		case opTo:
			field, list = "to", env.To
		case opCc:
			field, list = "cc", env.Cc
		case opBcc:
			field, list = "bcc", env.Bcc
		}
		if len(list) == 0 || mc.st.Truncated {
			// Nothing parsed from the field (or strings were dropped):
			// look at the raw header if it is there.
			return e.headerMatch(mc, field, k.needle)
		}
		return containsFolded(formatAddresses(list), k.needle), nil
	case opHeader:
		if envelopeField(k.field) && !mc.st.Truncated {
			var v string
			switch k.field {
			case "subject":
				v = env.Subject
			case "date":
				v = env.Date
			case "message-id":
				v = env.MessageID
			case "in-reply-to":
				v = env.InReplyTo
			}
			if v != "" {
				return containsFolded(message.DecodeHeader(v), k.needle), nil
			}
		}
		return e.headerMatch(mc, k.field, k.needle)
	case opBody, opText:
		return e.textMatch(mc, k.needle, k.op == opText)
	}
	return false, nil
}

// index evaluates a key that needs only the session's view.
func (e *searchEval) index(k *searchKey, mc *msgCtx) bool {
	m := mc.m
	switch k.op {
	case opAll:
		return true
	case opSeq:
		if k.set.Saved {
			return e.isSaved(m.UID)
		}
		return inRanges(k.ranges, mc.seq)
	case opUID:
		if k.set.Saved {
			return e.isSaved(m.UID)
		}
		return inRanges(k.ranges, m.UID)
	case opFlag:
		return store.HasFlag(m.Flags, k.flag)
	case opUnflag:
		return !store.HasFlag(m.Flags, k.flag)
	case opNew:
		return e.s.sel.isRecent(m.UID) && !store.HasFlag(m.Flags, `\Seen`)
	case opOld:
		return !e.s.sel.isRecent(m.UID)
	case opRecent:
		return e.s.sel.isRecent(m.UID)
	case opBefore, opOn, opSince:
		return compareDay(k, dayNumber(m.InternalDate))
	case opSavedBefore, opSavedOn, opSavedSince:
		d := m.SaveDate
		if d.IsZero() {
			d = m.InternalDate
		}
		return compareDay(k, dayNumber(d))
	case opLarger:
		return m.Size > k.n
	case opSmaller:
		return m.Size < k.n
	case opOlder:
		// RFC 5032 §3: internal date at least n seconds before now.
		return !m.InternalDate.After(e.now.Add(-time.Duration(k.n) * time.Second))
	case opYounger:
		return m.InternalDate.After(e.now.Add(-time.Duration(k.n) * time.Second))
	case opModSeq:
		// RFC 7162 §3.1.5: MODSEQ equal to or greater than the value.
		return m.ModSeq >= k.modseq
	}
	return false
}

func (e *searchEval) isSaved(uid uint32) bool {
	_, found := slices.BinarySearch(e.saved, uid)
	return found
}

// compareDay applies a BEFORE/ON/SINCE style key to a yyyymmdd day.
func compareDay(k *searchKey, day int) bool {
	switch k.op {
	case opBefore, opSentBefore, opSavedBefore:
		return day < k.day
	case opOn, opSentOn, opSavedOn:
		return day == k.day
	}
	return day >= k.day
}

// sentDay is the date of the Date: header in its own zone (RFC 9051
// §6.4.4: disregarding time and timezone). Without a valid Date: the
// internal date stands in, as RFC 5256 §2.2 does for SORT.
func sentDay(date string, internal time.Time) int {
	if date != "" {
		if t, err := mail.ParseDate(date); err == nil {
			return dayNumber(t)
		}
		if t, ok := parseLooseDate(date); ok {
			return dayNumber(t)
		}
	}
	return dayNumber(internal)
}

// parseLooseDate tries common malformed Date: forms.
func parseLooseDate(s string) (time.Time, bool) {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.IndexByte(s, '('); i > 0 {
		s = strings.TrimSpace(s[:i])
	}
	for _, layout := range []string{
		"Mon, 2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04 -0700",
		"2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04:05 MST",
		"Mon, 2 Jan 06 15:04:05 -0700",
		"Mon Jan 2 15:04:05 2006",
		"Mon, 2 Jan 2006",
		"2006-01-02T15:04:05Z07:00",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// formatAddresses renders an address list for substring search:
// "Name <mailbox@host>, …", names RFC 2047 decoded.
func formatAddresses(list []message.Address) string {
	var b strings.Builder
	for i := range list {
		a := &list[i]
		if a.GroupEnd {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if a.GroupStart {
			b.WriteString(message.DecodeHeader(a.Mailbox))
			b.WriteString(":")
			continue
		}
		if a.Name != "" {
			b.WriteString(message.DecodeHeader(a.Name))
			b.WriteString(" ")
		}
		b.WriteString("<")
		b.WriteString(a.Mailbox)
		b.WriteString("@")
		b.WriteString(a.Host)
		b.WriteString(">")
	}
	return b.String()
}

func containsFolded(s, needle string) bool {
	return strings.Contains(foldString(s), needle)
}

// openBody opens the message file once per message. A missing body
// matches nothing (it is logged: store check reports it).
func (e *searchEval) openBody(mc *msgCtx) (store.Body, error) {
	if !mc.opened {
		mc.opened = true
		if b := e.s.prefetched[mc.m.BlobID]; b != nil {
			delete(e.s.prefetched, mc.m.BlobID)
			mc.body = b
		} else {
			mc.body, mc.bodyErr = e.s.srv.st.OpenBody(e.s.ctx, mc.m.BlobID)
		}
		if errors.Is(mc.bodyErr, store.ErrBodyMissing) {
			e.s.log.Warn("imap search: message body missing", "uid", mc.m.UID)
			mc.body, mc.bodyErr = nil, nil
		}
	}
	return mc.body, mc.bodyErr
}

// headerFields returns the top-level header's fields, read once.
func (e *searchEval) headerFields(mc *msgCtx) ([]headerField, error) {
	if mc.hdrRead {
		return mc.hdr, nil
	}
	mc.hdrRead = true
	body, err := e.openBody(mc)
	if body == nil {
		return nil, err
	}
	mc.hdr, err = readHeaderFields(body, &mc.st.Root)
	return mc.hdr, err
}

// readHeaderFields reads and splits the header block of part p.
func readHeaderFields(body io.ReaderAt, p *message.Part) ([]headerField, error) {
	n := min(p.HeaderSize, maxSearchHeader)
	buf := make([]byte, n)
	if _, err := body.ReadAt(buf, p.Start); err != nil && !(errors.Is(err, io.EOF)) {
		return nil, err
	}
	return splitHeader(buf), nil
}

// splitHeader splits a header block into unfolded fields (RFC 5322
// §2.2.3). Lines without a colon are skipped.
func splitHeader(b []byte) []headerField {
	var out []headerField
	var cur []byte
	emit := func() {
		if i := bytes.IndexByte(cur, ':'); i > 0 {
			name := strings.TrimRight(string(cur[:i]), " \t")
			out = append(out, headerField{name: name, value: strings.TrimSpace(string(cur[i+1:]))})
		}
		cur = cur[:0]
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			cur = append(cur, line...)
			continue
		}
		emit()
		cur = append(cur, line...)
	}
	emit()
	return out
}

// knownAbsent reports whether the structure proves the top-level header
// has no field called name.
func knownAbsent(st *message.Structure, name string) bool {
	if len(st.HeaderNames) >= message.MaxHeaderNames {
		return false
	}
	return !slices.Contains(st.HeaderNames, name)
}

// headerMatch reports whether a header field called name (lower case)
// holds needle in its decoded value; an empty needle asks for the field
// only (RFC 9051 §6.4.4 HEADER).
func (e *searchEval) headerMatch(mc *msgCtx, name, needle string) (bool, error) {
	if knownAbsent(mc.st, name) {
		return false, nil
	}
	fields, err := e.headerFields(mc)
	if err != nil {
		return false, err
	}
	for _, f := range fields {
		if !strings.EqualFold(f.name, name) {
			continue
		}
		if needle == "" || containsFolded(message.DecodeHeader(f.value), needle) {
			return true, nil
		}
	}
	return false, nil
}

// errFound stops a text scan at the first match.
var errFound = errors.New("found")

// textMatch searches the text parts of the message after transfer decoding
// and conversion to UTF-8 (RFC 9051 §6.4.4 BODY and TEXT); withHeader adds
// the top-level header (TEXT). Headers of embedded messages are part of the
// body text. Each part is streamed.
func (e *searchEval) textMatch(mc *msgCtx, needle string, withHeader bool) (bool, error) {
	if needle == "" {
		return true, nil
	}
	if withHeader {
		fields, err := e.headerFields(mc)
		if err != nil {
			return false, err
		}
		if fieldsContain(fields, needle) {
			return true, nil
		}
	}
	body, err := e.openBody(mc)
	if body == nil {
		return false, err
	}
	m := &textMatcher{needle: []byte(needle)}
	found, err := e.scanPart(body, &mc.st.Root, m)
	if errors.Is(err, errFound) {
		return true, nil
	}
	return found, err
}

func fieldsContain(fields []headerField, needle string) bool {
	for _, f := range fields {
		if containsFolded(f.name+": "+message.DecodeHeader(f.value), needle) {
			return true
		}
	}
	return false
}

// scanPart feeds the text of p and its descendants to m, part by part.
func (e *searchEval) scanPart(body store.Body, p *message.Part, m *textMatcher) (bool, error) {
	if err := e.s.ctx.Err(); err != nil {
		return false, err
	}
	switch {
	case p.IsMultipart():
		for i := range p.Parts {
			if found, err := e.scanPart(body, &p.Parts[i], m); err != nil || found {
				return found, err
			}
		}
		return false, nil
	case p.IsMessage():
		fields, err := readHeaderFields(body, &p.Message.Root)
		if err != nil {
			return false, err
		}
		if fieldsContain(fields, string(m.needle)) {
			return true, nil
		}
		return e.scanPart(body, &p.Message.Root, m)
	case p.Type != "text":
		return false, nil
	}
	m.reset()
	r := message.DecodeReader(p.Encoding, io.NewSectionReader(body, p.BodyStart, p.BodySize))
	if e.copyBuf == nil {
		e.copyBuf = make([]byte, 32<<10)
	}
	if _, err := io.CopyBuffer(m, e.utf8Reader(p.Param("charset"), r), e.copyBuf); err != nil {
		return false, err
	}
	return m.finish(), nil
}

// textMatcher finds a folded needle in a stream of UTF-8 text written to
// it in pieces: it folds each piece and keeps the last len(needle)-1 bytes
// of the folded text so that a match across pieces is found. Write returns
// errFound at the first match.
type textMatcher struct {
	needle []byte
	buf    []byte
	pend   []byte // an incomplete rune at the end of the last piece
}

func (m *textMatcher) reset() {
	m.buf = m.buf[:0]
	m.pend = m.pend[:0]
}

func (m *textMatcher) Write(p []byte) (int, error) {
	n := len(p)
	if len(m.pend) > 0 {
		p = append(m.pend, p...)
		m.pend = nil
	}
	// Hold back an incomplete rune at the end.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	m.pend = append(m.pend[:0], p[cut:]...)
	if m.feed(p[:cut]) {
		return n, errFound
	}
	return n, nil
}

func (m *textMatcher) feed(p []byte) bool {
	m.buf = foldAppend(m.buf, p)
	if bytes.Contains(m.buf, m.needle) {
		return true
	}
	if keep := len(m.needle) - 1; len(m.buf) > keep {
		copy(m.buf, m.buf[len(m.buf)-keep:])
		m.buf = m.buf[:keep]
	}
	return false
}

// finish ends a part: it reports whether the rest held the needle.
func (m *textMatcher) finish() bool {
	found := len(m.pend) > 0 && m.feed(m.pend)
	m.reset()
	return found
}

// utf8Reader converts text in charset cs to UTF-8. US-ASCII, ISO-8859-1
// and unlabelled text are read as UTF-8 where it is valid and as Latin-1
// byte by byte elsewhere (mislabelled UTF-8 is common); charsets the
// converter does not know fall back to the same.
func (e *searchEval) utf8Reader(cs string, r io.Reader) io.Reader {
	cs = strings.ToLower(strings.TrimSpace(cs))
	switch cs {
	case "utf-8", "utf8":
		return r
	case "", "us-ascii", "ascii", "iso-8859-1", "latin1", "iso_8859-1", "unknown-8bit", "x-unknown", "default":
		return e.latin1.reset(r)
	}
	cr, err := charset.Reader(cs, r)
	if err != nil {
		return e.latin1.reset(r)
	}
	return cr
}

// latin1Reader passes valid UTF-8 through and turns every other byte into
// the Latin-1 character of that value.
type latin1Reader struct {
	r   io.Reader
	in  []byte
	n   int // bytes of in held over from the last read
	out []byte
	off int
	err error
}

// reset makes l read r from its start, keeping its buffers.
func (l *latin1Reader) reset(r io.Reader) *latin1Reader {
	l.r, l.n, l.out, l.off, l.err = r, 0, l.out[:0], 0, nil
	return l
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	for l.off >= len(l.out) {
		if l.err != nil {
			return 0, l.err
		}
		if l.in == nil {
			l.in = make([]byte, 16<<10)
		}
		k, err := l.r.Read(l.in[l.n:])
		src := l.in[:l.n+k]
		l.out, l.off = l.out[:0], 0
		i := 0
		for i < len(src) {
			c := src[i]
			if c < utf8.RuneSelf {
				l.out = append(l.out, c)
				i++
				continue
			}
			if !utf8.FullRune(src[i:]) && err == nil {
				break // wait for the rest
			}
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size <= 1 {
				l.out = utf8.AppendRune(l.out, rune(c))
				i++
				continue
			}
			l.out = append(l.out, src[i:i+size]...)
			i += size
		}
		l.n = copy(l.in, src[i:])
		if err != nil {
			l.err = err
		}
	}
	n := copy(p, l.out[l.off:])
	l.off += n
	return n, nil
}
