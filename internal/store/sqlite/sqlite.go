// Package sqlite is mailroom's embedded store: one SQLite database
// (modernc.org/sqlite, no cgo) for the index and a blob.FS directory for
// message bodies.
//
// Writes go through one writer goroutine that commits whatever has gathered
// in one transaction (group commit): concurrent writes share the fsync of
// the WAL. Each operation runs in its own savepoint, so one failing
// operation does not fail the others of its group. Reads use a pool of
// reader connections (WAL lets them run beside the writer).
//
// Ordering that keeps the store consistent across crashes:
//  1. body file written, it and its directory fsynced (blob.Writer.Commit,
//     by the caller: concurrent deliveries fsync side by side, outside the
//     writer);
//  2. the index transaction checks every new body still exists, then
//     commits (its WAL frames written, not yet synced);
//  3. the syncer fdatasyncs the WAL, and only then the committed changes
//     go to the live state (store.Live) in commit order, callers are
//     answered and watchers woken; the writer runs the next group
//     meanwhile (durable.go);
//  4. bodies whose last reference went away are deleted once no session's
//     view can still read them (store.Live decides; reclaim re-checks under
//     the write lock that nothing references them again).
//
// Orphan bodies (step 1 done, step 2 not) are removed by Sweep under the
// write lock; because step 2 re-checks body files under that same lock, a
// sweep can never delete a body that a commit references. Other processes
// (the `deliver` command, admin commands) share the database through
// SQLite's own locking.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mailroom/internal/blob"
	"mailroom/internal/store"

	_ "modernc.org/sqlite"
)

// Options configure a Store.
type Options struct {
	// DefaultLimits apply to accounts whose quota is store.QuotaDefault.
	DefaultLimits store.Limits
	Logger        *slog.Logger
	// PollInterval is how often the store looks for commits made by other
	// processes while someone watches an account. Default 500ms.
	PollInterval time.Duration
	// InlineMax is the largest body kept in the index instead of a file
	// of its own (see DefaultInlineMax); negative keeps every body in a
	// file.
	InlineMax int
}

// Store is the SQLite store.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger
	wdb  *sql.DB // one connection: the writer
	rdb  *sql.DB // readers
	cdb  *sql.DB // one connection: WAL checkpoints (checkpointer)
	// commits counts the writer's commits, for the checkpointer.
	commits atomic.Int64
	stmts   stmtCache
	wstmts  stmtCache // the writer's (see wtx)
	// wpending: statements to prepare once the writer's transaction ends.
	wpending map[string]bool
	blobs    *blob.FS
	hub      store.Hub
	live     *store.Live
	ops      chan *writeOp
	// opEvents collects the changes of the operation the writer is running
	// (only the writer goroutine touches it).
	opEvents []store.Event
	// dur makes commits durable behind the writer (durable.go).
	dur durability
	// doomed: bodies reclaimBodies found unreferenced and is removing.
	doomedMu sync.Mutex
	doomed   map[string]bool
	// reclaiming holds the bodies handed to reclaimBodies in the last
	// OrphanAge, with when: until its commit, an inline body that no
	// message and no view holds is on its way out, not an orphan.
	reclaiming map[string]time.Time
	// lastGSeq is the newest change row the poller has looked at.
	lastGSeq int64
	quit     chan struct{}
	wg       sync.WaitGroup
	closed   sync.Once
	mu       sync.RWMutex // guards isClosed against sends on ops
	isDone   bool
}

var _ store.Store = (*Store)(nil)

