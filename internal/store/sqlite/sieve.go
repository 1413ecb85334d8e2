package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"mailroom/internal/store"
)

func (s *Store) SieveScripts(ctx context.Context, accountID int64) ([]store.SieveScript, error) {
	rows, err := s.query(ctx, `SELECT name, length(content), active, updated FROM sieve_scripts
		WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SieveScript
	for rows.Next() {
		var sc store.SieveScript
		var updated int64
		if err := rows.Scan(&sc.Name, &sc.Size, &sc.Active, &updated); err != nil {
			return nil, err
		}
		sc.Updated = time.Unix(updated, 0)
		out = append(out, sc)
	}
	return out, rows.Err()
}

func (s *Store) SieveScript(ctx context.Context, accountID int64, name string) (*store.SieveScript, error) {
	return s.scanScript(s.queryRow(ctx, `SELECT name, content, active, updated FROM sieve_scripts
		WHERE account_id = ? AND name = ?`, accountID, name), "script "+name)
}

func (s *Store) ActiveSieveScript(ctx context.Context, accountID int64) (*store.SieveScript, error) {
	sc, err := s.scanScript(s.queryRow(ctx, `SELECT name, content, active, updated FROM sieve_scripts
		WHERE account_id = ? AND active = 1`, accountID), "active script")
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return sc, err
}

func (s *Store) scanScript(row *sql.Row, what string) (*store.SieveScript, error) {
	var sc store.SieveScript
	var updated int64
	if err := row.Scan(&sc.Name, &sc.Content, &sc.Active, &updated); err != nil {
		return nil, notFound(err, what)
	}
	if sc.Content == nil {
		sc.Content = []byte{}
	}
	sc.Size = int64(len(sc.Content))
	sc.Updated = time.Unix(updated, 0)
	return &sc, nil
}

func (s *Store) PutSieveScript(ctx context.Context, accountID int64, name string, content []byte) error {
	if content == nil {
		content = []byte{}
	}
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		if err := accountExists(tx, accountID); err != nil {
			return nil, err
		}
		_, err := tx.Exec(`INSERT INTO sieve_scripts (account_id, name, content, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id, name) DO UPDATE SET content = excluded.content, updated = excluded.updated`,
			accountID, name, content, time.Now().Unix())
		return nil, err
	})
}

func accountExists(tx *wtx, accountID int64) error {
	var id int64
	err := tx.QueryRow("SELECT id FROM accounts WHERE id = ?", accountID).Scan(&id)
	return notFound(err, fmt.Sprintf("account #%d", accountID))
}

func (s *Store) RenameSieveScript(ctx context.Context, accountID int64, from, to string) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		res, err := tx.Exec("UPDATE sieve_scripts SET name = ? WHERE account_id = ? AND name = ?", to, accountID, from)
		if isUnique(err) {
			return nil, fmt.Errorf("script %s: %w", to, store.ErrExists)
		}
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, fmt.Errorf("script %s: %w", from, store.ErrNotFound)
		}
		return nil, nil
	})
}

func (s *Store) DeleteSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		var active bool
		err := tx.QueryRow("SELECT active FROM sieve_scripts WHERE account_id = ? AND name = ?", accountID, name).Scan(&active)
		if err != nil {
			return nil, notFound(err, "script "+name)
		}
		if active {
			return nil, fmt.Errorf("script %s: %w", name, store.ErrScriptActive)
		}
		_, err = tx.Exec("DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?", accountID, name)
		return nil, err
	})
}

func (s *Store) ActivateSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		if name != "" {
			var n int
			if err := tx.QueryRow("SELECT count(*) FROM sieve_scripts WHERE account_id = ? AND name = ?",
				accountID, name).Scan(&n); err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, fmt.Errorf("script %s: %w", name, store.ErrNotFound)
			}
		}
		_, err := tx.Exec("UPDATE sieve_scripts SET active = (name = ?) WHERE account_id = ? AND active != (name = ?)",
			name, accountID, name)
		return nil, err
	})
}

// DeliverFiltered shares Append's steps (quota inside the transaction, one
// UID range and MODSEQ per mailbox, change feed) and adds the outgoing
// messages and vacation records to the same transaction.
func (s *Store) DeliverFiltered(ctx context.Context, accountID int64, d store.FilteredDelivery) (*store.FilteredResult, error) {
	refs := make([]store.BlobRef, len(d.Messages))
	for i, m := range d.Messages {
		refs[i] = m.Body
	}
	bodies, err := inlineRefs(refs)
	if err != nil {
		return nil, err
	}
	var res *store.FilteredResult
	err = s.write(ctx, bodies, func(tx *wtx) (func(), error) {
		res = &store.FilteredResult{VacationSent: make([]bool, len(d.Vacation))}
		if err := accountExists(tx, accountID); err != nil {
			return nil, err
		}
		var after func()
		if len(d.Messages) > 0 {
			appended, err := s.appendTx(tx, accountID, d.Messages, d.EnforceQuota)
			if err != nil {
				return nil, err
			}
			res.Appended = appended
			after = func() { s.hub.Notify(accountID) }
		}
		now := time.Now()
		room := int64(-1) // bytes the limits leave; -1 until needed, then math.MaxInt64 when unlimited
		fits := func(n int) (bool, error) {
			if room < 0 {
				var err error
				if room, err = s.outboxRoom(tx, accountID, d.OutboxLimits); err != nil {
					return false, err
				}
			}
			if int64(n) > room {
				return false, nil
			}
			room -= int64(n)
			return true, nil
		}
		for _, m := range d.Outbox {
			ok, err := fits(len(m.Data))
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("%w: %d bytes to queue", store.ErrOutboxFull, len(m.Data))
			}
			if m.Kind == "" {
				m.Kind = store.OutboxRedirect
			}
			if err := queueOutbox(tx, accountID, m, now); err != nil {
				return nil, err
			}
		}
		for i, v := range d.Vacation {
			sender := strings.ToLower(v.Sender)
			var sent int64
			err := tx.QueryRow("SELECT sent FROM sieve_vacation WHERE account_id = ? AND handle = ? AND sender = ?",
				accountID, v.Handle, sender).Scan(&sent)
			if err != nil && err != sql.ErrNoRows {
				return nil, err
			}
			if err == nil && now.Before(time.UnixMilli(sent).Add(v.Period)) {
				continue
			}
			// A reply that does not fit is not recorded either: the next
			// message may get one when the outbox has drained.
			ok, err := fits(len(v.Message.Data))
			if err != nil {
				return nil, err
			}
			if !ok {
				res.VacationFull = true
				continue
			}
			v.Message.Kind = store.OutboxVacation
			if _, err := tx.Exec(`INSERT INTO sieve_vacation (account_id, handle, sender, sent) VALUES (?, ?, ?, ?)
				ON CONFLICT (account_id, handle, sender) DO UPDATE SET sent = excluded.sent`,
				accountID, v.Handle, sender, now.UnixMilli()); err != nil {
				return nil, err
			}
			if err := queueOutbox(tx, accountID, v.Message, now); err != nil {
				return nil, err
			}
			res.VacationSent[i] = true
		}
		return after, nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// outboxRoom is how many more bytes the account may queue under l: the
// least of what the per-account and total limits and the account's storage
// quota leave (math.MaxInt64 when nothing bounds it, 0 when full).
func (s *Store) outboxRoom(tx *wtx, accountID int64, l store.OutboxLimits) (int64, error) {
	room := int64(math.MaxInt64)
	a, err := scanAccount(tx.QueryRow("SELECT "+accountCols+" FROM accounts WHERE id = ?", accountID))
	if err != nil {
		return 0, notFound(err, fmt.Sprintf("account #%d", accountID))
	}
	per := l.PerAccount
	if q := s.Limits(a).Bytes; q > 0 && (per <= 0 || q < per) {
		per = q
	}
	if per > 0 {
		var used int64
		if err := tx.QueryRow("SELECT coalesce(sum(length(data)), 0) FROM outbox WHERE account_id = ?", accountID).Scan(&used); err != nil {
			return 0, err
		}
		room = min(room, max(per-used, 0))
	}
	if l.Total > 0 {
		var used int64
		if err := tx.QueryRow("SELECT coalesce(sum(length(data)), 0) FROM outbox").Scan(&used); err != nil {
			return 0, err
		}
		room = min(room, max(l.Total-used, 0))
	}
	return room, nil
}

func queueOutbox(tx *wtx, accountID int64, m store.NewOutboxMessage, now time.Time) error {
	if len(m.To) == 0 {
		return fmt.Errorf("store: outbox message without recipients")
	}
	if m.Kind == "" {
		m.Kind = store.OutboxRedirect
	}
	_, err := tx.Exec(`INSERT INTO outbox (account_id, kind, mail_from, rcpt_to, data, queued, next_attempt)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, accountID, m.Kind, m.From, strings.Join(m.To, "\n"), m.Data, now.UnixMilli(), now.UnixMilli())
	return err
}

