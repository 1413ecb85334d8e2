package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailroom/internal/store"
	"mailroom/internal/store/storetest"
)

func open(t *testing.T, limits store.Limits) store.Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{DefaultLimits: limits, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openFiles opens a store that keeps every body in a file.
func openFiles(t *testing.T, limits store.Limits) store.Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{DefaultLimits: limits, PollInterval: 20 * time.Millisecond, InlineMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func TestConformanceBodyFiles(t *testing.T) {
	storetest.Run(t, openFiles)
}

var ctx = context.Background()

func newAccount(t *testing.T, s *Store) (*store.Account, *store.Mailbox) {
	t.Helper()
	if err := s.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "a@example.test", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := s.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return a, mb
}

func age(t *testing.T, s *Store, id string, d time.Duration) {
	t.Helper()
	p, err := s.blobs.Path(id)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-d)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFindsAndRepairs(t *testing.T) {
	s := openFiles(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	ref := storetest.Put(t, s, "kept")
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: ref}}, true); err != nil {
		t.Fatal(err)
	}
	orphan := storetest.Put(t, s, "orphan")
	age(t, s, orphan.ID, time.Hour)
	// Break the counters behind the store's back.
	if _, err := s.wdb.Exec("UPDATE accounts SET used_bytes = 999; UPDATE mailboxes SET messages = 7 WHERE id = ?", mb.ID); err != nil {
		t.Fatal(err)
	}
	r, err := s.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	var whats []string
	for _, p := range r.Problems {
		whats = append(whats, p.What)
	}
	all := strings.Join(whats, "\n")
	for _, want := range []string{"orphan bodies", "quota usage", "counters"} {
		if !strings.Contains(all, want) {
			t.Errorf("check did not report %q: %s", want, all)
		}
	}
	if _, err := s.Check(ctx, true); err != nil {
		t.Fatal(err)
	}
	r, _ = s.Check(ctx, false)
	if len(r.Problems) != 0 {
		t.Fatalf("after repair: %+v", r.Problems)
	}
	if _, err := s.OpenBody(ctx, ref.ID); err != nil {
		t.Fatalf("repair removed a referenced body: %v", err)
	}
	if _, err := s.OpenBody(ctx, orphan.ID); !errors.Is(err, store.ErrBodyMissing) {
		t.Fatalf("orphan survived repair: %v", err)
	}
	// A missing body is reported, not repaired.
	p, _ := s.blobs.Path(ref.ID)
	os.Remove(p)
	r, _ = s.Check(ctx, true)
	if len(r.Problems) == 0 || !strings.Contains(r.Problems[0].What, "missing") {
		t.Fatalf("missing body not reported: %+v", r.Problems)
	}
}

// A sweep that removes a body before its append commits makes the append
// fail; it never leaves a message without its body.
func TestSweepBeforeCommitFailsAppend(t *testing.T) {
	s := openFiles(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	ref := storetest.Put(t, s, "racing")
	n, err := s.Sweep(ctx, 0)
	if err != nil || n != 1 {
		t.Fatalf("sweep removed %d, %v", n, err)
	}
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: ref}}, true); !errors.Is(err, store.ErrBodyMissing) {
		t.Fatalf("append of a swept body: %v", err)
	}
	r, _ := s.Check(ctx, false)
	if len(r.Problems) != 0 || r.Messages != 0 {
		t.Fatalf("after failed append %+v", r)
	}
}

// Two Store values on one directory stand for two processes (the server and
// `mailroom deliver`): both write, and a watcher in one sees the other's
// commits.
func TestTwoProcessesShareTheStore(t *testing.T) {
	dir := t.TempDir()
	s1, err := Open(dir, Options{PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	a, mb := newAccount(t, s1)
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	wake, stop := s1.Watch(a.ID)
	defer stop()
	time.Sleep(50 * time.Millisecond) // let the poller take its first reading
	if _, err := s2.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: storetest.Put(t, s2, "x")}}, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher not woken by another process's commit")
	}
	got, _ := s1.Mailbox(ctx, a.ID, "INBOX")
	if got.Messages != 1 {
		t.Fatalf("s1 sees %+v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.db")); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationKeepsIdsUnique: a store made before the id counters existed
