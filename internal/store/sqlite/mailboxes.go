package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mailroom/internal/store"
)

const mailboxCols = "id, account_id, name, special_use, subscribed, uidvalidity, uidnext, highest_modseq, messages, size, first_recent"

func scanMailbox(row interface{ Scan(...any) error }) (*store.Mailbox, error) {
	var m store.Mailbox
	if err := row.Scan(&m.ID, &m.AccountID, &m.Name, &m.SpecialUse, &m.Subscribed, &m.UIDValidity,
		&m.UIDNext, &m.HighestModSeq, &m.Messages, &m.Size, &m.FirstRecent); err != nil {
		return nil, err
	}
	return &m, nil
}

// createMailbox inserts a mailbox with a fresh UIDVALIDITY: per account,
// strictly increasing and at least the current time, so a mailbox deleted
// and created again under the same name never reuses one (RFC 9051 §2.3.1.1).
func (s *Store) createMailbox(tx *wtx, accountID int64, m store.NewMailbox) (*store.Mailbox, error) {
	name, err := store.CanonicalMailboxName(m.Name)
	if err != nil {
		return nil, err
	}
	var uidv int64
	if err := tx.QueryRow(`UPDATE accounts SET next_uidvalidity = max(next_uidvalidity + 1, ?)
		WHERE id = ? RETURNING next_uidvalidity`, time.Now().Unix(), accountID).Scan(&uidv); err != nil {
		return nil, notFound(err, fmt.Sprintf("account #%d", accountID))
	}
	if uidv > 1<<32-1 {
		return nil, fmt.Errorf("store: UIDVALIDITY exhausted for account #%d", accountID)
	}
	id, err := nextID(tx, "mailbox")
	if err != nil {
		return nil, err
	}
	// A name subscribed before the mailbox existed (or since it was
	// deleted) is subscribed when it comes back.
	subscribed := m.Subscribed
	if !subscribed {
		if err := tx.QueryRow("SELECT count(*) > 0 FROM subscriptions WHERE account_id = ? AND name = ?",
			accountID, name).Scan(&subscribed); err != nil {
			return nil, err
		}
	}
	mb, err := scanMailbox(tx.QueryRow(`INSERT INTO mailboxes (id, account_id, name, special_use, subscribed, uidvalidity)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING `+mailboxCols, id, accountID, name, m.SpecialUse, subscribed, uidv))
	if isUnique(err) {
		return nil, fmt.Errorf("mailbox %s: %w", name, store.ErrExists)
	}
	if err != nil {
		return nil, err
	}
	if m.Subscribed {
		if _, err := tx.Exec("INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)", accountID, name); err != nil {
			return nil, err
		}
	}
	if err := s.recordChange(tx, store.Event{Kind: store.ChangeMailboxCreate, AccountID: accountID, MailboxID: mb.ID,
		Mailbox: name, UIDValidity: mb.UIDValidity}); err != nil {
		return nil, err
	}
	return mb, nil
}

// recordChange appends ev to the account's change feed, and to the events
// the writer hands to the live state once the transaction commits.
func (s *Store) recordChange(tx *wtx, ev store.Event) error {
	uids := ev.UIDs
	if ev.Items != nil {
		uids = make([]uint32, len(ev.Items))
		for i := range ev.Items {
			uids[i] = ev.Items[i].UID
		}
	}
	var gseq int64
	err := tx.QueryRow("INSERT INTO change_log (account_id, kind, mailbox_id, mailbox, modseq, uids) VALUES (?, ?, ?, ?, ?, ?) RETURNING gseq",
		ev.AccountID, int(ev.Kind), ev.MailboxID, ev.Mailbox, ev.ModSeq, formatUIDs(uids)).Scan(&gseq)
	if err == nil && gseq%changesPruneEvery == 0 {
		// The feed keeps the recent past only: sessions that fall further
		// behind resync by MODSEQ (see store.Change).
		_, err = tx.Exec(`DELETE FROM change_log WHERE account_id = ? AND gseq < (SELECT gseq FROM change_log
			WHERE account_id = ? ORDER BY gseq DESC LIMIT 1 OFFSET ?)`, ev.AccountID, ev.AccountID, changesKept-1)
	}
	if err != nil {
		return err
	}
	s.opEvents = append(s.opEvents, ev)
	return nil
}

