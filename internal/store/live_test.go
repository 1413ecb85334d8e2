package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// fakeLoader is a mailbox kept by the test: what the store would return.
type fakeLoader struct {
	mu    sync.Mutex
	mb    Mailbox
	msgs  map[uint32]Message
	tombs map[uint32]uint64
	reads int
}

func newFakeLoader() *fakeLoader {
	return &fakeLoader{mb: Mailbox{ID: 7, AccountID: 3, Name: "INBOX", UIDValidity: 99, UIDNext: 1, HighestModSeq: 1},
		msgs: map[uint32]Message{}, tombs: map[uint32]uint64{}}
}

func (f *fakeLoader) MailboxSince(ctx context.Context, accountID, mailboxID int64, since uint64) (*Mailbox, []Message, []uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if mailboxID != f.mb.ID {
		return nil, nil, nil, ErrNotFound
	}
	mb := f.mb
	var out []Message
	for _, m := range f.msgs {
		if m.ModSeq > since {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Message) int { return int(a.UID) - int(b.UID) })
	var gone []uint32
	if since > 0 {
		for u, ms := range f.tombs {
			if ms > since {
				gone = append(gone, u)
			}
		}
		slices.Sort(gone)
	}
	return &mb, out, gone, nil
}

// commit changes the fake store and returns the event a backend would
// publish.
func (f *fakeLoader) appendMsg(flags ...string) Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mb.HighestModSeq++
	uid := f.mb.UIDNext
	f.mb.UIDNext++
	m := Message{MailboxID: f.mb.ID, UID: uid, ModSeq: f.mb.HighestModSeq, Flags: flags, BlobID: fmt.Sprint("b", uid), Size: int64(uid)}
	f.msgs[uid] = m
	return Event{Kind: ChangeAppend, AccountID: 3, MailboxID: 7, UIDValidity: 99, ModSeq: f.mb.HighestModSeq,
		UIDNext: f.mb.UIDNext, Items: []Item{ItemOf(&m)}}
}

func (f *fakeLoader) flag(uid uint32, flags ...string) Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mb.HighestModSeq++
	m := f.msgs[uid]
	m.Flags, m.ModSeq = flags, f.mb.HighestModSeq
	f.msgs[uid] = m
	return Event{Kind: ChangeFlags, AccountID: 3, MailboxID: 7, UIDValidity: 99, ModSeq: f.mb.HighestModSeq,
		UIDNext: f.mb.UIDNext, Items: []Item{ItemOf(&m)}}
}

func (f *fakeLoader) expunge(uid uint32) Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mb.HighestModSeq++
	m := f.msgs[uid]
	delete(f.msgs, uid)
	f.tombs[uid] = f.mb.HighestModSeq
	return Event{Kind: ChangeExpunge, AccountID: 3, MailboxID: 7, UIDValidity: 99, ModSeq: f.mb.HighestModSeq,
		UIDNext: f.mb.UIDNext, UIDs: []uint32{uid}, Released: []string{m.BlobID}}
}

// view is what a session keeps: the items it knows, at a MODSEQ.
type view struct {
	items []Item
	hms   uint64
}

func (v *view) sync(t *testing.T, b *LiveMailbox) {
	t.Helper()
	d, err := b.Since(context.Background(), v.hms)
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		return
	}
	gone := map[uint32]bool{}
	if d.Resync {
		cur := map[uint32]bool{}
		for _, it := range d.Current {
			cur[it.UID] = true
		}
		for _, it := range v.items {
			if !cur[it.UID] {
				gone[it.UID] = true
			}
		}
	}
	for _, u := range d.Expunged {
		gone[u] = true
	}
	var out []Item
	for _, it := range v.items {
		if !gone[it.UID] {
			out = append(out, it)
		}
	}
	for _, c := range d.Changed {
		i := slices.IndexFunc(out, func(it Item) bool { return it.UID == c.UID })
		if i >= 0 {
			out[i] = c
		} else {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Item) int { return int(a.UID) - int(b.UID) })
	v.items, v.hms = out, d.ModSeq
}

func (f *fakeLoader) state() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var uids []uint32
	for u := range f.msgs {
		uids = append(uids, u)
	}
	slices.Sort(uids)
	var s []string
	for _, u := range uids {
		s = append(s, fmt.Sprint(u, f.msgs[u].Flags))
	}
	return fmt.Sprint(s)
}

