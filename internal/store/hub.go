package store

import "sync"

// Hub wakes watchers of an account after a commit. Wake-ups are coalesced
// (a channel of capacity one), so a slow watcher never blocks the writer;
// the watcher reads what changed from the store's change feed.
type Hub struct {
	mu   sync.Mutex
	subs map[int64]map[chan struct{}]struct{}
}

// Watch returns a wake-up channel for account and a func that stops it.
func (h *Hub) Watch(account int64) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[int64]map[chan struct{}]struct{}{}
	}
	if h.subs[account] == nil {
		h.subs[account] = map[chan struct{}]struct{}{}
	}
	h.subs[account][ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[account], ch)
			if len(h.subs[account]) == 0 {
				delete(h.subs, account)
			}
			h.mu.Unlock()
		})
	}
}

// Notify wakes every watcher of account.
func (h *Hub) Notify(account int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[account] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// NotifyAll wakes every watcher (used when another process changed the store).
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.subs {
		for ch := range m {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Watching reports whether anyone watches.
func (h *Hub) Watching() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}
