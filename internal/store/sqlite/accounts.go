package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"mailroom/internal/store"
)

// fold is the lookup key of an address: matched case-insensitively.
func fold(address string) string { return strings.ToLower(address) }

func (s *Store) CreateDomain(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		_, err := tx.Exec("INSERT INTO domains (name) VALUES (?)", name)
		if isUnique(err) {
			return nil, fmt.Errorf("domain %s: %w", name, store.ErrExists)
		}
		return nil, err
	})
}

func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		res, err := tx.Exec("DELETE FROM domains WHERE name = ?", name)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, fmt.Errorf("domain %s: %w", name, store.ErrNotFound)
		}
		return nil, nil
	})
}

func (s *Store) Domains(ctx context.Context) ([]store.Domain, error) {
	rows, err := s.query(ctx, "SELECT name, catchall FROM domains ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Domain
	for rows.Next() {
		var d store.Domain
		if err := rows.Scan(&d.Name, &d.CatchAll); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Store) SetCatchAll(ctx context.Context, domain, target string) error {
	domain = strings.ToLower(domain)
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		res, err := tx.Exec("UPDATE domains SET catchall = ? WHERE name = ?", target, domain)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, fmt.Errorf("domain %s: %w", domain, store.ErrNotFound)
		}
		return nil, nil
	})
}

const accountCols = "id, address, password, scram, quota_bytes, quota_messages, used_bytes, used_messages, created"

func scanAccount(row interface{ Scan(...any) error }) (*store.Account, error) {
	var a store.Account
	var created int64
	if err := row.Scan(&a.ID, &a.Address, &a.PasswordHash, &a.SCRAM, &a.QuotaBytes, &a.QuotaMessages,
		&a.UsedBytes, &a.UsedMessages, &created); err != nil {
		return nil, err
	}
	a.Created = time.Unix(created, 0)
	return &a, nil
}

