package imapserver

import (
	"sort"
	"strings"
	"sync"

	"mailroom/internal/store"
)

// mailboxIndex is the hot state of one mailbox (DESIGN: "hot mailbox state
// in memory"): its messages in UID order with flags and MODSEQs, shared by
// every session that selects it. A published index is immutable: sessions
// hold it as their view and copy it before their first change (own), so a
// SELECT of a mailbox that has not changed costs no store read of its
// messages.
type mailboxIndex struct {
	highestModSeq uint64
	uidNext       uint32
	msgs          []msg
	keywords      []string // sorted, as first spelt
}

// maxIndexes bounds the cached indexes per process.
const maxIndexes = 256

type indexCache struct {
	mu sync.Mutex
	m  map[int64]*mailboxIndex
}

func (c *indexCache) get(id int64) *mailboxIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *indexCache) put(id int64, idx *mailboxIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int64]*mailboxIndex{}
	}
	if old := c.m[id]; old != nil && old.highestModSeq > idx.highestModSeq {
		return
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= maxIndexes {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[id] = idx
}

// loadIndex returns an up-to-date index of mb: the cached one when nothing
// changed, the cached one brought forward by MODSEQ when little did, or a
// full load.
func (s *session) loadIndex(mb *store.Mailbox) (*mailboxIndex, error) {
	cache := &s.srv.indexes
	old := cache.get(mb.ID)
	if old != nil && old.highestModSeq == mb.HighestModSeq && old.uidNext == mb.UIDNext {
		return old, nil
	}
	if old != nil && old.highestModSeq < mb.HighestModSeq {
		vanished, err := s.srv.st.Vanished(s.ctx, s.acct.ID, mb.ID, old.highestModSeq)
		if err != nil {
			return nil, err
		}
		changed, err := s.srv.st.ChangedSince(s.ctx, s.acct.ID, mb.ID, old.highestModSeq)
		if err != nil {
			return nil, err
		}
		idx := &mailboxIndex{highestModSeq: mb.HighestModSeq, uidNext: mb.UIDNext}
		idx.msgs = mergeIndex(old.msgs, vanished, changed)
		idx.keywords = keywordsOf(idx.msgs)
		cache.put(mb.ID, idx)
		return idx, nil
	}
	list, err := s.srv.st.ChangedSince(s.ctx, s.acct.ID, mb.ID, 0)
	if err != nil {
		return nil, err
	}
	idx := &mailboxIndex{highestModSeq: mb.HighestModSeq, uidNext: mb.UIDNext, msgs: make([]msg, len(list))}
	for i := range list {
		idx.msgs[i] = msgFrom(&list[i])
	}
	idx.keywords = keywordsOf(idx.msgs)
	cache.put(mb.ID, idx)
	return idx, nil
}

// mergeIndex applies expunges and changed rows to a sorted message list,
// returning a new list.
func mergeIndex(old []msg, vanished []uint32, changed []store.Message) []msg {
	gone := make(map[uint32]bool, len(vanished))
	for _, u := range vanished {
		gone[u] = true
	}
	upd := make(map[uint32]*store.Message, len(changed))
	for i := range changed {
		upd[changed[i].UID] = &changed[i]
	}
	out := make([]msg, 0, len(old)+len(changed))
	for _, m := range old {
		if gone[m.uid] {
			continue
		}
		if c := upd[m.uid]; c != nil {
			m = msgFrom(c)
			delete(upd, m.uid)
		}
		m.recent = false
		out = append(out, m)
	}
	var added []msg
	for _, c := range upd {
		added = append(added, msgFrom(c))
	}
	sort.Slice(added, func(i, j int) bool { return added[i].uid < added[j].uid })
	out = append(out, added...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return out
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
