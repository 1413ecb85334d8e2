package sqlite

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"mailroom/internal/store"
)

// Durability without a stall (step 3 of the ordering in the package
// comment). The writer's connection commits with synchronous=NORMAL: a
// commit writes its WAL frames and returns without an fsync. The syncer
// goroutine then makes the WAL durable with one fdatasync of the -wal file
// (fsync works on the file, so it covers every frame written before it,
// whichever descriptor wrote them) and only then applies the changes to
// the live state and answers the callers. Meanwhile the writer already
// runs the next group: the fsync, the slowest part of a commit, overlaps
// the next group's statements instead of adding to them, and one fsync
// covers every group committed while the previous one ran.
//
// SQLite keeps the database consistent across crashes in this mode (a
// checkpoint syncs the WAL before copying it into index.db, and index.db
// after); what NORMAL alone gives up, durability of the newest commits, the
// syncer restores before anyone is told. Readers on other connections can
// see a commit before its fsync, so reads wait for the fsync of every
// commit they may have seen (readBarrier): no client learns of a UID,
// MODSEQ or message that an operating-system crash could take back.
type durability struct {
	// started counts commits the writer has begun (before COMMIT: a
	// reader may see a commit as soon as COMMIT runs); done those that
	// returned; synced those covered by an fsync; applied those whose
	// changes are in the live state and whose callers were answered.
	started, done, synced, applied atomic.Int64

	mu   sync.Mutex
	cond *sync.Cond
	err  error // an fsync failed: nothing written since is known durable

	wal *walFile
	ch  chan *committed // writer → syncer, in commit order
}

// committed is one group the writer committed (or failed to), handed to
// the syncer in commit order.
type committed struct {
	seq    int64
	ops    []*writeOp
	errs   []error
	events []store.Event
}

func (d *durability) init(walPath string) {
	d.cond = sync.NewCond(&d.mu)
	d.wal = &walFile{path: walPath}
	d.ch = make(chan *committed, maxGroup)
}

// failed reports the fsync failure that stopped writes, if any.
func (d *durability) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// wait blocks until counter (synced or applied) reaches seq, or a sync
// failed.
func (d *durability) wait(counter *atomic.Int64, seq int64) error {
	if counter.Load() >= seq {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for counter.Load() < seq && d.err == nil {
		d.cond.Wait()
	}
	if counter.Load() >= seq {
		return nil
	}
	return d.err
}

// readBarrier waits until every commit that a read which has just run may
// have seen is durable. It costs two atomic loads when nothing is in
// flight.
func (s *Store) readBarrier() error {
	return s.dur.wait(&s.dur.synced, s.dur.started.Load())
}

// syncer makes the writer's commits durable and then finishes them, in
// commit order (see durability).
func (s *Store) syncer() {
	defer s.wg.Done()
	d := &s.dur
	for c := range d.ch {
		batch := []*committed{c}
	gather:
		for {
			select {
			case c, ok := <-d.ch:
				if !ok {
					break gather
				}
				batch = append(batch, c)
			default:
				break gather
			}
		}
		// Every commit that returned before the fsync starts is covered
		// by it, also those not handed over yet.
		upto := d.done.Load()
		err := d.err
		if err == nil {
			if err = d.wal.sync(); err != nil {
				err = fmt.Errorf("store: sync of the write-ahead log failed, writes stopped: %w", err)
				s.log.Error("store: sync of the write-ahead log failed; no write is accepted until restart", "err", err)
			}
		}
		d.mu.Lock()
		if err != nil {
			d.err = err
		} else {
			d.synced.Store(max(d.synced.Load(), upto))
		}
		d.cond.Broadcast()
		d.mu.Unlock()
		for _, c := range batch {
			s.finish(c, err)
		}
		d.mu.Lock()
		d.applied.Store(batch[len(batch)-1].seq)
		d.cond.Broadcast()
		d.mu.Unlock()
	}
}

// finish applies a durable group's changes to the live state, runs its
// operations' after functions and answers its callers. When the sync
// failed, the callers get that error: their changes may not survive a
// crash.
func (s *Store) finish(c *committed, syncErr error) {
	if len(c.events) > 0 {
		s.live.Apply(c.events)
	}
	for i, op := range c.ops {
		err := c.errs[i]
		if err == nil && syncErr != nil {
			err = syncErr
		}
		if err == nil && op.after != nil {
			op.after()
		}
		op.done <- err
	}
}

// walFile is the database's -wal file, opened for fdatasync. SQLite
// removes and creates it again only when the last connection closes (the
// writer's stays open), and then it has checkpointed it into index.db
// first; sync opens the file again when its identity changed.
type walFile struct {
	path string
	f    *os.File
	fi   os.FileInfo // f's identity
}

func (w *walFile) sync() error {
	st, err := os.Stat(w.path)
	if errors.Is(err, os.ErrNotExist) {
		// No WAL: every commit was checkpointed and the file removed
		// (which SQLite does after syncing index.db).
		w.close()
		return nil
	}
	if err != nil {
		return err
	}
	if w.f == nil || !os.SameFile(st, w.fi) {
		w.close()
		f, err := os.Open(w.path)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		w.f, w.fi = f, fi
	}
	return syncFile(w.f)
}

// syncFile is fdatasync; tests replace it.
var syncFile = fdatasync

func (w *walFile) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}
