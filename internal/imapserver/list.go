package imapserver

import (
	"sort"
	"strings"

	"mailroom/internal/imapwire"
	"mailroom/internal/store"
)

func init() {
	register("LIST", handler{fn: cmdList, states: authState})
	register("LSUB", handler{fn: cmdLsub, states: authState})
	register("STATUS", handler{fn: cmdStatus, states: authState})
}

// listEntry is one mailbox (or hierarchy level) a LIST may show.
type listEntry struct {
	name            string
	specialUse      string
	subscribed      bool
	exists          bool // false: a level that only has children (\NonExistent)
	hasChildren     bool
	childSubscribed bool
	mb              *store.Mailbox
}

// listOptions are LIST-EXTENDED's selection and return options (RFC 5258).
type listOptions struct {
	subscribed     bool // selection SUBSCRIBED
	recursiveMatch bool
	specialUse     bool // selection SPECIAL-USE (RFC 6154 §3)
	retSubscribed  bool
	retChildren    bool
	retSpecialUse  bool
	status         []string // RFC 5819 LIST-STATUS
	extended       bool     // any extended syntax used
	lsub           bool
}

// RFC 9051 §6.3.9 LIST with RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
// RFC 6154 SPECIAL-USE and RFC 3348 CHILDREN.
func cmdList(s *session, cmd *command) error {
	var o listOptions
	if !s.dec.SP() {
		return s.syntax()
	}
	if b, _ := s.dec.Peek(); b == '(' {
		o.extended = true
		ok := s.dec.List(func() bool {
			a, ok := s.dec.Atom()
			switch strings.ToUpper(a) {
			case "SUBSCRIBED":
				o.subscribed = true
			case "RECURSIVEMATCH":
				o.recursiveMatch = true
			case "SPECIAL-USE":
				o.specialUse = true
			case "REMOTE":
			default:
				return false
			}
			return ok
		})
		if !ok || !s.dec.SP() {
			return s.syntax()
		}
		if o.recursiveMatch && !o.subscribed {
			return syntaxErr("RECURSIVEMATCH needs another selection option (RFC 5258 §3.1)")
		}
	}
	ref, ok := s.listArg(imapwire.IsAStringChar)
	if !ok || !s.dec.SP() {
		return s.syntax()
	}
	var patterns []string
	if b, _ := s.dec.Peek(); b == '(' {
		o.extended = true
		ok = s.dec.List(func() bool {
			p, ok := s.listArg(imapwire.IsListChar)
			patterns = append(patterns, p)
			return ok
		})
	} else {
		var p string
		p, ok = s.listArg(imapwire.IsListChar)
		patterns = append(patterns, p)
	}
	if !ok {
		return s.syntax()
	}
	if s.dec.Special(' ') {
		o.extended = true
		a, ok := s.dec.Atom()
		if !ok || !strings.EqualFold(a, "RETURN") || !s.dec.SP() {
			return s.syntax()
		}
		ok = s.dec.List(func() bool {
			a, ok := s.dec.Atom()
			switch strings.ToUpper(a) {
			case "SUBSCRIBED":
				o.retSubscribed = true
			case "CHILDREN":
				o.retChildren = true
			case "SPECIAL-USE":
				o.retSpecialUse = true
			case "STATUS":
				if !s.dec.SP() {
					return false
				}
				items, ok := s.readStatusItems()
				o.status = items
				return ok
			default:
				return false
			}
			return ok
		})
		if !ok {
			return s.syntax()
		}
	}
	if err := s.endLine(); err != nil {
		return err
	}
	return s.list(ref, patterns, o)
}

// RFC 3501 §6.3.9 LSUB (IMAP4rev1 only; rev2 uses LIST (SUBSCRIBED)).
func cmdLsub(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	ref, ok := s.listArg(imapwire.IsAStringChar)
	if !ok || !s.dec.SP() {
		return s.syntax()
	}
	p, ok := s.listArg(imapwire.IsListChar)
	if !ok {
		return s.syntax()
	}
	if err := s.endLine(); err != nil {
		return err
	}
	return s.list(ref, []string{p}, listOptions{subscribed: true, lsub: true})
}