// The change feed keeps at least the last changesKept changes of an
// account, pruned when the store-wide number passes a multiple of
// changesPruneEvery.
const (
	changesKept       = 10000
	changesPruneEvery = 1000
)

func formatUIDs(uids []uint32) string {
	var b strings.Builder
	for i, u := range uids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(u), 10))
	}
	return b.String()
}

func parseUIDs(s string) []uint32 {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := make([]uint32, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}

func (s *Store) CreateMailbox(ctx context.Context, accountID int64, m store.NewMailbox) (*store.Mailbox, error) {
	var mb *store.Mailbox
	err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
		var err error
		mb, err = s.createMailbox(tx, accountID, m)
		return func() { s.hub.Notify(accountID) }, err
	})
	return mb, err
}

func (s *Store) Mailbox(ctx context.Context, accountID int64, name string) (*store.Mailbox, error) {
	cname, err := store.CanonicalMailboxName(name)
	if err != nil {
		return nil, err
	}
	mb, err := scanMailbox(s.queryRow(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? AND name = ?", accountID, cname))
	return mb, notFound(err, "mailbox "+cname)
}

func (s *Store) MailboxByID(ctx context.Context, accountID, id int64) (*store.Mailbox, error) {
	mb, err := scanMailbox(s.queryRow(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? AND id = ?", accountID, id))
	return mb, notFound(err, fmt.Sprintf("mailbox #%d", id))
}

func (s *Store) Mailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	rows, err := s.query(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? ORDER BY name", accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		mb, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *mb)
	}
	return out, rows.Err()
}

func mailboxTx(tx *wtx, accountID int64, name string) (*store.Mailbox, error) {
	mb, err := scanMailbox(tx.QueryRow("SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? AND name = ?", accountID, name))
	return mb, notFound(err, "mailbox "+name)
}

// RenameMailbox renames a mailbox and its children (RFC 9051 §6.3.6).
// Renaming INBOX moves its messages to a new mailbox and leaves INBOX empty.
func (s *Store) RenameMailbox(ctx context.Context, accountID int64, from, to string) error {
	from, err := store.CanonicalMailboxName(from)
	if err != nil {
		return err
	}
	to, err = store.CanonicalMailboxName(to)
	if err != nil {
		return err
	}
	if from == to {
		return fmt.Errorf("mailbox %s: %w", to, store.ErrExists)
	}
	if to == "INBOX" || strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("rename %s to %s: %w", from, to, store.ErrNotPermitted)
	}
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		src, err := mailboxTx(tx, accountID, from)
		if err != nil {
			return nil, err
		}
		if _, err := mailboxTx(tx, accountID, to); err == nil {
			return nil, fmt.Errorf("mailbox %s: %w", to, store.ErrExists)
		}
		if from == "INBOX" {
			dst, err := s.createMailbox(tx, accountID, store.NewMailbox{Name: to, Subscribed: src.Subscribed})
			if err != nil {
				return nil, err
			}
			uids, err := allUIDs(tx, src.ID)
			if err != nil {
				return nil, err
			}
			if _, err := s.moveTx(tx, accountID, src.ID, dst.ID, uids); err != nil {
				return nil, err
			}
			return func() { s.hub.Notify(accountID) }, nil
		}
		// The mailbox and its children: names from "from/" up to, not
		// including, "from0" ('0' follows '/'), compared byte by byte as
		// Go slices them below (substr would count characters).
		rows, err := tx.Query(`SELECT id, name, subscribed FROM mailboxes WHERE account_id = ? AND (name = ? OR (name >= ? AND name < ?))`,
			accountID, from, from+"/", from+"0")
		if err != nil {
			return nil, err
		}
		type ren struct {
			id         int64
			name       string
			subscribed bool
		}
		var rs []ren
		for rows.Next() {
			var r ren
			if err := rows.Scan(&r.id, &r.name, &r.subscribed); err != nil {
				rows.Close()
				return nil, err
			}
			rs = append(rs, r)
		}
		rows.Close()
		for _, r := range rs {
			newName := to + r.name[len(from):]
			if _, err := store.CanonicalMailboxName(newName); err != nil {
				return nil, err
			}
			// A subscription moves with its mailbox; the new name may
			// have been subscribed already.
			var subscribed bool
			if err := tx.QueryRow("SELECT count(*) > 0 FROM subscriptions WHERE account_id = ? AND name = ?",
				accountID, newName).Scan(&subscribed); err != nil {
				return nil, err
			}
			if r.subscribed {
				if _, err := tx.Exec("DELETE FROM subscriptions WHERE account_id = ? AND name = ?", accountID, r.name); err != nil {
					return nil, err
				}
				if _, err := tx.Exec("INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)", accountID, newName); err != nil {
					return nil, err
				}
				subscribed = true
			}
			_, err := tx.Exec("UPDATE mailboxes SET name = ?, subscribed = ? WHERE id = ?", newName, subscribed, r.id)
			if isUnique(err) {
				return nil, fmt.Errorf("mailbox %s: %w", newName, store.ErrExists)
			}
			if err != nil {
				return nil, err
			}
			if err := s.recordChange(tx, store.Event{Kind: store.ChangeMailboxRename, AccountID: accountID,
				MailboxID: r.id, Mailbox: newName}); err != nil {
				return nil, err
			}
		}
		return func() { s.hub.Notify(accountID) }, nil
	})
}

