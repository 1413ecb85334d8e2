package store

import "context"

// POP3Store keeps what POP3 needs beyond the mailboxes themselves.
//
// With `[pop3] delete = "hide"`, DELE+QUIT hides messages from POP3 only:
// IMAP devices keep them. Hiding is by EmailID, which Move keeps, so a
// hidden message stays hidden when it is moved between folders, and a copy
// (a new EmailID) is a new message to POP3.
type POP3Store interface {
	// HidePOP3 hides the given messages from POP3. Unknown ids are ignored.
	HidePOP3(ctx context.Context, accountID int64, emailIDs []int64) error
	// POP3Hidden lists the account's hidden EmailIDs that still exist.
	POP3Hidden(ctx context.Context, accountID int64) (map[int64]bool, error)
}
