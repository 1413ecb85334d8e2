package message

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"strings"
	"sync"
)

// readBufSize is the size of the read buffer: longer lines are handled in
// pieces (and cannot be boundary delimiters or blank lines).
const readBufSize = 64 << 10

// maxBoundary is the longest boundary parameter used (RFC 2046 allows 70).
const maxBoundary = 256

// Preview text collected per candidate part, after the transfer encoding is
// undone: enough for PreviewRunes characters after white space is collapsed
// and (for HTML) the markup removed.
const (
	previewPlainBytes = 4 << 10
	previewHTMLBytes  = 128 << 10
)

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// Parse reads the whole message from r and returns its structure. It reads
// line by line, keeping only what the Structure holds, a bounded prefix of
// the preview text, and the header field being parsed (at most
// MaxHeaderValue bytes of it), so a message of any size parses in bounded
// memory.
//
// Parse never fails on bad MIME. A missing or invalid Content-Type is
// text/plain; a multipart without a usable boundary, or whose first
// delimiter never comes, is a text/plain leaf over its whole body; a missing
// close delimiter ends the multipart at the end of its parent; a header cut
// short by a delimiter or the end of input ends there; 8-bit header bytes
// are read as UTF-8 when valid and as Latin-1 otherwise. Nesting deeper than
// MaxDepth, more than MaxParts parts, fields longer than MaxHeaderValue and
// more than MaxMeta bytes of kept strings are cut as the constants describe.
// Parse returns an error only when r does.
func Parse(r io.Reader) (*Structure, error) {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	return parseReader(br)
}

// parseReader is Parse over a given buffer (whose size is the longest line
// piece).
func parseReader(br *bufio.Reader) (*Structure, error) {
	s := &Structure{}
	p := newParser(s)
	var carry []byte
	cr := false
	for {
		frag, err := br.ReadSlice('\n')
		if cr {
			// The CR held back from the previous piece goes with this
			// one, so that a CRLF is never split.
			carry = append(append(carry[:0], '\r'), frag...)
			frag, cr = carry, false
		}
		complete := err != bufio.ErrBufferFull
		if !complete && len(frag) > 1 && frag[len(frag)-1] == '\r' {
			frag, cr = frag[:len(frag)-1], true
		}
		if len(frag) > 0 {
			p.fragment(frag, complete)
		}
		switch err {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			p.finish()
			return s, nil
		default:
			return nil, err
		}
	}
}

type levelKind uint8

const (
	kindLeaf levelKind = iota
	kindMultipart
	kindMessage
)

type mpState uint8

const (
	mpPreamble mpState = iota // before the first delimiter
	mpChild                   // inside a child
	mpEpilogue                // after the close delimiter
	mpSkip                    // MaxParts reached: delimiters start no child
)

// level is an open part: the stack of them runs from the top-level message to
// the part being read.
type level struct {
	part        *Part
	inHeader    bool
	kind        levelKind
	state       mpState
	depth       int
	top         bool      // the top-level message: record HeaderNames
	env         *Envelope // set for a message header
	inMsg       bool      // inside an embedded message
	digestChild bool      // default type message/rfc822 (RFC 2046 §5.1.5)
	digest      bool
	boundary    []byte
	nlStart     int64 // LFs before the body
	dec         *xferDecoder
	decoded     int64
	capt        *capture
}

// Header fields looked at.
const (
	fContentType = iota
	fContentTransferEncoding
	fContentID
	fContentDescription
	fContentDisposition
	fContentLanguage
	fContentLocation
	fContentMD5
	fDate
	fSubject
	fFrom
	fSender
	fReplyTo
	fTo
	fCc
	fBcc
	fInReplyTo
	fMessageID
	fReferences
	numFields
)

var fieldIndex = map[string]int{
	"content-type":              fContentType,
	"content-transfer-encoding": fContentTransferEncoding,
	"content-id":                fContentID,
	"content-description":       fContentDescription,
	"content-disposition":       fContentDisposition,
	"content-language":          fContentLanguage,
	"content-location":          fContentLocation,
	"content-md5":               fContentMD5,
	"date":                      fDate,
	"subject":                   fSubject,
	"from":                      fFrom,
	"sender":                    fSender,
	"reply-to":                  fReplyTo,
	"to":                        fTo,
	"cc":                        fCc,
	"bcc":                       fBcc,
	"in-reply-to":               fInReplyTo,
	"message-id":                fMessageID,
	"references":                fReferences,
}

