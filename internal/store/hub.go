package store

import "sync"

// Hub wakes watchers of an account after a commit. Wake-ups are coalesced
// (a channel of capacity one, or a call of a func that must not block), so
// a slow watcher never blocks the writer; the watcher reads what changed
// from the live state or the store.
type Hub struct {
	mu   sync.Mutex
	subs map[int64]map[*watcher]struct{}
}

type watcher struct {
	ch chan struct{}
	fn func()
}

// Watch returns a wake-up channel for account and a func that stops it.
func (h *Hub) Watch(account int64) (<-chan struct{}, func()) {
	w := &watcher{ch: make(chan struct{}, 1)}
	return w.ch, h.add(account, w)
}

// WatchFunc calls fn at each wake-up of account until the returned func
// is called. fn runs on the committing goroutine: it must be quick and
// must not call the Hub (IMAP IDLE sets a read deadline, so that its one
// goroutine wakes without a second one per session).
func (h *Hub) WatchFunc(account int64, fn func()) func() {
	return h.add(account, &watcher{fn: fn})
}

func (h *Hub) add(account int64, w *watcher) func() {
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[int64]map[*watcher]struct{}{}
	}
	if h.subs[account] == nil {
		h.subs[account] = map[*watcher]struct{}{}
	}
	h.subs[account][w] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[account], w)
			if len(h.subs[account]) == 0 {
				delete(h.subs, account)
			}
			h.mu.Unlock()
		})
	}
}

func (w *watcher) wake() {
	if w.fn != nil {
		w.fn()
		return
	}
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// Notify wakes every watcher of account.
func (h *Hub) Notify(account int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs[account] {
		w.wake()
	}
}

// NotifyAll wakes every watcher (used when another process changed the store).
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.subs {
		for w := range m {
			w.wake()
		}
	}
}

// Watching reports whether anyone watches.
func (h *Hub) Watching() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}
