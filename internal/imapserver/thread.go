package imapserver

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

func init() {
	register("THREAD", handler{fn: cmdThread, states: selectedState, uid: true, noExpunge: true})
}

// threadAlgorithms are the THREAD algorithms of RFC 5256 §3.
var threadAlgorithms = map[string]bool{"ORDEREDSUBJECT": true, "REFERENCES": true}

// cmdThread is THREAD and UID THREAD (RFC 5256 §3):
//
//	thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
//	search-criteria = charset 1*(SP search-key)
func cmdThread(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	a, ok := s.dec.Atom()
	if !ok || !s.dec.SP() {
		return s.syntax()
	}
	alg := strings.ToUpper(a)
	if !threadAlgorithms[alg] {
		return syntaxErr("unknown thread algorithm " + sanitize(a))
	}
	req := &searchRequest{}
	p := &searchParser{s: s, req: req}
	cs, ok := s.dec.AString()
	if !ok || !s.dec.SP() {
		return s.syntax()
	}
	req.charset = cs
	prog, err := p.readProgram("")
	if err != nil {
		return err
	}
	req.program = prog
	idxs, err := s.searchIndexes(req)
	if err != nil {
		return err
	}
	rows, err := s.sortRows(idxs)
	if err != nil {
		return err
	}
	var roots []*threadNode
	if alg == "REFERENCES" {
		roots = threadReferences(rows)
	} else {
		roots = threadOrderedSubject(rows)
	}
	s.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
	// RFC 5256 §4: thread-data = "THREAD" [SP 1*thread-list].
	s.enc.Star().Atom("THREAD")
	if len(roots) > 0 {
		s.enc.SP()
	}
	for _, n := range roots {
		s.enc.Special('(')
		s.writeThread(cmd, rows, n)
		s.enc.Special(')')
	}
	s.enc.CRLF()
	return nil
}

// writeThread writes a node and its descendants (RFC 5256 §4): a single
// child follows its parent in the same list, several children are each
// a list of their own; a dummy writes only its children.
func (s *session) writeThread(cmd *command, rows []sortRow, n *threadNode) {
	for {
		if n.row >= 0 {
			s.enc.Number(s.number(cmd, rows[n.row].i))
		}
		switch len(n.children) {
		case 0:
			return
		case 1:
			if n.row >= 0 {
				s.enc.SP()
			}
			n = n.children[0] // a chain: no recursion
			continue
		}
		if n.row >= 0 {
			s.enc.SP()
		}
		for _, c := range n.children {
			s.enc.Special('(')
			s.writeThread(cmd, rows, c)
			s.enc.Special(')')
		}
		return
	}
}

// threadNode is a message (row into the rows threaded) or a dummy (row
// -1) in a thread tree.
type threadNode struct {
	row      int
	parent   *threadNode
	children []*threadNode
	// While merging by subject: the root's place in the new list (slot-1;
	// 0 unplaced) and the dummy put over it.
	slot    int
	standIn *threadNode
}

func (n *threadNode) dummy() bool { return n.row < 0 }

// first is the message that stands for n when sorting: n itself, or the
// first child of a dummy (RFC 5256 §2.2 REFERENCES steps 4 and 6).
func (n *threadNode) first() *threadNode {
	for n.dummy() && len(n.children) > 0 {
		n = n.children[0]
	}
	return n
}

// compareSent orders nodes by sent date, then sequence number (RFC 5256
// §2.2).
func compareSent(rows []sortRow, a, b *threadNode) int {
	ra, rb := &rows[a.first().row], &rows[b.first().row]
	if c := cmp.Compare(ra.date, rb.date); c != 0 {
		return c
	}
	return cmp.Compare(ra.i, rb.i)
}