type parser struct {
	s *Structure
	// Position. Bytes up to pos are read; the last pend of them are the line
	// break of the last body line, which belongs to the body only if no
	// delimiter follows (RFC 2046 §5.1.1). nl counts the LF bytes before
	// pos-pend, last is the byte at pos-pend-1.
	pos       int64
	pend      int
	nl        int64
	last      byte
	lineStart bool

	stack     []*level
	activeMP  int // multiparts whose delimiters are looked for
	nparts    int
	budget    int
	truncated bool

	// The header being read.
	hbuf    []byte
	hactive bool
	fields  [numFields]string
	seen    [numFields]bool
	nameSet map[string]bool

	scratch     []byte
	plain, html *capture
}

func newParser(s *Structure) *parser {
	p := &parser{s: s, lineStart: true, budget: MaxMeta, nparts: 1}
	p.stack = append(p.stack, &level{part: &s.Root, inHeader: true, top: true, env: &s.Envelope})
	return p
}

// fragment handles a piece of input: a whole line (complete: it ends with
// LF, or the input ends) or part of a longer one.
func (p *parser) fragment(frag []byte, complete bool) {
	start := p.lineStart
	p.lineStart = complete
	if start && complete && p.activeMP > 0 && len(frag) >= 2 && frag[0] == '-' && frag[1] == '-' {
		if i, closing, ok := p.matchBoundary(frag); ok {
			p.delimiter(i, closing, frag)
			return
		}
	}
	top := p.stack[len(p.stack)-1]
	if top.inHeader {
		p.headerLine(top, frag, start, complete)
	} else {
		p.bodyLine(top, frag)
	}
}

// matchBoundary reports whether line is a delimiter ("--" boundary, maybe
// "--" after it, then only white space) of an open multipart, the innermost
// first, and the index of that multipart in the stack.
func (p *parser) matchBoundary(line []byte) (int, bool, bool) {
	s := line[2:]
	e := len(s)
	for e > 0 && (s[e-1] == ' ' || s[e-1] == '\t' || s[e-1] == '\r' || s[e-1] == '\n') {
		e--
	}
	s = s[:e]
	for i := len(p.stack) - 1; i >= 0; i-- {
		lv := p.stack[i]
		if lv.kind != kindMultipart || lv.state == mpEpilogue {
			continue
		}
		b := lv.boundary
		switch len(s) {
		case len(b):
			if bytes.Equal(s, b) {
				return i, false, true
			}
		case len(b) + 2:
			if s[len(b)] == '-' && s[len(b)+1] == '-' && bytes.Equal(s[:len(b)], b) {
				return i, true, true
			}
		}
	}
	return 0, false, false
}

// delimiter handles a delimiter line of the multipart at stack[i]: it ends
// every part inside it, then starts the next child or the epilogue.
func (p *parser) delimiter(i int, closing bool, line []byte) {
	end := p.pos - int64(p.pend)
	for len(p.stack)-1 > i {
		p.pop(end)
	}
	mp := p.stack[i]
	if closing {
		mp.state = mpEpilogue
		p.activeMP--
		if len(mp.part.Parts) > 0 {
			p.dropPending()
		} // else: no child, so the multipart becomes a text/plain leaf and this line is its text
		// The line break after the close delimiter starts the epilogue, or
		// belongs to the next delimiter of an outer multipart.
		p.bodyLine(mp, line)
		return
	}
	p.dropPending()
	p.commitLine(line)
	mp.dec, mp.capt = nil, nil // the preamble is not kept
	if p.nparts >= MaxParts {
		mp.state = mpSkip
		p.truncated = true
		return
	}
	mp.state = mpChild
	mp.part.Parts = append(mp.part.Parts, Part{Start: p.pos})
	p.nparts++
	p.push(&level{
		part:        &mp.part.Parts[len(mp.part.Parts)-1],
		inHeader:    true,
		depth:       mp.depth + 1,
		inMsg:       mp.inMsg,
		digestChild: mp.digest,
	})
}

