package managesieve

import (
	"errors"
)

// Errors a Backend or Scripts returns, each answered with its NO response
// (RFC 5804 §1.3). They may be wrapped.
var (
	// ErrAuthFailed: wrong user name or password. NO "Authentication failed".
	ErrAuthFailed = errors.New("managesieve: authentication failed")
	// ErrAuthTooWeak: policy forbids this mechanism for this user.
	// NO (AUTH-TOO-WEAK).
	ErrAuthTooWeak = errors.New("managesieve: authentication mechanism too weak")
	// ErrNotFound: no script of that name. NO (NONEXISTENT).
	ErrNotFound = errors.New("managesieve: no such script")
	// ErrExists: the new name of RENAMESCRIPT is taken. NO (ALREADYEXISTS).
	ErrExists = errors.New("managesieve: script already exists")
	// ErrActive: DELETESCRIPT of the active script. NO (ACTIVE).
	ErrActive = errors.New("managesieve: script is active")
	// ErrQuota: some quota other than size or count. NO (QUOTA).
	ErrQuota = errors.New("managesieve: quota exceeded")
	// ErrQuotaSize: the script, or the user's scripts together, would be
	// too big. NO (QUOTA/MAXSIZE).
	ErrQuotaSize = errors.New("managesieve: script size quota exceeded")
	// ErrQuotaCount: the user has as many scripts as allowed.
	// NO (QUOTA/MAXSCRIPTS).
	ErrQuotaCount = errors.New("managesieve: script count quota exceeded")
)

// ScriptError is a script that does not compile. Message is sent to the
// client as it is (it may span lines; it should name line numbers), in a
// NO response to PUTSCRIPT or CHECKSCRIPT (RFC 5804 §2.6, §2.12).
type ScriptError struct {
	Message string
}

func (e *ScriptError) Error() string { return "managesieve: invalid script: " + e.Message }

// Response codes (RFC 5804 §1.3).
const (
	codeAuthTooWeak   = "AUTH-TOO-WEAK"
	codeEncryptNeeded = "ENCRYPT-NEEDED"
	codeQuota         = "QUOTA"
	codeQuotaCount    = "QUOTA/MAXSCRIPTS"
	codeQuotaSize     = "QUOTA/MAXSIZE"
	codeNonexistent   = "NONEXISTENT"
	codeActive        = "ACTIVE"
	codeAlreadyExists = "ALREADYEXISTS"
	codeWarnings      = "WARNINGS"
	codeTryLater      = "TRYLATER"
)

// response is one OK, NO or BYE response (RFC 5804 §1.3). code is the
// response code as sent, without the parentheses: an atom, or an atom and
// a string already encoded (TAG, SASL).
type response struct {
	status string // "OK", "NO" or "BYE"
	code   string
	text   string // sent as a string (quoted or literal); omitted when empty
}

func no(code, text string) response { return response{status: "NO", code: code, text: text} }

var (
	respInternal   = no(codeTryLater, "Internal error, try again later")
	respAuthFailed = no("", "Authentication failed")
)

// toResponse maps an error from the Backend or Scripts to the response sent
// to the client. Unknown errors become NO (TRYLATER) and internal is true:
// the caller logs err, which never reaches the client.
func toResponse(err error) (r response, internal bool) {
	var se *ScriptError
	switch {
	case errors.As(err, &se):
		msg := se.Message
		if msg == "" {
			msg = "Invalid script"
		}
		return no("", msg), false
	case errors.Is(err, ErrNotFound):
		return no(codeNonexistent, "There is no script of that name"), false
	case errors.Is(err, ErrExists):
		return no(codeAlreadyExists, "A script of that name already exists"), false
	case errors.Is(err, ErrActive):
		return no(codeActive, "The active script cannot be deleted"), false
	case errors.Is(err, ErrQuotaSize):
		return no(codeQuotaSize, "Script size quota exceeded"), false
	case errors.Is(err, ErrQuotaCount):
		return no(codeQuotaCount, "Too many scripts"), false
	case errors.Is(err, ErrQuota):
		return no(codeQuota, "Quota exceeded"), false
	case errors.Is(err, ErrAuthTooWeak):
		return no(codeAuthTooWeak, "Authentication mechanism too weak for this user"), false
	case errors.Is(err, ErrAuthFailed):
		return respAuthFailed, false
	}
	return respInternal, true
}
