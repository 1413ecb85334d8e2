package imapserver

import (
	"hash/maphash"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"mailroom/internal/message"
	"mailroom/internal/store"
)

// sortKeys are what SORT and THREAD compare of one message, derived once
// from its stored structure (never from the message file) and cached with
// the envelope. Strings are in their i;unicode-casemap form (RFC 5051), the
// collation I18NLEVEL=1 requires (RFC 5256 §1, RFC 5255 §4.5).
type sortKeys struct {
	// date is the sent date in Unix seconds (RFC 5256 §2.2); hasDate is
	// false when the Date field is missing or unparsable, and the
	// internal date stands in.
	date    int64
	hasDate bool
	// subject is the base subject (RFC 5256 §2.1); replyFwd tells that
	// extracting it removed a reply or forward marker.
	subject  string
	replyFwd bool
	// from, to, cc: the addr-mailbox of the first address (RFC 5256 §3).
	from, to, cc string
	// displayFrom, displayTo: the display name of the first address, or
	// its addr-spec when it has none (RFC 5957 §3).
	displayFrom, displayTo string
	// messageID is the Message-ID (0: none); refs the References ids,
	// oldest first, or else the In-Reply-To id (RFC 5256 §2.2 REFERENCES
	// step 1); both as msgIDHash values.
	messageID uint64
	refs      []uint64
}

// msgIDSeed seeds msgIDHash, afresh in each process.
var msgIDSeed = maphash.MakeSeed()

// msgIDHash stands for a message id in threading: 64 bits of a seeded
// hash, never 0. Two ids would be taken for one only if their hashes
// collided (odds about 1 in 10^9 for a mailbox of 100,000 messages, and
// not to be aimed at from outside the process); in exchange threading a
// big mailbox costs integer map lookups, not string ones.
func msgIDHash(id string) uint64 {
	if h := maphash.String(msgIDSeed, id); h != 0 {
		return h
	}
	return 1
}

// noSortKeys stands for a message whose structure cannot be read: every
// key empty, the internal date as sent date.
var noSortKeys = &sortKeys{}

// newSortKeys derives the keys from a structure.
func newSortKeys(st *message.Structure) *sortKeys {
	env := &st.Envelope
	k := &sortKeys{}
	if t, ok := sentDate(env.Date); ok {
		k.date, k.hasDate = t.Unix(), true
	}
	base, refwd := baseSubject(env.Subject)
	k.subject, k.replyFwd = casemap(base), refwd
	k.from = casemap(firstMailbox(env.From).Mailbox)
	k.to = casemap(firstMailbox(env.To).Mailbox)
	k.cc = casemap(firstMailbox(env.Cc).Mailbox)
	k.displayFrom = casemap(displayName(firstMailbox(env.From)))
	k.displayTo = casemap(displayName(firstMailbox(env.To)))
	if ids := messageIDs(env.MessageID); len(ids) > 0 {
		k.messageID = msgIDHash(ids[0])
	}
	refs := messageIDs(st.References)
	if len(refs) == 0 {
		// RFC 5256 §2.2: without valid References, the first valid
		// In-Reply-To id. Old structures, stored before References was,
		// land here too.
		refs = messageIDs(env.InReplyTo)
		refs = refs[:min(len(refs), 1)]
	}
	if len(refs) > 0 {
		k.refs = make([]uint64, len(refs))
		for n, id := range refs {
			k.refs[n] = msgIDHash(id)
		}
	}
	return k
}

// sentDate parses a Date field, normalized to UTC (RFC 5256 §2.2; a
// missing or invalid zone counts as UTC).
func sentDate(date string) (time.Time, bool) {
	if date == "" {
		return time.Time{}, false
	}
	if t, err := mail.ParseDate(date); err == nil {
		return t.UTC(), true
	}
	if t, ok := parseLooseDate(date); ok {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// firstMailbox is the first address of list that is not a group marker.
func firstMailbox(list []message.Address) message.Address {
	for _, a := range list {
		if !a.GroupStart && !a.GroupEnd {
			return a
		}
	}
	return message.Address{}
}

// displayName is the RFC 5957 §3 key of an address: its display name,
// RFC 2047 decoded, or the addr-spec when the name is empty.
func displayName(a message.Address) string {
	if n := strings.TrimSpace(message.DecodeHeader(a.Name)); n != "" {
		return n
	}
	if a.Mailbox == "" {
		return ""
	}
	return a.Mailbox + "@" + a.Host
}

// casemap is the i;unicode-casemap form of s (RFC 5051 §2): each character
// replaced by its titlecase form, then the result in Unicode normalization
// form KD. Keys so mapped compare as octet strings.
func casemap(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		// Titlecase of ASCII is uppercase, and NFKD leaves it alone.
		return strings.ToUpper(s)
	}
	return norm.NFKD.String(strings.Map(unicode.ToTitle, strings.ToValidUTF8(s, "\uFFFD")))
}

// messageIDs extracts the msg-ids of a field (RFC 5322 §3.6.4) without
// their angle brackets. Text outside angle brackets (comments, phrases
// of broken In-Reply-To fields) is skipped.
func messageIDs(v string) []string {
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ids
		}
		v = v[i+1:]
		j := strings.IndexAny(v, "<>")
		if j < 0 {
			return ids
		}
		if v[j] == '<' {
			v = v[j:]
			continue
		}
		id := strings.TrimSpace(v[:j])
		v = v[j+1:]
		if id != "" && !strings.ContainsAny(id, " \t") {
			ids = append(ids, id)
		}
	}
}

