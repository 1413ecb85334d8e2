package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
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

// TestSnapshotFileRoundTrip: what a snapshot file holds decodes to the
// same items; a damaged file is refused.
func TestSnapshotFileRoundTrip(t *testing.T) {
	zone := time.FixedZone("", 3600)
	items := []Item{
		{UID: 1, ModSeq: 5, EmailID: 9, Size: 100, Flags: []string{`$Work`, `\Seen`}, BlobID: "0123456789abcdef0123456789abcdef",
			InternalDate: time.Unix(1700000000, 0).In(zone), SaveDate: time.Unix(1700000100, 0)},
		{UID: 7, ModSeq: 6, EmailID: 10, Size: 0, BlobID: "not-hex",
			InternalDate: time.Unix(1700000200, 0).In(time.FixedZone("", -18000)), SaveDate: time.Unix(1700000300, 0)},
		{UID: 4000000000, ModSeq: 1 << 40, EmailID: 11, Size: 1 << 33, Flags: []string{`\Seen`}, BlobID: "ffffffffffffffffffffffffffffffff",
			InternalDate: time.Unix(0, 0).In(zone), SaveDate: time.Unix(1, 0)},
	}
	h := snapshotHeader{AccountID: 3, MailboxID: 7, UIDValidity: 99, HighestModSeq: 1 << 40, UIDNext: 4000000001}
	b := encodeSnapshot(h, items)
	gh, got, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if gh != h || len(got) != len(items) {
		t.Fatalf("header %+v, %d items", gh, len(got))
	}
	for i := range items {
		w, g := items[i], got[i]
		_, wo := w.InternalDate.Zone()
		_, gof := g.InternalDate.Zone()
		if w.UID != g.UID || w.ModSeq != g.ModSeq || w.EmailID != g.EmailID || w.Size != g.Size || w.BlobID != g.BlobID ||
			fmt.Sprint(w.Flags) != fmt.Sprint(g.Flags) || !w.InternalDate.Equal(g.InternalDate) || wo != gof || !w.SaveDate.Equal(g.SaveDate) {
			t.Fatalf("item %d: %+v, want %+v", i, g, w)
		}
	}
	for _, cut := range []int{0, 10, len(b) / 2, len(b) - 1} {
		if _, _, err := decodeSnapshot(b[:cut]); err == nil {
			t.Fatalf("truncated to %d decoded", cut)
		}
	}
	bad := slices.Clone(b)
	bad[len(snapshotMagic)+3] ^= 0x40
	if _, _, err := decodeSnapshot(bad); err == nil {
		t.Fatal("damaged file decoded")
	}
}

// TestLiveColdOpenFromFile: a big mailbox's list written at one point is
// brought forward by MODSEQ on the next process's first open, reads only
// the rows changed since, and equals the store; a file that disagrees with
// the store's count is dropped for a full read.
func TestLiveColdOpenFromFile(t *testing.T) {
	dir := t.TempDir()
	f := newFakeLoader()
	for range snapshotMin + 10 {
		f.appendMsg()
	}
	persistOnce(t, f, dir)
	// Changes after the file was written, then "a restart".
	f.flag(3, `\Seen`)
	f.expunge(5)
	f.appendMsg()
	l2 := NewLive(f, nil)
	l2.SetSnapshotDir(dir)
	mb := f.mb
	mb.Messages = int64(len(f.msgs))
	f.mb.Messages = mb.Messages
	b2, err := l2.Open(context.Background(), &mb)
	if err != nil {
		t.Fatal(err)
	}
	items, hms, _, _ := b2.Snapshot(context.Background())
	if got, want := itemsState(items), f.state(); got != want || hms != f.mb.HighestModSeq {
		t.Fatalf("from file: %d items at %d, want %d at %d", len(items), hms, len(f.msgs), f.mb.HighestModSeq)
	}
	// A count that does not match: the file is not trusted.
	l3 := NewLive(f, nil)
	l3.SetSnapshotDir(dir)
	l2.Persist()
	f.mb.Messages++
	mb = f.mb
	b3, err := l3.Open(context.Background(), &mb)
	if err != nil {
		t.Fatal(err)
	}
	items, _, _, _ = b3.Snapshot(context.Background())
	if got, want := itemsState(items), f.state(); got != want {
		t.Fatal("full read after a mismatched file differs from the store")
	}
	l3.Persist() // waits for the write the full read started
}

