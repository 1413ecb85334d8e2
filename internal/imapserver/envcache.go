package imapserver

import (
	"sync"

	"mailroom/internal/message"
)

// envelopeCache keeps the envelope part of decoded structures (envelope,
// header names, header offsets), keyed by body id: a body never changes, so
// an entry never goes stale. SEARCH by address, subject or date on a big
// mailbox then runs from memory after its first pass, as a sorted index
// would. Entries are shared by every session; the cache is bounded by
// entries, dropping an arbitrary half when full.
type envelopeCache struct {
	mu sync.Mutex
	m  map[string]*message.Structure
}

// maxCachedEnvelopes bounds the cache (about 300–500 bytes each).
const maxCachedEnvelopes = 250000

func (c *envelopeCache) get(blobID string) *message.Structure {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[blobID]
}

// put stores the envelope part of st. Truncated structures are not kept:
// their searches fall back to the header, which needs the whole structure.
func (c *envelopeCache) put(blobID string, st *message.Structure) {
	if st == nil || st.Truncated {
		return
	}
	light := &message.Structure{Size: st.Size, Envelope: st.Envelope, HeaderNames: st.HeaderNames}
	light.Root.Start, light.Root.HeaderSize = st.Root.Start, st.Root.HeaderSize
	light.Root.BodyStart, light.Root.BodySize = st.Root.BodyStart, st.Root.BodySize
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*message.Structure{}
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
	c.m[blobID] = light
}