// gets counters above every id it still mentions, so an id whose row was
// deleted (its change rows remain) is not handed out again.
func TestMigrationKeepsIdsUnique(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := newAccount(t, s)
	mb, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Newest"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Newest"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Take the schema back to before the counters.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The schema of version 4: a per-account change feed that still names
	// the deleted mailbox, and no counters.
	for _, q := range []string{"DROP TABLE change_log", "DROP TABLE counters",
		"DROP INDEX messages_deleted", "DROP INDEX tombstones_modseq", "DROP TABLE inline_bodies", "DROP INDEX outbox_account", "ALTER TABLE outbox DROP COLUMN kind", "DROP TABLE subscriptions", "ALTER TABLE mailboxes DROP COLUMN first_recent", "DROP TABLE metadata",
		"ALTER TABLE accounts ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0",
		`CREATE TABLE changes (account_id INTEGER NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL,
			mailbox_id INTEGER NOT NULL, mailbox TEXT NOT NULL, modseq INTEGER NOT NULL, uids TEXT NOT NULL DEFAULT '',
			PRIMARY KEY (account_id, seq))`,
		fmt.Sprintf("INSERT INTO changes VALUES (%d, 1, %d, %d, 'Newest', 0, '')", a.ID, store.ChangeMailboxDelete, mb.ID),
		"PRAGMA user_version = 4"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mb2, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Newest"})
	if err != nil {
		t.Fatal(err)
	}
	if mb2.ID <= mb.ID {
		t.Fatalf("mailbox id %d after migration, deleted one was %d", mb2.ID, mb.ID)
	}
}

// TestOtherProcessDeletesAccount: an account deleted by another process
// (the admin command) ends this process's sessions of it, and a commit by
// another process reaches this process's live mailboxes.
func TestOtherProcessDeletesAccount(t *testing.T) {
	dir := t.TempDir()
	s1, err := Open(dir, Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	a, inbox := newAccount(t, s1)
	gone := make(chan int64, 1)
	s1.Live().OnAccountGone(func(id int64) { gone <- id })
	box, err := s1.Live().Open(ctx, inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	_, hms, _, err := box.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}

	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	storetest.Put(t, s2, "x")
	w, _ := s2.NewBody(ctx)
	w.Write([]byte("from the other process"))
	ref, _ := w.Commit()
	if _, err := s2.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: ref}}, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := box.Since(ctx, hms)
		if err != nil {
			t.Fatal(err)
		}
		if d != nil && len(d.Changed) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("live mailbox never learnt the other process's append: %+v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s2.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-gone:
		if id != a.ID {
			t.Fatalf("gone %d, want %d", id, a.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deletion by another process not noticed")
	}
	if _, err := box.Since(ctx, hms); !errors.Is(err, store.ErrMailboxGone) {
		t.Fatalf("live mailbox of the deleted account: %v", err)
	}
}

// TestCheckRepairsReferenceCounts: a body's reference count that does not
// match the messages using it is reported and set right by --repair.
func TestCheckRepairsReferenceCounts(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, inbox := newAccount(t, s)
	ref := storetest.Put(t, s, "shared body")
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: ref}, {MailboxID: inbox.ID, Body: ref}}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
		_, err := tx.Exec("UPDATE blobs SET refs = 5 WHERE id = ?", ref.ID)
		return nil, err
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Check(ctx, false)
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].What, "reference count 5, used by 2") {
		t.Fatalf("check: %+v %v", rep, err)
	}
	if _, err := s.Check(ctx, true); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Check(ctx, false); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("after repair: %+v %v", rep, err)
	}
}

// TestExpungeUsesDeletedIndex: EXPUNGE's search for \Deleted messages goes
// through the partial index, not a scan of the mailbox.
func TestExpungeUsesDeletedIndex(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.rdb.Query("EXPLAIN QUERY PLAN SELECT "+indexCols+" FROM messages WHERE mailbox_id = ? AND "+deletedTerm+" AND account_id = ? ORDER BY uid", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "messages_deleted") {
		t.Fatalf("plan does not use messages_deleted:\n%s", strings.Join(plan, "\n"))
	}
}

// The store is readable by its owner only, also when an older version or
// a lax umask left it open to others (the index holds password hashes and
// SCRAM keys).
func TestOwnerOnlyAccess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		want := map[string]os.FileMode{
			"":             0o700 | os.ModeDir,
			"blobs":        0o700 | os.ModeDir,
			"blobs/00":     0o700 | os.ModeDir,
			"index.db":     0o600,
			"index.db-wal": 0o600,
			"index.db-shm": 0o600,
		}
		for name, mode := range want {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != mode {
				t.Errorf("%s: %q has mode %v, want %v", when, name, got, mode)
			}
		}
	}
	for round, when := range []string{"new store", "reopened after chmod"} {
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateAccount(ctx, store.NewAccount{Address: fmt.Sprintf("a%d@example.test", round), PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		check(when)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// What an older version left behind.
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil {
				if d.IsDir() {
					os.Chmod(p, 0o755)
				} else {
					os.Chmod(p, 0o644)
				}
			}
			return nil
		})
		// A store closed cleanly has no -wal: make ones to be fixed.
		for _, n := range []string{"index.db-wal", "index.db-shm"} {
			if _, err := os.Stat(filepath.Join(dir, n)); errors.Is(err, os.ErrNotExist) {
				os.WriteFile(filepath.Join(dir, n), nil, 0o644)
			}
		}
	}
}
