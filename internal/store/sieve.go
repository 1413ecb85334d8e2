package store

import (
	"context"
	"errors"
	"time"
)

// ErrScriptActive is returned when the active Sieve script would be deleted
// (ManageSieve answers NO (ACTIVE), RFC 5804 §2.10).
var ErrScriptActive = errors.New("script is active")

// SieveScript is one stored Sieve script of an account. Names are compared
// exactly (RFC 5804 §1.6: script names are case-sensitive).
type SieveScript struct {
	Name    string
	Content []byte // nil in listings
	Size    int64
	Active  bool
	Updated time.Time
}

// ErrOutboxFull is returned when queueing would pass an OutboxLimits
// bound; nothing was changed.
var ErrOutboxFull = errors.New("outbox full")

// Outbox message kinds: what becomes of a message that cannot be sent.
const (
	// OutboxRedirect is a message someone else sent, passed on by a
	// filter: on failure it is bounced or kept, never dropped.
	OutboxRedirect = "redirect"
	// OutboxVacation is an auto-reply: on failure it is dropped.
	OutboxVacation = "vacation"
	// OutboxDSN is a delivery status notification (RFC 3464): on failure
	// it is dropped (a bounce is never bounced).
	OutboxDSN = "dsn"
)

// NewOutboxMessage is a message that filters send (a vacation reply, a
// redirect), to be handed to the relay.
type NewOutboxMessage struct {
	Kind string   // OutboxRedirect, OutboxVacation, OutboxDSN; "" is OutboxRedirect
	From string   // envelope sender; "" for the null sender
	To   []string // envelope recipients
	Data []byte   // the whole message, CRLF line endings
}

// OutboxLimits bound what a delivery may queue: the bytes queued for one
// account (further bounded by the account's storage quota, so that mail a
// filter sends cannot hold more than the account could store) and for all
// accounts. 0 is no limit.
type OutboxLimits struct {
	PerAccount int64
	Total      int64
}

// OutboxMessage is a queued outgoing message.
type OutboxMessage struct {
	ID          int64
	AccountID   int64
	Kind        string // as NewOutboxMessage.Kind; never ""
	From        string
	To          []string
	Data        []byte
	Queued      time.Time
	Attempts    int       // handed to a sender this many times
	NextAttempt time.Time // not claimed again before this
	LastError   string
}

// VacationReply is an auto-reply that is queued only when no reply went to
// Sender under Handle within Period (RFC 5230 §4.6). The check and the record
// are made in the delivery's transaction, so concurrent deliveries from one
// sender queue one reply.
type VacationReply struct {
	Handle  string
	Sender  string // matched case-insensitively
	Period  time.Duration
	Message NewOutboxMessage
}

// FilteredDelivery is everything one Sieve-filtered delivery to one account
// does. The store commits it all or nothing: the copies, the outgoing
// messages and the vacation records.
type FilteredDelivery struct {
	Messages     []AppendMessage // may be empty (discard, redirect, reject)
	EnforceQuota bool
	Outbox       []NewOutboxMessage
	Vacation     []VacationReply
	// OutboxLimits bound Outbox and Vacation: past them the delivery
	// fails with ErrOutboxFull when it has Outbox messages, and vacation
	// replies are not queued (FilteredResult.VacationFull).
	OutboxLimits OutboxLimits
}

// FilteredResult is the outcome of DeliverFiltered.
type FilteredResult struct {
	Appended     []AppendResult
	VacationSent []bool // per FilteredDelivery.Vacation: false when one was sent within its period, or the outbox was full
	VacationFull bool   // a reply was due but not queued: the outbox limits
}

// SieveStore keeps Sieve scripts, the outbox of mail that filters send and
// the vacation reply records. Limits on script size and count are enforced
// by internal/sieve, not here.
type SieveStore interface {
	// SieveScripts lists the account's scripts by name, without content.
	SieveScripts(ctx context.Context, accountID int64) ([]SieveScript, error)
	// SieveScript returns one script with its content (ErrNotFound).
	SieveScript(ctx context.Context, accountID int64, name string) (*SieveScript, error)
	// ActiveSieveScript returns the active script, or nil when none is.
	ActiveSieveScript(ctx context.Context, accountID int64) (*SieveScript, error)
	// PutSieveScript creates a script or replaces its content; an active
	// script stays active.
	PutSieveScript(ctx context.Context, accountID int64, name string, content []byte) error
	// RenameSieveScript renames a script (ErrNotFound, ErrExists); the
	// active script stays active under its new name.
	RenameSieveScript(ctx context.Context, accountID int64, from, to string) error
	// DeleteSieveScript deletes an inactive script (ErrNotFound, ErrScriptActive).
	DeleteSieveScript(ctx context.Context, accountID int64, name string) error
	// ActivateSieveScript makes name the only active script; "" leaves
	// none active.
	ActivateSieveScript(ctx context.Context, accountID int64, name string) error

	// DeliverFiltered applies a filtered delivery in one transaction.
	DeliverFiltered(ctx context.Context, accountID int64, d FilteredDelivery) (*FilteredResult, error)

	// ClaimOutbox returns up to limit messages due at now and holds them
	// for lease (they are not returned again before now+lease), counting
	// an attempt for each.
	ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]OutboxMessage, error)
	// OutboxDone removes a message: sent, or given up.
	OutboxDone(ctx context.Context, id int64) error
	// OutboxRetry records a failed attempt and when to try again.
	OutboxRetry(ctx context.Context, id int64, next time.Time, lastError string) error
	// Outbox lists every queued message, oldest first.
	Outbox(ctx context.Context) ([]OutboxMessage, error)
}
