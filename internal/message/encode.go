package message

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The stored form of a Structure: a version byte, then the fields in a fixed
// order; integers as zig-zag varints, strings and lists as a uvarint length
// and the items. A new version is added (and the old ones kept readable) when
// the format changes.
//
// Version 2 appends References to version 1; a version 1 structure decodes
// with no References.
const (
	encodingV1 = 1
	encodingV2 = 2
)

// maxDecodeDepth bounds the nesting Decode accepts (twice MaxDepth covers
// Part -> Embedded -> Part at every level).
const maxDecodeDepth = 2*MaxDepth + 4

// Encode returns the compact binary form of s, for the database. Decode
// restores it exactly (empty lists come back as nil).
func (s *Structure) Encode() []byte {
	e := encoder{b: make([]byte, 0, 256)}
	e.b = append(e.b, encodingV2)
	e.int(s.Size)
	e.bool(s.Truncated)
	e.string(s.Preview)
	e.strings(s.HeaderNames)
	e.envelope(&s.Envelope)
	e.part(&s.Root)
	e.string(s.References)
	return e.b
}

type encoder struct{ b []byte }

func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) string(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) strings(l []string) {
	e.uint(uint64(len(l)))
	for _, s := range l {
		e.string(s)
	}
}

func (e *encoder) params(ps [][2]string) {
	e.uint(uint64(len(ps)))
	for _, kv := range ps {
		e.string(kv[0])
		e.string(kv[1])
	}
}

func (e *encoder) addresses(l []Address) {
	e.uint(uint64(len(l)))
	for i := range l {
		a := &l[i]
		var flags byte
		if a.GroupStart {
			flags |= 1
		}
		if a.GroupEnd {
			flags |= 2
		}
		e.b = append(e.b, flags)
		e.string(a.Name)
		e.string(a.Route)
		e.string(a.Mailbox)
		e.string(a.Host)
	}
}

func (e *encoder) envelope(env *Envelope) {
	e.string(env.Date)
	e.string(env.Subject)
	e.addresses(env.From)
	e.addresses(env.Sender)
	e.addresses(env.ReplyTo)
	e.addresses(env.To)
	e.addresses(env.Cc)
	e.addresses(env.Bcc)
	e.string(env.InReplyTo)
	e.string(env.MessageID)
}

func (e *encoder) part(p *Part) {
	e.int(p.Start)
	e.int(p.HeaderSize)
	e.int(p.BodyStart)
	e.int(p.BodySize)
	e.int(p.Lines)
	e.int(p.DecodedSize)
	e.string(p.Type)
	e.string(p.Subtype)
	e.params(p.Params)
	e.string(p.ID)
	e.string(p.Description)
	e.string(p.Encoding)
	e.string(p.MD5)
	e.string(p.Disposition)
	e.params(p.DispositionParams)
	e.strings(p.Language)
	e.string(p.Location)
	e.uint(uint64(len(p.Parts)))
	for i := range p.Parts {
		e.part(&p.Parts[i])
	}
	e.bool(p.Message != nil)
	if p.Message != nil {
		e.envelope(&p.Message.Envelope)
		e.part(&p.Message.Root)
	}
}

var errCorrupt = errors.New("message: corrupt structure encoding")

// Decode restores a Structure from the form Encode made.
func Decode(b []byte) (*Structure, error) {
	if len(b) == 0 {
		return nil, errCorrupt
	}
	if b[0] != encodingV1 && b[0] != encodingV2 {
		return nil, fmt.Errorf("message: unknown structure encoding version %d", b[0])
	}
	d := decoder{b: b[1:]}
	s := &Structure{}
	s.Size = d.int()
	s.Truncated = d.bool()
	s.Preview = d.string()
	s.HeaderNames = d.strings()
	d.envelope(&s.Envelope)
	d.part(&s.Root, 0)
	if b[0] >= encodingV2 {
		s.References = d.string()
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errCorrupt
	}
	return s, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a list length; each item takes at least min bytes, which bounds
// what a corrupt length can make Decode allocate.
func (d *decoder) count(min int) int {
	n := d.uint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) bool() bool {
	if len(d.b) == 0 {
		d.fail()
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.fail()
	}
	return v == 1
}

func (d *decoder) string() string {
	n := d.count(1)
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.string()
	}
	return l
}

func (d *decoder) params() [][2]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	l := make([][2]string, n)
	for i := range l {
		l[i][0] = d.string()
		l[i][1] = d.string()
	}
	return l
}

func (d *decoder) addresses() []Address {
	n := d.count(5)
	if n == 0 {
		return nil
	}
	l := make([]Address, n)
	for i := range l {
		a := &l[i]
		if len(d.b) == 0 {
			d.fail()
			return nil
		}
		flags := d.b[0]
		d.b = d.b[1:]
		if flags > 3 {
			d.fail()
		}
		a.GroupStart, a.GroupEnd = flags&1 != 0, flags&2 != 0
		a.Name = d.string()
		a.Route = d.string()
		a.Mailbox = d.string()
		a.Host = d.string()
	}
	return l
}

func (d *decoder) envelope(env *Envelope) {
	env.Date = d.string()
	env.Subject = d.string()
	env.From = d.addresses()
	env.Sender = d.addresses()
	env.ReplyTo = d.addresses()
	env.To = d.addresses()
	env.Cc = d.addresses()
	env.Bcc = d.addresses()
	env.InReplyTo = d.string()
	env.MessageID = d.string()
}

func (d *decoder) part(p *Part, depth int) {
	if depth > maxDecodeDepth {
		d.fail()
		return
	}
	p.Start = d.int()
	p.HeaderSize = d.int()
	p.BodyStart = d.int()
	p.BodySize = d.int()
	p.Lines = d.int()
	p.DecodedSize = d.int()
	p.Type = d.string()
	p.Subtype = d.string()
	p.Params = d.params()
	p.ID = d.string()
	p.Description = d.string()
	p.Encoding = d.string()
	p.MD5 = d.string()
	p.Disposition = d.string()
	p.DispositionParams = d.params()
	p.Language = d.strings()
	p.Location = d.string()
	if n := d.count(16); n > 0 {
		p.Parts = make([]Part, n)
		for i := range p.Parts {
			d.part(&p.Parts[i], depth+1)
		}
	}
	if d.bool() {
		p.Message = &Embedded{}
		d.envelope(&p.Message.Envelope)
		d.part(&p.Message.Root, depth+1)
	}
}
