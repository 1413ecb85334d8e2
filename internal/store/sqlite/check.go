package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"mailroom/internal/blob"
	"mailroom/internal/store"
)

// OrphanAge is how old an unreferenced body must be before Check calls it
// an orphan; younger ones may belong to a delivery about to commit.
const OrphanAge = 2 * time.Minute

// Sweep removes unreferenced body files older than minAge, one shard at a
// time under the write lock. It is safe at any time: a commit re-checks its
// new bodies under that same lock (see the package comment), so a body
// removed here fails its delivery cleanly instead of being referenced.
func (s *Store) Sweep(ctx context.Context, minAge time.Duration) (int, error) {
	s.live.Reclaim()
	removed := 0
	for _, shard := range blob.Shards() {
		// Alone: the blobs table it reads is then the durable one (no
		// commit that removed a reference can still be undone by a
		// crash), and every body a view holds is known to the live state.
		err := s.writeAlone(ctx, func(tx *wtx) (func(), error) {
			n, err := s.sweepShard(tx, shard, minAge)
			removed += n
			return nil, err
		})
		if err != nil {
			return removed, err
		}
	}
	err := s.writeAlone(ctx, func(tx *wtx) (func(), error) {
		n, err := s.sweepInline(tx)
		removed += n
		return nil, err
	})
	return removed, err
}

