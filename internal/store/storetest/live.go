package storetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"mailroom/internal/store"
)

// waitBodyGone waits until a released body is removed: removal follows the
// commit once no view holds the body (store.Live), not within it.
func waitBodyGone(t *testing.T, s store.Store, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := s.OpenBody(ctx, id)
		if errors.Is(err, store.ErrBodyMissing) {
			return
		}
		if err == nil {
			b.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("body %s of an expunged message still there: %v", id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testIdentities: account and mailbox ids are never handed out again, also
// after the newest one is deleted (DESIGN invariant 8), and a mailbox
// created again under an old name starts empty with a new UIDVALIDITY.
func testIdentities(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	seenMB := map[int64]string{}
	for round := range 3 {
		mb, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Secret"})
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := seenMB[mb.ID]; ok {
			t.Fatalf("round %d: mailbox id %d handed out again (was %s)", round, mb.ID, prev)
		}
		seenMB[mb.ID] = fmt.Sprint("Secret#", round)
		if round == 0 {
			appendOne(t, s, a, mb, "secret")
		} else if msgs, _ := s.Messages(ctx, a.ID, mb.ID, 1); len(msgs) != 0 {
			t.Fatalf("round %d: re-created mailbox has %d messages", round, len(msgs))
		}
		if err := s.DeleteMailbox(ctx, a.ID, "Secret"); err != nil {
			t.Fatal(err)
		}
	}
	seenAcct := map[int64]bool{a.ID: true}
	var uidv []uint32
	for round := range 3 {
		b, err := s.CreateAccount(ctx, store.NewAccount{Address: "bob@example.test", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if seenAcct[b.ID] {
			t.Fatalf("round %d: account id %d handed out again", round, b.ID)
		}
		seenAcct[b.ID] = true
		mbs, err := s.Mailboxes(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range mbs {
			if _, ok := seenMB[mb.ID]; ok {
				t.Fatalf("round %d: mailbox id %d of the new account handed out before", round, mb.ID)
			}
			seenMB[mb.ID] = "bob " + mb.Name
			if mb.Messages != 0 {
				t.Fatalf("round %d: new account's %s has %d messages", round, mb.Name, mb.Messages)
			}
		}
		inbox := mailbox(t, s, b, "INBOX")
		uidv = append(uidv, inbox.UIDValidity)
		appendOne(t, s, b, inbox, fmt.Sprint("bob mail ", round))
		if err := s.DeleteAccount(ctx, "bob@example.test"); err != nil {
			t.Fatal(err)
		}
	}
	wantClean(t, s)
}

// testLiveFollows: a live mailbox learns every commit, and a reader whose
// view is current reads nothing new.
func testLiveFollows(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	appendOne(t, s, a, inbox, "one")
	mb := mailbox(t, s, a, "INBOX")
	box, err := s.Live().Open(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	items, hms, _, err := box.Snapshot(ctx)
	if err != nil || len(items) != 1 {
		t.Fatalf("snapshot: %v %v", items, err)
	}
	if d, err := box.Since(ctx, hms); d != nil || err != nil {
		t.Fatalf("nothing changed, got %+v %v", d, err)
	}
	r2 := appendOne(t, s, a, inbox, "two")
	r3 := appendOne(t, s, a, inbox, "three")
	if _, _, err := s.SetFlags(ctx, a.ID, inbox.ID, []uint32{items[0].UID}, store.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, a.ID, inbox.ID, []uint32{r2.UID}); err != nil {
		t.Fatal(err)
	}
	d, err := box.Since(ctx, hms)
	if err != nil || d == nil {
		t.Fatalf("since: %v %v", d, err)
	}
	if fmt.Sprint(d.Expunged) != fmt.Sprint([]uint32{r2.UID}) {
		t.Fatalf("expunged %v, want [%d]", d.Expunged, r2.UID)
	}
	var got []string
	for _, it := range d.Changed {
		got = append(got, fmt.Sprint(it.UID, it.Flags))
	}
	want := []string{fmt.Sprint(items[0].UID, []string{`\Seen`}), fmt.Sprint(r3.UID, []string(nil))}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changed %v, want %v", got, want)
	}
	now := mailbox(t, s, a, "INBOX")
	if d.ModSeq != now.HighestModSeq || d.UIDNext != now.UIDNext {
		t.Fatalf("delta at %d/%d, store at %d/%d", d.ModSeq, d.UIDNext, now.HighestModSeq, now.UIDNext)
	}
	// The snapshot now equals the store.
	items, _, _, err = box.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := s.ChangedSince(ctx, a.ID, inbox.ID, 0)
	if len(items) != len(rows) {
		t.Fatalf("snapshot has %d messages, store %d", len(items), len(rows))
	}
	for i := range rows {
		if items[i].UID != rows[i].UID || items[i].ModSeq != rows[i].ModSeq || fmt.Sprint(items[i].Flags) != fmt.Sprint(rows[i].Flags) ||
			items[i].BlobID != rows[i].BlobID || items[i].Size != rows[i].Size || items[i].EmailID != rows[i].EmailID ||
			!items[i].InternalDate.Equal(rows[i].InternalDate) {
			t.Fatalf("snapshot %d = %+v, store %+v", i, items[i], rows[i])
		}
	}
}

// testLiveReadable: a body expunged while a view (pin) still shows it stays
// readable until the view moves past the expunge, then goes.
func testLiveReadable(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	r := appendOne(t, s, a, inbox, "keep me readable")
	msgs, _ := s.Messages(ctx, a.ID, inbox.ID, 1)
	blobID := msgs[0].BlobID
	live := s.Live()
	pin := live.NewPin()
	if _, err := s.Expunge(ctx, a.ID, inbox.ID, []uint32{r.UID}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	live.Reclaim()
	if got := ReadBody(t, s, blobID); got != "keep me readable" {
		t.Fatalf("pinned body reads %q", got)
	}
	// The sweep does not take it for an orphan either.
	if _, err := s.Check(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := ReadBody(t, s, blobID); got != "keep me readable" {
		t.Fatalf("pinned body after check --repair reads %q", got)
	}
	pin.Advance(live.Gen())
	live.Reclaim()
	waitBodyGone(t, s, blobID)
	pin.Release()
	wantClean(t, s)
}

// testLiveRecreated: a live mailbox deleted while open reports it, and a
// mailbox created again under the same name shares nothing with it.
func testLiveRecreated(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	mb, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Folder"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		appendOne(t, s, a, mb, fmt.Sprint("old ", i))
	}
	mb = mailbox(t, s, a, "Folder")
	old, err := s.Live().Open(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	_, hms, _, err := old.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Folder"); err != nil {
		t.Fatal(err)
	}
	mb2, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Folder"})
	if err != nil {
		t.Fatal(err)
	}
	appendOne(t, s, a, mb2, "new")
	if _, err := old.Since(ctx, hms); !errors.Is(err, store.ErrMailboxGone) {
		t.Fatalf("old view of a deleted mailbox: %v", err)
	}
	mb2 = mailbox(t, s, a, "Folder")
	if mb2.ID == mb.ID || mb2.UIDValidity == mb.UIDValidity {
		t.Fatalf("re-created mailbox has id %d uidvalidity %d, old %d %d", mb2.ID, mb2.UIDValidity, mb.ID, mb.UIDValidity)
	}
	nb, err := s.Live().Open(ctx, mb2)
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	items, _, _, err := nb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || ReadBody(t, s, items[0].BlobID) != "new" {
		t.Fatalf("re-created mailbox shows %+v", items)
	}
}

// testLiveAccountDeleted: deleting an account tells the live state, which
// tells the protocol servers, and drops its mailboxes.
func testLiveAccountDeleted(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	live := s.Live()
	var gone atomic.Int64
	live.OnAccountGone(func(id int64) { gone.Store(id) })
	b, err := s.CreateAccount(ctx, store.NewAccount{Address: "bob@example.test", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	inbox := mailbox(t, s, b, "INBOX")
	appendOne(t, s, b, inbox, "bob's")
	box, err := live.Open(ctx, mailbox(t, s, b, "INBOX"))
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	if err := s.DeleteAccount(ctx, "bob@example.test"); err != nil {
		t.Fatal(err)
	}
	if gone.Load() != b.ID {
		t.Fatalf("account-gone callback got %d, want %d", gone.Load(), b.ID)
	}
	if _, _, _, err := box.Snapshot(ctx); !errors.Is(err, store.ErrMailboxGone) {
		t.Fatalf("mailbox of a deleted account: %v", err)
	}
	_ = a
}
