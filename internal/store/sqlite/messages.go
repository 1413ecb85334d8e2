package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"mailroom/internal/blob"
	"mailroom/internal/store"
)

// DefaultInlineMax is the largest body kept in the index (inline_bodies)
// rather than in a file of its own. Most mail is smaller: its APPEND or delivery
// then needs the one fsync of the index's WAL, where a file costs two more
// (the file and its directory) that compete for the same disk. Larger
// bodies go to files, which keep the WAL and its checkpoints small.
const DefaultInlineMax = 32 << 10

// bodyWriter buffers a body in memory until it outgrows Options.InlineMax, then
// moves it to a file.
type bodyWriter struct {
	s    *Store
	buf  []byte
	w    *blob.Writer // once the body is too big to inline
	done bool
}

func (b *bodyWriter) Write(p []byte) (int, error) {
	if b.done {
		return 0, errors.New("store: write after commit")
	}
	if b.w == nil && len(b.buf)+len(p) <= b.s.opts.InlineMax {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	if b.w == nil {
		w, err := b.s.blobs.Create()
		if err != nil {
			return 0, err
		}
		b.w = w
		if _, err := w.Write(b.buf); err != nil {
			return 0, err
		}
		b.buf = nil
	}
	return b.w.Write(p)
}

func (b *bodyWriter) Abort() {
	b.done = true
	b.buf = nil
	if b.w != nil {
		b.w.Abort()
	}
}

func (b *bodyWriter) Commit() (store.BlobRef, error) {
	if b.done {
		return store.BlobRef{}, errors.New("store: body already committed")
	}
	if b.w == nil && b.s.opts.InlineMax < 0 {
		// Every body in a file, also an empty one.
		if _, err := b.Write(nil); err != nil {
			return store.BlobRef{}, err
		}
	}
	b.done = true
	if b.w != nil {
		if err := b.w.Commit(); err != nil {
			return store.BlobRef{}, err
		}
		return store.BlobRef{ID: b.w.ID(), Size: b.w.Size()}, nil
	}
	id, err := blob.NewID()
	if err != nil {
		return store.BlobRef{}, err
	}
	data := b.buf
	if data == nil {
		data = []byte{} // an empty body is inline too, not a missing one
	}
	b.buf = nil
	return store.BlobRef{ID: id, Size: int64(len(data)), Data: data}, nil
}

func (s *Store) NewBody(ctx context.Context) (store.BodyWriter, error) {
	return &bodyWriter{s: s}, nil
}

type body struct {
	*os.File
	size int64
}

func (b body) Size() int64 { return b.size }

// inlineBody is a body read from inline_bodies.
type inlineBody struct{ *bytes.Reader }

func (inlineBody) Close() error { return nil }

func (s *Store) OpenBody(ctx context.Context, blobID string) (store.Body, error) {
	// Most bodies are small enough to live in the index: look there first
	// (a prepared lookup costs less than a failed open of a file). A body
	// a session may read was committed durably before the session learnt
	// of it, so this read needs no readBarrier.
	q := "SELECT data FROM inline_bodies WHERE id = ?"
	var row *sql.Row
	if st := s.stmt(ctx, q); st != nil {
		row = st.QueryRowContext(ctx, blobID)
	} else {
		row = s.rdb.QueryRowContext(ctx, q, blobID)
	}
	var data []byte
	err := row.Scan(&data)
	if err == nil {
		return inlineBody{bytes.NewReader(data)}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return s.openFile(blobID)
}

// openFile opens a body kept in a file.
func (s *Store) openFile(blobID string) (store.Body, error) {
	f, err := s.blobs.Open(blobID)
	if err != nil {
		if os.IsNotExist(err) || errors.Is(err, blob.ErrInvalidID) {
			return nil, fmt.Errorf("%w: %s", store.ErrBodyMissing, blobID)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return body{f, fi.Size()}, nil
}

// OpenBodies reads the inline bodies among blobIDs with one query (a
// whole-mailbox FETCH of small messages otherwise pays one query, and one
// goroutine the driver starts for it, per message) and opens the others'
// files.
func (s *Store) OpenBodies(ctx context.Context, blobIDs []string) ([]store.Body, []error, error) {
	out := make([]store.Body, len(blobIDs))
	errs := make([]error, len(blobIDs))
	if len(blobIDs) == 0 {
		return out, errs, nil
	}
	args := make([]any, len(blobIDs))
	for i, id := range blobIDs {
		args[i] = id
	}
	q := "SELECT id, data FROM inline_bodies WHERE id IN (?" + strings.Repeat(", ?", len(blobIDs)-1) + ")"
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	found := make(map[string][]byte, len(blobIDs))
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			rows.Close()
			return nil, nil, err
		}
		found[id] = data
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for i, id := range blobIDs {
		if data, ok := found[id]; ok {
			out[i] = inlineBody{bytes.NewReader(data)}
			continue
		}
		out[i], errs[i] = s.openFile(id)
	}
	return out, errs, nil
}

// inlineStored reports whether id is an inline body already stored: a ref
// without Data names one when it re-references a body that a session's
// view still holds (COPY of a message expunged elsewhere). Inside the
// writer's transaction, no reclaim can remove it before the commit.
func inlineStored(tx *wtx, id string) bool {
	var n int
	return tx.QueryRow("SELECT count(*) FROM inline_bodies WHERE id = ?", id).Scan(&n) == nil && n > 0
}

// inlineRefs checks the refs Append was given and returns the ids of those
// whose files the commit must find (runOp).
func inlineRefs(refs []store.BlobRef) ([]string, error) {
	var files []string
	for _, r := range refs {
		if !blob.ValidID(r.ID) {
			return nil, fmt.Errorf("%w: %q", store.ErrBodyMissing, r.ID)
		}
		if r.Data == nil {
			files = append(files, r.ID)
		} else if int64(len(r.Data)) != r.Size {
			return nil, fmt.Errorf("store: body %s: %d bytes, ref says %d", r.ID, len(r.Data), r.Size)
		}
	}
	return files, nil
}

func joinFlags(f []string) string { return strings.Join(store.NormalizeFlags(f), " ") }

func splitFlags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// checkQuota fails with ErrOverQuota when adding bytes and msgs to the
// account would exceed its limits. Quota is enforced inside the writer's
// transaction, so concurrent deliveries cannot overshoot it together.
func (s *Store) checkQuota(tx *wtx, accountID, bytes, msgs int64) error {
	a, err := scanAccount(tx.QueryRow("SELECT "+accountCols+" FROM accounts WHERE id = ?", accountID))
	if err != nil {
		return notFound(err, fmt.Sprintf("account #%d", accountID))
	}
	return s.overQuota(a, bytes, msgs)
}

// overQuota fails with ErrOverQuota when adding bytes and msgs to a's
// usage would exceed its limits.
func (s *Store) overQuota(a *store.Account, bytes, msgs int64) error {
	l := s.Limits(a)
	if l.Bytes > 0 && a.UsedBytes+bytes > l.Bytes {
		return fmt.Errorf("%w: %d of %d bytes used, %d more needed", store.ErrOverQuota, a.UsedBytes, l.Bytes, bytes)
	}
	if l.Messages > 0 && a.UsedMessages+msgs > l.Messages {
		return fmt.Errorf("%w: %d of %d messages", store.ErrOverQuota, a.UsedMessages, l.Messages)
	}
	return nil
}

// nextUIDs reserves n UIDs and one new MODSEQ in a mailbox. The returned
// event describes the mailbox after the change; the caller fills in what
// changed.
func nextUIDs(tx *wtx, accountID, mailboxID int64, n int, addBytes int64) (first uint32, ev store.Event, err error) {
	var next int64
	ev = store.Event{Kind: store.ChangeAppend, AccountID: accountID, MailboxID: mailboxID}
	err = tx.QueryRow(`UPDATE mailboxes SET uidnext = uidnext + ?, highest_modseq = highest_modseq + 1,
		messages = messages + ?, size = size + ? WHERE id = ? AND account_id = ?
		RETURNING uidnext, highest_modseq, uidvalidity, name`, n, n, addBytes, mailboxID, accountID).Scan(&next, &ev.ModSeq, &ev.UIDValidity, &ev.Mailbox)
	if err != nil {
		return 0, ev, notFound(err, fmt.Sprintf("mailbox #%d", mailboxID))
	}
	if next > 1<<32-1 {
		return 0, ev, fmt.Errorf("store: mailbox %s has run out of UIDs", ev.Mailbox)
	}
	ev.UIDNext = uint32(next)
	return uint32(next - int64(n)), ev, nil
}

// bumpModSeq gives a mailbox a new HIGHESTMODSEQ and adjusts its counters.
func bumpModSeq(tx *wtx, accountID, mailboxID int64, kind store.ChangeKind, dMsgs, dBytes int64) (store.Event, error) {
	ev := store.Event{Kind: kind, AccountID: accountID, MailboxID: mailboxID}
	err := tx.QueryRow(`UPDATE mailboxes SET highest_modseq = highest_modseq + 1, messages = messages + ?, size = size + ?
		WHERE id = ? AND account_id = ? RETURNING highest_modseq, uidnext, uidvalidity, name`, dMsgs, dBytes, mailboxID, accountID).Scan(
		&ev.ModSeq, &ev.UIDNext, &ev.UIDValidity, &ev.Mailbox)
	return ev, notFound(err, fmt.Sprintf("mailbox #%d", mailboxID))
}

func nextEmailIDs(tx *wtx, accountID int64, n int) (int64, error) {
	var next int64
	err := tx.QueryRow("UPDATE accounts SET next_email_id = next_email_id + ? WHERE id = ? RETURNING next_email_id",
		n, accountID).Scan(&next)
	return next - int64(n), notFound(err, fmt.Sprintf("account #%d", accountID))
}

func (s *Store) Append(ctx context.Context, accountID int64, msgs []store.AppendMessage, enforceQuota bool) ([]store.AppendResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	refs := make([]store.BlobRef, len(msgs))
	for i, m := range msgs {
		refs[i] = m.Body
	}
	bodies, err := inlineRefs(refs)
	if err != nil {
		return nil, err
	}
	var results []store.AppendResult
	err = s.write(ctx, bodies, func(tx *wtx) (func(), error) {
		var err error
		if results, err = s.appendTx(tx, accountID, msgs, enforceQuota); err != nil {
			return nil, err
		}
		return func() { s.hub.Notify(accountID) }, nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

const messageCols = "mailbox_id, uid, email_id, modseq, flags, internal_date, internal_tz, save_date, size, blob_id, structure"

func scanMessage(row interface{ Scan(...any) error }) (store.Message, error) {
	var m store.Message
	var flags string
	var date, tz, saved int64
	err := row.Scan(&m.MailboxID, &m.UID, &m.EmailID, &m.ModSeq, &flags, &date, &tz, &saved, &m.Size, &m.BlobID, &m.Structure)
	m.Flags = splitFlags(flags)
	m.InternalDate = time.Unix(date, 0).In(time.FixedZone("", int(tz)))
	m.SaveDate = time.Unix(saved, 0)
	return m, err
}

func (s *Store) Messages(ctx context.Context, accountID, mailboxID int64, fromUID uint32) ([]store.Message, error) {
	rows, err := s.query(ctx, "SELECT "+messageCols+" FROM messages WHERE account_id = ? AND mailbox_id = ? AND uid >= ? ORDER BY uid",
		accountID, mailboxID, fromUID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// messagesTx loads the rows of uids (sorted, missing ones skipped); light
// leaves out Structure (flag changes and expunges do not need it).
func messagesTx(tx *wtx, accountID, mailboxID int64, uids []uint32, light bool) ([]store.Message, error) {
	sorted := append([]uint32(nil), uids...)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	out := make([]store.Message, 0, len(sorted))
	cols := messageCols
	if light {
		cols = indexCols
	}
	// Runs of consecutive UIDs are read as ranges: one statement for a
	// "1:*" style set instead of one per message.
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		var rows *sql.Rows
		var err error
		if i == j {
			rows, err = tx.Query("SELECT "+cols+" FROM messages WHERE account_id = ? AND mailbox_id = ? AND uid = ?",
				accountID, mailboxID, sorted[i])
		} else {
			rows, err = tx.Query("SELECT "+cols+" FROM messages WHERE account_id = ? AND mailbox_id = ? AND uid >= ? AND uid <= ? ORDER BY uid",
				accountID, mailboxID, sorted[i], sorted[j])
		}
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var m store.Message
			if light {
				m, err = scanLight(rows)
			} else {
				m, err = scanMessage(rows)
			}
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		i = j + 1
	}
	return out, nil
}

func allUIDs(tx *wtx, mailboxID int64) ([]uint32, error) {
	rows, err := tx.Query("SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func (s *Store) SetFlags(ctx context.Context, accountID, mailboxID int64, uids []uint32, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.FlagUpdate, []uint32, error) {
	var updates []store.FlagUpdate
	var failed []uint32
	err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
		updates, failed = nil, nil
		msgs, err := messagesTx(tx, accountID, mailboxID, uids, true)
		if err != nil {
			return nil, err
		}
		var ev store.Event
		var modseq uint64
		for _, m := range msgs {
			if unchangedSince > 0 && m.ModSeq > unchangedSince {
				failed = append(failed, m.UID)
				continue
			}
			nf := store.ApplyFlags(m.Flags, op, flags)
			if err := store.CheckKeywords(nf); err != nil {
				return nil, err
			}
			if store.EqualFlags(nf, store.NormalizeFlags(m.Flags)) {
				updates = append(updates, store.FlagUpdate{UID: m.UID, Flags: nf, ModSeq: m.ModSeq})
				continue
			}
			if modseq == 0 {
				if ev, err = bumpModSeq(tx, accountID, mailboxID, store.ChangeFlags, 0, 0); err != nil {
					return nil, err
				}
				modseq = ev.ModSeq
			}
			if _, err := tx.Exec("UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
				strings.Join(nf, " "), modseq, mailboxID, m.UID); err != nil {
				return nil, err
			}
			m.Flags, m.ModSeq = nf, modseq
			ev.Items = append(ev.Items, store.ItemOf(&m))
			updates = append(updates, store.FlagUpdate{UID: m.UID, Flags: nf, ModSeq: modseq})
		}
		if len(ev.Items) == 0 {
			return nil, nil
		}
		if err := s.recordChange(tx, ev); err != nil {
			return nil, err
		}
		return func() { s.hub.Notify(accountID) }, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return updates, failed, nil
}

// copyTx copies messages into dst with new UIDs, sharing their bodies.
// keepEmailID is set by Move.
func (s *Store) copyTx(tx *wtx, accountID int64, msgs []store.Message, dst int64, keepEmailID bool) (*store.CopyResult, int64, error) {
	var bytes int64
	for _, m := range msgs {
		bytes += m.Size
	}
	first, ev, err := nextUIDs(tx, accountID, dst, len(msgs), bytes)
	if err != nil {
		return nil, 0, err
	}
	var emailID int64
	if !keepEmailID {
		if emailID, err = nextEmailIDs(tx, accountID, len(msgs)); err != nil {
			return nil, 0, err
		}
	}
	res := &store.CopyResult{UIDValidity: ev.UIDValidity}
	now := time.Now()
	for i, m := range msgs {
		uid := first + uint32(i)
		eid := m.EmailID
		if !keepEmailID {
			eid = emailID + int64(i)
		}
		_, off := m.InternalDate.Zone()
		if _, err := tx.Exec(`INSERT INTO messages (account_id, mailbox_id, uid, email_id, modseq, flags,
			internal_date, internal_tz, save_date, size, blob_id, structure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			accountID, dst, uid, eid, ev.ModSeq, strings.Join(m.Flags, " "), m.InternalDate.Unix(), off, now.Unix(),
			m.Size, m.BlobID, m.Structure); err != nil {
			return nil, 0, err
		}
		if _, err := tx.Exec("UPDATE blobs SET refs = refs + 1 WHERE id = ?", m.BlobID); err != nil {
			return nil, 0, err
		}
		res.Pairs = append(res.Pairs, store.UIDPair{From: m.UID, To: uid})
		ev.Items = append(ev.Items, store.Item{UID: uid, ModSeq: ev.ModSeq, EmailID: eid, Size: m.Size,
			Flags: m.Flags, BlobID: m.BlobID, InternalDate: m.InternalDate, SaveDate: time.Unix(now.Unix(), 0)})
	}
	if err := s.recordChange(tx, ev); err != nil {
		return nil, 0, err
	}
	return res, bytes, nil
}

func (s *Store) Copy(ctx context.Context, accountID, fromMailbox, toMailbox int64, uids []uint32, enforceQuota bool) (*store.CopyResult, error) {
	var res *store.CopyResult
	err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
		if _, err := scanMailbox(tx.QueryRow("SELECT "+mailboxCols+" FROM mailboxes WHERE id = ? AND account_id = ?", fromMailbox, accountID)); err != nil {
			return nil, notFound(err, fmt.Sprintf("mailbox #%d", fromMailbox))
		}
		msgs, err := messagesTx(tx, accountID, fromMailbox, uids, false)
		if err != nil {
			return nil, err
		}
		if len(msgs) == 0 {
			res = &store.CopyResult{}
			mb, err := scanMailbox(tx.QueryRow("SELECT "+mailboxCols+" FROM mailboxes WHERE id = ? AND account_id = ?", toMailbox, accountID))
			if err != nil {
				return nil, notFound(err, fmt.Sprintf("mailbox #%d", toMailbox))
			}
			res.UIDValidity = mb.UIDValidity
			return nil, nil
		}
		var bytes int64
		for _, m := range msgs {
			bytes += m.Size
		}
		if enforceQuota {
			if err := s.checkQuota(tx, accountID, bytes, int64(len(msgs))); err != nil {
				return nil, err
			}
		}
		res, _, err = s.copyTx(tx, accountID, msgs, toMailbox, false)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec("UPDATE accounts SET used_bytes = used_bytes + ?, used_messages = used_messages + ? WHERE id = ?",
			bytes, len(msgs), accountID); err != nil {
			return nil, err
		}
		return func() { s.hub.Notify(accountID) }, nil
	})
	return res, err
}

// moveTx moves messages: copies keeping their EmailID, then expunges the
// sources (RFC 6851 §3.3). Quota usage is unchanged.
func (s *Store) moveTx(tx *wtx, accountID, from, to int64, uids []uint32) (*store.CopyResult, error) {
	msgs, err := messagesTx(tx, accountID, from, uids, false)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		mb, err := scanMailbox(tx.QueryRow("SELECT "+mailboxCols+" FROM mailboxes WHERE id = ? AND account_id = ?", to, accountID))
		if err != nil {
			return nil, notFound(err, fmt.Sprintf("mailbox #%d", to))
		}
		return &store.CopyResult{UIDValidity: mb.UIDValidity}, nil
	}
	res, bytes, err := s.copyTx(tx, accountID, msgs, to, true)
	if err != nil {
		return nil, err
	}
	// The copies took a reference each and the expunge releases one each;
	// the expunge also takes the usage that the copies keep.
	if err := s.expungeTx(tx, accountID, from, msgs); err != nil {
		return nil, err
	}
	if _, err := tx.Exec("UPDATE accounts SET used_bytes = used_bytes + ?, used_messages = used_messages + ? WHERE id = ?",
		bytes, len(msgs), accountID); err != nil {
		return nil, err
	}
	return res, nil
}

// Move into the mailbox the messages are in gives them new UIDs: copies,
// then the expunge of the originals, like any MOVE (RFC 6851 §3.3).
func (s *Store) Move(ctx context.Context, accountID, fromMailbox, toMailbox int64, uids []uint32) (*store.CopyResult, error) {
	var res *store.CopyResult
	err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
		if _, err := scanMailbox(tx.QueryRow("SELECT "+mailboxCols+" FROM mailboxes WHERE id = ? AND account_id = ?", fromMailbox, accountID)); err != nil {
			return nil, notFound(err, fmt.Sprintf("mailbox #%d", fromMailbox))
		}
		var err error
		res, err = s.moveTx(tx, accountID, fromMailbox, toMailbox, uids)
		if err != nil {
			return nil, err
		}
		return func() { s.hub.Notify(accountID) }, nil
	})
	return res, err
}

// expungeTx removes messages, leaving tombstones, and releases their bodies
// (their files go once no view holds them: store.Live).
func (s *Store) expungeTx(tx *wtx, accountID, mailboxID int64, msgs []store.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	var bytes int64
	for _, m := range msgs {
		bytes += m.Size
	}
	ev, err := bumpModSeq(tx, accountID, mailboxID, store.ChangeExpunge, -int64(len(msgs)), -bytes)
	if err != nil {
		return err
	}
	ev.UIDs = make([]uint32, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ev.UIDs[i] = m.UID
		ids[i] = m.BlobID
		if _, err := tx.Exec("DELETE FROM messages WHERE mailbox_id = ? AND uid = ?", mailboxID, m.UID); err != nil {
			return err
		}
		if _, err := tx.Exec("INSERT INTO tombstones (account_id, mailbox_id, uid, modseq) VALUES (?, ?, ?, ?)",
			accountID, mailboxID, m.UID, ev.ModSeq); err != nil {
			return err
		}
	}
	if _, err := tx.Exec("UPDATE accounts SET used_bytes = used_bytes - ?, used_messages = used_messages - ? WHERE id = ?",
		bytes, len(msgs), accountID); err != nil {
		return err
	}
	if ev.Released, err = releaseBlobs(tx, ids); err != nil {
		return err
	}
	return s.recordChange(tx, ev)
}

// releaseBlobs drops one reference per id and returns the ids that reached
// zero (their rows are deleted; files go after the commit).
func releaseBlobs(tx *wtx, ids []string) ([]string, error) {
	var unref []string
	for _, id := range ids {
		var refs int64
		if err := tx.QueryRow("UPDATE blobs SET refs = refs - 1 WHERE id = ? RETURNING refs", id).Scan(&refs); err != nil {
			return nil, fmt.Errorf("release body %s: %w", id, err)
		}
		if refs <= 0 {
			if _, err := tx.Exec("DELETE FROM blobs WHERE id = ?", id); err != nil {
				return nil, err
			}
			unref = append(unref, id)
		}
	}
	return unref, nil
}

func (s *Store) Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error) {
	return s.expunge(ctx, accountID, mailboxID, uids, false)
}

func (s *Store) ExpungeDeleted(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error) {
	if uids != nil && len(uids) == 0 {
		return nil, nil
	}
	return s.expunge(ctx, accountID, mailboxID, uids, true)
}

// expunge removes uids (nil: every \Deleted message); with onlyDeleted,
// only those still flagged \Deleted when the transaction runs.
func (s *Store) expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32, onlyDeleted bool) ([]uint32, error) {
	var removed []uint32
	err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
		removed = nil
		var msgs []store.Message
		var err error
		if uids == nil {
			rows, err := tx.Query("SELECT "+indexCols+" FROM messages WHERE mailbox_id = ? AND "+deletedTerm+" AND account_id = ? ORDER BY uid",
				mailboxID, accountID)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				m, err := scanLight(rows)
				if err != nil {
					rows.Close()
					return nil, err
				}
				msgs = append(msgs, m)
			}
			rows.Close()
		} else {
			msgs, err = messagesTx(tx, accountID, mailboxID, uids, true)
			if err != nil {
				return nil, err
			}
			if onlyDeleted {
				keep := msgs[:0]
				for _, m := range msgs {
					if store.HasFlag(m.Flags, `\Deleted`) {
						keep = append(keep, m)
					}
				}
				msgs = keep
			}
		}
		if err := s.expungeTx(tx, accountID, mailboxID, msgs); err != nil {
			return nil, err
		}
		for _, m := range msgs {
			removed = append(removed, m.UID)
		}
		if len(msgs) == 0 {
			return nil, nil
		}
		return func() { s.hub.Notify(accountID) }, nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

func (s *Store) Vanished(ctx context.Context, accountID, mailboxID int64, since uint64) ([]uint32, error) {
	return vanishedSince(ctx, s.rdb, accountID, mailboxID, since)
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func vanishedSince(ctx context.Context, q querier, accountID, mailboxID int64, since uint64) ([]uint32, error) {
	rows, err := q.QueryContext(ctx, "SELECT uid FROM tombstones WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid",
		accountID, mailboxID, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// appendTx is Append's transaction body, shared with DeliverFiltered: all
// messages or none, grouped by mailbox in input order so that each mailbox
// gets one UID range and one MODSEQ.
func (s *Store) appendTx(tx *wtx, accountID int64, msgs []store.AppendMessage, enforceQuota bool) ([]store.AppendResult, error) {
	var total int64
	for _, m := range msgs {
		total += m.Body.Size
	}
	// One statement takes the EmailIDs, counts the usage and reads the
	// limits; over quota, the caller's rollback undoes it.
	var emailID, usedBytes, usedMsgs, quotaBytes, quotaMsgs int64
	err := tx.QueryRow(`UPDATE accounts SET next_email_id = next_email_id + ?, used_bytes = used_bytes + ?,
		used_messages = used_messages + ? WHERE id = ?
		RETURNING next_email_id, used_bytes, used_messages, quota_bytes, quota_messages`,
		len(msgs), total, len(msgs), accountID).Scan(&emailID, &usedBytes, &usedMsgs, &quotaBytes, &quotaMsgs)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("account #%d", accountID))
	}
	emailID -= int64(len(msgs))
	if enforceQuota {
		if err := s.overQuota(&store.Account{QuotaBytes: quotaBytes, QuotaMessages: quotaMsgs,
			UsedBytes: usedBytes - total, UsedMessages: usedMsgs - int64(len(msgs))}, total, int64(len(msgs))); err != nil {
			return nil, err
		}
	}
	byMailbox := map[int64][]int{}
	var order []int64
	for i, m := range msgs {
		if _, ok := byMailbox[m.MailboxID]; !ok {
			order = append(order, m.MailboxID)
		}
		byMailbox[m.MailboxID] = append(byMailbox[m.MailboxID], i)
	}
	results := make([]store.AppendResult, len(msgs))
	now := time.Now()
	for _, mbID := range order {
		idx := byMailbox[mbID]
		var bytes int64
		for _, i := range idx {
			bytes += msgs[i].Body.Size
		}
		first, ev, err := nextUIDs(tx, accountID, mbID, len(idx), bytes)
		if err != nil {
			return nil, err
		}
		for k, i := range idx {
			m := msgs[i]
			uid := first + uint32(k)
			date := m.InternalDate
			if date.IsZero() {
				date = now
			}
			_, off := date.Zone()
			if err := store.CheckKeywords(m.Flags); err != nil {
				return nil, err
			}
			if m.Body.Data != nil {
				// The first reference stores it; later ones (more
				// recipients of one delivery) find it there.
				if _, err := tx.Exec(`INSERT INTO inline_bodies (id, data) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
					m.Body.ID, m.Body.Data); err != nil {
					return nil, err
				}
			}
			if _, err := tx.Exec(`INSERT INTO blobs (id, refs, size) VALUES (?, 1, ?)
				ON CONFLICT (id) DO UPDATE SET refs = refs + 1`, m.Body.ID, m.Body.Size); err != nil {
				return nil, err
			}
			if _, err := tx.Exec(`INSERT INTO messages (account_id, mailbox_id, uid, email_id, modseq, flags,
				internal_date, internal_tz, save_date, size, blob_id, structure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				accountID, mbID, uid, emailID+int64(i), ev.ModSeq, joinFlags(m.Flags), date.Unix(), off, now.Unix(),
				m.Body.Size, m.Body.ID, m.Structure); err != nil {
				return nil, err
			}
			results[i] = store.AppendResult{MailboxID: mbID, UIDValidity: ev.UIDValidity, UID: uid, ModSeq: ev.ModSeq, EmailID: emailID + int64(i)}
			ev.Items = append(ev.Items, store.Item{UID: uid, ModSeq: ev.ModSeq, EmailID: emailID + int64(i),
				Size: m.Body.Size, Flags: store.NormalizeFlags(m.Flags), BlobID: m.Body.ID,
				InternalDate: time.Unix(date.Unix(), 0).In(time.FixedZone("", off)), SaveDate: time.Unix(now.Unix(), 0)})
		}
		if err := s.recordChange(tx, ev); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// indexCols are messageCols without the structure.
const indexCols = "mailbox_id, uid, email_id, modseq, flags, internal_date, internal_tz, save_date, size, blob_id"

func (s *Store) ChangedSince(ctx context.Context, accountID, mailboxID int64, modseq uint64) ([]store.Message, error) {
	return changedSince(ctx, s.rdb, accountID, mailboxID, modseq)
}

func changedSince(ctx context.Context, qr querier, accountID, mailboxID int64, modseq uint64) ([]store.Message, error) {
	q := "SELECT " + indexCols + " FROM messages WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid"
	if modseq == 0 {
		q = "SELECT " + indexCols + " FROM messages WHERE account_id = ? AND mailbox_id = ? AND ? = 0 ORDER BY uid"
	}
	rows, err := qr.QueryContext(ctx, q, accountID, mailboxID, modseq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := scanLight(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// scanLight scans indexCols.
func scanLight(row interface{ Scan(...any) error }) (store.Message, error) {
	var m store.Message
	var flags string
	var date, tz, saved int64
	err := row.Scan(&m.MailboxID, &m.UID, &m.EmailID, &m.ModSeq, &flags, &date, &tz, &saved, &m.Size, &m.BlobID)
	m.Flags = splitFlags(flags)
	m.InternalDate = time.Unix(date, 0).In(time.FixedZone("", int(tz)))
	m.SaveDate = time.Unix(saved, 0)
	return m, err
}

func (s *Store) MessagesByUID(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]store.Message, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	sorted := append([]uint32(nil), uids...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var out []store.Message
	// Scan runs of UIDs as ranges: one query for "1:*" style requests,
	// without loading rows that were not asked for.
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1]-sorted[j] <= 1 {
			j++
		}
		rows, err := s.query(ctx, "SELECT "+messageCols+" FROM messages WHERE account_id = ? AND mailbox_id = ? AND uid >= ? AND uid <= ? ORDER BY uid",
			accountID, mailboxID, sorted[i], sorted[j])
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, m)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
		i = j + 1
	}
	return out, nil
}
