package sqlite

import (
	"context"
)

func (s *Store) HidePOP3(ctx context.Context, accountID int64, emailIDs []int64) error {
	if len(emailIDs) == 0 {
		return nil
	}
	return s.write(ctx, nil, func(tx *wtx) (func(), error) {
		stmt, err := tx.Prepare(`INSERT OR IGNORE INTO pop3_hidden (account_id, email_id)
			SELECT ?, ? WHERE EXISTS (SELECT 1 FROM messages WHERE account_id = ? AND email_id = ?)`)
		if err != nil {
			return nil, err
		}
		defer stmt.Close()
		for _, id := range emailIDs {
			if _, err := stmt.Exec(accountID, id, accountID, id); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

func (s *Store) POP3Hidden(ctx context.Context, accountID int64) (map[int64]bool, error) {
	rows, err := s.query(ctx, `SELECT h.email_id FROM pop3_hidden h WHERE h.account_id = ?
		AND EXISTS (SELECT 1 FROM messages m WHERE m.account_id = h.account_id AND m.email_id = h.email_id)`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}
