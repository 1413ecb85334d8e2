package imapserver

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"mailroom/internal/store"
)

// RFC 5464 METADATA: entries (annotations) of the server and of each
// mailbox, under /private (the user's) and /shared (one user here, so the
// same person's, but kept apart as the RFC asks).
func init() {
	register("GETMETADATA", handler{fn: cmdGetMetadata, states: authState})
	register("SETMETADATA", handler{fn: cmdSetMetadata, states: authState})
}

// Limits of METADATA (RFC 5464 §4.3: the server may bound both).
const (
	metadataMaxSize    = 32 << 10 // octets of one value: NO [METADATA MAXSIZE n]
	metadataMaxEntries = 256      // per mailbox and for the server: NO [METADATA TOOMANY]
	metadataMaxName    = 1024     // octets of an entry name
)

// validEntry checks an entry name (RFC 5464 §3.2): /private or /shared,
// then levels of printable ASCII other than "*" and "%", no empty level,
// no trailing "/".
func validEntry(name string) bool {
	lower := strings.ToLower(name)
	if lower != "/private" && lower != "/shared" && !strings.HasPrefix(lower, "/private/") && !strings.HasPrefix(lower, "/shared/") {
		return false
	}
	if len(name) > metadataMaxName || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '*' || c == '%' {
			return false
		}
	}
	return true
}

// metadataTarget reads the mailbox argument of GETMETADATA/SETMETADATA
// and the space after it: "" is the server. nameErr is an invalid name,
// answered once the line is read; err ends the command now (syntax).
func (s *session) metadataTarget() (name string, nameErr, err error) {
	raw, ok := s.dec.AString()
	if !ok {
		return "", nil, s.syntax()
	}
	if raw != "" {
		name, nameErr = s.mailboxName(raw)
		var perr *parseError
		if errors.As(nameErr, &perr) {
			return "", nil, nameErr
		}
	}
	if !s.dec.SP() {
		return "", nil, s.syntax()
	}
	return name, nameErr, nil
}