// threadOrderedSubject is ORDEREDSUBJECT (RFC 5256 §3): messages sorted
// by base subject, then sent date; each run of one base subject is a
// thread whose first message is the parent of all the others; threads
// are in the order of their first messages' sent dates.
func threadOrderedSubject(rows []sortRow) []*threadNode {
	order := make([]int, len(rows))
	for n := range order {
		order[n] = n
	}
	slices.SortFunc(order, func(a, b int) int {
		ra, rb := &rows[a], &rows[b]
		if c := strings.Compare(ra.k.subject, rb.k.subject); c != 0 {
			return c
		}
		if c := cmp.Compare(ra.date, rb.date); c != 0 {
			return c
		}
		return cmp.Compare(ra.i, rb.i)
	})
	nodes := make([]threadNode, len(rows))
	var roots []*threadNode
	for n, r := range order {
		nodes[n].row = r
		if n > 0 && rows[order[n-1]].k.subject == rows[r].k.subject {
			root := roots[len(roots)-1]
			root.children = append(root.children, &nodes[n])
			continue
		}
		roots = append(roots, &nodes[n])
	}
	slices.SortStableFunc(roots, func(a, b *threadNode) int { return compareSent(rows, a, b) })
	return roots
}

// threadReferences is REFERENCES (RFC 5256 §2.2, §3): threads from the
// Message-ID, References and In-Reply-To of each message, pruned of empty
// containers, merged by base subject and sorted by sent date.
func threadReferences(rows []sortRow) []*threadNode {
	nodes := make([]threadNode, len(rows))
	byID := make(map[uint64]*threadNode, len(rows))
	all := make([]*threadNode, 0, len(rows)) // every node, in creation order
	node := func(id uint64) *threadNode {
		if n := byID[id]; n != nil {
			return n
		}
		n := &threadNode{row: -1}
		byID[id] = n
		all = append(all, n)
		return n
	}
	// (1) Link parents and children.
	for r := range rows {
		k := rows[r].k
		// (1A) The message's container: one made for it by an earlier
		// reference, or a new one; a missing or repeated Message-ID
		// gets a container of its own.
		var m *threadNode
		if k.messageID != 0 {
			switch n := byID[k.messageID]; {
			case n == nil:
				m = &nodes[r]
				byID[k.messageID] = m
			case n.dummy():
				m = n
			}
		}
		if m == nil {
			m = &nodes[r]
		}
		if m == &nodes[r] {
			all = append(all, m)
		}
		m.row = r
		// Link each reference to the next, keeping links already made
		// and never making a loop.
		var prev *threadNode
		for _, id := range k.refs {
			n := node(id)
			if prev != nil && n.parent == nil && !wouldLoop(prev, n) {
				link(prev, n)
			}
			prev = n
		}
		// (1B) The last reference is the parent: a parent found so far
		// (from a truncated References) gives way.
		if m.parent != nil {
			unlink(m)
		}
		if prev != nil && !wouldLoop(prev, m) {
			link(prev, m)
		}
	}
	// (2) The roots.
	var roots []*threadNode
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	// (3) Prune dummies.
	roots = pruneDummies(roots, true)
	// (4) Sort the roots by sent date (a dummy by its first child's,
	// its children sorted first).
	for _, n := range roots {
		if n.dummy() {
			slices.SortStableFunc(n.children, func(a, b *threadNode) int { return compareSent(rows, a, b) })
		}
	}
	slices.SortStableFunc(roots, func(a, b *threadNode) int { return compareSent(rows, a, b) })
	// (5) Merge threads by base subject.
	roots = mergeBySubject(rows, roots)
	// (6) Sort every set of siblings by sent date, the deepest first.
	sortSiblings(rows, roots)
	slices.SortStableFunc(roots, func(a, b *threadNode) int { return compareSent(rows, a, b) })
	return roots
}

// wouldLoop reports whether making c a child of p would make a loop: p is
// c or one of c's descendants. A childless c is never an ancestor, which
// spares the walk for the common case of a reply arriving after its
// parent.
func wouldLoop(p, c *threadNode) bool {
	if p == c {
		return true
	}
	if len(c.children) == 0 {
		return false
	}
	for n := p.parent; n != nil; n = n.parent {
		if n == c {
			return true
		}
	}
	return false
}

