package sieve

import (
	"bytes"
	"mime"
	"strings"
)

// HeaderEdit is one editheader change (RFC 5293), in script order.
type HeaderEdit struct {
	Delete bool   // deleteheader; otherwise addheader
	Name   string // field name
	Value  string // addheader: the value; deleteheader: only the occurrence with this value ("" for any)
	Last   bool   // addheader :last; deleteheader :index counts from the end
	Index  int    // deleteheader :index (1-based); 0 for every occurrence
}

// field is one header field as it is in the message.
type field struct {
	name string
	raw  []byte // the field's lines, CRLF included
}

// value is the field's unfolded value without leading and trailing white
// space, as header tests see it.
func (f field) value() string {
	i := bytes.IndexByte(f.raw, ':')
	v := string(f.raw[i+1:])
	v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
	return strings.TrimSpace(v)
}

// splitHeader splits a header block (up to and including its blank line,
// or the whole block when there is none) into fields. Lines that are not
// fields are kept with the field before them, or dropped at the start.
func splitHeader(h []byte) []field {
	var out []field
	for len(h) > 0 {
		end := bytes.IndexByte(h, '\n')
		if end < 0 {
			end = len(h) - 1
		}
		line := h[:end+1]
		h = h[end+1:]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the blank line ends the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(out) > 0 {
				out[len(out)-1].raw = append(out[len(out)-1].raw, line...)
			}
			continue
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			if len(out) > 0 {
				out[len(out)-1].raw = append(out[len(out)-1].raw, line...)
			}
			continue
		}
		name := string(bytes.TrimRight(line[:i], " \t"))
		out = append(out, field{name: name, raw: append([]byte(nil), line...)})
	}
	return out
}

func joinHeader(fields []field) []byte {
	var b bytes.Buffer
	for _, f := range fields {
		b.Write(f.raw)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// values returns the values of every field named name.
func values(fields []field, name string) []string {
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value())
		}
	}
	return out
}

// ApplyEdits returns the header block h (ending with its blank line) with
// the edits applied, in order. Added values that are not ASCII are encoded
// (RFC 2047).
func ApplyEdits(h []byte, edits []HeaderEdit) []byte {
	if len(edits) == 0 {
		return h
	}
	fields := splitHeader(h)
	for _, e := range edits {
		if !e.Delete {
			v := strings.Map(func(r rune) rune {
				if r == '\r' || r == '\n' {
					return ' '
				}
				return r
			}, e.Value)
			if !isASCII(v) {
				v = mime.QEncoding.Encode("utf-8", v)
			}
			f := field{name: e.Name, raw: []byte(e.Name + ": " + v + "\r\n")}
			if e.Last {
				fields = append(fields, f)
			} else {
				fields = append([]field{f}, fields...)
			}
			continue
		}
		var idx []int
		for i, f := range fields {
			if strings.EqualFold(f.name, e.Name) {
				idx = append(idx, i)
			}
		}
		drop := map[int]bool{}
		switch {
		case e.Index > 0:
			k := e.Index - 1
			if e.Last {
				k = len(idx) - e.Index
			}
			if k >= 0 && k < len(idx) && (e.Value == "" || fields[idx[k]].value() == e.Value) {
				drop[idx[k]] = true
			}
		case e.Value != "":
			for _, i := range idx {
				if fields[i].value() == e.Value {
					drop[i] = true
					break
				}
			}
		default:
			for _, i := range idx {
				drop[i] = true
			}
		}
		kept := fields[:0:0]
		for i, f := range fields {
			if !drop[i] {
				kept = append(kept, f)
			}
		}
		fields = kept
	}
	return joinHeader(fields)
}

// StripFields removes every field named name from the header block h.
func StripFields(h []byte, name string) []byte {
	return ApplyEdits(h, []HeaderEdit{{Delete: true, Name: name}})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