func (s *session) list(ref string, patterns []string, o listOptions) error {
	// RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
	if len(patterns) == 1 && patterns[0] == "" && !o.extended {
		if o.lsub {
			return nil
		}
		s.enc.Star().Atom(`LIST (\Noselect) "/" ""`).CRLF()
		return nil
	}
	if !s.utf8 {
		var err error
		if ref, err = imapwire.DecodeMUTF7(ref); err != nil {
			return no("CANNOT", "reference is not valid modified UTF-7")
		}
		for i, p := range patterns {
			if patterns[i], err = imapwire.DecodeMUTF7(p); err != nil {
				return no("CANNOT", "pattern is not valid modified UTF-7")
			}
		}
	}
	mbs, err := s.srv.st.Mailboxes(s.ctx, s.acct.ID)
	if err != nil {
		return err
	}
	entries := buildEntries(mbs)
	var subscribed []string
	if o.subscribed {
		// The subscription list holds names that no longer exist, or
		// never did (RFC 9051 §6.3.7): LSUB and LIST (SUBSCRIBED) show
		// them too (RFC 5258 §3.1, \NonExistent).
		if subscribed, err = s.srv.st.Subscriptions(s.ctx, s.acct.ID); err != nil {
			return err
		}
		addSubscriptions(entries, subscribed)
	}
	var matchers []*pattern
	for _, p := range patterns {
		if p == "" {
			continue
		}
		full := p
		if ref != "" && !strings.HasPrefix(p, "/") {
			full = ref + p
		}
		matchers = append(matchers, compilePattern(full))
	}
	if len(matchers) == 0 {
		return nil
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		// INBOX first, then by name.
		if (names[i] == "INBOX") != (names[j] == "INBOX") {
			return names[i] == "INBOX"
		}
		return names[i] < names[j]
	})
	matches := func(n string) bool {
		for _, m := range matchers {
			if m.match(n) {
				return true
			}
		}
		return false
	}
	// hidden says whether a subscribed name below n is not itself
	// returned (no pattern matches it).
	hidden := func(n string) bool {
		prefix := n + "/"
		i := sort.SearchStrings(subscribed, prefix)
		for ; i < len(subscribed) && strings.HasPrefix(subscribed[i], prefix); i++ {
			if !matches(subscribed[i]) {
				return true
			}
		}
		return false
	}
	for _, n := range names {
		e := entries[n]
		if !matches(n) {
			continue
		}
		var childInfo []string
		if o.subscribed && !e.subscribed {
			// A level that is not subscribed but has a subscribed child
			// the patterns leave out: LSUB shows it \Noselect (RFC 3501
			// §6.3.9), LIST (SUBSCRIBED RECURSIVEMATCH) with CHILDINFO,
			// and only then (RFC 5258 §3.5: no redundant CHILDINFO).
			if !(o.lsub || o.recursiveMatch) || !e.childSubscribed || !hidden(n) {
				continue
			}
			if o.recursiveMatch {
				childInfo = []string{"SUBSCRIBED"}
			}
		}
		if o.specialUse && e.specialUse == "" {
			continue
		}
		if o.lsub {
			s.enc.Star().Atom("LSUB ")
			s.writeAttrs(e, o, true)
			s.enc.Raw(` "/" `)
			s.writeMailboxName(e.name)
			s.enc.CRLF()
			continue
		}
		s.writeListLine(*e, true, childInfo, o)
		if len(o.status) > 0 && e.exists {
			// RFC 5819: STATUS right after the mailbox's LIST; a failure
			// is not reported for one mailbox.
			if err := s.writeStatus(e.mb, o.status); err != nil {
				s.log.Warn("list-status", "mailbox", e.name, "err", err)
			}
		}
	}
	return nil
}

// buildEntries makes the mailbox tree, adding levels that only exist as
// parents of other mailboxes.
func buildEntries(mbs []store.Mailbox) map[string]*listEntry {
	entries := map[string]*listEntry{}
	for i := range mbs {
		mb := &mbs[i]
		entries[mb.Name] = &listEntry{name: mb.Name, specialUse: mb.SpecialUse, subscribed: mb.Subscribed, exists: true, mb: mb}
	}
	for i := range mbs {
		mb := &mbs[i]
		for p := store.Parent(mb.Name); p != ""; p = store.Parent(p) {
			e := entries[p]
			if e == nil {
				e = &listEntry{name: p}
				entries[p] = e
			}
			e.hasChildren = true
			if mb.Subscribed {
				e.childSubscribed = true
			}
		}
	}
	return entries
}