// sweepInline deletes the inline bodies that no message refers to and no
// view holds: those whose reclaim a crash or a stop cut short. Unlike a
// file, an inline body is never young: it is stored by the commit that
// references it.
func (s *Store) sweepInline(tx *wtx) (int, error) {
	ids, err := orphanInline(tx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if s.live.Held(id) {
			continue
		}
		if _, err := tx.Exec("DELETE FROM inline_bodies WHERE id = ?", id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// orphanInline lists the inline bodies no message refers to.
func orphanInline(q querier) ([]string, error) {
	rows, err := q.QueryContext(context.Background(), "SELECT id FROM inline_bodies WHERE id NOT IN (SELECT id FROM blobs)")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *Store) sweepShard(tx *wtx, shard string, minAge time.Duration) (int, error) {
	entries, err := s.blobs.List(shard)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	known, err := blobIDsInShard(tx, shard)
	if err != nil {
		return 0, err
	}
	n := 0
	cutoff := time.Now().Add(-minAge)
	for _, e := range entries {
		// A body that a session's view still shows is not an orphan yet
		// (store.Live holds it until the view lets go).
		if known[e.ID] || e.ModTime.After(cutoff) || s.live.Held(e.ID) {
			continue
		}
		if err := s.blobs.Remove(e.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func blobIDsInShard(q querier, shard string) (map[string]bool, error) {
	// Ids are lower-case hex, so a shard is the range [shard, shard+"g").
	rows, err := q.QueryContext(context.Background(), "SELECT id FROM blobs WHERE id >= ? AND id < ?", shard, shard+"g")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	known := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		known[id] = true
	}
	return known, rows.Err()
}

// Check implements store.Store.
func (s *Store) Check(ctx context.Context, repair bool) (*store.CheckReport, error) {
	r := &store.CheckReport{}
	// Files are listed before the index is read: a body committed before
	// the read is then known, and one committed after is young.
	files := map[string]blob.Entry{}
	for _, shard := range blob.Shards() {
		entries, err := s.blobs.List(shard)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			files[e.ID] = e
		}
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	problem := func(repairable bool, format string, args ...any) {
		p := store.Problem{What: fmt.Sprintf(format, args...)}
		if repairable {
			p.Repair = "recomputed"
		}
		r.Problems = append(r.Problems, p)
	}
	count := func(q string, args ...any) int {
		var n int
		tx.QueryRowContext(ctx, q, args...).Scan(&n)
		return n
	}
	r.Accounts = count("SELECT count(*) FROM accounts")
	r.Mailboxes = count("SELECT count(*) FROM mailboxes")
	r.Messages = count("SELECT count(*) FROM messages")
	r.Blobs = count("SELECT count(*) FROM blobs")

	// Bodies: every row has its file (or inline row) with the right size.
	inline := map[string]int64{}
	irows, err := tx.QueryContext(ctx, "SELECT id, length(data) FROM inline_bodies")
	if err != nil {
		return nil, err
	}
	for irows.Next() {
		var id string
		var size int64
		if err := irows.Scan(&id, &size); err != nil {
			irows.Close()
			return nil, err
		}
		inline[id] = size
	}
	irows.Close()
	if err := irows.Err(); err != nil {
		return nil, err
	}
	blobs := map[string]int64{}
	rows, err := tx.QueryContext(ctx, "SELECT id, size FROM blobs")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var size int64
		if err := rows.Scan(&id, &size); err != nil {
			rows.Close()
			return nil, err
		}
		blobs[id] = size
		f, ok := files[id]
		if n, in := inline[id]; in && !ok {
			f, ok = blob.Entry{ID: id, Size: n}, true
		}
		switch {
		case !ok:
			problem(false, "body %s is missing (its messages cannot be read)", id)
		case f.Size != size:
			problem(false, "body %s has %d bytes, index says %d", id, f.Size, size)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	var fixes []string
	fix := func(q string) { fixes = append(fixes, q) }

	// Every message's body is indexed; reference counts match.
	type refCheck struct {
		id         string
		refs, uses int64
	}
	var bad []refCheck
	// One pass over messages rather than a lookup per body.
	rows, err = tx.QueryContext(ctx, `SELECT b.id, b.refs, coalesce(u.n, 0) FROM blobs b
		LEFT JOIN (SELECT blob_id, count(*) AS n FROM messages GROUP BY blob_id) u ON u.blob_id = b.id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var rc refCheck
		if err := rows.Scan(&rc.id, &rc.refs, &rc.uses); err != nil {
			rows.Close()
			return nil, err
		}
		if rc.refs != rc.uses {
			bad = append(bad, rc)
		}
	}
	rows.Close()
	for _, rc := range bad {
		problem(true, "body %s: reference count %d, used by %d messages", rc.id, rc.refs, rc.uses)
	}
	if len(bad) > 0 {
		fix(`CREATE TEMP TABLE blob_uses AS SELECT blob_id, count(*) AS n FROM messages GROUP BY blob_id`)
		fix(`CREATE INDEX temp.blob_uses_id ON blob_uses (blob_id)`)
		fix(`UPDATE blobs SET refs = coalesce((SELECT n FROM blob_uses WHERE blob_uses.blob_id = blobs.id), 0)`)
		fix(`DROP TABLE temp.blob_uses`)
		fix(`DELETE FROM blobs WHERE refs = 0`)
	}
	if n := count("SELECT count(*) FROM messages WHERE blob_id NOT IN (SELECT id FROM blobs)"); n > 0 {
		problem(false, "%d messages refer to bodies missing from the index", n)
	}

	// Mailbox counters and UID/MODSEQ high-water marks.
	mrows, err := tx.QueryContext(ctx, `SELECT mb.id, mb.name, mb.messages, mb.size, mb.uidnext, mb.highest_modseq,
		(SELECT count(*) FROM messages m WHERE m.mailbox_id = mb.id),
		(SELECT coalesce(sum(size), 0) FROM messages m WHERE m.mailbox_id = mb.id),
		max((SELECT coalesce(max(uid), 0) FROM messages m WHERE m.mailbox_id = mb.id),
		    (SELECT coalesce(max(uid), 0) FROM tombstones t WHERE t.mailbox_id = mb.id)),
		max((SELECT coalesce(max(modseq), 0) FROM messages m WHERE m.mailbox_id = mb.id),
		    (SELECT coalesce(max(modseq), 0) FROM tombstones t WHERE t.mailbox_id = mb.id))
		FROM mailboxes mb`)
	if err != nil {
		return nil, err
	}
	counters := false
	for mrows.Next() {
		var id, msgs, size, uidnext, hms, realMsgs, realSize, maxUID, maxMS int64
		var name string
		if err := mrows.Scan(&id, &name, &msgs, &size, &uidnext, &hms, &realMsgs, &realSize, &maxUID, &maxMS); err != nil {
			mrows.Close()
			return nil, err
		}
		if msgs != realMsgs || size != realSize {
			problem(true, "mailbox %q (#%d): counters say %d messages / %d bytes, found %d / %d", name, id, msgs, size, realMsgs, realSize)
			counters = true
		}
		if uidnext <= maxUID {
			problem(false, "mailbox %q (#%d): UIDNEXT %d is not above its highest UID %d", name, id, uidnext, maxUID)
		}
		if hms < maxMS {
			problem(false, "mailbox %q (#%d): HIGHESTMODSEQ %d is below a message MODSEQ %d", name, id, hms, maxMS)
		}
	}
	mrows.Close()
	if counters {
		fix(`UPDATE mailboxes SET messages = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id),
			size = (SELECT coalesce(sum(size), 0) FROM messages m WHERE m.mailbox_id = mailboxes.id)`)
	}
	arows, err := tx.QueryContext(ctx, `SELECT a.address, a.used_bytes, a.used_messages,
		(SELECT coalesce(sum(size), 0) FROM messages m WHERE m.account_id = a.id),
		(SELECT count(*) FROM messages m WHERE m.account_id = a.id) FROM accounts a`)
	if err != nil {
		return nil, err
	}
	usage := false
	for arows.Next() {
		var addr string
		var ub, um, rb, rm int64
		if err := arows.Scan(&addr, &ub, &um, &rb, &rm); err != nil {
			arows.Close()
			return nil, err
		}
		if ub != rb || um != rm {
			problem(true, "account %s: quota usage says %d bytes / %d messages, found %d / %d", addr, ub, um, rb, rm)
			usage = true
		}
	}
	arows.Close()
	if usage {
		fix(`UPDATE accounts SET used_bytes = (SELECT coalesce(sum(size), 0) FROM messages m WHERE m.account_id = accounts.id),
			used_messages = (SELECT count(*) FROM messages m WHERE m.account_id = accounts.id)`)
	}
	if n := count("SELECT count(*) FROM messages WHERE mailbox_id NOT IN (SELECT id FROM mailboxes)"); n > 0 {
		problem(false, "%d messages belong to no mailbox", n)
	}

	// Orphan bodies.
	cutoff := time.Now().Add(-OrphanAge)
	orphans := 0
	for id, f := range files {
		if _, ok := blobs[id]; ok {
			continue
		}
		if f.ModTime.After(cutoff) || s.live.Held(id) {
			r.InFlight++
			continue
		}
		orphans++
	}
	for id := range inline {
		if _, ok := blobs[id]; ok {
			continue
		}
		if s.live.Held(id) || s.beingReclaimed(id) {
			r.InFlight++
			continue
		}
		orphans++
	}
	if orphans > 0 {
		r.Problems = append(r.Problems, store.Problem{
			What:   fmt.Sprintf("%d orphan bodies (bodies no message refers to)", orphans),
			Repair: "removed",
		})
	}
	tx.Rollback()

	if !repair {
		return r, nil
	}
	if len(fixes) > 0 {
		err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
			for _, q := range fixes {
				if _, err := tx.Exec(q); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		if err != nil {
			return r, err
		}
		r.Repaired += len(fixes)
	}
	if orphans > 0 {
		n, err := s.Sweep(ctx, OrphanAge)
		r.Repaired += n
		if err != nil {
			return r, err
		}
	}
	return r, nil
}
