package managesieve

import "context"

// Backend authenticates users and describes the Sieve engine. Its methods
// are called from many connections at once.
type Backend interface {
	// Authenticate checks a user's password (from SASL PLAIN, RFC 4616) and
	// returns that user's scripts. Bad credentials are reported with an
	// error wrapping ErrAuthFailed (or ErrAuthTooWeak when policy forbids
	// password logins for this user); the server then waits
	// Options.AuthFailDelay before answering NO. Any other error is
	// answered with NO (TRYLATER) and logged. ctx ends when the connection
	// closes.
	Authenticate(ctx context.Context, username, password string) (Scripts, error)

	// Extensions lists the Sieve extensions (the names used in "require")
	// the engine supports, for the SIEVE capability (RFC 5804 §1.7). It is
	// called for every capability response and should be cheap.
	Extensions() []string
}

// ScriptInfo is one entry of a LISTSCRIPTS response.
type ScriptInfo struct {
	Name   string
	Active bool
}

// Scripts is one authenticated user's script store. It is used by one
// connection at a time (one command after another), but one user may have
// several connections, each with its own Scripts, at once: the
// implementation keeps its own data consistent.
//
// Script names given to Scripts have been checked by the server: valid
// UTF-8 without control characters (RFC 5804 §1.6), at most MaxNameLength
// octets, and not empty (except for SetActive). Script contents are passed
// as received, at most Options.MaxScriptSize octets.
//
// Errors are mapped to responses in one place (errors.go): ErrNotFound,
// ErrExists, ErrActive, ErrQuota, ErrQuotaSize, ErrQuotaCount (wrapped or
// not) and *ScriptError each have their response; any other error is
// answered with NO (TRYLATER) and logged, and its text never reaches the
// client.
// AccountScripts is implemented by Scripts that belong to a store account,
// so that Server.EndAccount can find the sessions of a deleted account.
type AccountScripts interface {
	AccountID() int64
}

type Scripts interface {
	// Owner is the canonical name of the user, sent as the OWNER
	// capability (RFC 5804 §1.7) and used in log lines.
	Owner() string

	// List returns every script with its active flag; at most one is
	// active (RFC 5804 §1.4). The order is kept in the response.
	List(ctx context.Context) ([]ScriptInfo, error)

	// Get returns a script's content, or ErrNotFound.
	Get(ctx context.Context, name string) (string, error)

	// Put checks content and, if it is a valid script, stores it under
	// name, replacing a script of that name (RFC 5804 §2.6). Replacing the
	// active script keeps it active. A script that does not compile is
	// reported with a *ScriptError and nothing is stored. warnings, when
	// not empty, is sent to the client in an OK (WARNINGS) response. Quota
	// errors: ErrQuotaSize, ErrQuotaCount, ErrQuota.
	Put(ctx context.Context, name, content string) (warnings string, err error)

	// Check checks content as Put does, without storing anything (RFC 5804
	// §2.12).
	Check(ctx context.Context, content string) (warnings string, err error)

	// Delete removes a script: ErrNotFound if there is none of that name,
	// ErrActive if it is the active script (RFC 5804 §2.10).
	Delete(ctx context.Context, name string) error

	// Rename renames a script, keeping its active flag: ErrNotFound if from
	// does not exist, ErrExists if to does (RFC 5804 §2.11).
	Rename(ctx context.Context, from, to string) error

	// SetActive makes name the active script, deactivating any other
	// (ErrNotFound if there is no such script). The empty name deactivates
	// the active script, if any, and succeeds when there is none (RFC 5804
	// §2.8).
	SetActive(ctx context.Context, name string) error

	// HaveSpace reports whether a script of size octets could be stored
	// under name, replacing any script of that name (RFC 5804 §2.5): nil,
	// or ErrQuotaSize, ErrQuotaCount, ErrQuota. The server has already
	// refused sizes above Options.MaxScriptSize.
	HaveSpace(ctx context.Context, name string, size int64) error
}
