package sieve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"mailroom/internal/store"
)

// Errors of the script management methods; callers test them with
// errors.Is. A script that does not compile is a *CheckError.
var (
	ErrNotFound = errors.New("no such script")      // ManageSieve NO (NONEXISTENT)
	ErrExists   = errors.New("script exists")       // NO (ALREADYEXISTS)
	ErrActive   = errors.New("script is active")    // NO (ACTIVE)
	ErrQuota    = errors.New("sieve quota")         // NO (QUOTA)
	ErrBadName  = errors.New("invalid script name") // NO
	// ErrQuotaMaxSize and ErrQuotaMaxScripts are ErrQuota, with the codes
	// QUOTA/MAXSIZE and QUOTA/MAXSCRIPTS (RFC 5804 §1.3).
	ErrQuotaMaxSize    = fmt.Errorf("%w: script too large", ErrQuota)
	ErrQuotaMaxScripts = fmt.Errorf("%w: too many scripts", ErrQuota)
)

// MaxNameLen bounds script names (RFC 5804 §1.6 lets servers limit them).
const MaxNameLen = 512

// ScriptInfo is one script in a listing.
type ScriptInfo struct {
	Name   string
	Active bool
	Size   int64
}

// ValidName checks a script name (RFC 5804 §1.6: UTF-8 without control
// characters, U+2028 or U+2029).
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	return nil
}

// Check compiles a script without running it: nil, or a *CheckError with
// the line and column of the first problem (unknown extensions, syntax,
// bad mailbox names in fileinto…). Included scripts are not read.
func Check(script []byte) error {
	_, err := compile(context.Background(), script, nil)
	return err
}

// Check is Check with the Runtime's limits: its script size, and no
// redirect when no relay could send it (Options.NoRelay).
func (r *Runtime) Check(script []byte) error {
	if r.opts.MaxScriptSize > 0 && int64(len(script)) > r.opts.MaxScriptSize {
		return fmt.Errorf("%w (%d bytes, at most %d)", ErrQuotaMaxSize, len(script), r.opts.MaxScriptSize)
	}
	return r.check(script)
}

func (r *Runtime) check(script []byte) error {
	c := &compiler{ctx: context.Background(), included: map[string]bool{}, noRedirect: r.opts.NoRelay}
	_, err := c.compile(script)
	return err
}

// mapErr turns the store's errors into this package's, keeping the detail
// ("script NAME") once.
func mapErr(err error) error {
	for _, m := range []struct{ from, to error }{
		{store.ErrNotFound, ErrNotFound}, {store.ErrExists, ErrExists}, {store.ErrScriptActive, ErrActive},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %s", m.to, strings.TrimSuffix(err.Error(), ": "+m.from.Error()))
		}
	}
	return err
}

// List lists an account's scripts by name.
func (r *Runtime) List(ctx context.Context, accountID int64) ([]ScriptInfo, error) {
	list, err := r.st.SieveScripts(ctx, accountID)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]ScriptInfo, len(list))
	for i, s := range list {
		out[i] = ScriptInfo{Name: s.Name, Active: s.Active, Size: s.Size}
	}
	return out, nil
}

// Get returns a script's content.
func (r *Runtime) Get(ctx context.Context, accountID int64, name string) ([]byte, error) {
	s, err := r.st.SieveScript(ctx, accountID, name)
	if err != nil {
		return nil, mapErr(err)
	}
	return s.Content, nil
}

// HaveSpace tells whether a script of size bytes may be stored under name
// (RFC 5804 §2.5): nil, ErrQuotaMaxSize or ErrQuotaMaxScripts.
func (r *Runtime) HaveSpace(ctx context.Context, accountID int64, name string, size int64) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if r.opts.MaxScriptSize > 0 && size > r.opts.MaxScriptSize {
		return fmt.Errorf("%w (%d bytes, at most %d)", ErrQuotaMaxSize, size, r.opts.MaxScriptSize)
	}
	if r.opts.MaxScripts > 0 {
		list, err := r.st.SieveScripts(ctx, accountID)
		if err != nil {
			return mapErr(err)
		}
		n := len(list)
		for _, s := range list {
			if s.Name == name {
				n-- // replacing
			}
		}
		if n+1 > r.opts.MaxScripts {
			return fmt.Errorf("%w (at most %d)", ErrQuotaMaxScripts, r.opts.MaxScripts)
		}
	}
	return nil
}

// Put checks a script and stores it, creating or replacing name. An active
// script stays active.
func (r *Runtime) Put(ctx context.Context, accountID int64, name string, script []byte) error {
	if err := r.HaveSpace(ctx, accountID, name, int64(len(script))); err != nil {
		return err
	}
	if err := r.check(script); err != nil {
		return err
	}
	return mapErr(r.st.PutSieveScript(ctx, accountID, name, script))
}

// Delete deletes an inactive script.
func (r *Runtime) Delete(ctx context.Context, accountID int64, name string) error {
	return mapErr(r.st.DeleteSieveScript(ctx, accountID, name))
}

// Rename renames a script; the active one stays active.
func (r *Runtime) Rename(ctx context.Context, accountID int64, from, to string) error {
	if err := ValidName(to); err != nil {
		return err
	}
	return mapErr(r.st.RenameSieveScript(ctx, accountID, from, to))
}

// SetActive makes name the active script; "" deactivates every script.
func (r *Runtime) SetActive(ctx context.Context, accountID int64, name string) error {
	return mapErr(r.st.ActivateSieveScript(ctx, accountID, name))
}