func (p *parser) push(lv *level) {
	p.stack = append(p.stack, lv)
	p.hactive = false
	p.hbuf = p.hbuf[:0]
}

func (p *parser) pop(end int64) {
	lv := p.stack[len(p.stack)-1]
	p.stack[len(p.stack)-1] = nil
	p.stack = p.stack[:len(p.stack)-1]
	p.close(lv, end)
}

// commitLine takes a whole line (header line or delimiter) as read.
func (p *parser) commitLine(line []byte) {
	p.pos += int64(len(line))
	if n := len(line); n > 0 {
		p.last = line[n-1]
		if p.last == '\n' {
			p.nl++
		}
	}
}

// dropPending takes the held-back line break as read, outside any body.
func (p *parser) dropPending() {
	if p.pend > 0 {
		p.nl++
		p.last = '\n'
		p.pend = 0
	}
}

var crlfBytes = []byte("\r\n")

// commitPending gives the held-back line break to the body of lv.
func (p *parser) commitPending(lv *level) {
	if p.pend > 0 {
		p.feed(lv, crlfBytes[2-p.pend:])
		p.nl++
		p.last = '\n'
		p.pend = 0
	}
}

// bodyLine handles a piece of body (or preamble, or epilogue) of lv. Its
// line break is held back.
func (p *parser) bodyLine(lv *level, frag []byte) {
	n := len(frag)
	term := 0
	if n > 0 && frag[n-1] == '\n' {
		term = 1
		if n > 1 && frag[n-2] == '\r' {
			term = 2
		}
	}
	p.commitPending(lv)
	if c := frag[:n-term]; len(c) > 0 {
		p.feed(lv, c)
		p.last = c[len(c)-1]
	}
	p.pos += int64(n)
	p.pend = term
}

// feed passes body bytes to the transfer decoder and preview of lv.
func (p *parser) feed(lv *level, b []byte) {
	if lv.dec == nil {
		if lv.capt != nil {
			lv.capt.write(b)
		}
		return
	}
	out := lv.dec.decode(p.scratch[:0], b)
	lv.decoded += int64(len(out))
	if lv.capt != nil {
		lv.capt.write(out)
	}
	p.scratch = out[:0]
}

func isBlankLine(b []byte) bool {
	return len(b) == 1 && b[0] == '\n' || len(b) == 2 && b[0] == '\r' && b[1] == '\n'
}

// headerLine handles a piece of the header of lv.
func (p *parser) headerLine(lv *level, frag []byte, start, complete bool) {
	if start && complete && isBlankLine(frag) {
		p.endField(lv)
		p.commitLine(frag)
		lv.part.HeaderSize = p.pos - lv.part.Start
		lv.part.BodyStart = p.pos
		lv.inHeader = false
		lv.nlStart = p.nl
		p.apply(lv, true)
		return
	}
	p.commitLine(frag)
	c := frag
	if n := len(c); n > 0 && c[n-1] == '\n' {
		c = c[:n-1]
		if n > 1 && c[n-2] == '\r' {
			c = c[:n-2]
		}
	}
	if start && !(len(c) > 0 && (c[0] == ' ' || c[0] == '\t')) {
		// A new field (a line starting with white space continues the
		// previous one: unfolding, RFC 5322 §2.2.3).
		p.endField(lv)
		p.hactive = true
		p.hbuf = p.hbuf[:0]
	}
	if p.hactive {
		if room := MaxHeaderValue - len(p.hbuf); room > 0 {
			if len(c) > room {
				c = c[:room]
			}
			p.hbuf = append(p.hbuf, c...)
		}
	}
}

