package imapserver

import (
	"sort"
	"strings"
)

func keywordsOf(msgs []msg) []string {
	seen := map[string]bool{}
	var kws []string
	for i := range msgs {
		for _, f := range msgs[i].Flags {
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
