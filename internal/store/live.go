package store

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Live is a process's hot mailbox state (DESIGN: "hot mailbox state in
// memory"): for every mailbox some session has open, the light message list
// (UID, flags, MODSEQ, sizes, dates, body id) and a log of the changes
// committed since, in MODSEQ order. A session keeps its own view and asks
// the Live mailbox what changed since its HIGHESTMODSEQ; when nothing did,
// that costs a comparison under a mutex and no store read.
//
// The log is fed in commit order by the backend (Apply, called after each
// commit with exactly what it committed) and, for commits made elsewhere
// (another process on the same SQLite file, another node on the same
// PostgreSQL), by a catch-up that reads the store by MODSEQ: the backend
// marks mailboxes stale (MarkStale) when it learns of such commits, and an
// event that does not follow the last known MODSEQ marks its mailbox stale
// too. A stale mailbox is brought forward from the store at its next use.
//
// Live also decides when message bodies may go (DESIGN invariant 9): a
// body whose last reference was dropped stays on disk until every view
// that was open when it was dropped has moved past that point (Pin).
//
// Identities: a LiveMailbox is keyed by mailbox id and checked against the
// UIDVALIDITY it was loaded with; ids never recur (invariant 8), and a
// mailbox deleted (or renamed over) is dropped from the map at once, so a
// new mailbox never inherits an old one's state.
type Live struct {
	load   Loader
	remove func(ids []string)
	files  snapshotFiles
	// persisting counts snapshot writes started by Open.
	persisting sync.WaitGroup

	gen atomic.Uint64 // counts applied commits; see Pin

	mu     sync.Mutex
	boxes  map[int64]*LiveMailbox
	onGone []func(accountID int64)
	gone   map[int64]bool // accounts deleted (ids never recur: a small set)

	pinMu   sync.Mutex
	pins    map[*Pin]struct{}
	pending []pendingBody
	// releasing: bodies taken off pending and being handed to remove;
	// still held until remove has them (Held).
	releasing   [][]string
	lastReclaim time.Time
	// reclaimQueued: a reclaim is already scheduled.
	reclaimQueued bool
}

// Loader reads what a Live mailbox needs from the store, as of one
// consistent point: the mailbox row, its messages with MODSEQ above since
// (every message for since 0), without Structure, in UID order, and the
// UIDs expunged with MODSEQ above since (none for since 0). It returns an
// error wrapping ErrNotFound when the mailbox is gone.
type Loader interface {
	MailboxSince(ctx context.Context, accountID, mailboxID int64, since uint64) (*Mailbox, []Message, []uint32, error)
}

// Item is one message of a live mailbox: the light index row.
type Item struct {
	UID          uint32
	ModSeq       uint64
	EmailID      int64
	Size         int64
	Flags        []string // sorted
	BlobID       string
	InternalDate time.Time
	SaveDate     time.Time
}

// ItemOf converts a message row (its Structure is not kept).
func ItemOf(m *Message) Item {
	return Item{UID: m.UID, ModSeq: m.ModSeq, EmailID: m.EmailID, Size: m.Size, Flags: m.Flags,
		BlobID: m.BlobID, InternalDate: m.InternalDate, SaveDate: m.SaveDate}
}

// Event is one committed change, as a backend hands it to Apply.
type Event struct {
	Kind        ChangeKind
	AccountID   int64
	MailboxID   int64
	Mailbox     string // name after the change
	UIDValidity uint32
	ModSeq      uint64 // the mailbox's HIGHESTMODSEQ after the change (message kinds)
	UIDNext     uint32 // the mailbox's UIDNEXT after the change (message kinds)
	Items       []Item // ChangeAppend, ChangeFlags: the rows as committed
	UIDs        []uint32
	// Released are bodies whose last reference this change dropped; they
	// are removed once no view can still read them.
	Released []string
}