// DeleteMailbox removes a mailbox and its messages; children stay. INBOX
// cannot be deleted (RFC 9051 §6.3.5).
func (s *Store) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	name, err := store.CanonicalMailboxName(name)
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return fmt.Errorf("delete INBOX: %w", store.ErrNotPermitted)
	}
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		mb, err := mailboxTx(tx, accountID, name)
		if err != nil {
			return nil, err
		}
		rows, err := tx.Query("SELECT blob_id, size FROM messages WHERE mailbox_id = ?", mb.ID)
		if err != nil {
			return nil, err
		}
		var ids []string
		var bytes int64
		for rows.Next() {
			var b string
			var sz int64
			if err := rows.Scan(&b, &sz); err != nil {
				rows.Close()
				return nil, err
			}
			ids = append(ids, b)
			bytes += sz
		}
		rows.Close()
		for _, q := range []string{
			"DELETE FROM messages WHERE mailbox_id = ?",
			"DELETE FROM tombstones WHERE mailbox_id = ?",
			"DELETE FROM metadata WHERE mailbox_id = ?",
			"DELETE FROM mailboxes WHERE id = ?",
		} {
			if _, err := tx.Exec(q, mb.ID); err != nil {
				return nil, err
			}
		}
		if _, err := tx.Exec("UPDATE accounts SET used_bytes = used_bytes - ?, used_messages = used_messages - ? WHERE id = ?",
			bytes, len(ids), accountID); err != nil {
			return nil, err
		}
		unref, err := releaseBlobs(tx, ids)
		if err != nil {
			return nil, err
		}
		if err := s.recordChange(tx, store.Event{Kind: store.ChangeMailboxDelete, AccountID: accountID,
			MailboxID: mb.ID, Mailbox: name, UIDValidity: mb.UIDValidity, Released: unref}); err != nil {
			return nil, err
		}
		return func() { s.hub.Notify(accountID) }, nil
	})
}

func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error {
	name, err := store.CanonicalMailboxName(name)
	if err != nil {
		return err
	}
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		res, err := tx.Exec("UPDATE mailboxes SET subscribed = ? WHERE account_id = ? AND name = ?", subscribed, accountID, name)
		if err != nil {
			return nil, err
		}
		if !subscribed {
			_, err := tx.Exec("DELETE FROM subscriptions WHERE account_id = ? AND name = ?", accountID, name)
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, fmt.Errorf("mailbox %s: %w", name, store.ErrNotFound)
		}
		_, err = tx.Exec("INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)", accountID, name)
		return nil, err
	})
}

