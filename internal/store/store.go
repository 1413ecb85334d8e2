// Package store defines mailroom's mail store: accounts, mailboxes, messages,
// flags, MODSEQs, expunge tombstones, quota usage and the per-account change
// feed. Backends (store/sqlite, later store/postgres) implement Store and must
// pass the conformance suite in store/storetest, which is the definition of
// these semantics.
//
// Invariants every backend keeps:
//   - All or nothing: each method either applies fully or changes nothing,
//     across the index and the message bodies.
//   - Durable before returning: a method that changes mail returns nil only
//     after the change (and any new body) is on stable storage.
//   - Per mailbox, UIDVALIDITY is fixed for the mailbox's life, UIDNEXT only
//     grows, and HIGHESTMODSEQ grows with every change; expunged UIDs are kept
//     as tombstones with the MODSEQ of their expunge (RFC 7162 VANISHED).
//   - A body is stored once and shared by copies (reference counted); quota
//     usage counts every message row of the account and is exact.
//   - Mailbox names are data, never file paths.
//   - Identities never recur: account and mailbox ids are never handed out
//     again, nor body ids; caches are keyed by them (and UIDVALIDITY).
//
// Live (live.go) is the process's hot state of open mailboxes, fed in
// commit order by the backend and caught up from the store when commits
// come from elsewhere; it also decides when a released body may go (no
// session's view can still read it).
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

// Errors returned by every backend. Callers test them with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrExists        = errors.New("already exists")
	ErrOverQuota     = errors.New("over quota")
	ErrInvalidName   = errors.New("invalid mailbox name")
	ErrMailboxInUse  = errors.New("mailbox cannot be changed that way")
	ErrClosed        = errors.New("store closed")
	ErrBodyMissing   = errors.New("message body missing")
	ErrNotPermitted  = errors.New("operation not permitted")
	ErrModifiedSince = errors.New("modified since")
)

// NoSpace reports whether err is the server's disk (or the store's own
// quota on it) being full: a temporary failure, to be answered as such
// (IMAP NO [UNAVAILABLE], SMTP 452 4.3.1), never as a server bug. It
// recognises ENOSPC and EDQUOT from the file system and SQLITE_FULL from
// an SQL engine's coded error.
func NoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == sqliteFull
}

// sqliteFull is SQLITE_FULL, the primary result code of "database or disk
// is full".
const sqliteFull = 13

// Reads are answered from durable state: a backend that commits before its
// fsync completes makes a read wait for the fsync of any commit the read
// may have seen, so that no client learns of a change a crash could undo.
// Unsynced marks a read whose answer only decides whether to go on with a
// write (the target mailbox and quota checks before an APPEND, say): the
// write is ordered after whatever the read saw, so the backend may answer
// it without waiting.
func Unsynced(ctx context.Context) context.Context {
	return context.WithValue(ctx, unsyncedKey{}, true)
}

// IsUnsynced reports whether ctx came from Unsynced.
func IsUnsynced(ctx context.Context) bool {
	v, _ := ctx.Value(unsyncedKey{}).(bool)
	return v
}

type unsyncedKey struct{}

// MetadataEntry is one METADATA entry (RFC 5464 §3.2): a name such as
// "/private/comment", compared case-insensitively and stored in lower case,
// and its value.
type MetadataEntry struct {
	Name  string
	Value []byte
}

// ErrMetadataTooMany is returned when a SetMetadata would leave more
// entries than allowed (IMAP NO [METADATA TOOMANY]); nothing changed.
var ErrMetadataTooMany = errors.New("too many metadata entries")

// Quota values for Account.QuotaBytes and Account.QuotaMessages.
const (
	QuotaDefault   int64 = -1 // use the store's configured default
	QuotaUnlimited int64 = 0
)

// Special-use attributes (RFC 6154).
const (
	SpecialAll     = `\All`
	SpecialArchive = `\Archive`
	SpecialDrafts  = `\Drafts`
	SpecialFlagged = `\Flagged`
	SpecialJunk    = `\Junk`
	SpecialSent    = `\Sent`
	SpecialTrash   = `\Trash`
)

// DefaultMailboxes are created with every new account.
var DefaultMailboxes = []NewMailbox{
	{Name: "INBOX", Subscribed: true},
	{Name: "Drafts", SpecialUse: SpecialDrafts, Subscribed: true},
	{Name: "Sent", SpecialUse: SpecialSent, Subscribed: true},
	{Name: "Trash", SpecialUse: SpecialTrash, Subscribed: true},
	{Name: "Junk", SpecialUse: SpecialJunk, Subscribed: true},
	{Name: "Archive", SpecialUse: SpecialArchive, Subscribed: true},
}