// BenchmarkSnapshotDecode100k: reading a 100,000-message mailbox's list
// from its snapshot file, the bulk of a cold SELECT.
func BenchmarkSnapshotDecode100k(b *testing.B) {
	items := make([]Item, 100_000)
	zone := time.FixedZone("", 3600)
	for i := range items {
		items[i] = Item{UID: uint32(i + 1), ModSeq: uint64(i + 1), EmailID: int64(i + 1), Size: 3000 + int64(i%500),
			BlobID: fmt.Sprintf("%032x", i*7919), InternalDate: time.Unix(1700000000+int64(i), 0).In(zone), SaveDate: time.Unix(1700000000+int64(i), 0)}
		if i%3 == 0 {
			items[i].Flags = []string{`\Seen`}
		}
	}
	buf := encodeSnapshot(snapshotHeader{AccountID: 1, MailboxID: 2, UIDValidity: 3, HighestModSeq: 100_000, UIDNext: 100_001}, items)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, got, err := decodeSnapshot(buf); err != nil || len(got) != len(items) {
			b.Fatal(err)
		}
	}
}

// TestLivePreload: mailboxes with snapshot files are opened by Preload, so
// a later Open finds them in memory and reads nothing; a file of a mailbox
// that is gone is removed.
func TestLivePreload(t *testing.T) {
	dir := t.TempDir()
	f := newFakeLoader()
	for range snapshotMin {
		f.appendMsg()
	}
	f.mb.Messages = int64(len(f.msgs))
	persistOnce(t, f, dir)
	gone := snapshotFiles{dir: dir}
	if err := gone.save(snapshotHeader{AccountID: 3, MailboxID: 99, UIDValidity: 1}, nil); err != nil {
		t.Fatal(err)
	}
	l2 := NewLive(f, nil)
	l2.SetSnapshotDir(dir)
	l2.Preload(context.Background(), func(ctx context.Context, accountID, mailboxID int64) (*Mailbox, error) {
		if mailboxID != f.mb.ID {
			return nil, ErrNotFound
		}
		mb := f.mb
		return &mb, nil
	})
	if _, err := os.Stat(gone.path(99)); !os.IsNotExist(err) {
		t.Fatalf("file of a mailbox that is gone: %v", err)
	}
	reads := f.reads
	mb := f.mb
	b2, err := l2.Open(context.Background(), &mb)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if items, _, _, _ := b2.Snapshot(context.Background()); len(items) != snapshotMin || f.reads != reads {
		t.Fatalf("after Preload: %d items, %d reads", len(items), f.reads-reads)
	}
}

// multiLoader serves several fake mailboxes by id.
type multiLoader map[int64]*fakeLoader

func (m multiLoader) MailboxSince(ctx context.Context, accountID, mailboxID int64, since uint64) (*Mailbox, []Message, []uint32, error) {
	f := m[mailboxID]
	if f == nil {
		return nil, nil, nil, ErrNotFound
	}
	return f.MailboxSince(ctx, accountID, mailboxID, since)
}

// TestLiveEvictsIdleBySize: mailboxes that no view holds are dropped once
// they list too many messages in all; held ones stay.
func TestLiveEvictsIdleBySize(t *testing.T) {
	defer func(n int) { maxIdleItems = n }(maxIdleItems)
	maxIdleItems = 25
	m := multiLoader{}
	l := NewLive(m, nil)
	var held *LiveMailbox
	for id := int64(1); id <= 4; id++ {
		f := newFakeLoader()
		f.mb.ID = id
		for range 10 {
			f.appendMsg()
		}
		m[id] = f
		mb := f.mb
		b, err := l.Open(context.Background(), &mb)
		if err != nil {
			t.Fatal(err)
		}
		if id == 1 {
			held = b
		} else {
			b.Close()
		}
	}
	defer held.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	idle := 0
	for _, b := range l.boxes {
		if b.refs == 0 {
			idle += len(b.snap)
		}
	}
	if l.boxes[1] != held || idle > maxIdleItems {
		t.Fatalf("%d boxes, %d idle messages, held box kept: %v", len(l.boxes), idle, l.boxes[1] == held)
	}
}

// persistOnce opens f's mailbox in a fresh Live over dir and writes its
// snapshot file, as a server does at shutdown.
func persistOnce(t *testing.T, f *fakeLoader, dir string) {
	t.Helper()
	l := NewLive(f, nil)
	l.SetSnapshotDir(dir)
	mb := f.mb
	b, err := l.Open(context.Background(), &mb)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	l.Persist()
}
