package imapserver

import (
	"bufio"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"

	"mailroom/internal/imapwire"
	"mailroom/internal/message"
	"mailroom/internal/store"
)

// RFC 4469 CATENATE: an APPEND message made of TEXT literals and parts of
// messages already stored, named by IMAP URLs (RFC 5092) of the session's
// own account:
//
//	cat-part = text-literal / url
//	text-literal = "TEXT" SP literal        (literal8 with BINARY, RFC 3516)
//	url = "URL" SP astring
//
// appendCatenate reads the parts after "CATENATE (" up to ")" into b (nil
// when the command is already refused: the parts are then only read over).
// A part that cannot be used sets *refuse (NO [BADURL …], NO [TOOBIG]);
// the error returned ends the command at once (syntax, a refused
// literal).
func (s *session) appendCatenate(cmd *command, b *bodyBuilder, refuse *error) error {
	max := s.srv.opts.MaxMessageSize
	for i := 0; ; i++ {
		if s.dec.Special(')') {
			if i == 0 {
				return syntaxErr("CATENATE needs at least one part")
			}
			return nil
		}
		if i > 0 && !s.dec.SP() {
			return s.syntax()
		}
		kind, ok := s.dec.Atom()
		if !ok || !s.dec.SP() {
			return s.syntax()
		}
		switch strings.ToUpper(kind) {
		case "TEXT":
			lit, ok := s.dec.LiteralHeader()
			if !ok {
				return s.syntax()
			}
			if *refuse == nil && b != nil && b.size+lit.Size > max {
				*refuse = no("TOOBIG", "message is larger than the limit of %d octets", max)
			}
			if *refuse != nil && (!lit.NonSync || lit.Size > max) {
				return s.refuseLiteral(cmd, lit, *refuse)
			}
			r, ok := s.dec.LiteralBody(lit)
			if !ok {
				return s.syntax()
			}
			if *refuse == nil && b != nil {
				if err := b.add(r); err != nil {
					*refuse = err
				}
			}
			if _, err := io.Copy(io.Discard, r); err != nil || imapwire.IsFatal(s.dec.Err()) {
				return s.syntax()
			}
		case "URL":
			u, ok := s.dec.AString()
			if !ok {
				return s.syntax()
			}
			if *refuse != nil || b == nil {
				continue
			}
			r, size, err := s.catenateURL(u)
			switch {
			case err != nil:
				*refuse = err
			case b.size+size > max:
				r.Close()
				*refuse = no("TOOBIG", "message is larger than the limit of %d octets", max)
			default:
				err := b.add(r)
				r.Close()
				if err != nil {
					*refuse = err
				}
			}
		default:
			return syntaxErr("expected TEXT or URL")
		}
	}
}

