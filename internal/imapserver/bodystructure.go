package imapserver

import (
	"strings"

	"mailroom/internal/imapwire"

	"mailroom/internal/message"
)

// writeEnvelope writes an ENVELOPE (RFC 9051 §7.5.2, §9 envelope). The
// fields are the raw header values: encoded words go out as they were
// received, for the client to decode.
func (s *session) writeEnvelope(env *message.Envelope) {
	e := s.enc
	e.Special('(')
	s.nstring(env.Date).SP()
	s.nstring(env.Subject).SP()
	s.writeAddresses(env.From)
	e.SP()
	s.writeAddresses(env.Sender)
	e.SP()
	s.writeAddresses(env.ReplyTo)
	e.SP()
	s.writeAddresses(env.To)
	e.SP()
	s.writeAddresses(env.Cc)
	e.SP()
	s.writeAddresses(env.Bcc)
	e.SP()
	s.nstring(env.InReplyTo).SP()
	s.nstring(env.MessageID)
	e.Special(')')
}

// writeAddresses writes an address list: "(" 1*address ")" / nil. A group
// (RFC 5322 §3.4) is a start marker with NIL host and the group name as
// mailbox, its members, then an end marker of four NILs (RFC 9051 §7.5.2).
func (s *session) writeAddresses(list []message.Address) {
	e := s.enc
	if len(list) == 0 {
		e.NIL()
		return
	}
	e.Special('(')
	for i := range list {
		a := &list[i]
		switch {
		case a.GroupStart:
			e.Raw("(NIL NIL ")
			s.nstring(a.Mailbox)
			e.Raw(" NIL)")
		case a.GroupEnd:
			e.Raw("(NIL NIL NIL NIL)")
		default:
			e.Special('(')
			s.nstring(a.Name).SP()
			s.nstring(a.Route).SP()
			s.nstring(a.Mailbox).SP()
			s.nstring(a.Host)
			e.Special(')')
		}
	}
	e.Special(')')
}

// writeBodyStructure writes BODYSTRUCTURE (ext) or BODY (RFC 9051 §7.5.2,
// §9 body). Extension data is written in full: body-fld-md5,
// body-fld-dsp, body-fld-lang and body-fld-loc for a single part;
// body-fld-param, dsp, lang and loc for a multipart.
func (s *session) writeBodyStructure(p *message.Part, ext bool) {
	e := s.enc
	e.Special('(')
	if p.IsMultipart() {
		// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
		for i := range p.Parts {
			s.writeBodyStructure(&p.Parts[i], ext)
		}
		e.SP()
		s.str(strings.ToUpper(p.Subtype))
		if ext {
			e.SP()
			s.writeBodyParams(p.Params)
			e.SP()
			s.writeBodyExtTail(p)
		}
		e.Special(')')
		return
	}
	// body-type-1part: basic, msg or text, then body-fields.
	s.str(strings.ToUpper(p.Type)).SP()
	s.str(strings.ToUpper(p.Subtype)).SP()
	s.writeBodyParams(p.Params)
	e.SP()
	s.nstring(p.ID).SP()
	s.nstring(p.Description).SP()
	s.str(strings.ToUpper(p.Encoding)).SP()
	e.Int64(p.BodySize)
	switch {
	case p.IsMessage():
		// body-type-msg: envelope, body and lines of the embedded message.
		e.SP()
		s.writeEnvelope(&p.Message.Envelope)
		e.SP()
		s.writeBodyStructure(&p.Message.Root, ext)
		e.SP()
		e.Int64(p.Lines)
	case p.Type == "text":
		e.SP()
		e.Int64(p.Lines)
	}
	if ext {
		// body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
		// [SP body-fld-loc]]]
		e.SP()
		s.nstring(p.MD5).SP()
		s.writeBodyExtTail(p)
	}
	e.Special(')')
}

// writeBodyExtTail writes body-fld-dsp SP body-fld-lang SP body-fld-loc.
func (s *session) writeBodyExtTail(p *message.Part) {
	e := s.enc
	if p.Disposition == "" {
		e.NIL()
	} else {
		e.Special('(')
		s.str(strings.ToUpper(p.Disposition)).SP()
		s.writeBodyParams(p.DispositionParams)
		e.Special(')')
	}
	e.SP()
	switch len(p.Language) {
	case 0:
		e.NIL()
	case 1:
		s.str(p.Language[0])
	default:
		e.Special('(')
		for i, l := range p.Language {
			if i > 0 {
				e.SP()
			}
			s.str(l)
		}
		e.Special(')')
	}
	e.SP()
	s.nstring(p.Location)
}

// writeBodyParams writes body-fld-param: "(" name SP value ... ")" or NIL.
// Values are stored decoded to UTF-8; for a client that has not enabled
// UTF-8 a non-ASCII value goes back in RFC 2231 §4 form (the name with
// a star, the value as charset utf-8, empty language, percent-encoded
// bytes), which clients already decode, instead of as raw 8-bit text.
func (s *session) writeBodyParams(params [][2]string) {
	e := s.enc
	if len(params) == 0 {
		e.NIL()
		return
	}
	e.Special('(')
	for i, kv := range params {
		if i > 0 {
			e.SP()
		}
		name, value := strings.ToUpper(kv[0]), kv[1]
		if !s.utf8 && !isASCIIString(value) {
			name, value = name+"*", "utf-8''"+pctEncode2231(value)
		}
		s.str(name).SP()
		s.str(value)
	}
	e.Special(')')
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// pctEncode2231 percent-encodes the bytes that RFC 2231 §7 attribute-char
// does not allow.
func pctEncode2231(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c > ' ' && c < 0x7f && !strings.ContainsRune(`*'%()<>@,;:\"/[]?=`, rune(c)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// nstring writes NIL for "" and v as a string otherwise.
func (s *session) nstring(v string) *imapwire.Encoder {
	if v == "" {
		return s.enc.NIL()
	}
	return s.str(v)
}

// str writes v as a string. Printable ASCII without quotes or backslashes,
// the bulk of envelopes and body structures, goes out in one write; the
// encoder picks the form for anything else.
func (s *session) str(v string) *imapwire.Encoder {
	if len(v) <= 1024 && plainQuotable(v) {
		return s.enc.Special('"').Raw(v).Special('"')
	}
	return s.enc.String(v)
}

func plainQuotable(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