// Domain is a local mail domain.
type Domain struct {
	Name     string // lower case
	CatchAll string // address that receives mail for unknown local parts; "" for none
}

// Account is one user's mailbox set.
type Account struct {
	ID            int64
	Address       string // canonical: local part as given, domain lower case
	PasswordHash  string // PHC string (argon2id), never a password
	SCRAM         string // SCRAM-SHA-256 keys (sasl.SCRAMKeys.String), "" when none; never a password
	QuotaBytes    int64  // QuotaDefault, QuotaUnlimited or a limit in bytes
	QuotaMessages int64  // QuotaDefault, QuotaUnlimited or a limit in messages
	UsedBytes     int64  // sum of the sizes of every message row
	UsedMessages  int64  // number of message rows
	Created       time.Time
}

// Limits are the effective quota limits of an account; 0 is unlimited.
type Limits struct {
	Bytes    int64
	Messages int64
}

// Alias maps one address to one or more targets (account addresses).
type Alias struct {
	Address string
	Targets []string
}

// NewAccount describes an account to create.
type NewAccount struct {
	Address       string
	PasswordHash  string
	SCRAM         string // "" for none
	QuotaBytes    int64
	QuotaMessages int64
	Mailboxes     []NewMailbox // created in the same transaction; nil means DefaultMailboxes
}

// NewMailbox describes a mailbox to create.
type NewMailbox struct {
	Name       string
	SpecialUse string
	Subscribed bool
}

// Mailbox is one folder of an account.
type Mailbox struct {
	ID            int64
	AccountID     int64
	Name          string // full name, hierarchy delimiter '/', UTF-8; "INBOX" for the inbox
	SpecialUse    string
	Subscribed    bool
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      int64
	Size          int64
	// FirstRecent is the lowest UID that no session has SELECTed yet:
	// messages from it up are \Recent (RFC 3501 §2.3.2) to the next
	// session that claims them (ClaimRecent).
	FirstRecent uint32
}

// Message is one message row of a mailbox.
type Message struct {
	MailboxID    int64
	UID          uint32
	EmailID      int64 // account-wide id, unique and never reused; kept by Move (POP3 UIDL, RFC 8474 EMAILID)
	ModSeq       uint64
	Flags        []string // system flags (`\Seen`…) and keywords, sorted
	InternalDate time.Time
	SaveDate     time.Time
	Size         int64
	BlobID       string
	Structure    []byte // opaque to the store: message.Structure, encoded
}

// AppendMessage is one message to add to a mailbox. The body must already be
// written to the store's blob storage (Store.Blobs).
type AppendMessage struct {
	MailboxID    int64
	Body         BlobRef
	Flags        []string
	InternalDate time.Time
	Structure    []byte
}

// BlobRef names a finished body that is not yet referenced: durable in the
// store's blob storage, or, when Data is set, carried whole in the ref, to
// be stored with the index rows that reference it (small bodies, which
// then cost no fsync of their own).
type BlobRef struct {
	ID   string
	Size int64
	Data []byte
}

// AppendResult tells where a message landed.
type AppendResult struct {
	MailboxID   int64
	UIDValidity uint32
	UID         uint32
	ModSeq      uint64
	EmailID     int64
}

// FlagOp is how SetFlags combines the given flags with the current ones.
type FlagOp int

