package imapserver

import (
	"sort"
	"strings"

	"mailroom/internal/store"
)

// newIndexCache is the process's shared index of selected mailboxes (see
// store.IndexCache): sessions hold a published index as their view and
// copy it before their first change (own), so a SELECT of a mailbox that
// has not changed costs no read of its messages.
func newIndexCache() *store.IndexCache[msg] {
	return &store.IndexCache[msg]{
		Convert: func(m *store.Message) msg { return msgFrom(m) },
		UID:     func(m *msg) uint32 { return m.uid },
		Derive:  func(msgs []msg) any { return keywordsOf(msgs) },
	}
}

func keywordsOf(msgs []msg) []string {
	seen := map[string]bool{}
	var kws []string
	for i := range msgs {
		for _, f := range msgs[i].flags {
			if strings.HasPrefix(f, `\`) {
				continue
			}
			if k := strings.ToLower(f); !seen[k] {
				seen[k] = true
				kws = append(kws, f)
			}
		}
	}
	sort.Strings(kws)
	return kws
}

// own gives the session its own copy of the view before it changes it.
func (sel *selected) own() {
	if sel.shared {
		sel.msgs = append(make([]msg, 0, len(sel.msgs)+8), sel.msgs...)
		sel.shared = false
	}
}
