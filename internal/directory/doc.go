// Package directory manages mailroom's users on top of store.Store: local
// domains, accounts, aliases, catch-alls and passwords, the parsing of
// mailbox addresses, and the resolution of an envelope recipient to the
// accounts that receive its mail.
//
// Addresses follow RFC 5321: the local part is a Dot-string or a
// Quoted-string (§4.1.2), is at most 64 octets (§4.5.3.1.1) and is, in
// principle, case-sensitive (§2.4); mailroom nevertheless matches local
// parts case-insensitively, as almost every mail system does, and keeps the
// spelling an account was created with. Domains are case-insensitive and
// stored in lower case; UTF-8 local parts and domains (SMTPUTF8, RFC 6531)
// are accepted, and IDNA A-labels ("xn--…") are decoded so that both
// spellings of a domain are the same domain.
//
// Subaddressing follows RFC 5233: with the delimiter "+", mail to
// alice+lists@example.org is delivered to alice@example.org with the detail
// "lists" (Resolution.Detail), unless an account or alias is literally
// named alice+lists.
//
// Passwords are hashed with argon2id (RFC 9106) into PHC strings; they are
// prepared with the RFC 8265 OpaqueString profile first. Beside the hash,
// each account keeps SCRAM-SHA-256 keys (RFC 5802 §3: salt, iteration
// count, StoredKey, ServerKey; never the password), made whenever the
// password is set, and at a password login for accounts that have none.
//
// Creating an account creates its default mailboxes (INBOX and the RFC 6154
// special-use mailboxes Drafts, Sent, Trash, Junk and Archive): the store
// does this, see store.DefaultMailboxes.
package directory