// NewLive returns the hot state over load. remove deletes body files that
// no view holds any more; it must re-check that nothing references them
// (a body can be referenced again, e.g. by a COPY of a message that a view
// still shows), and is called without locks held.
func NewLive(load Loader, remove func(ids []string)) *Live {
	return &Live{load: load, remove: remove, boxes: map[int64]*LiveMailbox{}, pins: map[*Pin]struct{}{},
		gone: map[int64]bool{}}
}

// SetSnapshotDir makes big mailboxes' lists persist in dir across restarts
// (see livefile.go); call it before use.
func (l *Live) SetSnapshotDir(dir string) { l.files = snapshotFiles{dir: dir} }

// Persist writes the lists of the big mailboxes in memory that changed
// since they were last written; backends call it at Close and now and then.
func (l *Live) Persist() {
	l.persisting.Wait()
	l.mu.Lock()
	boxes := make([]*LiveMailbox, 0, len(l.boxes))
	for _, b := range l.boxes {
		boxes = append(boxes, b)
	}
	l.mu.Unlock()
	for _, b := range boxes {
		b.persist()
	}
}

// persist writes the box's list when it is big and changed since written.
func (b *LiveMailbox) persist() {
	b.mu.Lock()
	if b.deleted || b.stale != 0 || b.savedMod == b.hms || len(b.snap) < snapshotMin {
		b.mu.Unlock()
		return
	}
	b.fold()
	h := snapshotHeader{AccountID: b.AccountID, MailboxID: b.ID, UIDValidity: b.UIDValidity,
		HighestModSeq: b.snapMod, UIDNext: b.uidNext}
	items := b.snap
	b.mu.Unlock()
	if err := b.live.files.save(h, items); err != nil {
		return // only a hint: the next cold open reads the rows
	}
	b.mu.Lock()
	b.savedMod = max(b.savedMod, h.HighestModSeq)
	b.mu.Unlock()
}

// Preload opens the mailboxes that have snapshot files, newest first (up
// to half the mailboxes kept idle), so that the first SELECT of a big
// mailbox after a restart finds its list in memory. lookup reads a
// mailbox row; a mailbox that is gone loses its file. Servers call it in
// the background at start; it stops when ctx is done.
func (l *Live) Preload(ctx context.Context, lookup func(ctx context.Context, accountID, mailboxID int64) (*Mailbox, error)) {
	for _, h := range l.files.headers(maxIdleBoxes / 2) {
		if ctx.Err() != nil {
			return
		}
		mb, err := lookup(ctx, h.AccountID, h.MailboxID)
		if errors.Is(err, ErrNotFound) || err == nil && mb.UIDValidity != h.UIDValidity {
			l.files.remove(h.MailboxID)
			continue
		}
		if err != nil {
			continue
		}
		if b, err := l.Open(ctx, mb); err == nil {
			b.Close()
		}
	}
}

// OnAccountGone registers fn, called (without locks held, from the
// goroutine that learnt it) when an account is deleted, so that protocol
// servers end its sessions.
func (l *Live) OnAccountGone(fn func(accountID int64)) {
	l.mu.Lock()
	l.onGone = append(l.onGone, fn)
	l.mu.Unlock()
}

// maxIdleBoxes bounds the mailboxes kept while no view holds them.
const maxIdleBoxes = 512