const (
	FlagsReplace FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// FlagUpdate is the outcome of SetFlags for one message.
type FlagUpdate struct {
	UID    uint32
	Flags  []string
	ModSeq uint64
}

// UIDPair maps a source UID to the UID it got in the destination mailbox.
type UIDPair struct {
	From, To uint32
}

// CopyResult is the outcome of Copy or Move (RFC 4315 COPYUID).
type CopyResult struct {
	UIDValidity uint32 // of the destination
	Pairs       []UIDPair
}

// ChangeKind tells what a Change did.
type ChangeKind int

const (
	ChangeAppend ChangeKind = iota + 1
	ChangeFlags
	ChangeExpunge
	ChangeMailboxCreate
	ChangeMailboxRename
	ChangeMailboxDelete
	// ChangeAccountDelete is the last change of an account: its row
	// outlives the account, so other processes learn of the deletion.
	ChangeAccountDelete
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeAppend:
		return "append"
	case ChangeFlags:
		return "flags"
	case ChangeExpunge:
		return "expunge"
	case ChangeMailboxCreate:
		return "mailbox-create"
	case ChangeMailboxRename:
		return "mailbox-rename"
	case ChangeMailboxDelete:
		return "mailbox-delete"
	case ChangeAccountDelete:
		return "account-delete"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Change is one committed change in an account's change feed. Seq is
// account-wide and strictly increasing in commit order. A session that sees a
// Change for its mailbox resyncs from its last known MODSEQ.
type Change struct {
	Seq       int64
	Kind      ChangeKind
	MailboxID int64
	Mailbox   string // name after the change
	ModSeq    uint64 // the mailbox's HIGHESTMODSEQ after the change (0 for mailbox changes)
	UIDs      []uint32
}

// Problem is one inconsistency found by Check.
type Problem struct {
	What   string
	Repair string // what --repair did or would do; "" when it cannot be repaired
}

// CheckReport is the outcome of Store.Check.
type CheckReport struct {
	Accounts  int
	Mailboxes int
	Messages  int
	Blobs     int
	InFlight  int // young unreferenced bodies, likely deliveries still committing
	Problems  []Problem
	Repaired  int
}

// Store is a mail store. Every method takes a context; cancelling it abandons
// the operation before commit (never half-way).
type Store interface {
	// Domains.
	CreateDomain(ctx context.Context, name string) error
	DeleteDomain(ctx context.Context, name string) error
	Domains(ctx context.Context) ([]Domain, error)
	SetCatchAll(ctx context.Context, domain, target string) error

	// Accounts. Addresses are matched case-insensitively.
	CreateAccount(ctx context.Context, a NewAccount) (*Account, error)
	Account(ctx context.Context, address string) (*Account, error)
	AccountByID(ctx context.Context, id int64) (*Account, error)
	Accounts(ctx context.Context) ([]Account, error)
	DeleteAccount(ctx context.Context, address string) error
	// SetPasswordHash replaces the password hash and clears the SCRAM
	// keys in the same change, so keys of an old password never outlive it.
	SetPasswordHash(ctx context.Context, address, hash string) error
	// SetSCRAM stores SCRAM keys made from the password whose hash is
	// passwordHash, only while the account still has that hash
	// (ErrNotFound otherwise, also for an unknown account): keys computed
	// at a login never land after a concurrent password change.
	SetSCRAM(ctx context.Context, address, passwordHash, scram string) error
	SetQuota(ctx context.Context, address string, bytes, messages int64) error
	// Limits resolves QuotaDefault to the store's configured default.
	Limits(a *Account) Limits

	// Aliases.
	AddAlias(ctx context.Context, address, target string) error
	DeleteAlias(ctx context.Context, address, target string) error // target "" deletes every target
	Aliases(ctx context.Context) ([]Alias, error)
	AliasTargets(ctx context.Context, address string) ([]string, error) // nil when not an alias

	// Mailboxes. The name "INBOX" is matched case-insensitively.
	CreateMailbox(ctx context.Context, accountID int64, m NewMailbox) (*Mailbox, error)
	Mailbox(ctx context.Context, accountID int64, name string) (*Mailbox, error)
	MailboxByID(ctx context.Context, accountID, id int64) (*Mailbox, error)
	Mailboxes(ctx context.Context, accountID int64) ([]Mailbox, error)
	RenameMailbox(ctx context.Context, accountID int64, from, to string) error
	DeleteMailbox(ctx context.Context, accountID int64, name string) error
	// SetSubscribed adds a mailbox's name to the account's subscription
	// list (ErrNotFound when no such mailbox exists) or removes a name
	// from it (whether or not the mailbox exists). Deleting a mailbox
	// leaves its name subscribed (RFC 9051 §6.3.7); renaming one moves its
	// subscription; creating one whose name is subscribed makes it
	// Subscribed.
	SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error
	// Subscriptions lists the subscribed names, existing or not, sorted.
	Subscriptions(ctx context.Context, accountID int64) ([]string, error)
	// Metadata lists the METADATA entries (RFC 5464) of a mailbox, or of
	// the account's server when mailboxID is 0, sorted by name.
	Metadata(ctx context.Context, accountID, mailboxID int64) ([]MetadataEntry, error)
	// SetMetadata sets entries of a mailbox (0: the server), all or
	// nothing; a nil Value deletes the entry. It fails with
	// ErrMetadataTooMany when more than maxEntries (0: no limit) would be
	// left, and ErrNotFound when the mailbox is gone.
	SetMetadata(ctx context.Context, accountID, mailboxID int64, entries []MetadataEntry, maxEntries int) error
	// ClaimRecent takes the \Recent messages of a mailbox up to UID upTo
	// for one session (RFC 3501 §2.3.2: only one session sees a message as
	// recent): it returns the first UID claimed, so the session's recent
	// messages are [first, upTo], or 0 when another session has them all.
	ClaimRecent(ctx context.Context, accountID, mailboxID int64, upTo uint32) (uint32, error)

	// Bodies. NewBody returns a writer for a new body file; its Commit makes
	// the bytes durable and returns a BlobRef to pass to Append.
	NewBody(ctx context.Context) (BodyWriter, error)
	OpenBody(ctx context.Context, blobID string) (Body, error)
	// OpenBodies opens several bodies at once, in one round trip where
	// the backend can: out[i] is blobIDs[i]'s body, or nil with errs[i]
	// (ErrBodyMissing when it is gone) — one failure does not stop the
	// others. err is a failure of the whole lookup.
	OpenBodies(ctx context.Context, blobIDs []string) (out []Body, errs []error, err error)

	// Messages. Append adds all messages or none; each must fit the account's
	// quota when enforceQuota is set (ErrOverQuota otherwise).
	Append(ctx context.Context, accountID int64, msgs []AppendMessage, enforceQuota bool) ([]AppendResult, error)
	// Messages lists a mailbox's messages with UID >= fromUID, in UID order.
	Messages(ctx context.Context, accountID, mailboxID int64, fromUID uint32) ([]Message, error)
	// ChangedSince lists a mailbox's messages whose MODSEQ is greater than
	// modseq (0: every message), in UID order, without Structure: the
	// light index a session keeps of its selected mailbox (RFC 7162
	// CHANGEDSINCE and resync).
	ChangedSince(ctx context.Context, accountID, mailboxID int64, modseq uint64) ([]Message, error)
	// MessagesByUID loads the given messages (missing UIDs skipped) in UID
	// order, with Structure.
	MessagesByUID(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]Message, error)
	// SetFlags changes flags of the given UIDs (missing UIDs are skipped).
	// With unchangedSince > 0, messages whose MODSEQ is greater are not
	// changed and are returned in the second result (RFC 7162 UNCHANGEDSINCE).
	SetFlags(ctx context.Context, accountID, mailboxID int64, uids []uint32, op FlagOp, flags []string, unchangedSince uint64) ([]FlagUpdate, []uint32, error)
	Copy(ctx context.Context, accountID, fromMailbox, toMailbox int64, uids []uint32, enforceQuota bool) (*CopyResult, error)
	Move(ctx context.Context, accountID, fromMailbox, toMailbox int64, uids []uint32) (*CopyResult, error)
	// Expunge removes the given UIDs, or with uids nil every message flagged
	// \Deleted; it returns the UIDs removed.
	Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error)
	// ExpungeDeleted removes those of uids that are flagged \Deleted when
	// it runs (RFC 4315 UID EXPUNGE), or with uids nil every \Deleted
	// message; an empty, non-nil uids removes nothing.
	ExpungeDeleted(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error)
	// Vanished lists UIDs expunged from a mailbox with MODSEQ > since.
	Vanished(ctx context.Context, accountID, mailboxID int64, since uint64) ([]uint32, error)

	// Change feed. Only the recent past is kept (at least the last 10,000
	// changes of an account); a reader that fell further behind resyncs by
	// MODSEQ.
	Changes(ctx context.Context, accountID int64, sinceSeq int64) ([]Change, error)
	LastChange(ctx context.Context, accountID int64) (int64, error)
	// Watch returns a channel that receives a value (coalesced) whenever the
	// account's change feed may have grown, and a func to stop watching.
	Watch(accountID int64) (<-chan struct{}, func())
	// WatchFunc calls fn (quick, non-blocking) at each such wake-up until
	// the returned func is called.
	WatchFunc(accountID int64, fn func()) func()
	// Live returns the process's hot mailbox state, kept current with every
	// commit of this store and of others on the same data.
	Live() *Live

	// Check verifies the store: every message has its body, counters and
	// reference counts match, no orphan bodies. With repair it fixes what it can.
	Check(ctx context.Context, repair bool) (*CheckReport, error)

	POP3Store
	SieveStore

	Close() error
}

// BodyWriter writes one new message body. Commit makes it durable (or
// hands it back whole in the BlobRef, for Append to store with the index);
// Abort removes it.
type BodyWriter interface {
	io.Writer
	Commit() (BlobRef, error)
	Abort()
}

// Body is a stored message body.
type Body interface {
	io.ReaderAt
	io.ReadSeekCloser
	Size() int64
}
