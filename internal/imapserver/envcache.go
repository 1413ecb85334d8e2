package imapserver

import (
	"sync"

	"mailroom/internal/message"
)

// envelopeCache keeps the envelope part of decoded structures (envelope,
// header names, header offsets, References), keyed by body id, and the
// sort and thread keys derived from them: a body never changes, so an
// entry never goes stale. SEARCH by address, subject or date on a big
// mailbox then runs from memory after its first pass, as a sorted index
// would, and so do SORT and THREAD. Entries are shared by every session;
// the cache is bounded by entries, dropping an arbitrary half when full.
type envelopeCache struct {
	mu sync.Mutex
	m  map[string]*envelopeEntry
}

type envelopeEntry struct {
	st   *message.Structure // nil: only keys are kept
	keys *sortKeys          // nil: not derived yet
}

// maxCachedEnvelopes bounds the cache (about 300–500 bytes each, and as
// much again with sort keys).
const maxCachedEnvelopes = 250000

func (c *envelopeCache) get(blobID string) *message.Structure {
	c.mu.Lock()
	defer c.mu.Unlock()
	if en := c.m[blobID]; en != nil {
		return en.st
	}
	return nil
}

// entry returns the entry for blobID, made room for and created if need
// be. c.mu is held.
func (c *envelopeCache) entry(blobID string) *envelopeEntry {
	if en := c.m[blobID]; en != nil {
		return en
	}
	if c.m == nil {
		c.m = map[string]*envelopeEntry{}
	}
	if len(c.m) >= maxCachedEnvelopes {
		n := 0
		for k := range c.m {
			delete(c.m, k)
			if n++; n >= maxCachedEnvelopes/2 {
				break
			}
		}
	}
	en := &envelopeEntry{}
	c.m[blobID] = en
	return en
}

// put stores the envelope part of st. Truncated structures are not kept:
// their searches fall back to the header, which needs the whole structure.
func (c *envelopeCache) put(blobID string, st *message.Structure) {
	if st == nil || st.Truncated {
		return
	}
	light := &message.Structure{Size: st.Size, Envelope: st.Envelope, HeaderNames: st.HeaderNames, References: st.References}
	light.Root.Start, light.Root.HeaderSize = st.Root.Start, st.Root.HeaderSize
	light.Root.BodyStart, light.Root.BodySize = st.Root.BodyStart, st.Root.BodySize
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entry(blobID).st = light
}

// sortKeys fills keys[i] with the cached sort keys of msgs[idxs[i]], or
// nil, under one lock.
func (c *envelopeCache) sortKeys(msgs []msg, idxs []int, keys []*sortKeys) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, i := range idxs {
		if en := c.m[msgs[i].BlobID]; en != nil {
			keys[k] = en.keys
		}
	}
}

// putSortKeys keeps the sort keys derived from a body's structure.
func (c *envelopeCache) putSortKeys(blobID string, k *sortKeys) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entry(blobID).keys = k
}
