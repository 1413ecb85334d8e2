package store

import (
	"context"
	"sort"
	"sync"
)

// MailboxIndex is a snapshot of a mailbox's light message list (what
// ChangedSince(…, 0) returns), converted by the protocol that uses it. A
// published index is never modified: sessions share it and copy it before
// they change their own view.
type MailboxIndex[T any] struct {
	HighestModSeq uint64
	UIDNext       uint32
	Items         []T // in UID order
	Extra         any // IndexCache.Derive(Items), when set
}

// IndexCache keeps the hot state of mailboxes in memory (DESIGN: "hot
// mailbox state"), per process: an index is loaded once and then brought
// forward by MODSEQ (Vanished and ChangedSince since its HIGHESTMODSEQ)
// instead of being read again, so opening a big mailbox that changed a
// little costs a few rows, and one that did not change costs nothing.
type IndexCache[T any] struct {
	// Convert makes an item from a message row (Structure is nil).
	Convert func(*Message) T
	// UID returns an item's UID.
	UID func(*T) uint32
	// Derive, when set, computes Extra for each new index.
	Derive func([]T) any
	// Max bounds the mailboxes kept; 0 means 256.
	Max int

	mu sync.Mutex
	m  map[int64]*MailboxIndex[T]
}

// Get returns an index of mb that is at least as new as mb itself.
func (c *IndexCache[T]) Get(ctx context.Context, st Store, accountID int64, mb *Mailbox) (*MailboxIndex[T], error) {
	c.mu.Lock()
	old := c.m[mb.ID]
	c.mu.Unlock()
	if old != nil && old.HighestModSeq == mb.HighestModSeq && old.UIDNext == mb.UIDNext {
		return old, nil
	}
	idx := &MailboxIndex[T]{HighestModSeq: mb.HighestModSeq, UIDNext: mb.UIDNext}
	if old != nil && old.HighestModSeq < mb.HighestModSeq {
		vanished, err := st.Vanished(ctx, accountID, mb.ID, old.HighestModSeq)
		if err != nil {
			return nil, err
		}
		changed, err := st.ChangedSince(ctx, accountID, mb.ID, old.HighestModSeq)
		if err != nil {
			return nil, err
		}
		idx.Items = c.merge(old.Items, vanished, changed)
	} else {
		list, err := st.ChangedSince(ctx, accountID, mb.ID, 0)
		if err != nil {
			return nil, err
		}
		idx.Items = make([]T, len(list))
		for i := range list {
			idx.Items[i] = c.Convert(&list[i])
		}
	}
	if c.Derive != nil {
		idx.Extra = c.Derive(idx.Items)
	}
	c.put(mb.ID, idx)
	return idx, nil
}

func (c *IndexCache[T]) put(id int64, idx *MailboxIndex[T]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int64]*MailboxIndex[T]{}
	}
	if cur := c.m[id]; cur != nil && cur.HighestModSeq > idx.HighestModSeq {
		return
	}
	max := c.Max
	if max <= 0 {
		max = 256
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[id] = idx
}

// merge applies expunges and changed rows to a sorted item list, returning
// a new list.
func (c *IndexCache[T]) merge(old []T, vanished []uint32, changed []Message) []T {
	gone := make(map[uint32]bool, len(vanished))
	for _, u := range vanished {
		gone[u] = true
	}
	upd := make(map[uint32]*Message, len(changed))
	for i := range changed {
		upd[changed[i].UID] = &changed[i]
	}
	out := make([]T, 0, len(old)+len(changed))
	for i := range old {
		uid := c.UID(&old[i])
		if gone[uid] {
			continue
		}
		if m := upd[uid]; m != nil {
			out = append(out, c.Convert(m))
			delete(upd, uid)
			continue
		}
		out = append(out, old[i])
	}
	// What is left is new (UIDs above the old ones, in UID order).
	added := make([]T, 0, len(upd))
	for i := range changed {
		if upd[changed[i].UID] != nil {
			added = append(added, c.Convert(&changed[i]))
		}
	}
	out = append(out, added...)
	sort.SliceStable(out, func(i, j int) bool { return c.UID(&out[i]) < c.UID(&out[j]) })
	return out
}