// restrictAccess makes the store readable by its owner only, at every
// start: the index holds password hashes and SCRAM keys (cheap to attack
// offline), the bodies everyone's mail. The data directory and its
// directories become 0700, the index files 0600; index.db is created
// 0600 before SQLite opens it, and SQLite gives its -wal and -shm files
// the mode of index.db.
func restrictAccess(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "live")} {
		if err := os.Chmod(d, 0o700); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if sub, err := os.ReadDir(filepath.Join(dir, "blobs")); err == nil {
		for _, e := range sub {
			if e.IsDir() {
				if err := os.Chmod(filepath.Join(dir, "blobs", e.Name()), 0o700); err != nil {
					return err
				}
			}
		}
	}
	path := filepath.Join(dir, "index.db")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Open opens or creates the store in dir (index.db and blobs/).
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.InlineMax == 0 {
		opts.InlineMax = DefaultInlineMax
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 500 * time.Millisecond
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := restrictAccess(dir); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	blobs, err := blob.OpenFS(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "index.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(60000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	// The writer does not checkpoint (wal_autocheckpoint 0): a checkpoint
	// copies pages into index.db and fsyncs it, which would stall every
	// write behind it. The checkpointer does it beside the writer. Nor
	// does it fsync at commit (synchronous NORMAL): the syncer does,
	// beside it (durable.go).
	wdsn := strings.Replace(dsn, "synchronous(FULL)", "synchronous(NORMAL)", 1)
	// Its savepoints journal in memory (temp_store), not in a temporary
	// file.
	// When the WAL starts over (see checkpointer), a file that a burst
	// made bigger than walKeepSize is cut back to it.
	wdb, err := sql.Open("sqlite", wdsn+"&_txlock=immediate&_pragma=wal_autocheckpoint(0)&_pragma=temp_store(MEMORY)"+
		fmt.Sprintf("&_pragma=journal_size_limit(%d)", walKeepSize))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	if err := migrate(wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	rdb, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	// The checkpointer's RESTART waits for the writer and readers only
	// briefly (checkpointer).
	cdb, err := sql.Open("sqlite", strings.Replace(dsn, "busy_timeout(60000)", "busy_timeout(10)", 1))
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	cdb.SetMaxOpenConns(1)
	s := &Store{
		dir:   dir,
		opts:  opts,
		log:   opts.Logger,
		wdb:   wdb,
		rdb:   rdb,
		cdb:   cdb,
		blobs: blobs,
		ops:   make(chan *writeOp, 1024),
		quit:  make(chan struct{}),
	}
	s.dur.init(path + "-wal")
	// Migrations committed without an fsync.
	if err := s.dur.wal.sync(); err != nil {
		rdb.Close()
		wdb.Close()
		cdb.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	s.live = store.NewLive(loader{s}, s.reclaimBodies)
	s.live.SetSnapshotDir(filepath.Join(dir, "live"))
	if err := rdb.QueryRow("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0)").Scan(&s.lastGSeq); err != nil {
		rdb.Close()
		wdb.Close()
		cdb.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	s.wg.Add(4)
	go s.writer()
	go s.syncer()
	go s.poller()
	go s.checkpointer()
	return s, nil
}

// Close stops the writer after the operations already queued and closes the
// database.
func (s *Store) Close() error {
	s.closed.Do(func() {
		s.mu.Lock()
		s.isDone = true
		s.mu.Unlock()
		close(s.quit)
		s.wg.Wait()
		s.stmts.close()
		s.wstmts.close()
		s.dur.wal.close()
		s.rdb.Close()
		s.wdb.Close()
		s.cdb.Close()
	})
	return nil
}

// Limits implements store.Store.
func (s *Store) Limits(a *store.Account) store.Limits {
	l := store.Limits{Bytes: a.QuotaBytes, Messages: a.QuotaMessages}
	if l.Bytes == store.QuotaDefault {
		l.Bytes = s.opts.DefaultLimits.Bytes
	}
	if l.Messages == store.QuotaDefault {
		l.Messages = s.opts.DefaultLimits.Messages
	}
	return l
}

// Watch implements store.Store.
func (s *Store) Watch(accountID int64) (<-chan struct{}, func()) {
	return s.hub.Watch(accountID)
}

// WatchFunc implements store.Store.
func (s *Store) WatchFunc(accountID int64, fn func()) func() {
	return s.hub.WatchFunc(accountID, fn)
}

// Live implements store.Store.
func (s *Store) Live() *store.Live { return s.live }

// writeOp is one operation for the writer. fn runs inside a savepoint of
// the group's transaction; after runs once the group has committed.
type writeOp struct {
	ctx    context.Context
	bodies []string // new body ids that must exist at commit
	// alone: the op runs in a group of its own, once every earlier commit
	// is durable and in the live state (for removing body files: what it
	// reads is then what a crash would leave, and every view's hold on a
	// body is known).
	alone  bool
	fn     func(tx *wtx) (after func(), err error)
	after  func()
	events []store.Event
	done   chan error
}

// write runs fn in the writer's next group commit and waits for the outcome.
func (s *Store) write(ctx context.Context, bodies []string, fn func(tx *wtx) (func(), error)) error {
	return s.queue(&writeOp{ctx: ctx, bodies: bodies, fn: fn, done: make(chan error, 1)})
}

// writeAlone is write for an operation that must run alone (writeOp.alone).
func (s *Store) writeAlone(ctx context.Context, fn func(tx *wtx) (func(), error)) error {
	return s.queue(&writeOp{ctx: ctx, fn: fn, alone: true, done: make(chan error, 1)})
}

func (s *Store) queue(op *writeOp) error {
	ctx := op.ctx
	s.mu.RLock()
	if s.isDone {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case s.ops <- op:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued, the op's outcome must be awaited: it may commit.
	return <-op.done
}

const maxGroup = 256

func (s *Store) writer() {
	defer s.wg.Done()
	defer close(s.dur.ch)
	var next *writeOp // an op that must start a group of its own
	for {
		op := next
		next = nil
		if op == nil {
			select {
			case op = <-s.ops:
			case <-s.quit:
				// Drain what was queued before Close.
				for {
					select {
					case op = <-s.ops:
						s.runGroup([]*writeOp{op})
					default:
						return
					}
				}
			}
		}
		group := []*writeOp{op}
	gather:
		for !op.alone && len(group) < maxGroup {
			select {
			case o := <-s.ops:
				if o.alone {
					next = o
					break gather
				}
				group = append(group, o)
			default:
				break gather
			}
		}
		s.runGroup(group)
	}
}

// runGroup commits group, or fails it when writes stopped.
func (s *Store) runGroup(group []*writeOp) {
	d := &s.dur
	if group[0].alone {
		// Wait until the syncer has finished every earlier group.
		d.wait(&d.applied, d.done.Load())
	}
	if err := d.failed(); err != nil {
		for _, op := range group {
			op.done <- err
		}
		return
	}
	s.commitGroup(group)
}

func (s *Store) commitGroup(group []*writeOp) {
	errs := make([]error, len(group))
	fail := func(err error) {
		for i, op := range group {
			if errs[i] == nil {
				errs[i] = err
			}
			op.done <- errs[i]
		}
	}
	stx, err := s.wdb.BeginTx(context.Background(), nil)
	tx := &wtx{Tx: stx, s: s}
	if err != nil {
		fail(fmt.Errorf("store: begin: %w", err))
		return
	}
	single := len(group) == 1
	for i, op := range group {
		if err := op.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		errs[i] = s.runOp(tx, op, !single)
	}
	if single && errs[0] != nil {
		tx.Rollback()
		s.prepareWriter()
		group[0].done <- errs[0]
		return
	}
	// Readers may see the commit from here on (readBarrier).
	seq := s.dur.started.Add(1)
	err = tx.Commit()
	s.dur.done.Store(seq)
	s.commits.Add(1)
	c := &committed{seq: seq, ops: group, errs: errs}
	if err != nil {
		tx.Rollback()
		for i := range errs {
			errs[i] = fmt.Errorf("store: commit: %w", err)
		}
	} else {
		for i, op := range group {
			if errs[i] == nil {
				c.events = append(c.events, op.events...)
			}
		}
	}
	s.prepareWriter()
	// The syncer answers, once the commit is durable; a failed commit
	// goes the same way so that readers waiting on its number go on.
	s.dur.ch <- c
}

// runOp runs one operation; with savepoint, in its own savepoint so that
// its failure leaves the others of the group alone (a group of one rolls
// the whole transaction back instead, which costs two statements less).
func (s *Store) runOp(tx *wtx, op *writeOp, savepoint bool) (err error) {
	if savepoint {
		if _, err := tx.Exec("SAVEPOINT op"); err != nil {
			return err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: panic in write: %v", r)
		}
		if !savepoint {
			return
		}
		if err != nil {
			tx.Exec("ROLLBACK TO op")
		}
		tx.Exec("RELEASE op")
	}()
	// Step 2 of the ordering: a sweep holding the write lock may have
	// removed an unreferenced body; then this operation must not commit.
	for _, id := range op.bodies {
		if _, err := s.blobs.Stat(id); (err != nil && !inlineStored(tx, id)) || s.isDoomed(id) {
			return fmt.Errorf("%w: %s", store.ErrBodyMissing, id)
		}
	}
	s.opEvents = nil
	after, err := op.fn(tx)
	events := s.opEvents
	s.opEvents = nil
	if err != nil {
		return err
	}
	op.after, op.events = after, events
	return nil
}

// poller follows commits made by other processes (SQLite's data_version
// changes on a connection when another connection commits): it reads the
// change rows committed since it last looked, marks the live mailboxes
// they touched stale, ends the sessions of deleted accounts, and wakes
// watchers. Rows of this process's own commits are already in the live
// state, so they cost nothing more than the read.
func (s *Store) poller() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	var conn *sql.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var last int64 = -1
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		if conn == nil {
			c, err := s.rdb.Conn(context.Background())
			if err != nil {
				continue
			}
			conn = c
			last = -1
		}
		var v int64
		if err := conn.QueryRowContext(context.Background(), "PRAGMA data_version").Scan(&v); err != nil {
			conn.Close()
			conn = nil
			continue
		}
		// The first reading follows too: commits may have come in since
		// Open read lastGSeq.
		if v != last {
			if err := s.followChanges(context.Background()); err != nil {
				s.log.Warn("store: follow changes", "err", err)
				s.live.MarkStale(0, 0)
				s.hub.NotifyAll()
			}
		}
		last = v
	}
}

// checkpointInterval is how often the checkpointer copies the WAL into
// index.db when there were commits.
const checkpointInterval = 500 * time.Millisecond

// persistInterval is how often the live lists of big mailboxes that
// changed are written to disk (and at Close).
const persistInterval = 5 * time.Minute

// walRestartFrames is the WAL length (in pages, 4 KiB each) from which the
// checkpointer makes the WAL start over, and walKeepSize the size the file
// is cut back to then.
const walKeepSize = 64 << 20

var walRestartFrames = 4096 // tests lower it

// checkpointer runs WAL checkpoints (PASSIVE: never waiting for readers
// or the writer) beside the writer, and a last one at Close.
//
// SQLite writes the WAL from its start again only when a write begins
// after a checkpoint copied every frame in it, and under a steady load
// some commit always lands between a PASSIVE checkpoint and the next
// write: the WAL would grow without end, every commit extending the file
// (an allocation, and an fdatasync that must also commit the file's new
// size) and readers searching an ever bigger WAL index. So once the WAL
// passes walRestartFrames, a RESTART follows the PASSIVE one: it takes the
// write lock, copies the few frames committed since, and waits (briefly:
// cdb's busy timeout) for readers to leave the WAL, after which the
// writer's next commit overwrites it from the start.
func (s *Store) checkpointer() {
	defer s.wg.Done()
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	var last int64
	lastPersist := time.Now()
	for {
		select {
		case <-s.quit:
			s.cdb.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			s.live.Persist()
			return
		case <-t.C:
		}
		if time.Since(lastPersist) > persistInterval {
			// Big mailboxes' lists, for a fast first SELECT after a
			// restart (store/livefile.go), also after a crash.
			s.live.Persist()
			lastPersist = time.Now()
		}
		if n := s.commits.Load(); n != last {
			last = n
			var busy, frames, copied int
			if err := s.cdb.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
				s.log.Warn("store: checkpoint", "err", err)
			} else if frames > walRestartFrames {
				// Busy (the writer or a reader stayed) is no failure:
				// the next tick tries again.
				if err := s.cdb.QueryRow("PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied); err != nil {
					s.log.Warn("store: checkpoint", "err", err)
				}
			}
		}
	}
}

// followChanges reads change rows newer than lastGSeq (see poller).
func (s *Store) followChanges(ctx context.Context) error {
	rows, err := s.query(ctx, "SELECT gseq, account_id, kind, mailbox_id, mailbox, modseq FROM change_log WHERE gseq > ? ORDER BY gseq",
		s.lastGSeq)
	if err != nil {
		return err
	}
	type change struct {
		account, mailbox int64
		kind             store.ChangeKind
		name             string
		modseq           uint64
	}
	var cs []change
	for rows.Next() {
		var c change
		var gseq int64
		var kind int
		if err := rows.Scan(&gseq, &c.account, &kind, &c.mailbox, &c.name, &c.modseq); err != nil {
			rows.Close()
			return err
		}
		c.kind = store.ChangeKind(kind)
		cs = append(cs, c)
		s.lastGSeq = max(s.lastGSeq, gseq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	woken := map[int64]bool{}
	for _, c := range cs {
		switch c.kind {
		case store.ChangeAccountDelete:
			s.live.AccountGone(c.account)
		case store.ChangeMailboxRename, store.ChangeMailboxDelete:
			s.live.Apply([]store.Event{{Kind: c.kind, AccountID: c.account, MailboxID: c.mailbox, Mailbox: c.name}})
		default:
			s.live.Behind(c.mailbox, c.modseq)
		}
		// Wake-ups are cheap (a session whose view is current reads
		// nothing), so every account with a change is woken.
		woken[c.account] = true
	}
	for a := range woken {
		s.hub.Notify(a)
	}
	return nil
}

// loader reads live mailboxes (store.Loader) in one read transaction.
type loader struct{ s *Store }

func (l loader) MailboxSince(ctx context.Context, accountID, mailboxID int64, since uint64) (*store.Mailbox, []store.Message, []uint32, error) {
	tx, err := l.s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, nil, err
	}
	defer tx.Rollback()
	defer l.s.readBarrier()
	mb, err := scanMailbox(tx.QueryRow("SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? AND id = ?", accountID, mailboxID))
	if err != nil {
		return nil, nil, nil, notFound(err, fmt.Sprintf("mailbox #%d", mailboxID))
	}
	msgs, err := changedSince(ctx, tx, accountID, mailboxID, since)
	if err != nil {
		return nil, nil, nil, err
	}
	var vanished []uint32
	if since > 0 {
		if vanished, err = vanishedSince(ctx, tx, accountID, mailboxID, since); err != nil {
			return nil, nil, nil, err
		}
	}
	return mb, msgs, vanished, nil
}

// reclaimBodies removes bodies (files and inline rows) that no view holds
// any more, unless a commit referenced them again meanwhile (a delivery to
// several recipients shares one body, and may add the later recipients
// after an earlier one expunged theirs).
//
// The check runs as a write operation, so that no commit can reference a
// body between the check and the removal: a body found unreferenced is
// doomed from then on, and a later commit that wants it fails as if the
// file were gone (runOp); an inline row is deleted by the check's commit
// (a later reference carries the body again). The files are removed outside the writer, once
// the check's commit and every one before it are durable: a crash can then
// no longer bring back a reference to them.
func (s *Store) reclaimBodies(ids []string) {
	s.noteReclaim(ids)
	go func() {
		var doomed []string
		err := s.write(context.Background(), nil, func(tx *wtx) (func(), error) {
			for _, id := range ids {
				var n int
				if err := tx.QueryRow("SELECT count(*) FROM blobs WHERE id = ?", id).Scan(&n); err != nil {
					return nil, err
				}
				if n > 0 {
					continue
				}
				// An inline body goes with this commit; a file is
				// doomed until it is removed.
				res, err := tx.Exec("DELETE FROM inline_bodies WHERE id = ?", id)
				if err != nil {
					return nil, err
				}
				if k, _ := res.RowsAffected(); k == 0 {
					doomed = append(doomed, id)
				}
			}
			s.doom(doomed, true)
			return nil, nil
		})
		if err == nil {
			for _, id := range doomed {
				if err := s.blobs.Remove(id); err != nil {
					s.log.Warn("remove unreferenced body", "blob", id, "err", err)
				}
			}
		} else if !errors.Is(err, store.ErrClosed) {
			s.log.Warn("reclaim bodies", "err", err)
		}
		s.doom(doomed, false)
	}()
}

// doom marks bodies as being removed (or, with on false, removed or kept
// after all).
func (s *Store) doom(ids []string, on bool) {
	if len(ids) == 0 {
		return
	}
	s.doomedMu.Lock()
	defer s.doomedMu.Unlock()
	for _, id := range ids {
		if on {
			if s.doomed == nil {
				s.doomed = map[string]bool{}
			}
			s.doomed[id] = true
		} else {
			delete(s.doomed, id)
		}
	}
}

// noteReclaim records that ids are being reclaimed (see reclaiming).
func (s *Store) noteReclaim(ids []string) {
	now := time.Now()
	s.doomedMu.Lock()
	defer s.doomedMu.Unlock()
	if s.reclaiming == nil {
		s.reclaiming = map[string]time.Time{}
	}
	for id, t := range s.reclaiming {
		if now.Sub(t) > OrphanAge {
			delete(s.reclaiming, id)
		}
	}
	for _, id := range ids {
		s.reclaiming[id] = now
	}
}

// beingReclaimed reports whether id was handed to reclaimBodies lately.
func (s *Store) beingReclaimed(id string) bool {
	s.doomedMu.Lock()
	defer s.doomedMu.Unlock()
	t, ok := s.reclaiming[id]
	return ok && time.Since(t) <= OrphanAge
}

func (s *Store) isDoomed(id string) bool {
	s.doomedMu.Lock()
	defer s.doomedMu.Unlock()
	return s.doomed[id]
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return err
}