// Open returns the live state of mb (as just read from the store), loading
// it on first use. The caller must Close it when its view goes.
func (l *Live) Open(ctx context.Context, mb *Mailbox) (*LiveMailbox, error) {
	l.mu.Lock()
	b := l.boxes[mb.ID]
	if b != nil && (b.UIDValidity != mb.UIDValidity || b.AccountID != mb.AccountID) {
		// Cannot happen while ids never recur; never serve it anyway.
		delete(l.boxes, mb.ID)
		b = nil
	}
	if b != nil {
		b.refs++
		l.mu.Unlock()
		b.mu.Lock()
		behind := b.hms < mb.HighestModSeq
		if behind {
			// An event in flight, or a commit made elsewhere: catch up.
			b.stale++
		}
		b.mu.Unlock()
		return b, nil
	}
	g0 := l.gen.Load()
	l.mu.Unlock()

	got, items, fromFile, err := l.loadBox(ctx, mb)
	if err != nil {
		return nil, err
	}
	nb := &LiveMailbox{live: l, AccountID: got.AccountID, ID: got.ID, UIDValidity: got.UIDValidity,
		name: got.Name, hms: got.HighestModSeq, uidNext: got.UIDNext,
		snap: items, snapMod: got.HighestModSeq, logFloor: got.HighestModSeq, refs: 1}
	if fromFile {
		nb.savedMod = got.HighestModSeq
	} else if len(items) >= snapshotMin {
		// Read row by row this time: keep it for the next restart.
		l.persisting.Add(1)
		go func() {
			defer l.persisting.Done()
			nb.persist()
		}()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.boxes[mb.ID]; b != nil {
		// Loaded meanwhile by another session: use that one, and catch it
		// up if ours saw more.
		b.refs++
		b.mu.Lock()
		if b.hms < got.HighestModSeq {
			b.stale++
		}
		b.mu.Unlock()
		return b, nil
	}
	// An event committed after our read but applied before this insert
	// found no box to go to: then the first use checks the store once.
	if l.gen.Load() != g0 {
		nb.stale = 1
	}
	l.boxes[mb.ID] = nb
	l.evictIdle()
	return nb, nil
}

// loadBox reads a mailbox's list: from its snapshot file brought forward by
// MODSEQ when there is one that fits, else every row.
func (l *Live) loadBox(ctx context.Context, mb *Mailbox) (*Mailbox, []Item, bool, error) {
	if h, items, ok := l.files.load(mb.AccountID, mb.ID, mb.UIDValidity); ok && h.HighestModSeq <= mb.HighestModSeq {
		got, changed, vanished, err := l.load.MailboxSince(ctx, mb.AccountID, mb.ID, h.HighestModSeq)
		if err != nil {
			return nil, nil, false, err
		}
		if got.UIDValidity == mb.UIDValidity {
			e := logEntry{modseq: got.HighestModSeq, expunged: vanished, items: make([]Item, len(changed))}
			for i := range changed {
				e.items[i] = ItemOf(&changed[i])
			}
			if len(changed) > 0 || len(vanished) > 0 {
				items = applyEntries(items, []logEntry{e})
			}
			// The count tells a file that missed an expunge (tombstones
			// of a mailbox are its whole history, but be sure).
			if int64(len(items)) == got.Messages {
				return got, items, true, nil
			}
		}
		l.files.remove(mb.ID)
	}
	got, msgs, _, err := l.load.MailboxSince(ctx, mb.AccountID, mb.ID, 0)
	if err != nil {
		return nil, nil, false, err
	}
	if got.UIDValidity != mb.UIDValidity {
		return nil, nil, false, ErrNotFound
	}
	items := make([]Item, len(msgs))
	for i := range msgs {
		items[i] = ItemOf(&msgs[i])
	}
	return got, items, false, nil
}

// evictIdle drops mailboxes nobody holds when there are too many, or they
// list too many messages; l.mu held.
func (l *Live) evictIdle() {
	idle := 0
	for _, b := range l.boxes {
		if b.refs == 0 {
			idle += b.size()
		}
	}
	if len(l.boxes) <= maxIdleBoxes && idle <= maxIdleItems {
		return
	}
	for id, b := range l.boxes {
		if b.refs != 0 {
			continue
		}
		idle -= b.size()
		delete(l.boxes, id)
		if len(l.boxes) <= maxIdleBoxes/2 && idle <= maxIdleItems/2 {
			return
		}
	}
}

// maxIdleItems bounds the messages listed by mailboxes that no view holds
// (about 120 bytes each), so that a server that opened many big mailboxes
// once does not keep them all.
var maxIdleItems = 2_000_000

// size is the number of messages in the box's snapshot.
func (b *LiveMailbox) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.snap)
}