// RFC 5464 §4.2 GETMETADATA [(MAXSIZE n DEPTH d)] mailbox entries.
func cmdGetMetadata(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	maxSize, depth := int64(-1), "0"
	if b, _ := s.dec.Peek(); b == '(' {
		ok := s.dec.List(func() bool {
			a, ok := s.dec.Atom()
			if !ok || !s.dec.SP() {
				return false
			}
			switch strings.ToUpper(a) {
			case "MAXSIZE":
				n, ok := s.dec.Number()
				maxSize = int64(n)
				return ok
			case "DEPTH":
				d, ok := s.dec.Atom()
				depth = strings.ToLower(d)
				return ok && (depth == "0" || depth == "1" || depth == "infinity")
			}
			return false
		})
		if !ok || !s.dec.SP() {
			return s.syntax()
		}
	}
	name, nameErr, err := s.metadataTarget()
	if err != nil {
		return err
	}
	var want []string
	entry := func() bool {
		e, ok := s.dec.AString()
		want = append(want, e)
		return ok
	}
	ok := false
	if b, _ := s.dec.Peek(); b == '(' {
		ok = s.dec.List(entry)
	} else {
		ok = entry()
	}
	if !ok {
		return s.syntax()
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if nameErr != nil {
		return nameErr
	}
	for _, e := range want {
		if !validEntry(e) {
			return badArg("invalid entry name %q (RFC 5464 §3.2)", e)
		}
	}
	id, shown, err := s.metadataMailbox(name)
	if err != nil {
		return err
	}
	all, err := s.srv.st.Metadata(s.ctx, s.acct.ID, id)
	if err != nil {
		return err
	}
	have := make(map[string][]byte, len(all))
	for _, e := range all {
		have[e.Name] = e.Value
	}
	// The entries asked for, with NIL for those that do not exist, and
	// those below them down to the depth asked for (§4.2.2).
	var names []string
	seen := map[string]bool{}
	for _, w := range want {
		w = strings.ToLower(w)
		if !seen[w] {
			seen[w] = true
			names = append(names, w)
		}
		if depth == "0" {
			continue
		}
		for _, e := range all {
			rest, below := strings.CutPrefix(e.Name, w+"/")
			if below && !seen[e.Name] && (depth == "infinity" || !strings.Contains(rest, "/")) {
				seen[e.Name] = true
				names = append(names, e.Name)
			}
		}
	}
	sort.Strings(names)
	var longest int64
	var out []string
	for _, n := range names {
		if v, ok := have[n]; ok && maxSize >= 0 && int64(len(v)) > maxSize {
			longest = max(longest, int64(len(v)))
			continue
		}
		out = append(out, n)
	}
	if len(out) > 0 {
		s.enc.Star().Atom("METADATA ")
		s.writeMetadataMailbox(shown)
		s.enc.Raw(" (")
		for i, n := range out {
			if i > 0 {
				s.enc.SP()
			}
			s.enc.AString(n).SP()
			v, ok := have[n]
			switch {
			case !ok:
				s.enc.NIL()
			case bytes.IndexByte(v, 0) >= 0:
				// RFC 5464 §5: a value with NUL goes as a literal8.
				if err := s.enc.Literal(int64(len(v)), bytes.NewReader(v), true); err != nil {
					return err
				}
			default:
				s.enc.String(string(v))
			}
		}
		s.enc.Raw(")").CRLF()
	}
	if longest > 0 {
		// §4.2.1: entries left out for MAXSIZE, and the size of the largest.
		return okCode("METADATA LONGENTRIES "+strconv.FormatInt(longest, 10), "GETMETADATA completed")
	}
	return nil
}

// RFC 5464 §4.3 SETMETADATA mailbox (entry value ...): NIL deletes.
func cmdSetMetadata(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	name, nameErr, err := s.metadataTarget()
	if err != nil {
		return err
	}
	var entries []store.MetadataEntry
	bad := ""
	ok := s.dec.List(func() bool {
		e, ok := s.dec.AString()
		if !ok || !s.dec.SP() {
			return false
		}
		if !validEntry(e) && bad == "" {
			bad = e
		}
		v, isNil, ok := s.dec.NString()
		if !ok {
			return false
		}
		me := store.MetadataEntry{Name: e}
		if !isNil {
			me.Value = []byte(v)
		}
		entries = append(entries, me)
		return true
	})
	if !ok || len(entries) == 0 {
		return s.syntax()
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if nameErr != nil {
		return nameErr
	}
	if bad != "" {
		return badArg("invalid entry name %q (RFC 5464 §3.2)", bad)
	}
	for _, e := range entries {
		if len(e.Value) > metadataMaxSize {
			return no(fmt.Sprintf("METADATA MAXSIZE %d", metadataMaxSize), "value too large")
		}
	}
	id, _, err := s.metadataMailbox(name)
	if err != nil {
		return err
	}
	err = s.srv.st.SetMetadata(s.ctx, s.acct.ID, id, entries, metadataMaxEntries)
	switch {
	case errors.Is(err, store.ErrMetadataTooMany):
		return no("METADATA TOOMANY", "too many entries (at most %d)", metadataMaxEntries)
	case errors.Is(err, store.ErrNotFound):
		return no("NONEXISTENT", "no such mailbox")
	}
	return err
}

// metadataMailbox finds the mailbox of a METADATA command ("": the
// server, id 0) and the name to show for it.
func (s *session) metadataMailbox(name string) (int64, string, error) {
	if name == "" {
		return 0, "", nil
	}
	mb, err := s.lookupMailbox(name, false)
	if err != nil {
		return 0, "", err
	}
	return mb.ID, mb.Name, nil
}

func (s *session) writeMetadataMailbox(name string) {
	if name == "" {
		s.enc.Quoted("")
		return
	}
	s.writeMailboxName(name)
}