const outboxCols = "id, account_id, kind, mail_from, rcpt_to, data, queued, attempts, next_attempt, last_error"

func scanOutbox(rows *sql.Rows) (store.OutboxMessage, error) {
	var m store.OutboxMessage
	var to string
	var queued, next int64
	if err := rows.Scan(&m.ID, &m.AccountID, &m.Kind, &m.From, &to, &m.Data, &queued, &m.Attempts, &next, &m.LastError); err != nil {
		return m, err
	}
	if m.Kind == "" {
		// Queued before kinds were recorded: handled as a redirect, the
		// kind whose failure loses nothing.
		m.Kind = store.OutboxRedirect
	}
	m.To = strings.Split(to, "\n")
	m.Queued = time.UnixMilli(queued)
	m.NextAttempt = time.UnixMilli(next)
	return m, nil
}

func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.OutboxMessage, error) {
	var out []store.OutboxMessage
	err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
		out = out[:0]
		rows, err := tx.Query(`UPDATE outbox SET attempts = attempts + 1, next_attempt = ?
			WHERE id IN (SELECT id FROM outbox WHERE next_attempt <= ? ORDER BY next_attempt, id LIMIT ?)
			RETURNING `+outboxCols, now.Add(lease).UnixMilli(), now.UnixMilli(), limit)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanOutbox(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return nil, rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) OutboxDone(ctx context.Context, id int64) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		_, err := tx.Exec("DELETE FROM outbox WHERE id = ?", id)
		return nil, err
	})
}

func (s *Store) OutboxRetry(ctx context.Context, id int64, next time.Time, lastError string) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		res, err := tx.Exec("UPDATE outbox SET next_attempt = ?, last_error = ? WHERE id = ?", next.UnixMilli(), lastError, id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, fmt.Errorf("outbox #%d: %w", id, store.ErrNotFound)
		}
		return nil, nil
	})
}

func (s *Store) Outbox(ctx context.Context) ([]store.OutboxMessage, error) {
	rows, err := s.query(ctx, "SELECT "+outboxCols+" FROM outbox ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