// Close releases a box taken with Open.
func (b *LiveMailbox) Close() {
	l := b.live
	l.mu.Lock()
	b.refs--
	if b.refs == 0 {
		l.evictIdle()
	}
	l.mu.Unlock()
}

// Apply records committed changes, in commit order. Backends call it after
// each commit, before answering the callers.
func (l *Live) Apply(events []Event) {
	var gone []int64
	var released []string
	l.mu.Lock()
	for i := range events {
		ev := &events[i]
		released = append(released, ev.Released...)
		switch ev.Kind {
		case ChangeAppend, ChangeFlags, ChangeExpunge:
			if b := l.boxes[ev.MailboxID]; b != nil {
				b.apply(ev)
			}
		case ChangeMailboxRename:
			if b := l.boxes[ev.MailboxID]; b != nil {
				b.mu.Lock()
				b.name = ev.Mailbox
				b.mu.Unlock()
			}
		case ChangeMailboxDelete:
			if b := l.boxes[ev.MailboxID]; b != nil {
				b.markDeleted()
				delete(l.boxes, ev.MailboxID)
			}
			l.files.remove(ev.MailboxID)
		case ChangeAccountDelete:
			for id, b := range l.boxes {
				if b.AccountID == ev.AccountID {
					b.markDeleted()
					delete(l.boxes, id)
					l.files.remove(id)
				}
			}
			gone = append(gone, ev.AccountID)
			l.gone[ev.AccountID] = true
		}
	}
	fns := l.onGone
	// A view that reads the generation after this has seen these events
	// (Pin); Open relies on the increment happening under l.mu.
	g := l.gen.Add(1)
	l.mu.Unlock()
	if len(released) > 0 {
		l.pinMu.Lock()
		l.pending = append(l.pending, pendingBody{ids: released, gen: g})
		l.pinMu.Unlock()
		l.reclaim(false)
	}
	for _, id := range gone {
		for _, fn := range fns {
			fn(id)
		}
	}
}

// Deleted reports whether this process knows the account was deleted.
func (l *Live) Deleted(accountID int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gone[accountID]
}

// MarkStale makes the next use of a mailbox read what was committed
// elsewhere; mailboxID 0 marks every mailbox of the account, and
// accountID 0 every mailbox.
func (l *Live) MarkStale(accountID, mailboxID int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, b := range l.boxes {
		if (mailboxID == 0 || id == mailboxID) && (accountID == 0 || b.AccountID == accountID) {
			b.mu.Lock()
			b.stale++
			b.mu.Unlock()
		}
	}
}

// Behind reports whether a live mailbox has not seen a change with this
// MODSEQ (committed elsewhere), and if so marks it stale.
func (l *Live) Behind(mailboxID int64, modseq uint64) bool {
	l.mu.Lock()
	b := l.boxes[mailboxID]
	l.mu.Unlock()
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deleted || b.hms >= modseq {
		return false
	}
	b.stale++
	return true
}

// AccountGone is what a backend calls when it learns that another process
// deleted an account: its mailboxes are dropped and its sessions ended.
func (l *Live) AccountGone(accountID int64) {
	l.Apply([]Event{{Kind: ChangeAccountDelete, AccountID: accountID}})
}

// LiveMailbox is the hot state of one mailbox, shared by every view of it
// in the process.
type LiveMailbox struct {
	live        *Live
	AccountID   int64
	ID          int64
	UIDValidity uint32

	catchMu sync.Mutex // one catch-up at a time

	mu       sync.Mutex
	refs     int // views holding it (guarded by live.mu)
	name     string
	deleted  bool
	stale    uint64 // non-zero: the store may know more; counts reasons
	hms      uint64
	uidNext  uint32
	snap     []Item // the mailbox at snapMod, never changed once published
	snapMod  uint64
	log      []logEntry // changes in (logFloor, hms], oldest first
	logFloor uint64
	memo     any
	memoMod  uint64
	savedMod uint64 // HIGHESTMODSEQ of the snapshot file written last
}

// logEntry is one change: rows added or changed (their state then), and
// UIDs expunged.
type logEntry struct {
	modseq   uint64
	items    []Item
	expunged []uint32
}