// addSubscriptions marks the subscribed names in entries, adding those
// that do not exist, and their parents' childSubscribed.
func addSubscriptions(entries map[string]*listEntry, subscribed []string) {
	for _, n := range subscribed {
		e := entries[n]
		if e == nil {
			e = &listEntry{name: n}
			entries[n] = e
		}
		e.subscribed = true
		for p := store.Parent(n); p != ""; p = store.Parent(p) {
			pe := entries[p]
			if pe == nil {
				pe = &listEntry{name: p}
				entries[p] = pe
			}
			pe.childSubscribed = true
		}
	}
}

// writeListLine writes "* LIST (attrs) "/" name [extended data]".
func (s *session) writeListLine(e listEntry, computed bool, childInfo []string, opts ...listOptions) {
	var o listOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	s.enc.Star().Atom("LIST ")
	s.writeAttrs(&e, o, computed)
	s.enc.Raw(` "/" `)
	s.writeMailboxName(e.name)
	if len(childInfo) > 0 {
		s.enc.Raw(` ("CHILDINFO" (`)
		for i, c := range childInfo {
			if i > 0 {
				s.enc.SP()
			}
			s.enc.Quoted(c)
		}
		s.enc.Raw("))")
	}
	s.enc.CRLF()
}

func (s *session) writeAttrs(e *listEntry, o listOptions, computed bool) {
	var attrs []string
	switch {
	case o.lsub:
		// RFC 3501 §6.3.9: a level shown for its subscribed children, or
		// a subscribed name that does not exist, cannot be selected.
		if !e.exists || !e.subscribed {
			attrs = append(attrs, `\Noselect`)
		}
	case !e.exists && (s.rev2 || o.extended):
		// RFC 5258 §3.4, RFC 9051 §7.3.1: \NonExistent implies \Noselect.
		attrs = append(attrs, `\NonExistent`)
	case !e.exists:
		attrs = append(attrs, `\Noselect`)
	}
	if computed && !o.lsub {
		// RFC 3348 / RFC 5258 §3.4: children are always reported.
		// A name that does not exist only has children to report.
		if e.hasChildren {
			attrs = append(attrs, `\HasChildren`)
		} else if e.exists {
			attrs = append(attrs, `\HasNoChildren`)
		}
	}
	if e.subscribed && (o.subscribed || o.retSubscribed || s.rev2) && !o.lsub {
		attrs = append(attrs, `\Subscribed`)
	}
	// RFC 6154 §2: special-use attributes are returned by default too.
	if e.specialUse != "" && !o.lsub {
		attrs = append(attrs, e.specialUse)
	}
	s.enc.Special('(').Raw(strings.Join(attrs, " ")).Special(')')
}

// pattern matches mailbox names against a LIST pattern: "*" matches
// anything, "%" anything but the delimiter (RFC 9051 §6.3.9). INBOX is
// matched case-insensitively.
type pattern struct {
	p string
}

func compilePattern(p string) *pattern {
	if len(p) >= 5 && strings.EqualFold(p[:5], "INBOX") && (len(p) == 5 || p[5] == '/') {
		p = "INBOX" + p[5:]
	}
	return &pattern{p: p}
}

func (pt *pattern) match(name string) bool { return wildMatch(pt.p, name) }

// wildMatch matches in O(len(p)·len(s)): cur[j] says whether p[:i]
// matches s[:j].
func wildMatch(p, s string) bool {
	cur := make([]bool, len(s)+1)
	next := make([]bool, len(s)+1)
	cur[0] = true
	for i := 0; i < len(p); i++ {
		c := p[i]
		for j := range next {
			next[j] = false
		}
		switch c {
		case '*':
			run := false
			for j := 0; j <= len(s); j++ {
				run = run || cur[j]
				next[j] = run
			}
		case '%':
			run := false
			for j := 0; j <= len(s); j++ {
				if j > 0 && s[j-1] == '/' {
					run = false
				}
				run = run || cur[j]
				next[j] = run
			}
		default:
			for j := 1; j <= len(s); j++ {
				next[j] = cur[j-1] && s[j-1] == c
			}
		}
		cur, next = next, cur
	}
	return cur[len(s)]
}