// baseSubject extracts the base subject of a raw Subject field (RFC 5256
// §2.1) and reports whether a reply or forward marker was removed on the
// way (§2.1 step 6 and the "reply or forward" test of §2.2).
func baseSubject(raw string) (string, bool) {
	// (1) Decode encoded words, tabs and continuations become spaces,
	// runs of spaces one space.
	s := strings.Join(strings.FieldsFunc(message.DecodeHeader(raw), func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}), " ")
	refwd := false
	for {
		// (2) Remove trailers: subj-trailer = "(fwd)" / WSP.
		for {
			t := strings.TrimSuffix(s, " ")
			if n := len(t) - len("(fwd)"); n >= 0 && strings.EqualFold(t[n:], "(fwd)") {
				t = t[:n]
				refwd = true
			}
			if t == s {
				break
			}
			s = t
		}
		// (3)-(5) Remove leaders and blobs until none is left.
		for {
			if t := strings.TrimPrefix(s, " "); t != s {
				s = t
				continue
			}
			// (3) subj-leader = (*subj-blob subj-refwd) / WSP
			if n := refwdLeader(s); n > 0 {
				s = s[n:]
				refwd = true
				continue
			}
			// (4) A subj-blob, when what is left is not empty.
			if n := blobLen(s); n > 0 && strings.TrimLeft(s[n:], " ") != "" {
				s = s[n:]
				continue
			}
			break
		}
		// (6) subj-fwd = "[fwd:" subject "]": unwrap and start again.
		if len(s) >= len("[fwd:]") && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			refwd = true
			continue
		}
		return s, refwd
	}
}

// blobLen is the length of the subj-blob at the start of s, 0 if none:
// subj-blob = "[" *BLOBCHAR "]" *WSP, BLOBCHAR being any octet but "["
// and "]" (RFC 5256 §5).
func blobLen(s string) int {
	if s == "" || s[0] != '[' {
		return 0
	}
	j := strings.IndexAny(s[1:], "[]")
	if j < 0 || s[1+j] != ']' {
		return 0
	}
	n := j + 2
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}

// refwdLeader is the length of *subj-blob subj-refwd at the start of s,
// 0 if none: subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
func refwdLeader(s string) int {
	i := 0
	for {
		n := blobLen(s[i:])
		if n == 0 {
			break
		}
		i += n
	}
	switch {
	case len(s)-i >= 2 && strings.EqualFold(s[i:i+2], "re"):
		i += 2
	case len(s)-i >= 2 && strings.EqualFold(s[i:i+2], "fw"):
		i += 2
		if i < len(s) && (s[i] == 'd' || s[i] == 'D') {
			i++
		}
	default:
		return 0
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	i += blobLen(s[i:])
	if i < len(s) && s[i] == ':' {
		return i + 1
	}
	return 0
}

// loadSortKeys returns the sort keys of msgs[idxs[k]] for each k: from the
// cache, else from the stored structures (a batch per store call), else,
// for a message expunged elsewhere but still in this view, from its body.
func (s *session) loadSortKeys(idxs []int) ([]*sortKeys, error) {
	msgs := s.sel.msgs
	keys := make([]*sortKeys, len(idxs))
	s.srv.envelopes.sortKeys(msgs, idxs, keys)
	var missing []int // positions in idxs
	for k := range keys {
		if keys[k] == nil {
			missing = append(missing, k)
		}
	}
	for len(missing) > 0 {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		batch := missing[:min(len(missing), searchBatch)]
		missing = missing[len(batch):]
		uids := make([]uint32, 0, len(batch))
		for _, k := range batch {
			m := &msgs[idxs[k]]
			if st := s.srv.envelopes.get(m.BlobID); st != nil {
				keys[k] = newSortKeys(st)
				s.srv.envelopes.putSortKeys(m.BlobID, keys[k])
				continue
			}
			uids = append(uids, m.UID)
		}
		var rows []store.Message
		if len(uids) > 0 {
			var err error
			if rows, err = s.srv.st.MessagesByUID(s.ctx, s.acct.ID, s.sel.id, uids); err != nil {
				return nil, err
			}
		}
		r := 0
		for _, k := range batch {
			if keys[k] != nil {
				continue
			}
			m := &msgs[idxs[k]]
			// Both are in UID order; rows lacks messages expunged since.
			for r < len(rows) && rows[r].UID < m.UID {
				r++
			}
			var st *message.Structure
			if r < len(rows) && rows[r].UID == m.UID {
				var err error
				if st, err = message.Decode(rows[r].Structure); err != nil {
					s.log.Warn("imap sort: bad structure", "uid", m.UID, "err", err)
					st = nil
				} else {
					s.srv.envelopes.put(m.BlobID, st)
				}
				rows[r].Structure = nil
			}
			if st == nil {
				st = s.structureFromBody(m.BlobID)
			}
			if st == nil {
				keys[k] = noSortKeys
				continue
			}
			keys[k] = newSortKeys(st)
			s.srv.envelopes.putSortKeys(m.BlobID, keys[k])
		}
	}
	return keys, nil
}
