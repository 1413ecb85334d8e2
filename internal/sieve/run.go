package sieve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/migadu/go-sieve/interp"

	"mailroom/internal/directory"
	"mailroom/internal/store"
)

// Options configure a Runtime.
type Options struct {
	MaxScriptSize int64 // bytes; 0: unlimited
	MaxScripts    int   // per account; 0: unlimited
	MaxRedirects  int   // redirect actions per message; 0: DefaultMaxRedirects
	Hostname      string
	Timeout       time.Duration // one script run; 0: DefaultTimeout
	Logger        *slog.Logger
	// VacationMinPeriod is the shortest time between two vacation replies
	// to one sender: a script's shorter :days or :seconds is raised to it
	// (RFC 5230 §4.1). 0: DefaultVacationMinPeriod; negative: no minimum.
	VacationMinPeriod time.Duration
	// OwnsAddress says whether addr is one of the account's own addresses
	// (the account itself, an alias of it, or a plus-form of either). A
	// vacation reply is sent From such an address only; nil accepts the
	// account's address and its plus-forms.
	OwnsAddress func(ctx context.Context, acc *store.Account, addr string) (bool, error)
	// NoRelay says that no relay sends the outbox: Put and Check refuse a
	// script that redirects, since it could never send the mail on.
	NoRelay bool
}

// Defaults.
const (
	DefaultMaxRedirects = 4
	DefaultTimeout      = 10 * time.Second
	// DefaultVacationMinPeriod is RFC 5230 §4.1's suggested minimum.
	DefaultVacationMinPeriod = 24 * time.Hour
	// maxBodyScan bounds what the body test (RFC 5173) reads.
	maxBodyScan = 8 << 20
	// maxHops is the number of Received fields at which a message is taken
	// to loop (RFC 5321 §6.3 suggests at least 100 for MTAs; redirects
	// give up sooner).
	maxHops = 50
)

// Runtime runs accounts' active scripts at delivery and manages scripts
// (the Manage* methods) for the CLI and ManageSieve.
type Runtime struct {
	st   store.Store
	opts Options
	log  *slog.Logger
}