// maxLog bounds the log of a mailbox; a view further behind gets a resync
// against the whole list instead.
const maxLog = 512

func (b *LiveMailbox) markDeleted() {
	b.mu.Lock()
	b.deleted = true
	b.snap, b.log = nil, nil
	b.mu.Unlock()
}

// apply records one event; live.mu held.
func (b *LiveMailbox) apply(ev *Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deleted || ev.UIDValidity != 0 && ev.UIDValidity != b.UIDValidity {
		return
	}
	if ev.ModSeq <= b.hms {
		return // already known from a catch-up
	}
	if ev.ModSeq != b.hms+1 {
		// A commit made elsewhere came in between: the store has it.
		b.stale++
		return
	}
	e := logEntry{modseq: ev.ModSeq}
	if ev.Kind == ChangeExpunge {
		e.expunged = ev.UIDs
	} else {
		e.items = ev.Items
	}
	b.push(e, ev.UIDNext)
	if ev.Mailbox != "" {
		b.name = ev.Mailbox
	}
}

// push appends to the log, folding and trimming it when long; b.mu held.
func (b *LiveMailbox) push(e logEntry, uidNext uint32) {
	b.log = append(b.log, e)
	b.hms = max(b.hms, e.modseq)
	b.uidNext = max(b.uidNext, uidNext)
	if len(b.log) > maxLog {
		b.fold()
		drop := len(b.log) - maxLog/2
		b.logFloor = b.log[drop-1].modseq
		b.log = slices.Clone(b.log[drop:])
	}
}

// fold brings the snapshot up to hms; b.mu held. O(messages), done only
// when a view needs the whole list or the log is trimmed.
func (b *LiveMailbox) fold() {
	if b.snapMod >= b.hms {
		return
	}
	i := sort.Search(len(b.log), func(i int) bool { return b.log[i].modseq > b.snapMod })
	b.snap = applyEntries(b.snap, b.log[i:])
	b.snapMod = b.hms
}

// applyEntries returns items with the entries applied, as a new slice.
func applyEntries(items []Item, entries []logEntry) []Item {
	gone := map[uint32]bool{}
	upd := map[uint32]Item{}
	for _, e := range entries {
		for _, u := range e.expunged {
			gone[u] = true
			delete(upd, u)
		}
		for _, it := range e.items {
			if !gone[it.UID] {
				upd[it.UID] = it
			}
		}
	}
	out := make([]Item, 0, len(items)+len(upd))
	for _, it := range items {
		if gone[it.UID] {
			continue
		}
		if n, ok := upd[it.UID]; ok {
			out = append(out, n)
			delete(upd, it.UID)
			continue
		}
		out = append(out, it)
	}
	if len(upd) > 0 {
		start := len(out)
		for _, it := range upd {
			out = append(out, it)
		}
		added := out[start:]
		sort.Slice(added, func(i, j int) bool { return added[i].UID < added[j].UID })
		if start > 0 && added[0].UID < out[start-1].UID {
			sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
		}
	}
	return out
}

// ErrMailboxGone is returned for a live mailbox deleted (or renamed over,
// or whose account was deleted) since it was opened.
var ErrMailboxGone = errors.New("mailbox deleted")

// Snapshot returns the whole current message list (shared: never change
// it), with the HIGHESTMODSEQ and UIDNEXT it reflects.
func (b *LiveMailbox) Snapshot(ctx context.Context) ([]Item, uint64, uint32, error) {
	if err := b.catchUp(ctx); err != nil {
		return nil, 0, 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deleted {
		return nil, 0, 0, ErrMailboxGone
	}
	b.fold()
	return b.snap, b.hms, b.uidNext, nil
}

// Memo returns compute() for the snapshot at modseq, computed once per
// snapshot and shared (e.g. the keywords in use).
func (b *LiveMailbox) Memo(modseq uint64, compute func() any) any {
	b.mu.Lock()
	if b.memoMod == modseq && b.memo != nil {
		v := b.memo
		b.mu.Unlock()
		return v
	}
	b.mu.Unlock()
	v := compute()
	b.mu.Lock()
	if modseq >= b.memoMod {
		b.memo, b.memoMod = v, modseq
	}
	b.mu.Unlock()
	return v
}

// Name returns the mailbox's current name.
func (b *LiveMailbox) Name() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.name
}