func (s *Store) CreateAccount(ctx context.Context, na store.NewAccount) (*store.Account, error) {
	mbs := na.Mailboxes
	if mbs == nil {
		mbs = store.DefaultMailboxes
	}
	for i := range mbs {
		if _, err := store.CanonicalMailboxName(mbs[i].Name); err != nil {
			return nil, err
		}
	}
	var id int64
	err := s.write(ctx, nil, func(tx *wtx) (func(), error) {
		now := time.Now().Unix()
		var err error
		if id, err = nextID(tx, "account"); err != nil {
			return nil, err
		}
		_, err = tx.Exec(`INSERT INTO accounts (id, address, address_fold, password, scram, quota_bytes, quota_messages,
			next_uidvalidity, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, na.Address, fold(na.Address), na.PasswordHash, na.SCRAM, na.QuotaBytes, na.QuotaMessages, now, now)
		if isUnique(err) {
			return nil, fmt.Errorf("account %s: %w", na.Address, store.ErrExists)
		}
		if err != nil {
			return nil, err
		}
		for _, m := range mbs {
			if _, err := s.createMailbox(tx, id, m); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return s.AccountByID(ctx, id)
}

func (s *Store) Account(ctx context.Context, address string) (*store.Account, error) {
	a, err := scanAccount(s.queryRow(ctx,
		"SELECT "+accountCols+" FROM accounts WHERE address_fold = ?", fold(address)))
	return a, notFound(err, "account "+address)
}

func (s *Store) AccountByID(ctx context.Context, id int64) (*store.Account, error) {
	a, err := scanAccount(s.queryRow(ctx,
		"SELECT "+accountCols+" FROM accounts WHERE id = ?", id))
	return a, notFound(err, fmt.Sprintf("account #%d", id))
}

func (s *Store) Accounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.query(ctx, "SELECT "+accountCols+" FROM accounts ORDER BY address_fold")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	var unref []string
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		var id int64
		err := tx.QueryRow("SELECT id FROM accounts WHERE address_fold = ?", fold(address)).Scan(&id)
		if err != nil {
			return nil, notFound(err, "account "+address)
		}
		rows, err := tx.Query("SELECT blob_id FROM messages WHERE account_id = ?", id)
		if err != nil {
			return nil, err
		}
		var ids []string
		for rows.Next() {
			var b string
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return nil, err
			}
			ids = append(ids, b)
		}
		rows.Close()
		for _, q := range []string{
			"DELETE FROM messages WHERE account_id = ?",
			"DELETE FROM tombstones WHERE account_id = ?",
			"DELETE FROM change_log WHERE account_id = ?",
			"DELETE FROM pop3_hidden WHERE account_id = ?",
			"DELETE FROM sieve_scripts WHERE account_id = ?",
			"DELETE FROM sieve_vacation WHERE account_id = ?",
			"DELETE FROM outbox WHERE account_id = ?",
			"DELETE FROM mailboxes WHERE account_id = ?",
			"DELETE FROM subscriptions WHERE account_id = ?",
			"DELETE FROM metadata WHERE account_id = ?",
			"DELETE FROM accounts WHERE id = ?",
		} {
			if _, err := tx.Exec(q, id); err != nil {
				return nil, err
			}
		}
		unref, err = releaseBlobs(tx, ids)
		if err != nil {
			return nil, err
		}
		// The account's last change outlives it (ids never recur), so that
		// other processes end its sessions too.
		if _, err := tx.Exec("INSERT INTO change_log (account_id, kind, mailbox_id, mailbox, modseq) VALUES (?, ?, 0, '', 0)",
			id, int(store.ChangeAccountDelete)); err != nil {
			return nil, err
		}
		s.opEvents = append(s.opEvents, store.Event{Kind: store.ChangeAccountDelete, AccountID: id, Released: unref})
		return func() { s.hub.Notify(id) }, nil
	})
}

func (s *Store) SetPasswordHash(ctx context.Context, address, hash string) error {
	return s.updateAccount(ctx, address, "password = ?, scram = ''", hash)
}

func (s *Store) SetSCRAM(ctx context.Context, address, passwordHash, scram string) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		res, err := tx.Exec("UPDATE accounts SET scram = ? WHERE address_fold = ? AND password = ?",
			scram, fold(address), passwordHash)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, fmt.Errorf("account %s with that password: %w", address, store.ErrNotFound)
		}
		return nil, nil
	})
}

func (s *Store) SetQuota(ctx context.Context, address string, bytes, messages int64) error {
	if bytes < store.QuotaDefault || messages < store.QuotaDefault {
		return errors.New("quota: negative limit")
	}
	return s.updateAccount(ctx, address, "quota_bytes = ?, quota_messages = ?", bytes, messages)
}

func (s *Store) updateAccount(ctx context.Context, address, set string, args ...any) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		res, err := tx.Exec("UPDATE accounts SET "+set+" WHERE address_fold = ?", append(args, fold(address))...)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, fmt.Errorf("account %s: %w", address, store.ErrNotFound)
		}
		return nil, nil
	})
}

func (s *Store) AddAlias(ctx context.Context, address, target string) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		_, err := tx.Exec("INSERT INTO aliases (address_fold, address, target) VALUES (?, ?, ?)",
			fold(address), address, target)
		if isUnique(err) {
			return nil, fmt.Errorf("alias %s -> %s: %w", address, target, store.ErrExists)
		}
		return nil, err
	})
}

func (s *Store) DeleteAlias(ctx context.Context, address, target string) error {
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		q, args := "DELETE FROM aliases WHERE address_fold = ?", []any{fold(address)}
		if target != "" {
			q += " AND lower(target) = ?"
			args = append(args, fold(target))
		}
		res, err := tx.Exec(q, args...)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, fmt.Errorf("alias %s: %w", address, store.ErrNotFound)
		}
		return nil, nil
	})
}

func (s *Store) Aliases(ctx context.Context) ([]store.Alias, error) {
	rows, err := s.query(ctx, "SELECT address_fold, address, target FROM aliases ORDER BY address_fold, target")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Alias
	last := ""
	for rows.Next() {
		var f, a, t string
		if err := rows.Scan(&f, &a, &t); err != nil {
			return nil, err
		}
		if len(out) == 0 || f != last {
			out = append(out, store.Alias{Address: a})
			last = f
		}
		out[len(out)-1].Targets = append(out[len(out)-1].Targets, t)
	}
	return out, rows.Err()
}

func (s *Store) AliasTargets(ctx context.Context, address string) ([]string, error) {
	rows, err := s.query(ctx, "SELECT target FROM aliases WHERE address_fold = ? ORDER BY target", fold(address))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