func (s *Store) ClaimRecent(ctx context.Context, accountID, mailboxID int64, upTo uint32) (uint32, error) {
	var first uint32
	err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
		first = 0
		var cur uint32
		if err := tx.QueryRow("SELECT first_recent FROM mailboxes WHERE id = ? AND account_id = ?", mailboxID, accountID).Scan(&cur); err != nil {
			return nil, notFound(err, fmt.Sprintf("mailbox #%d", mailboxID))
		}
		if upTo < cur {
			return nil, nil
		}
		if _, err := tx.Exec("UPDATE mailboxes SET first_recent = ? WHERE id = ?", int64(upTo)+1, mailboxID); err != nil {
			return nil, err
		}
		first = cur
		return nil, nil
	})
	return first, err
}

func (s *Store) Metadata(ctx context.Context, accountID, mailboxID int64) ([]store.MetadataEntry, error) {
	rows, err := s.query(ctx, "SELECT name, value FROM metadata WHERE account_id = ? AND mailbox_id = ? ORDER BY name",
		accountID, mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.MetadataEntry
	for rows.Next() {
		var e store.MetadataEntry
		if err := rows.Scan(&e.Name, &e.Value); err != nil {
			return nil, err
		}
		if e.Value == nil {
			e.Value = []byte{}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) SetMetadata(ctx context.Context, accountID, mailboxID int64, entries []store.MetadataEntry, maxEntries int) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		if mailboxID != 0 {
			var n int
			if err := tx.QueryRow("SELECT count(*) FROM mailboxes WHERE id = ? AND account_id = ?", mailboxID, accountID).Scan(&n); err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, fmt.Errorf("mailbox #%d: %w", mailboxID, store.ErrNotFound)
			}
		} else if err := accountExists(tx, accountID); err != nil {
			return nil, err
		}
		for _, e := range entries {
			name := strings.ToLower(e.Name)
			var err error
			if e.Value == nil {
				_, err = tx.Exec("DELETE FROM metadata WHERE account_id = ? AND mailbox_id = ? AND name = ?", accountID, mailboxID, name)
			} else {
				_, err = tx.Exec(`INSERT INTO metadata (account_id, mailbox_id, name, value) VALUES (?, ?, ?, ?)
					ON CONFLICT (account_id, mailbox_id, name) DO UPDATE SET value = excluded.value`, accountID, mailboxID, name, e.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		if maxEntries > 0 {
			var n int
			if err := tx.QueryRow("SELECT count(*) FROM metadata WHERE account_id = ? AND mailbox_id = ?", accountID, mailboxID).Scan(&n); err != nil {
				return nil, err
			}
			if n > maxEntries {
				return nil, fmt.Errorf("%w: %d entries, at most %d", store.ErrMetadataTooMany, n, maxEntries)
			}
		}
		return nil, nil
	})
}

func (s *Store) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.query(ctx, "SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name", accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (s *Store) Changes(ctx context.Context, accountID int64, sinceSeq int64) ([]store.Change, error) {
	rows, err := s.query(ctx, "SELECT gseq, kind, mailbox_id, mailbox, modseq, uids FROM change_log WHERE account_id = ? AND gseq > ? ORDER BY gseq",
		accountID, sinceSeq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Change
	for rows.Next() {
		var c store.Change
		var kind int
		var uids string
		if err := rows.Scan(&c.Seq, &kind, &c.MailboxID, &c.Mailbox, &c.ModSeq, &uids); err != nil {
			return nil, err
		}
		c.Kind = store.ChangeKind(kind)
		c.UIDs = parseUIDs(uids)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) LastChange(ctx context.Context, accountID int64) (int64, error) {
	var seq int64
	err := s.queryRow(ctx, "SELECT (SELECT coalesce(max(gseq), 0) FROM change_log WHERE account_id = a.id) FROM accounts a WHERE a.id = ?",
		accountID).Scan(&seq)
	return seq, notFound(err, fmt.Sprintf("account #%d", accountID))
}
