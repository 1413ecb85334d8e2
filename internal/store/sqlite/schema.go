package sqlite

import (
	"database/sql"
	"fmt"
)

// The schema keeps account_id on every mail row so that the same SQL serves
// a PostgreSQL backend. Times are Unix seconds plus a zone offset in seconds
// (IMAP INTERNALDATE keeps the zone).
var migrations = []string{
	`CREATE TABLE domains (
		name     TEXT PRIMARY KEY,
		catchall TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE accounts (
		id               INTEGER PRIMARY KEY,
		address          TEXT NOT NULL,
		address_fold     TEXT NOT NULL UNIQUE,
		password         TEXT NOT NULL,
		quota_bytes      INTEGER NOT NULL DEFAULT -1,
		quota_messages   INTEGER NOT NULL DEFAULT -1,
		used_bytes       INTEGER NOT NULL DEFAULT 0,
		used_messages    INTEGER NOT NULL DEFAULT 0,
		next_email_id    INTEGER NOT NULL DEFAULT 1,
		next_uidvalidity INTEGER NOT NULL,
		change_seq       INTEGER NOT NULL DEFAULT 0,
		created          INTEGER NOT NULL
	);
	CREATE TABLE aliases (
		address_fold TEXT NOT NULL,
		address      TEXT NOT NULL,
		target       TEXT NOT NULL,
		PRIMARY KEY (address_fold, target)
	);
	CREATE TABLE mailboxes (
		id             INTEGER PRIMARY KEY,
		account_id     INTEGER NOT NULL REFERENCES accounts(id),
		name           TEXT NOT NULL,
		special_use    TEXT NOT NULL DEFAULT '',
		subscribed     INTEGER NOT NULL DEFAULT 0,
		uidvalidity    INTEGER NOT NULL,
		uidnext        INTEGER NOT NULL DEFAULT 1,
		highest_modseq INTEGER NOT NULL DEFAULT 1,
		messages       INTEGER NOT NULL DEFAULT 0,
		size           INTEGER NOT NULL DEFAULT 0,
		UNIQUE (account_id, name)
	);
	CREATE TABLE blobs (
		id   TEXT PRIMARY KEY,
		refs INTEGER NOT NULL,
		size INTEGER NOT NULL
	);
	CREATE TABLE messages (
		account_id    INTEGER NOT NULL,
		mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id),
		uid           INTEGER NOT NULL,
		email_id      INTEGER NOT NULL,
		modseq        INTEGER NOT NULL,
		flags         TEXT NOT NULL DEFAULT '',
		internal_date INTEGER NOT NULL,
		internal_tz   INTEGER NOT NULL DEFAULT 0,
		save_date     INTEGER NOT NULL,
		size          INTEGER NOT NULL,
		blob_id       TEXT NOT NULL REFERENCES blobs(id),
		structure     BLOB,
		PRIMARY KEY (mailbox_id, uid)
	);
	CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);
	CREATE INDEX messages_blob ON messages (blob_id);
	CREATE TABLE tombstones (
		account_id INTEGER NOT NULL,
		mailbox_id INTEGER NOT NULL,
		uid        INTEGER NOT NULL,
		modseq     INTEGER NOT NULL,
		PRIMARY KEY (mailbox_id, uid)
	);
	CREATE TABLE changes (
		account_id INTEGER NOT NULL,
		seq        INTEGER NOT NULL,
		kind       INTEGER NOT NULL,
		mailbox_id INTEGER NOT NULL,
		mailbox    TEXT NOT NULL,
		modseq     INTEGER NOT NULL,
		uids       TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (account_id, seq)
	);`,
	// POP3 "hide" deletions, by EmailID (kept by Move).
	`CREATE TABLE pop3_hidden (
		account_id INTEGER NOT NULL,
		email_id   INTEGER NOT NULL,
		PRIMARY KEY (account_id, email_id)
	);
	CREATE INDEX messages_email ON messages (account_id, email_id);`,
	// Sieve scripts, vacation reply records and the outbox of mail that
	// filters send. Outbox and vacation times are Unix milliseconds.
	`CREATE TABLE sieve_scripts (
		account_id INTEGER NOT NULL,
		name       TEXT NOT NULL,
		content    BLOB NOT NULL,
		active     INTEGER NOT NULL DEFAULT 0,
		updated    INTEGER NOT NULL,
		PRIMARY KEY (account_id, name)
	);
	CREATE TABLE sieve_vacation (
		account_id INTEGER NOT NULL,
		handle     TEXT NOT NULL,
		sender     TEXT NOT NULL,
		sent       INTEGER NOT NULL,
		PRIMARY KEY (account_id, handle, sender)
	);
	CREATE TABLE outbox (
		id           INTEGER PRIMARY KEY,
		account_id   INTEGER NOT NULL,
		mail_from    TEXT NOT NULL,
		rcpt_to      TEXT NOT NULL,
		data         BLOB NOT NULL,
		queued       INTEGER NOT NULL,
		attempts     INTEGER NOT NULL DEFAULT 0,
		next_attempt INTEGER NOT NULL,
		last_error   TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX outbox_due ON outbox (next_attempt);`,
	// SCRAM-SHA-256 keys (RFC 5802 §3) beside the password hash; '' until
	// the password is set or used again.
	`ALTER TABLE accounts ADD COLUMN scram TEXT NOT NULL DEFAULT '';`,
	// Identities that never recur (DESIGN invariant 8): account and mailbox
	// ids come from counters that only grow, so a deleted row's id is never
	// handed out again (a plain INTEGER PRIMARY KEY reuses the highest id
	// once its row is gone). The counters start above every id any table
	// still mentions. Every change row also gets a store-wide sequence
	// number (gseq), in commit order, so that a process can learn what
	// other processes committed since it last looked, including account
	// deletions, whose change rows outlive the account.
	`CREATE TABLE counters (
		name  TEXT PRIMARY KEY,
		value INTEGER NOT NULL
	);
	INSERT INTO counters (name, value) SELECT 'account', 1 + max(
		(SELECT coalesce(max(id), 0) FROM accounts),
		(SELECT coalesce(max(account_id), 0) FROM mailboxes),
		(SELECT coalesce(max(account_id), 0) FROM messages),
		(SELECT coalesce(max(account_id), 0) FROM changes));
	INSERT INTO counters (name, value) SELECT 'mailbox', 1 + max(
		(SELECT coalesce(max(id), 0) FROM mailboxes),
		(SELECT coalesce(max(mailbox_id), 0) FROM messages),
		(SELECT coalesce(max(mailbox_id), 0) FROM tombstones),
		(SELECT coalesce(max(mailbox_id), 0) FROM changes));
	INSERT INTO counters (name, value) VALUES ('change', 1);
	ALTER TABLE changes ADD COLUMN gseq INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX changes_gseq ON changes (gseq);`,
	// One change log for the whole store, numbered in commit order by
	// AUTOINCREMENT (never reused, also when the newest rows are deleted
	// with their account): the per-account sequence and the separate
	// counter cost two more statements and pages on every write. It starts
	// above every number the old feed handed out; the old feed's rows (the
	// recent past only) are not carried over.
	`CREATE TABLE change_log (
		gseq       INTEGER PRIMARY KEY AUTOINCREMENT,
		account_id INTEGER NOT NULL,
		kind       INTEGER NOT NULL,
		mailbox_id INTEGER NOT NULL,
		mailbox    TEXT NOT NULL,
		modseq     INTEGER NOT NULL,
		uids       TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX change_log_account ON change_log (account_id, gseq);
	INSERT INTO sqlite_sequence (name, seq) SELECT 'change_log', value - 1 FROM counters WHERE name = 'change';
	DELETE FROM counters WHERE name = 'change';
	DROP TABLE changes;
	ALTER TABLE accounts DROP COLUMN change_seq;`,
	// EXPUNGE finds the \Deleted messages of a mailbox through a partial
	// index that holds those only, instead of reading every row (100,000
	// rows held the writer for a tenth of a second). The expression must
	// stay exactly deletedTerm for the planner to use it.
	`CREATE INDEX messages_deleted ON messages (mailbox_id, uid) WHERE ` + deletedTerm + `;`,
	// Expunges since a MODSEQ (QRESYNC, and bringing a mailbox's list
	// forward at a cold open) without reading every tombstone.
	`CREATE INDEX tombstones_modseq ON tombstones (mailbox_id, modseq);`,
	// Small bodies live in the index itself (see inlineMax): an APPEND
	// or delivery of one is then made durable by the WAL fsync alone,
	// instead of that and an fsync of a body file and of its directory.
	// A row goes when its body is no longer referenced by any message
	// (blobs) nor held by any session's view, like a body file.
	`CREATE TABLE inline_bodies (
		id   TEXT PRIMARY KEY,
		data BLOB NOT NULL
	);`,
	// What an outbox message is (store.Outbox* kinds) decides what
	// happens when it cannot be sent; the per-account index serves the
	// outbox limits (store.OutboxLimits).
	`ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT '';
	CREATE INDEX outbox_account ON outbox (account_id);`,
	// The subscription list is names, not mailboxes: deleting a mailbox
	// leaves its name subscribed (RFC 9051 §6.3.7), and LIST (SUBSCRIBED)
	// shows it \NonExistent (RFC 5258 §3). mailboxes.subscribed mirrors
	// it for the mailboxes that exist.
	`CREATE TABLE subscriptions (
		account_id INTEGER NOT NULL,
		name       TEXT NOT NULL,
		PRIMARY KEY (account_id, name)
	);
	INSERT INTO subscriptions (account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed;`,
	// \Recent (RFC 3501 §2.3.2): messages from first_recent up have not
	// been seen by any SELECT yet. Mail stored before this was counted is
	// not recent.
	`ALTER TABLE mailboxes ADD COLUMN first_recent INTEGER NOT NULL DEFAULT 1;
	UPDATE mailboxes SET first_recent = uidnext;`,
	// IMAP METADATA (RFC 5464): entries of the account's server
	// (mailbox_id 0) and of its mailboxes; names are lower case.
	`CREATE TABLE metadata (
		account_id INTEGER NOT NULL,
		mailbox_id INTEGER NOT NULL,
		name       TEXT NOT NULL,
		value      BLOB NOT NULL,
		PRIMARY KEY (account_id, mailbox_id, name)
	);`,
}

// deletedTerm selects messages flagged \Deleted (flags are space-separated).
const deletedTerm = `(' ' || flags || ' ') LIKE '% \Deleted %'`

// nextID takes the next value of a counter (see the migration that made
// them): ids handed out this way are never handed out again.
func nextID(tx *wtx, name string) (int64, error) {
	var id int64
	err := tx.QueryRow("UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value - 1", name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: counter %s: %w", name, err)
	}
	return id, nil
}

// migrate brings the schema up to date; the version is read inside the
// (immediate) transaction so that two processes opening at once do not both
// migrate.
func migrate(db *sql.DB) error {
	for {
		tx, err := db.Begin()
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		var v int
		if err := tx.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: %w", err)
		}
		if v >= len(migrations) {
			return tx.Commit()
		}
		if _, err := tx.Exec(migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate to %d: %w", v+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	}
}