func itemsState(items []Item) string {
	var s []string
	for _, it := range items {
		s = append(s, fmt.Sprint(it.UID, it.Flags))
	}
	return fmt.Sprint(s)
}

// TestLiveLog: views at different points of the log, one too far behind
// for it (Resync), all end equal to the store; a view that is current costs
// no store read.
func TestLiveLog(t *testing.T) {
	f := newFakeLoader()
	var removed []string
	l := NewLive(f, func(ids []string) { removed = append(removed, ids...) })
	for range 5 {
		f.appendMsg()
	}
	b, err := l.Open(context.Background(), &f.mb)
	if err != nil {
		t.Fatal(err)
	}
	items, hms, _, _ := b.Snapshot(context.Background())
	early := &view{items: items, hms: hms}
	for i := range maxLog * 2 {
		switch i % 3 {
		case 0:
			l.Apply([]Event{f.appendMsg()})
		case 1:
			l.Apply([]Event{f.flag(uint32(1+i%5), fmt.Sprint("$k", i))})
		case 2:
			l.Apply([]Event{f.expunge(f.mb.UIDNext - 1)})
		}
	}
	items, hms, _, _ = b.Snapshot(context.Background())
	mid := &view{items: items, hms: hms}
	for i := range 20 {
		if i%2 == 0 {
			l.Apply([]Event{f.appendMsg(`\Seen`)})
		} else {
			l.Apply([]Event{f.expunge(uint32(2 + i/2))})
		}
	}
	reads := f.reads
	early.sync(t, b)
	mid.sync(t, b)
	want := f.state()
	if got := itemsState(early.items); got != want {
		t.Fatalf("early view (resync):\n%s\nstore:\n%s", got, want)
	}
	if got := itemsState(mid.items); got != want {
		t.Fatalf("view from the log:\n%s\nstore:\n%s", got, want)
	}
	mid.sync(t, b)
	if f.reads != reads {
		t.Fatalf("syncing read the store %d times", f.reads-reads)
	}
	if d, _ := b.Since(context.Background(), mid.hms); d != nil {
		t.Fatalf("current view got %+v", d)
	}
	// No pin: released bodies go (at the next reclaim).
	l.Reclaim()
	if len(removed) == 0 {
		t.Fatal("no body removed")
	}
}

// TestLiveGapCatchesUp: an event that does not follow the last known
// MODSEQ (a commit made elsewhere came first) makes the mailbox read the
// store at its next use, and the view ends equal to the store.
func TestLiveGapCatchesUp(t *testing.T) {
	f := newFakeLoader()
	l := NewLive(f, nil)
	f.appendMsg()
	b, err := l.Open(context.Background(), &f.mb)
	if err != nil {
		t.Fatal(err)
	}
	items, hms, _, _ := b.Snapshot(context.Background())
	v := &view{items: items, hms: hms}
	f.appendMsg()                        // committed elsewhere: no event here
	l.Apply([]Event{f.flag(1, `\Seen`)}) // ours, after it
	v.sync(t, b)
	if got, want := itemsState(v.items), f.state(); got != want {
		t.Fatalf("view %s, store %s", got, want)
	}
}

// TestLivePin: a body released while a pin predates the release stays
// until the pin advances past it or is released.
func TestLivePin(t *testing.T) {
	f := newFakeLoader()
	var mu sync.Mutex
	var removed []string
	l := NewLive(f, func(ids []string) { mu.Lock(); removed = append(removed, ids...); mu.Unlock() })
	f.appendMsg()
	f.appendMsg()
	p1 := l.NewPin()
	l.Apply([]Event{f.expunge(1)})
	p2 := l.NewPin() // opened after the first expunge: does not hold b1
	l.Apply([]Event{f.expunge(2)})
	l.Reclaim()
	got := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(removed) }
	if len(got()) != 0 {
		t.Fatalf("removed %v while pinned", got())
	}
	p1.Release()
	l.Reclaim()
	if fmt.Sprint(got()) != "[b1]" {
		t.Fatalf("removed %v, want [b1]", got())
	}
	p2.Advance(l.Gen())
	l.Reclaim()
	if fmt.Sprint(got()) != "[b1 b2]" {
		t.Fatalf("removed %v, want [b1 b2]", got())
	}
	if l.Held("b2") {
		t.Fatal("b2 still held")
	}
}