// Delta is what changed in a mailbox since a view's HIGHESTMODSEQ.
type Delta struct {
	ModSeq  uint64 // HIGHESTMODSEQ now
	UIDNext uint32 // UIDNEXT now
	Name    string
	// Expunged lists UIDs expunged since (some may be unknown to the
	// view), ascending. Nil with Resync.
	Expunged []uint32
	// Changed lists messages added or changed since, in their current
	// state, ascending by UID.
	Changed []Item
	// Resync: the log no longer reaches back that far; Current is the
	// whole list, and the view drops what is not in it.
	Resync  bool
	Current []Item
}

// Since returns what changed after modseq, or nil when nothing did. It reads
// the store only when the mailbox is stale (see Live).
func (b *LiveMailbox) Since(ctx context.Context, modseq uint64) (*Delta, error) {
	b.mu.Lock()
	if b.deleted {
		b.mu.Unlock()
		return nil, ErrMailboxGone
	}
	if b.stale == 0 && b.hms <= modseq {
		b.mu.Unlock()
		return nil, nil
	}
	b.mu.Unlock()
	if err := b.catchUp(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deleted {
		return nil, ErrMailboxGone
	}
	if b.hms <= modseq {
		return nil, nil
	}
	d := &Delta{ModSeq: b.hms, UIDNext: b.uidNext, Name: b.name}
	if modseq < b.logFloor {
		b.fold()
		d.Resync, d.Current = true, b.snap
		for _, it := range b.snap {
			if it.ModSeq > modseq {
				d.Changed = append(d.Changed, it)
			}
		}
		return d, nil
	}
	i := sort.Search(len(b.log), func(i int) bool { return b.log[i].modseq > modseq })
	entries := b.log[i:]
	gone := map[uint32]bool{}
	upd := map[uint32]Item{}
	for _, e := range entries {
		for _, u := range e.expunged {
			if !gone[u] {
				gone[u] = true
				d.Expunged = append(d.Expunged, u)
			}
			delete(upd, u)
		}
		for _, it := range e.items {
			if !gone[it.UID] && it.ModSeq > modseq {
				upd[it.UID] = it
			}
		}
	}
	slices.Sort(d.Expunged)
	for _, it := range upd {
		d.Changed = append(d.Changed, it)
	}
	sort.Slice(d.Changed, func(i, j int) bool { return d.Changed[i].UID < d.Changed[j].UID })
	return d, nil
}

// catchUp reads from the store what the log lacks, when stale.
func (b *LiveMailbox) catchUp(ctx context.Context) error {
	b.mu.Lock()
	stale := b.stale
	b.mu.Unlock()
	if stale == 0 {
		return nil
	}
	b.catchMu.Lock()
	defer b.catchMu.Unlock()
	for {
		b.mu.Lock()
		stale, from, deleted := b.stale, b.hms, b.deleted
		b.mu.Unlock()
		if stale == 0 || deleted {
			return nil
		}
		mb, changed, vanished, err := b.live.load.MailboxSince(ctx, b.AccountID, b.ID, from)
		if errors.Is(err, ErrNotFound) {
			b.markDeleted()
			b.live.mu.Lock()
			if b.live.boxes[b.ID] == b {
				delete(b.live.boxes, b.ID)
			}
			b.live.mu.Unlock()
			return nil
		}
		if err != nil {
			return err
		}
		b.mu.Lock()
		if mb.UIDValidity != b.UIDValidity {
			b.mu.Unlock()
			b.markDeleted()
			return nil
		}
		b.name = mb.Name
		if mb.HighestModSeq > b.hms {
			e := logEntry{modseq: mb.HighestModSeq, expunged: vanished}
			for i := range changed {
				if changed[i].ModSeq > b.hms || changed[i].UID >= b.uidNext {
					e.items = append(e.items, ItemOf(&changed[i]))
				}
			}
			b.push(e, mb.UIDNext)
		}
		done := b.stale == stale
		if done {
			b.stale = 0
		}
		b.mu.Unlock()
		if done {
			return nil
		}
	}
}

// Pin holds the bodies that a view may still read: a body released after
// the pin last advanced stays on disk until it advances past that point
// (the view was told of the expunge) or is released.
type Pin struct {
	l   *Live
	gen atomic.Uint64
}

type pendingBody struct {
	ids []string
	gen uint64
}

// Gen returns the current commit generation, to pass to Pin.Advance once
// the view has applied everything read after this call.
func (l *Live) Gen() uint64 { return l.gen.Load() }

// NewPin returns a pin holding everything released from now on.
func (l *Live) NewPin() *Pin {
	p := &Pin{l: l}
	l.pinMu.Lock()
	p.gen.Store(l.gen.Load())
	l.pins[p] = struct{}{}
	l.pinMu.Unlock()
	return p
}

// Advance tells that the view has applied every change up to gen.
func (p *Pin) Advance(gen uint64) {
	if p == nil || gen <= p.gen.Load() {
		return
	}
	p.gen.Store(gen)
	p.l.reclaim(false)
}

// Release drops the pin.
func (p *Pin) Release() {
	if p == nil {
		return
	}
	p.l.pinMu.Lock()
	delete(p.l.pins, p)
	p.l.pinMu.Unlock()
	p.l.reclaim(false)
}

// reclaimEvery spaces out reclaims: each looks at every pin.
const reclaimEvery = 50 * time.Millisecond

// reclaim removes pending bodies that no pin holds.
func (l *Live) reclaim(force bool) {
	l.pinMu.Lock()
	if len(l.pending) == 0 {
		l.pinMu.Unlock()
		return
	}
	if wait := reclaimEvery - time.Since(l.lastReclaim); !force && wait > 0 {
		// Come back once the spacing allows, so that nothing waits for
		// the next session to move.
		if !l.reclaimQueued {
			l.reclaimQueued = true
			time.AfterFunc(wait, func() { l.reclaim(false) })
		}
		l.pinMu.Unlock()
		return
	}
	l.reclaimQueued = false
	l.lastReclaim = time.Now()
	low := l.gen.Load()
	for p := range l.pins {
		low = min(low, p.gen.Load())
	}
	var ids []string
	keep := l.pending[:0]
	for _, pb := range l.pending {
		if pb.gen <= low {
			ids = append(ids, pb.ids...)
		} else {
			keep = append(keep, pb)
		}
	}
	clear(l.pending[len(keep):])
	l.pending = keep
	if len(ids) > 0 && l.remove != nil {
		l.releasing = append(l.releasing, ids)
	}
	l.pinMu.Unlock()
	if len(ids) > 0 && l.remove != nil {
		l.remove(ids)
		l.pinMu.Lock()
		for i, r := range l.releasing {
			if len(r) > 0 && &r[0] == &ids[0] {
				l.releasing = slices.Delete(l.releasing, i, i+1)
				break
			}
		}
		l.pinMu.Unlock()
	}
}

// Reclaim removes every pending body that no pin holds now (the backend's
// periodic sweep calls it, so that bodies do not wait for the next
// session to move).
func (l *Live) Reclaim() { l.reclaim(true) }

// Held reports whether a body is waiting for views to let it go, or is
// being handed to the remove function (which must take note of the ids
// before it returns): such a body is not an orphan.
func (l *Live) Held(id string) bool {
	l.pinMu.Lock()
	defer l.pinMu.Unlock()
	for _, pb := range l.pending {
		if slices.Contains(pb.ids, id) {
			return true
		}
	}
	for _, r := range l.releasing {
		if slices.Contains(r, id) {
			return true
		}
	}
	return false
}