// catenateURL opens the part of a stored message that an IMAP URL names
// (RFC 5092 §3, §4: "/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s]
// [/;PARTIAL=o[.l]]", optionally behind "imap://user@host"). A URL that is
// not of this account, or names nothing, is NO [BADURL url] (RFC 4469 §6).
func (s *session) catenateURL(raw string) (io.ReadCloser, int64, error) {
	bad := no("BADURL "+urlRespText(raw), "cannot use this URL")
	path := raw
	if len(path) >= 7 && strings.EqualFold(path[:7], "imap://") {
		rest := path[7:]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return nil, 0, bad
		}
		auth := rest[:i]
		path = rest[i:]
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			user, _, _ := strings.Cut(auth[:at], ";")
			user, err := url.PathUnescape(user)
			if err != nil || !strings.EqualFold(user, s.acct.Address) {
				return nil, 0, bad
			}
		}
	}
	if !strings.HasPrefix(path, "/") {
		return nil, 0, bad
	}
	segs := strings.Split(path[1:], "/;")
	mbox, params, _ := strings.Cut(segs[0], ";")
	name, err := url.PathUnescape(mbox)
	if err != nil || len(segs) < 2 {
		return nil, 0, bad
	}
	if name, err = s.mailboxName(name); err != nil {
		return nil, 0, bad
	}
	mb, err := s.srv.st.Mailbox(s.ctx, s.acct.ID, name)
	if err != nil {
		return nil, 0, bad
	}
	if params != "" {
		v, ok := strings.CutPrefix(strings.ToUpper(params), "UIDVALIDITY=")
		if n, err := strconv.ParseUint(v, 10, 32); !ok || err != nil || uint32(n) != mb.UIDValidity {
			return nil, 0, bad
		}
	}
	var uid uint32
	var sectionText string
	partialStart, partialLen := int64(0), int64(-1)
	for i, seg := range segs[1:] {
		key, val, _ := strings.Cut(seg, "=")
		switch strings.ToUpper(key) {
		case "UID":
			n, err := strconv.ParseUint(val, 10, 32)
			if i != 0 || err != nil || n == 0 {
				return nil, 0, bad
			}
			uid = uint32(n)
		case "SECTION":
			if i != 1 {
				return nil, 0, bad
			}
			if sectionText, err = url.PathUnescape(val); err != nil {
				return nil, 0, bad
			}
		case "PARTIAL":
			o, l, hasLen := strings.Cut(val, ".")
			start, err := strconv.ParseInt(o, 10, 64)
			if err != nil || start < 0 || i == 0 {
				return nil, 0, bad
			}
			partialStart = start
			if hasLen {
				if partialLen, err = strconv.ParseInt(l, 10, 64); err != nil || partialLen <= 0 {
					return nil, 0, bad
				}
			}
		default:
			// URLAUTH (RFC 4467) and the rest: not here.
			return nil, 0, bad
		}
	}
	if uid == 0 {
		return nil, 0, bad
	}
	rows, err := s.srv.st.MessagesByUID(s.ctx, s.acct.ID, mb.ID, []uint32{uid})
	if err != nil {
		return nil, 0, err
	}
	if len(rows) == 0 {
		return nil, 0, bad
	}
	body, err := s.srv.st.OpenBody(s.ctx, rows[0].BlobID)
	if err != nil {
		if errors.Is(err, store.ErrBodyMissing) {
			return nil, 0, bad
		}
		return nil, 0, err
	}
	loc := sectionRange{size: rows[0].Size}
	var sec *bodySection
	if sectionText != "" {
		st, err := message.Decode(rows[0].Structure)
		if err == nil {
			sec, err = s.sectionOf(sectionText)
		}
		if err != nil {
			body.Close()
			return nil, 0, bad
		}
		loc = sec.locate(st)
		if loc.missing {
			body.Close()
			return nil, 0, bad
		}
	}
	var part io.Reader = io.NewSectionReader(body, loc.start, loc.size)
	size := loc.size
	if loc.filter {
		// HEADER.FIELDS: the subset, measured first.
		subset := func() io.Reader {
			return newHeaderFilter(io.NewSectionReader(body, loc.start, loc.size), sec.fields, sec.spec == specHeaderFieldsNot)
		}
		if size, err = io.Copy(io.Discard, subset()); err != nil {
			body.Close()
			return nil, 0, err
		}
		part = subset()
	}
	start, n := windowRange(size, partialStart, partialLen)
	if _, err := io.CopyN(io.Discard, part, start); err != nil {
		body.Close()
		return nil, 0, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(part, n), body}, n, nil
}

// sectionOf parses a URL's section text ("1.2.MIME", "HEADER.FIELDS
// (FROM TO)") as FETCH parses a section.
func (s *session) sectionOf(text string) (*bodySection, error) {
	saved := s.dec
	defer func() { s.dec = saved }()
	s.dec = imapwire.NewDecoder(bufio.NewReader(strings.NewReader("["+text+"]\r\n")), imapwire.DecoderOptions{})
	sec, err := s.readSection(false)
	if err == nil && !s.dec.AtEOL() {
		err = syntaxErr("junk after the section")
	}
	return sec, err
}

// urlRespText is url as RFC 4469 §6 lets a response code carry it: no
// CR, LF or "]".
func urlRespText(u string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ']' || r == 0 {
			return -1
		}
		return r
	}, u)
}
