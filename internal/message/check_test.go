package message

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// checkStructure verifies what must hold for every parse of data: sizes and
// offsets inside the file and inside their parent, children in order and not
// overlapping, lines and decoded sizes matching the bytes, strings fit for
// IMAP, and an exact Encode/Decode round trip.
func checkStructure(data []byte, s *Structure) error {
	if s.Size != int64(len(data)) {
		return fmt.Errorf("Size %d, want %d", s.Size, len(data))
	}
	if s.Root.Start != 0 || s.Root.End() != s.Size {
		return fmt.Errorf("root spans [%d,%d), want [0,%d)", s.Root.Start, s.Root.End(), s.Size)
	}
	if err := checkPart(data, &s.Root, "root", 0, s.Size, 0); err != nil {
		return err
	}
	if err := checkEnvelope(&s.Envelope); err != nil {
		return fmt.Errorf("envelope: %v", err)
	}
	if !utf8.ValidString(s.Preview) || utf8.RuneCountInString(s.Preview) > PreviewRunes || strings.TrimSpace(s.Preview) != s.Preview {
		return fmt.Errorf("bad preview %q", s.Preview)
	}
	if len(s.HeaderNames) > MaxHeaderNames {
		return fmt.Errorf("%d header names", len(s.HeaderNames))
	}
	n := 0
	countParts(&s.Root, &n)
	if n > MaxParts {
		return fmt.Errorf("%d parts", n)
	}
	enc := s.Encode()
	d, err := Decode(enc)
	if err != nil {
		return fmt.Errorf("Decode: %v", err)
	}
	if !reflect.DeepEqual(s, d) {
		return fmt.Errorf("Encode/Decode round trip differs:\n%+v\n%+v", s, d)
	}
	return nil
}

func countParts(p *Part, n *int) {
	*n++
	for i := range p.Parts {
		countParts(&p.Parts[i], n)
	}
	if p.Message != nil {
		countParts(&p.Message.Root, n)
	}
}

// countLines counts lines the way Part.Lines is defined.
func countLines(b []byte) int64 {
	n := int64(bytes.Count(b, []byte("\n")))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

func okString(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsAny(s, "\x00\r\n")
}

func checkPart(data []byte, p *Part, name string, lo, hi int64, depth int) error {
	errf := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, a...))
	}
	if depth > MaxDepth {
		return errf("depth %d", depth)
	}
	if p.Start < lo || p.HeaderSize < 0 || p.BodySize < 0 || p.BodyStart != p.Start+p.HeaderSize || p.End() > hi {
		return errf("offsets start %d header %d body %d+%d outside [%d,%d)", p.Start, p.HeaderSize, p.BodyStart, p.BodySize, lo, hi)
	}
	body := data[p.BodyStart:p.End()]
	if got := countLines(body); p.Lines != got {
		return errf("Lines %d, want %d", p.Lines, got)
	}
	if p.Type == "" || p.Subtype == "" || p.Encoding == "" {
		return errf("empty type %q/%q or encoding %q", p.Type, p.Subtype, p.Encoding)
	}
	for _, s := range []string{p.Type, p.Subtype, p.ID, p.Description, p.Encoding, p.MD5, p.Disposition, p.Location} {
		if !okString(s) {
			return errf("bad string %q", s)
		}
	}
	for _, ps := range [][][2]string{p.Params, p.DispositionParams} {
		for _, kv := range ps {
			if !okString(kv[0]) || kv[0] == "" || !okString(kv[1]) {
				return errf("bad parameter %q", kv)
			}
		}
	}
	if (p.Type == "multipart") != (len(p.Parts) > 0) {
		return errf("type %s/%s with %d parts", p.Type, p.Subtype, len(p.Parts))
	}
	if p.Message != nil && p.Type != "message" {
		return errf("type %s/%s with a message", p.Type, p.Subtype)
	}
	if len(p.Parts) > 0 && p.Message != nil {
		return errf("both parts and message")
	}
	leaf := len(p.Parts) == 0 && p.Message == nil
	if leaf {
		if got := int64(len(decodeBytes(p.Encoding, body))); p.DecodedSize != got {
			return errf("DecodedSize %d, want %d", p.DecodedSize, got)
		}
	} else if p.DecodedSize != p.BodySize {
		return errf("DecodedSize %d of a composite part of %d bytes", p.DecodedSize, p.BodySize)
	}
	prev := p.BodyStart
	for i := range p.Parts {
		c := &p.Parts[i]
		if err := checkPart(data, c, fmt.Sprintf("%s.%d", name, i+1), prev, p.End(), depth+1); err != nil {
			return err
		}
		prev = c.End()
	}
	if m := p.Message; m != nil {
		if m.Root.Start != p.BodyStart || m.Root.End() != p.End() {
			return errf("embedded message spans [%d,%d), body [%d,%d)", m.Root.Start, m.Root.End(), p.BodyStart, p.End())
		}
		if err := checkEnvelope(&m.Envelope); err != nil {
			return errf("envelope: %v", err)
		}
		if err := checkPart(data, &m.Root, name+".msg", p.BodyStart, p.End(), depth+1); err != nil {
			return err
		}
	}
	return nil
}

func checkEnvelope(e *Envelope) error {
	for _, s := range []string{e.Date, e.Subject, e.InReplyTo, e.MessageID} {
		if !okString(s) {
			return fmt.Errorf("bad string %q", s)
		}
	}
	for _, l := range [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		in := false
		for _, a := range l {
			for _, s := range []string{a.Name, a.Route, a.Mailbox, a.Host} {
				if !okString(s) {
					return fmt.Errorf("bad address string %q", s)
				}
			}
			switch {
			case a.GroupStart && a.GroupEnd:
				return fmt.Errorf("group start and end: %+v", a)
			case a.GroupStart:
				if in || a.Mailbox == "" || a.Host != "" {
					return fmt.Errorf("bad group start %+v", a)
				}
				in = true
			case a.GroupEnd:
				if !in || a != (Address{GroupEnd: true}) {
					return fmt.Errorf("bad group end %+v", a)
				}
				in = false
			default:
				if a.Mailbox == "" || a.Host == "" {
					return fmt.Errorf("address with empty mailbox or host: %+v", a)
				}
			}
		}
		if in {
			return fmt.Errorf("unterminated group in %+v", l)
		}
	}
	return nil
}