func link(p, c *threadNode) {
	c.parent = p
	p.children = append(p.children, c)
}

func unlink(c *threadNode) {
	p := c.parent
	if i := slices.Index(p.children, c); i >= 0 {
		p.children = slices.Delete(p.children, i, i+1)
	}
	c.parent = nil
}

// pruneDummies is REFERENCES step 3: a dummy without children goes; one
// with children is replaced by them, except that children are not
// promoted to the root unless there is only one.
func pruneDummies(list []*threadNode, atRoot bool) []*threadNode {
	out := list[:0:0]
	for _, n := range list {
		n.children = pruneDummies(n.children, false)
		if !n.dummy() {
			out = append(out, n)
			continue
		}
		switch {
		case len(n.children) == 0:
		case !atRoot || len(n.children) == 1:
			for _, c := range n.children {
				c.parent = n.parent
			}
			out = append(out, n.children...)
		default:
			out = append(out, n)
		}
	}
	return out
}

// threadSubject is the base subject of a thread: its root's, or a dummy
// root's first child's (REFERENCES step 5.B.i).
func threadSubject(rows []sortRow, n *threadNode) string {
	f := n
	if n.dummy() {
		if len(n.children) == 0 {
			return ""
		}
		f = n.children[0]
	}
	return rows[f.row].k.subject
}

// isReplyFwd reports whether a message's subject marked it as a reply or
// forward; a dummy is neither.
func isReplyFwd(rows []sortRow, n *threadNode) bool {
	return !n.dummy() && rows[n.row].k.replyFwd
}

// mergeBySubject is REFERENCES step 5: roots with the same base subject
// are gathered under one.
func mergeBySubject(rows []sortRow, roots []*threadNode) []*threadNode {
	// (5B) One root per subject: a dummy wins, then a root that is not a
	// reply or forward.
	table := make(map[string]*threadNode, len(roots))
	for _, n := range roots {
		subj := threadSubject(rows, n)
		if subj == "" {
			continue
		}
		t := table[subj]
		if t == nil || (!t.dummy() && (n.dummy() || (isReplyFwd(rows, t) && !isReplyFwd(rows, n)))) {
			table[subj] = n
		}
	}
	// (5C) Merge the others into it. A new dummy takes the place of the
	// root it replaces.
	out := make([]*threadNode, 0, len(roots))
	place := func(n *threadNode) {
		out = append(out, n)
		n.slot = len(out)
	}
	for _, n := range roots {
		if d := n.standIn; d != nil {
			if d.slot == 0 {
				place(d)
			}
			continue
		}
		if n.parent != nil {
			continue // merged already
		}
		subj := threadSubject(rows, n)
		t := table[subj]
		if subj == "" || t == n {
			place(n)
			continue
		}
		switch {
		case t.dummy() && n.dummy():
			for _, c := range n.children {
				c.parent = t
			}
			t.children = append(t.children, n.children...)
			n.children = nil
		case t.dummy():
			link(t, n)
		case isReplyFwd(rows, n) && !isReplyFwd(rows, t):
			link(t, n)
		default:
			d := &threadNode{row: -1}
			link(d, t)
			link(d, n)
			table[subj] = d
			t.standIn = d
			if t.slot > 0 {
				out[t.slot-1] = d
				d.slot = t.slot
			}
		}
	}
	return out
}

// sortSiblings sorts the children of every node by sent date, deepest
// first, so that a dummy is sorted by its sorted first child.
func sortSiblings(rows []sortRow, list []*threadNode) {
	for _, n := range list {
		if len(n.children) == 0 {
			continue
		}
		sortSiblings(rows, n.children)
		if len(n.children) > 1 {
			slices.SortStableFunc(n.children, func(a, b *threadNode) int { return compareSent(rows, a, b) })
		}
	}
}
