package sqlite

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"mailroom/internal/store"
	"mailroom/internal/store/storetest"
)

// blockSync makes each WAL fsync wait until release is called, and return
// the error given to it; after unblock, fsyncs go through again (defer it
// after the store's Close, so that Close does not wait on a blocked sync).
func blockSync(t *testing.T) (release func(err error), unblock func()) {
	t.Helper()
	gate := make(chan error)
	var once sync.Once
	syncFile = func(f *os.File) error {
		if err, ok := <-gate; ok {
			return err
		}
		return fdatasync(f)
	}
	unblock = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() {
		unblock()
		syncFile = fdatasync
	})
	return func(err error) {
		select {
		case gate <- err:
		case <-time.After(5 * time.Second):
			t.Fatal("no fsync came")
		}
	}, unblock
}

// appendAsync appends ref to mb in the background; the channel gets the
// outcome.
func appendAsync(s *Store, a *store.Account, mb *store.Mailbox, ref store.BlobRef) <-chan error {
	appended := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: ref}}, true)
		appended <- err
	}()
	return appended
}

// An append is answered only once the WAL is synced, and a read that runs
// meanwhile does not show the commit before that either: no client learns
// of a UID that a crash could take back.
func TestCommitsAnsweredAndReadAfterSync(t *testing.T) {
	s := open(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	release, unblock := blockSync(t)
	defer unblock()
	ref := storetest.Put(t, s, "durable")
	appended := appendAsync(s, a, mb, ref)
	// Wait until the commit is in (readers could see it), not synced.
	for s.dur.done.Load() == s.dur.synced.Load() {
		time.Sleep(time.Millisecond)
	}
	read := make(chan int64, 1)
	go func() {
		m, err := s.Mailbox(ctx, a.ID, "INBOX")
		if err != nil {
			t.Error(err)
		}
		read <- m.Messages
	}()
	select {
	case err := <-appended:
		t.Fatalf("append answered before the sync: %v", err)
	case n := <-read:
		t.Fatalf("read answered %d messages before the sync", n)
	case <-time.After(100 * time.Millisecond):
	}
	// A check before a write need not wait (store.Unsynced).
	if _, err := s.AccountByID(store.Unsynced(ctx), a.ID); err != nil {
		t.Fatal(err)
	}
	release(nil)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if n := <-read; n != 1 {
		t.Fatalf("read %d messages after the sync", n)
	}
}

// A failed WAL sync fails the writes it covered and stops every write
// after it: the store cannot tell what is durable any more.
func TestFailedSyncStopsWrites(t *testing.T) {
	s := open(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	release, unblock := blockSync(t)
	defer unblock()
	ref := storetest.Put(t, s, "lost?")
	appended := appendAsync(s, a, mb, ref)
	io := errors.New("input/output error")
	release(io)
	if err := <-appended; !errors.Is(err, io) {
		t.Fatalf("append after a failed sync: %v", err)
	}
	if _, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Later"}); !errors.Is(err, io) {
		t.Fatalf("write after a failed sync: %v", err)
	}
}

// A body that reclaim found unreferenced cannot be referenced again while
// its file is being removed (a delivery to several recipients shares one
// body): the append fails as if the file were gone.
func TestDoomedBodyFailsAppend(t *testing.T) {
	s := openFiles(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	ref := storetest.Put(t, s, "shared")
	s.doom([]string{ref.ID}, true)
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: ref}}, true); !errors.Is(err, store.ErrBodyMissing) {
		t.Fatalf("append of a doomed body: %v", err)
	}
	s.doom([]string{ref.ID}, false)
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: ref}}, true); err != nil {
		t.Fatalf("append once the body is kept after all: %v", err)
	}
}

// walSalt reads the salts of the WAL's header, which SQLite changes each
// time the WAL starts over from its beginning.
func walSalt(t *testing.T, s *Store) string {
	t.Helper()
	f, err := os.Open(s.dur.wal.path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var hdr [24]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return ""
	}
	return string(hdr[16:24])
}

// Under a load that never pauses, some commit always lands between a
// checkpoint and the next write, so SQLite alone would never start the
// WAL over and it would grow without end. The checkpointer's RESTART
// makes it start over while the writes go on.
func TestWALStartsOverUnderSteadyLoad(t *testing.T) {
	defer func(n int) { walRestartFrames = n }(walRestartFrames)
	walRestartFrames = 16
	s := open(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ref := storetest.Put(t, s, "steady")
				if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: ref}}, false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	salts := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(salts) < 3 && time.Now().Before(deadline) {
		if salt := walSalt(t, s); salt != "" {
			salts[salt] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(salts) < 3 {
		t.Fatalf("the WAL started over %d times in 20 s of writes", len(salts)-1)
	}
	if r, err := s.Check(ctx, false); err != nil || len(r.Problems) != 0 {
		t.Fatalf("check %+v, %v", r, err)
	}
}