// New returns a Runtime over st.
func New(st store.Store, opts Options) *Runtime {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxRedirects <= 0 {
		opts.MaxRedirects = DefaultMaxRedirects
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.VacationMinPeriod == 0 {
		opts.VacationMinPeriod = DefaultVacationMinPeriod
	}
	return &Runtime{st: st, opts: opts, log: opts.Logger}
}

// Input is one message for one recipient.
type Input struct {
	Account *store.Account
	Script  *store.SieveScript // the account's active script
	From    string             // envelope sender; "" for the null sender
	To      string             // envelope recipient as given (with its detail)
	// Header is the header block the recipient's copy starts with (the
	// delivery's trace fields included), ending with the blank line.
	Header []byte
	Size   int64
	// Body returns the bytes after the header block; read only for the
	// body test.
	Body func() ([]byte, error)
}

// Keep is one copy to store.
type Keep struct {
	Mailbox  string   // canonical name; "" for the default location (implicit keep)
	Create   bool     // RFC 5490 :create
	Flags    []string // normalized
	Edits    int      // how many of Result.Edits apply to this copy
	Implicit bool
}

// Redirect is one redirect (RFC 5228 §4.2).
type Redirect struct {
	Address string
	Edits   int
}

// Result is what a script decided for one message and recipient.
type Result struct {
	Keeps     []Keep // no copy at all: discarded (or rejected, redirected)
	Redirects []Redirect
	// Reject is set by reject/ereject (RFC 5429): the recipient is
	// answered 550 5.7.1 with RejectReason; nothing is stored.
	Reject       bool
	RejectReason string
	// Vacation is the auto-reply to queue, if one is due (RFC 5230);
	// VacationSkipped says why none is when the script asked for one.
	Vacation        *store.VacationReply
	VacationSkipped string
	Edits           []HeaderEdit
	// Err is why the script failed; the Result is then the implicit keep
	// into INBOX (a message is never lost because of a filter).
	Err error
}

// Fallback is the result of a failed script: one copy in INBOX.
func Fallback(err error) *Result {
	return &Result{Keeps: []Keep{{Mailbox: "INBOX", Implicit: true}}, Err: err}
}

// Active returns the account's active script, nil when none.
func (r *Runtime) Active(ctx context.Context, accountID int64) (*store.SieveScript, error) {
	return r.st.ActiveSieveScript(ctx, accountID)
}

// Run runs in.Script for one message. It never fails: a script that does
// not compile or fails at run time gives Fallback (logged).
func (r *Runtime) Run(ctx context.Context, in *Input) (res *Result) {
	defer func() {
		if p := recover(); p != nil {
			res = Fallback(&panicError{value: p})
		}
		if res.Err != nil {
			r.log.Warn("sieve script failed; keeping the message in INBOX", "account", in.Account.Address,
				"script", in.Script.Name, "rcpt", in.To, "err", res.Err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	load := func(ctx context.Context, name string) ([]byte, error) {
		sc, err := r.st.SieveScript(ctx, in.Account.ID, name)
		if err != nil {
			return nil, err
		}
		return sc.Content, nil
	}
	prog, err := compile(ctx, in.Script.Content, load)
	if err != nil {
		return Fallback(err)
	}
	fields := splitHeader(in.Header)
	msg := &message{fields: fields, size: in.Size, body: in.Body}
	pol := &policy{r: r, prog: prog, in: in, ctx: ctx, res: &Result{}}
	d := interp.NewRuntimeData(prog.script, pol, envelope{from: in.From, to: in.To, auth: ""}, msg)
	if err := prog.script.Execute(ctx, d); err != nil {
		return Fallback(err)
	}
	if err := ctx.Err(); err != nil {
		return Fallback(fmt.Errorf("script took too long: %w", err))
	}
	if pol.err != nil {
		return Fallback(pol.err)
	}
	res = pol.res
	for _, e := range d.HeaderEdits {
		res.Edits = append(res.Edits, HeaderEdit{Delete: e.Action == "delete", Name: e.FieldName, Value: e.Value,
			Last: e.Last, Index: e.Index})
	}
	if res.Reject {
		// RFC 5429 §2.1: reject does not go with keeping or forwarding.
		for _, k := range res.Keeps {
			if !k.Implicit {
				return Fallback(errors.New("reject cannot be combined with keep or fileinto"))
			}
		}
		if len(res.Redirects) > 0 {
			return Fallback(errors.New("reject cannot be combined with redirect"))
		}
		res.Keeps, res.Vacation = nil, nil
		return res
	}
	if d.ImplicitKeep && !pol.cancelKeep {
		res.addKeep(Keep{Flags: store.NormalizeFlags(d.Flags), Edits: len(res.Edits), Implicit: true})
	}
	if pol.vacation != nil {
		res.Vacation, res.VacationSkipped = r.vacation(ctx, in, fields, pol.vacation)
	}
	return res
}

// panicError is a panic in a script run, recovered by Run: the message is
// kept, and tests can tell the bug from a script's own failure.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("sieve: %v", e.value) }

// addKeep adds a copy; a second action on one mailbox adds no copy
// (RFC 5228 §2.10.3) but its flags.
func (res *Result) addKeep(k Keep) {
	for i := range res.Keeps {
		if res.Keeps[i].Mailbox == k.Mailbox {
			res.Keeps[i].Flags = store.NormalizeFlags(append(res.Keeps[i].Flags, k.Flags...))
			res.Keeps[i].Create = res.Keeps[i].Create || k.Create
			return
		}
	}
	res.Keeps = append(res.Keeps, k)
}

type envelope struct{ from, to, auth string }

func (e envelope) EnvelopeFrom() string { return e.from }
func (e envelope) EnvelopeTo() string   { return e.to }
func (e envelope) AuthUsername() string { return e.auth }

type message struct {
	fields []field
	size   int64
	body   func() ([]byte, error)
	read   bool
	data   []byte
	err    error
}

func (m *message) HeaderGet(key string) ([]string, error) { return values(m.fields, key), nil }
func (m *message) MessageSize() int                       { return int(m.size) }
func (m *message) BodyRaw() ([]byte, bool, error) {
	if m.body == nil {
		return nil, false, nil
	}
	if !m.read {
		m.read = true
		m.data, m.err = m.body()
		if len(m.data) > maxBodyScan {
			m.data = m.data[:maxBodyScan]
		}
	}
	return m.data, m.err == nil, m.err
}

// vacationCall is what a vacation action asked for.
type vacationCall struct {
	spec                                   actionSpec
	reason, subject, from, handle, addrRaw string
}

// policy receives every action of the script: the compiler turned each
// into a redirect to a marker, which the library hands here with its
// strings expanded, at the point of the script where it runs.
type policy struct {
	r          *Runtime
	prog       *program
	in         *Input
	ctx        context.Context
	res        *Result
	cancelKeep bool
	vacation   *vacationCall
	err        error
}

func (p *policy) RedirectAllowed(_ context.Context, d *interp.RuntimeData, addr string) (bool, error) {
	if !strings.HasPrefix(addr, markerPrefix) {
		return false, errors.New("redirect: bad address")
	}
	rest := addr[len(markerPrefix):]
	i := strings.IndexByte(rest, 0)
	if i < 0 {
		return false, errors.New("sieve: bad action")
	}
	idx, err := strconv.Atoi(rest[:i])
	if err != nil || idx < 0 || idx >= len(p.prog.actions) {
		return false, errors.New("sieve: bad action")
	}
	spec := p.prog.actions[idx]
	var f []string
	if spec.fields > 0 {
		f = strings.SplitN(rest[i+1:], "\x00", spec.fields)
		if len(f) != spec.fields {
			return false, errors.New("sieve: action arguments hold a NUL character")
		}
	}
	flags := func() []string {
		if spec.flags {
			return store.NormalizeFlags(strings.Fields(f[len(f)-1]))
		}
		return store.NormalizeFlags(d.Flags)
	}
	edits := len(d.HeaderEdits)
	switch spec.kind {
	case actKeep:
		p.res.addKeep(Keep{Mailbox: "INBOX", Flags: flags(), Edits: edits})
	case actFileInto:
		name, err := store.CanonicalMailboxName(f[0])
		if err != nil {
			return false, fmt.Errorf("fileinto %q: %w", f[0], err)
		}
		p.res.addKeep(Keep{Mailbox: name, Create: spec.create, Flags: flags(), Edits: edits})
		if !spec.copy {
			p.cancelKeep = true
		}
	case actRedirect:
		a, err := parseAddr(f[0])
		if err != nil {
			return false, fmt.Errorf("redirect: %w", err)
		}
		if err := p.checkLoop(); err != nil {
			return false, err
		}
		dup := false
		for _, r := range p.res.Redirects {
			dup = dup || strings.EqualFold(r.Address, a)
		}
		if !dup {
			if len(p.res.Redirects) >= p.r.opts.MaxRedirects {
				return false, fmt.Errorf("redirect: more than %d redirects", p.r.opts.MaxRedirects)
			}
			p.res.Redirects = append(p.res.Redirects, Redirect{Address: a, Edits: edits})
		}
		if !spec.copy {
			p.cancelKeep = true
		}
	case actReject, actEreject:
		p.res.Reject = true
		p.res.RejectReason = oneLineReason(f[0])
		p.cancelKeep = true
	case actVacation:
		p.vacation = &vacationCall{spec: spec, reason: f[0], subject: f[1], from: f[2], handle: f[3], addrRaw: f[4]}
	}
	return false, nil
}

// MailboxExists implements the library's mailboxexists hook (RFC 5490 §3.1).
func (p *policy) MailboxExists(ctx context.Context, name string) (bool, error) {
	n, err := store.CanonicalMailboxName(name)
	if err != nil {
		return false, nil
	}
	_, err = p.r.st.Mailbox(ctx, p.in.Account.ID, n)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// checkLoop refuses to redirect a message that was already delivered to
// this recipient (it came back through a redirect) or has travelled too far.
func (p *policy) checkLoop() error {
	fields := splitHeader(p.in.Header)
	seen := 0
	for _, v := range values(fields, "Delivered-To") {
		if strings.EqualFold(v, p.in.To) || strings.EqualFold(v, p.in.Account.Address) {
			seen++
		}
	}
	// The delivery's own Delivered-To is one.
	if seen > 1 {
		return fmt.Errorf("redirect: mail loop (already delivered to %s)", p.in.To)
	}
	if n := len(values(fields, "Received")); n >= maxHops {
		return fmt.Errorf("redirect: mail loop (%d Received fields)", n)
	}
	return nil
}

func oneLineReason(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400]
	}
	if s == "" {
		s = "rejected"
	}
	return s
}

// parseAddr validates an addr-spec (RFC 5322 §3.4.1) and returns it as an
// SMTP path: net/mail unquotes the local part, so a local part that is not
// a Dot-string is quoted again (RFC 5321 §4.1.2), or `"x@elsewhere"@loop.test`
// would reach the relay as x@elsewhere@loop.test.
func parseAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("bad address %q", s)
	}
	at := strings.LastIndexByte(a.Address, '@')
	return directory.Address{Local: a.Address[:at], Domain: a.Address[at+1:]}.String(), nil
}