// endField ends the header field being read and keeps it if it is looked at.
func (p *parser) endField(lv *level) {
	if !p.hactive {
		return
	}
	p.hactive = false
	b := p.hbuf
	colon := bytes.IndexByte(b, ':')
	if colon <= 0 {
		return // not a field
	}
	name := bytes.TrimRight(b[:colon], " \t")
	var low [128]byte
	if len(name) == 0 || len(name) > len(low) {
		return
	}
	for i, c := range name {
		if c <= ' ' || c >= 0x7f {
			return
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	key := low[:len(name)]
	if lv.top && len(p.s.HeaderNames) < MaxHeaderNames && !p.nameSet[string(key)] {
		if p.nameSet == nil {
			p.nameSet = map[string]bool{}
		}
		k := string(key)
		p.nameSet[k] = true
		if k = p.keep(k); k != "" {
			p.s.HeaderNames = append(p.s.HeaderNames, k)
		}
	}
	f, ok := fieldIndex[string(key)]
	if !ok || p.seen[f] {
		return
	}
	p.seen[f] = true
	p.fields[f] = headerText(b[colon+1:])
}

func validBoundary(b string) bool {
	return b != "" && len(b) <= maxBoundary && !strings.ContainsAny(b, "\r\n")
}

// apply sets the fields of lv's part from its header and decides how its
// body is read. hasBody is false when the header did not end with a blank
// line.
func (p *parser) apply(lv *level, hasBody bool) {
	part := lv.part
	f := &p.fields
	typ, sub, params, ok := parseContentType(f[fContentType])
	if !ok {
		if lv.digestChild {
			typ, sub, params = "message", "rfc822", nil
		} else {
			typ, sub, params = "text", "plain", [][2]string{{"charset", "us-ascii"}}
		}
	}
	part.Type, part.Subtype = typ, sub
	part.Encoding = parseEncoding(f[fContentTransferEncoding])
	boundary := strings.TrimRight(param(params, "boundary"), " \t")
	part.Params = p.keepParams(params)
	part.ID = p.keep(f[fContentID])
	part.Description = p.keep(f[fContentDescription])
	part.MD5 = p.keep(f[fContentMD5])
	part.Location = p.keep(f[fContentLocation])
	if p.seen[fContentDisposition] {
		d, dp := parseDisposition(f[fContentDisposition])
		part.Disposition = p.keep(d)
		part.DispositionParams = p.keepParams(dp)
	}
	if p.seen[fContentLanguage] {
		part.Language = p.keepList(parseLanguage(f[fContentLanguage]))
	}
	if lv.env != nil {
		p.envelope(lv.env)
	}
	if lv.top {
		p.s.References = p.keep(f[fReferences])
	}
	p.fields = [numFields]string{}
	p.seen = [numFields]bool{}

	limited := lv.depth >= MaxDepth || p.nparts >= MaxParts
	switch {
	case typ == "multipart":
		if hasBody && validBoundary(boundary) && !limited {
			lv.kind = kindMultipart
			lv.state = mpPreamble
			lv.boundary = []byte(boundary)
			lv.digest = sub == "digest"
			p.activeMP++
		} else {
			if hasBody && limited {
				p.truncated = true
			}
			part.Type, part.Subtype, part.Params = "text", "plain", nil
		}
	case typ == "message" && (sub == "rfc822" || sub == "global") && hasBody && IdentityEncoding(part.Encoding):
		if limited {
			p.truncated = true
			break
		}
		lv.kind = kindMessage
		part.Message = &Embedded{Root: Part{Start: p.pos}}
		p.nparts++
		p.push(&level{
			part:     &part.Message.Root,
			inHeader: true,
			depth:    lv.depth + 1,
			env:      &part.Message.Envelope,
			inMsg:    true,
		})
		return
	}
	if !hasBody {
		return
	}
	// A leaf, or the preamble of a multipart (the body of a text/plain leaf
	// if no delimiter comes).
	if k := xferKind(part.Encoding); k != xferIdentity {
		lv.dec = &xferDecoder{kind: k}
	}
	if !lv.inMsg && part.Disposition != "attachment" && p.plain == nil {
		switch {
		case lv.kind == kindMultipart || part.Type == "text" && part.Subtype == "plain":
			lv.capt = &capture{charset: part.Param("charset"), limit: previewPlainBytes}
		case part.Type == "text" && part.Subtype == "html" && p.html == nil:
			lv.capt = &capture{html: true, charset: part.Param("charset"), limit: previewHTMLBytes}
		}
	}
}

// close ends lv's part at offset end.
func (p *parser) close(lv *level, end int64) {
	part := lv.part
	if lv.inHeader {
		p.endField(lv)
		part.HeaderSize = end - part.Start
		part.BodyStart = end
		lv.inHeader = false
		lv.nlStart = p.nl
		p.apply(lv, false)
	}
	part.BodySize = end - part.BodyStart
	part.Lines = p.nl - lv.nlStart
	if part.BodySize > 0 && p.last != '\n' {
		part.Lines++
	}
	switch lv.kind {
	case kindMessage:
		part.DecodedSize = part.BodySize
		return
	case kindMultipart:
		if lv.state != mpEpilogue {
			p.activeMP--
		}
		if len(part.Parts) > 0 {
			part.DecodedSize = part.BodySize
			return
		}
		// No delimiter was found: a text/plain leaf.
		part.Type, part.Subtype, part.Params = "text", "plain", nil
	}
	if lv.dec != nil {
		out := lv.dec.flush(p.scratch[:0])
		lv.decoded += int64(len(out))
		if lv.capt != nil {
			lv.capt.write(out)
		}
		part.DecodedSize = lv.decoded
	} else {
		part.DecodedSize = part.BodySize
	}
	if c := lv.capt; c != nil {
		if c.html {
			if p.html == nil {
				p.html = c
			}
		} else if p.plain == nil {
			p.plain = c
		}
	}
}

func (p *parser) finish() {
	if p.pend > 0 {
		p.commitPending(p.stack[len(p.stack)-1])
	}
	for len(p.stack) > 0 {
		p.pop(p.pos)
	}
	p.s.Size = p.pos
	p.s.Truncated = p.truncated
	switch {
	case p.plain != nil:
		p.s.Preview = p.plain.preview()
	case p.html != nil:
		p.s.Preview = p.html.preview()
	}
}

// keep charges s to the MaxMeta budget, or drops it when the budget is
// spent.
func (p *parser) keep(s string) string {
	if len(s) > p.budget {
		p.truncated = true
		return ""
	}
	p.budget -= len(s)
	return s
}

func (p *parser) keepParams(ps [][2]string) [][2]string {
	var out [][2]string
	for _, kv := range ps {
		n := len(kv[0]) + len(kv[1]) + 16
		if n > p.budget {
			p.truncated = true
			break
		}
		p.budget -= n
		out = append(out, kv)
	}
	return out
}

func (p *parser) keepList(l []string) []string {
	var out []string
	for _, s := range l {
		if len(s)+16 > p.budget {
			p.truncated = true
			break
		}
		p.budget -= len(s) + 16
		out = append(out, s)
	}
	return out
}

func (p *parser) addresses(v string) []Address {
	if v == "" {
		return nil
	}
	var out []Address
	inGroup := false
	for _, a := range parseAddressList(v) {
		n := len(a.Name) + len(a.Route) + len(a.Mailbox) + len(a.Host) + 32
		if n > p.budget {
			p.truncated = true
			if inGroup {
				out = append(out, Address{GroupEnd: true})
			}
			break
		}
		p.budget -= n
		out = append(out, a)
		switch {
		case a.GroupStart:
			inGroup = true
		case a.GroupEnd:
			inGroup = false
		}
	}
	return out
}

// envelope fills env from the header fields read (RFC 3501 §7.4.2).
func (p *parser) envelope(env *Envelope) {
	f := &p.fields
	env.Date = p.keep(f[fDate])
	env.Subject = p.keep(f[fSubject])
	env.From = p.addresses(f[fFrom])
	env.Sender = p.addresses(f[fSender])
	env.ReplyTo = p.addresses(f[fReplyTo])
	env.To = p.addresses(f[fTo])
	env.Cc = p.addresses(f[fCc])
	env.Bcc = p.addresses(f[fBcc])
	env.InReplyTo = p.keep(f[fInReplyTo])
	env.MessageID = p.keep(f[fMessageID])
	// "If the Sender or Reply-To lines are absent in the [RFC-2822] header,
	// or are present but empty, the server sets the corresponding member of
	// the envelope to be the same value as the from member."
	if len(env.Sender) == 0 {
		env.Sender = slices.Clone(env.From)
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = slices.Clone(env.From)
	}
}
