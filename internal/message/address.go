package message

import "strings"

// Placeholders for the parts of an address that are missing (the UW IMAP /
// Dovecot conventions), so that a mailbox is never mistaken for a group
// marker, whose host is NIL.
const (
	MissingMailbox = "MISSING_MAILBOX"
	MissingHost    = ".MISSING-HOST-NAME."
)

// maxAddresses bounds the entries of one address list.
const maxAddresses = 2000

// atok is a lexical token of an address list (RFC 5322 §3.2, §3.4).
type atok struct {
	kind  byte // 'a' atom, 'q' quoted string, 'c' comment, 'd' domain literal, or one of <>@,:;.
	text  string
	space bool // white space (or a comment) before it
}

func lexAddresses(s string) []atok {
	var toks []atok
	space := false
	i := 0
	for i < len(s) {
		c := s[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			space = true
			i++
			continue
		case '"':
			t, j := quoted(s, i)
			toks = append(toks, atok{kind: 'q', text: t, space: space})
			i = j
		case '(':
			j := skipComment(s, i)
			inner := s[i+1 : j]
			inner = strings.TrimSuffix(inner, ")")
			toks = append(toks, atok{kind: 'c', text: strings.TrimSpace(unescape(inner)), space: space})
			i = j
			space = true
			continue
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s)
			} else {
				j += i + 1
			}
			toks = append(toks, atok{kind: 'd', text: s[i:j], space: space})
			i = j
		case '<', '>', '@', ',', ':', ';', '.':
			toks = append(toks, atok{kind: c, space: space})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n\"(<>@,:;.[", rune(s[j])) {
				j++
			}
			if j == i { // a stray ')' or ']'... taken as an atom
				j++
			}
			toks = append(toks, atok{kind: 'a', text: s[i:j], space: space})
			i = j
		}
		space = false
	}
	return toks
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// phrase joins the words of a display name: quoted strings unquoted, one
// space where there was white space. Comments are left out.
func phrase(toks []atok) string {
	var sb strings.Builder
	for _, t := range toks {
		if t.kind == 'c' {
			continue
		}
		if t.space && sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		switch t.kind {
		case 'a', 'q', 'd':
			sb.WriteString(t.text)
		default:
			sb.WriteByte(t.kind)
		}
	}
	return sb.String()
}

func firstComment(toks []atok) string {
	for _, t := range toks {
		if t.kind == 'c' && t.text != "" {
			return t.text
		}
	}
	return ""
}

// joinSpec writes the tokens of a local part or domain without white space,
// quoted strings quoted again.
func joinSpec(toks []atok) string {
	var sb strings.Builder
	for _, t := range toks {
		switch t.kind {
		case 'c':
		case 'a', 'd':
			sb.WriteString(t.text)
		case 'q':
			sb.WriteByte('"')
			for i := 0; i < len(t.text); i++ {
				if t.text[i] == '"' || t.text[i] == '\\' {
					sb.WriteByte('\\')
				}
				sb.WriteByte(t.text[i])
			}
			sb.WriteByte('"')
		default:
			sb.WriteByte(t.kind)
		}
	}
	return sb.String()
}

// parseAddressList parses an address list (RFC 5322 §3.4) leniently. It
// never fails: what cannot be read as an address is kept, best effort, as
// the mailbox of one with a missing host; empty entries are dropped. Groups
// give a start marker, their members and an end marker (added when the ';'
// is missing).
func parseAddressList(s string) []Address {
	toks := lexAddresses(s)
	var out []Address
	inGroup := false
	add := func(a Address, ok bool) {
		if ok && len(out) < maxAddresses {
			out = append(out, a)
		}
	}
	for i := 0; i < len(toks) && len(out) < maxAddresses; {
		j := i
		for j < len(toks) && !strings.ContainsRune(",;:<", rune(toks[j].kind)) {
			j++
		}
		if j == len(toks) {
			add(bareAddress(toks[i:j]))
			break
		}
		switch toks[j].kind {
		case ':':
			if inGroup {
				// A group in a group is not allowed: take ':' as a
				// separator.
				add(bareAddress(toks[i:j]))
				i = j + 1
				continue
			}
			name := phrase(toks[i:j])
			if name == "" {
				name = MissingMailbox
			}
			add(Address{Mailbox: name, GroupStart: true}, true)
			inGroup = true
			i = j + 1
		case '<':
			k := j + 1
			for k < len(toks) && toks[k].kind != '>' {
				k++
			}
			a, ok := angleAddress(toks[j+1 : k])
			a.Name = phrase(toks[i:j])
			if a.Name == "" {
				a.Name = firstComment(toks[i:j])
			}
			i = k + 1
			// Comments after '>' may give the name.
			for i < len(toks) && toks[i].kind == 'c' {
				if a.Name == "" {
					a.Name = toks[i].text
				}
				i++
			}
			if !ok && a.Name != "" {
				a.Mailbox, a.Host, ok = MissingMailbox, MissingHost, true
			}
			add(a, ok)
		default: // ',' or ';'
			add(bareAddress(toks[i:j]))
			if toks[j].kind == ';' && inGroup {
				add(Address{GroupEnd: true}, true)
				inGroup = false
			}
			i = j + 1
		}
	}
	if inGroup {
		if len(out) >= maxAddresses {
			out = out[:maxAddresses-1]
		}
		out = append(out, Address{GroupEnd: true})
	}
	return out
}

// angleAddress parses the inside of <...>: [route ':'] local '@' domain.
func angleAddress(toks []atok) (Address, bool) {
	var a Address
	if len(toks) > 0 && toks[0].kind == '@' {
		// Obsolete route: @a,@b:
		k := 0
		for k < len(toks) && toks[k].kind != ':' {
			k++
		}
		if k < len(toks) {
			a.Route = joinSpec(toks[:k])
			toks = toks[k+1:]
		}
	}
	at := lastAt(toks)
	if at < 0 {
		a.Mailbox = joinSpec(toks)
	} else {
		a.Mailbox, a.Host = joinSpec(toks[:at]), joinSpec(toks[at+1:])
	}
	return fill(a)
}

// bareAddress reads an address without angle brackets: an addr-spec, maybe
// with a comment for a name, or garbage.
func bareAddress(toks []atok) (Address, bool) {
	var a Address
	at := lastAt(toks)
	if at < 0 {
		// No '@': a local name, or junk. Keep it as the mailbox.
		a.Mailbox = phrase(toks)
		a.Name = firstComment(toks)
		if a.Mailbox == "" {
			return a, false
		}
		a.Host = MissingHost
		return a, true
	}
	// The local part is the run of tokens before '@' not separated by white
	// space; words before it (a display name without the angle brackets)
	// become the name.
	start := at
	for start > 0 {
		t := toks[start-1]
		if t.kind != 'a' && t.kind != 'q' && t.kind != '.' && t.kind != '@' {
			break
		}
		start--
		if t.space {
			break
		}
	}
	a.Name = phrase(toks[:start])
	if a.Name == "" {
		a.Name = firstComment(toks)
	}
	a.Mailbox, a.Host = joinSpec(toks[start:at]), joinSpec(toks[at+1:])
	return fill(a)
}

func lastAt(toks []atok) int {
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].kind == '@' {
			return i
		}
	}
	return -1
}

// fill puts the placeholders in; an address with neither part is dropped.
func fill(a Address) (Address, bool) {
	if a.Mailbox == "" && a.Host == "" {
		return a, false
	}
	if a.Mailbox == "" {
		a.Mailbox = MissingMailbox
	}
	if a.Host == "" {
		a.Host = MissingHost
	}
	return a, true
}
