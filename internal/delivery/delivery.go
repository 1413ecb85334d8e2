// Package delivery is the one road into a mailbox. SMTP, LMTP and the local
// `deliver` command hand it an envelope and the message bytes; it resolves
// each recipient (directory: plus addressing per RFC 5233, aliases,
// catch-all), picks the folder, writes the body once per recipient with the
// trace headers added (Return-Path, Delivered-To, Received: RFC 5321 §4.4,
// RFC 9228), parses the MIME structure once (internal/message) and appends
// through the store with the quota enforced.
//
// A recipient is answered OK only after the store has made its message
// durable. Each recipient has its own outcome; one recipient's failure
// never stores a partial message for it or changes another's outcome.
package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"mailroom/internal/directory"
	"mailroom/internal/message"
	"mailroom/internal/sieve"
	"mailroom/internal/store"
)

// Options configure an Agent.
type Options struct {
	Hostname         string
	PlusFolder       bool // file user+tag@ mail into folder "tag" when it exists
	PlusFolderCreate bool // … creating it when missing
	// MaxMailboxes bounds the mailboxes of an account that delivery may
	// create (plus_folder_create, Sieve fileinto :create); 0 is no limit.
	MaxMailboxes   int
	MaxMessageSize int64 // 0: unlimited
	QuotaPermanent bool  // a full mailbox is a permanent failure (552 5.2.2), not 452 4.2.2
	SpoolDir       string
	Logger         *slog.Logger
	// Sieve runs each account's active script (nil: no filtering).
	Sieve *sieve.Runtime
	// Nudge is called after a delivery queued mail for the outbox
	// (vacation replies, redirects); nil when nobody sends it now.
	Nudge func()
	// Relay says that a relay takes what the outbox sends. Without one
	// nothing is queued, since it could never leave: a Sieve redirect
	// keeps the message in the default mailbox instead, and no vacation
	// reply is sent.
	Relay bool
	// OutboxLimits bound what filters queue; a redirect past them is kept
	// instead, a vacation reply is not sent.
	OutboxLimits store.OutboxLimits
}

// Agent delivers messages.
type Agent struct {
	st   store.Store
	dir  *directory.Directory
	opts Options
	log  *slog.Logger
}

// New returns an Agent.
func New(st store.Store, dir *directory.Directory, opts Options) *Agent {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	return &Agent{st: st, dir: dir, opts: opts, log: opts.Logger}
}

// CheckRecipient is called for each RCPT: it tells early whether a recipient
// can take mail (known, local, mailbox not already full).
func (a *Agent) CheckRecipient(ctx context.Context, env *Envelope, rcpt string) error {
	res, err := a.resolve(ctx, rcpt)
	if err != nil {
		return err
	}
	for _, acc := range res.Accounts {
		l := a.st.Limits(acc)
		if l.Bytes > 0 && acc.UsedBytes >= l.Bytes || l.Messages > 0 && acc.UsedMessages >= l.Messages {
			return a.fullError()
		}
	}
	return nil
}

func (a *Agent) fullError() *Error {
	if a.opts.QuotaPermanent {
		return ErrMailboxFullPerm
	}
	return ErrMailboxFullTemp
}

func (a *Agent) resolve(ctx context.Context, rcpt string) (*directory.Resolution, error) {
	res, err := a.dir.Resolve(ctx, rcpt)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, directory.ErrBadAddress):
		return nil, ErrBadAddress
	case errors.Is(err, directory.ErrNotLocal):
		return nil, ErrRelayDenied
	case errors.Is(err, directory.ErrNoSuchUser):
		return nil, ErrNoSuchUser
	}
	a.log.Error("resolve recipient", "rcpt", rcpt, "err", err)
	return nil, ErrTemporary
}

// Deliver reads the message from body and delivers it to every recipient of
// env. It returns one error per recipient (nil: stored durably), or a single
// error when nothing could be delivered to anyone (body unreadable, too big,
// malformed).
func (a *Agent) Deliver(ctx context.Context, env *Envelope, body io.Reader) ([]error, error) {
	if err := CheckReversePath(env.From); err != nil {
		return nil, err
	}
	sp, err := a.spool(body)
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	if sp.size == 0 {
		return nil, Errorf(554, [3]int{5, 6, 0}, "empty message")
	}
	errs := make([]error, len(env.Recipients))
	type target struct {
		acc    *store.Account
		folder string             // "" for INBOX
		script *store.SieveScript // the account's active script; nil for none
		rcpts  []int              // indexes into env.Recipients
	}
	var targets []*target
	seen := map[string]*target{}
	scripts := map[int64]*store.SieveScript{}
	for i, rcpt := range env.Recipients {
		res, err := a.resolve(ctx, rcpt)
		if err != nil {
			errs[i] = err
			continue
		}
		folder := ""
		if a.opts.PlusFolder && res.Detail != "" {
			folder = res.Detail
		}
		for _, acc := range res.Accounts {
			sc, err := a.activeScript(ctx, acc, scripts)
			if err != nil {
				errs[i] = ErrTemporary
				continue
			}
			key := fmt.Sprintf("%d/%s", acc.ID, folder)
			if sc != nil {
				// A script sees each recipient's own envelope and gives
				// each its own outcome.
				key = fmt.Sprintf("%d/%s/%s", acc.ID, folder, strings.ToLower(rcpt))
			}
			if t, ok := seen[key]; ok {
				t.rcpts = append(t.rcpts, i)
				continue
			}
			t := &target{acc: acc, folder: folder, script: sc, rcpts: []int{i}}
			seen[key] = t
			targets = append(targets, t)
		}
	}
	// Deliver to every target at once so that the store commits them in one
	// group.
	outcomes := make([]error, len(targets))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for ti, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if t.script != nil {
				outcomes[ti] = a.deliverFiltered(ctx, env, env.Recipients[t.rcpts[0]], t.acc, t.folder, t.script, sp)
			} else {
				outcomes[ti] = a.deliverOne(ctx, env, env.Recipients[t.rcpts[0]], t.acc, t.folder, sp)
			}
		}()
	}
	wg.Wait()
	// A recipient that fans out to several accounts (an alias) succeeds only
	// when every account got the message.
	for ti, t := range targets {
		for _, i := range t.rcpts {
			if errs[i] == nil && outcomes[ti] != nil {
				errs[i] = outcomes[ti]
			}
		}
	}
	for i, rcpt := range env.Recipients {
		if errs[i] != nil {
			a.log.Info("not delivered", "id", env.ID, "from", env.From, "rcpt", rcpt, "err", errs[i])
		} else {
			a.log.Info("delivered", "id", env.ID, "from", env.From, "rcpt", rcpt, "size", sp.size)
		}
	}
	return errs, nil
}

func (a *Agent) deliverOne(ctx context.Context, env *Envelope, rcpt string, acc *store.Account, folder string, sp *spool) error {
	mb, err := a.mailbox(ctx, acc, folder)
	if err != nil {
		a.log.Error("pick mailbox", "id", env.ID, "account", acc.Address, "err", err)
		return ErrTemporary
	}
	r, err := sp.reader()
	if err != nil {
		a.log.Error("spool", "err", err)
		return ErrTemporary
	}
	err = a.store(ctx, env, acc.ID, mb.ID, io.MultiReader(strings.NewReader(a.traceHeaders(env, rcpt)), r), true)
	var answer *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &answer):
		return err // writing the body failed, and said how to answer
	case errors.Is(err, store.ErrOverQuota):
		return a.fullError()
	}
	a.log.Error("append", "id", env.ID, "account", acc.Address, "err", err)
	return tempError(err)
}

// Return stores msg in the INBOX of an account as it is, outside its quota
// and its filters: mail the account sent that came back (a bounce of a
// redirect, a redirect that could not be sent at all) must end somewhere
// once it was acknowledged, and must not be filtered into another redirect.
// id names the message in logs. It fails with store.ErrNotFound when the
// account is gone.
func (a *Agent) Return(ctx context.Context, accountID int64, id string, msg []byte) error {
	acc, err := a.st.AccountByID(ctx, accountID)
	if err != nil {
		return err
	}
	mb, err := a.st.Mailbox(ctx, acc.ID, "INBOX")
	if err != nil {
		return err
	}
	return a.store(ctx, &Envelope{ID: id}, acc.ID, mb.ID, bytes.NewReader(msg), false)
}

// store writes one message into a mailbox: its body, then the index entry.
// A failure to write the body is an *Error, already logged; the store's
// own errors are returned as they are.
func (a *Agent) store(ctx context.Context, env *Envelope, accountID, mailboxID int64, src io.Reader, enforceQuota bool) error {
	ref, st, err := a.writeBody(ctx, env, src)
	if err != nil {
		return err
	}
	_, err = a.st.Append(ctx, accountID, []store.AppendMessage{{
		MailboxID:    mailboxID,
		Body:         ref,
		InternalDate: time.Now(),
		Structure:    st,
	}}, enforceQuota)
	return err
}

// tempError is the temporary failure for a store error: 452 4.3.1
// (RFC 3463 X.3.1, mail system full) when the server's disk is full,
// else 451 4.3.0.
func tempError(err error) error {
	if store.NoSpace(err) {
		return ErrNoSpace
	}
	return ErrTemporary
}

// writeBody writes one body to the store, parsing its MIME structure on
// the way (one pass over the bytes that are stored).
func (a *Agent) writeBody(ctx context.Context, env *Envelope, src io.Reader) (store.BlobRef, []byte, error) {
	w, err := a.st.NewBody(ctx)
	if err != nil {
		a.log.Error("new body", "err", err)
		return store.BlobRef{}, nil, ErrTemporary
	}
	pr, pw := io.Pipe()
	type parsed struct {
		st  *message.Structure
		err error
	}
	done := make(chan parsed, 1)
	go func() {
		st, err := message.Parse(pr)
		io.Copy(io.Discard, pr) // a parser that stopped early must not block the writer
		done <- parsed{st, err}
	}()
	_, err = io.Copy(io.MultiWriter(w, pw), src)
	pw.CloseWithError(err)
	p := <-done
	if err != nil || p.err != nil {
		w.Abort()
		a.log.Error("write body", "id", env.ID, "err", err, "parse_err", p.err)
		return store.BlobRef{}, nil, tempError(err)
	}
	ref, err := w.Commit()
	if err != nil {
		a.log.Error("commit body", "id", env.ID, "err", err)
		return store.BlobRef{}, nil, tempError(err)
	}
	return ref, p.st.Encode(), nil
}

// mailbox picks the delivery folder: the plus-address folder when it exists
// (or may be created), INBOX otherwise.
func (a *Agent) mailbox(ctx context.Context, acc *store.Account, folder string) (*store.Mailbox, error) {
	if folder != "" {
		if name, err := store.CanonicalMailboxName(folder); err == nil {
			mb, err := a.st.Mailbox(ctx, acc.ID, name)
			if err == nil {
				return mb, nil
			}
			if errors.Is(err, store.ErrNotFound) {
				// The detail's case may differ from the folder's.
				mbs, err := a.st.Mailboxes(ctx, acc.ID)
				if err == nil {
					for i := range mbs {
						if strings.EqualFold(mbs[i].Name, name) {
							return &mbs[i], nil
						}
					}
				}
				full := a.opts.MaxMailboxes > 0 && len(mbs) >= a.opts.MaxMailboxes
				if a.opts.PlusFolderCreate && full {
					a.log.Warn("plus folder not created: mailbox limit reached", "account", acc.Address, "folder", name)
				}
				if a.opts.PlusFolderCreate && !full {
					mb, err := a.st.CreateMailbox(ctx, acc.ID, store.NewMailbox{Name: name, Subscribed: true})
					if err == nil || errors.Is(err, store.ErrExists) {
						if err != nil { // created meanwhile by another delivery
							return a.st.Mailbox(ctx, acc.ID, name)
						}
						return mb, nil
					}
					a.log.Warn("create plus folder", "account", acc.Address, "folder", name, "err", err)
				}
			}
		}
	}
	return a.st.Mailbox(ctx, acc.ID, "INBOX")
}

// traceHeaders returns the header lines added in front of the message.
// CheckReversePath refuses an envelope sender that cannot go into a
// Return-Path: header as it is: longer than RFC 5321 §4.5.3.1.3's 256
// octets, or with a control character (a CR or LF would start a header
// of the sender's choosing) or an angle bracket. "" is the null sender.
func CheckReversePath(from string) error {
	if len(from) > 256 {
		return Errorf(501, [3]int{5, 1, 7}, "sender address longer than 256 octets")
	}
	for i := 0; i < len(from); i++ {
		if c := from[i]; c < 0x20 || c == 0x7f || c == '<' || c == '>' {
			return Errorf(501, [3]int{5, 1, 7}, "bad sender address syntax")
		}
	}
	return nil
}

func (a *Agent) traceHeaders(env *Envelope, rcpt string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", env.From)
	fmt.Fprintf(&b, "Delivered-To: %s\r\n", rcpt)
	if env.Protocol != ProtoLocal && env.Protocol != "" {
		// RFC 5321 §4.4: Received: from <helo> (<ip>) by <host> with <proto> id <id> for <rcpt>; <date>
		from := env.Helo
		if from == "" {
			from = "unknown"
		}
		ip := env.RemoteAddr
		if i := strings.LastIndexByte(ip, ':'); i > 0 {
			ip = strings.Trim(ip[:i], "[]")
		}
		fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s (mailroom) with %s id %s\r\n\tfor <%s>; %s\r\n",
			sanitize(from), ip, a.opts.Hostname, env.Protocol, env.ID, rcpt, time.Now().Format(time.RFC1123Z))
	}
	return b.String()
}

// sanitize keeps a client-supplied name from breaking the header.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f || r == '(' || r == ')' {
			return -1
		}
		return r
	}, s)
}

// spool holds one message while it is delivered to its recipients: in memory
// when small, in a temporary file otherwise. Line endings are made CRLF on the
// way in (bare LF becomes CRLF), because IMAP serves messages with CRLF and
// their stored size must be the served size.
type spool struct {
	buf  *bytes.Buffer
	f    *os.File
	size int64
}

const memSpool = 1 << 20

func (a *Agent) spool(body io.Reader) (*spool, error) {
	sp := &spool{buf: &bytes.Buffer{}}
	var w io.Writer = sp.buf
	crlf := &crlfWriter{}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			out := crlf.convert(buf[:n])
			sp.size += int64(len(out))
			if a.opts.MaxMessageSize > 0 && sp.size > a.opts.MaxMessageSize {
				sp.Close()
				return nil, ErrTooBig
			}
			if sp.f == nil && sp.buf.Len()+len(out) > memSpool {
				f, err := os.CreateTemp(a.opts.SpoolDir, "spool-*")
				if err != nil {
					sp.Close()
					a.log.Error("spool", "err", err)
					return nil, ErrTemporary
				}
				os.Remove(f.Name()) // gone when closed, whatever happens
				sp.f = f
				if _, err := f.Write(sp.buf.Bytes()); err != nil {
					sp.Close()
					return nil, ErrTemporary
				}
				sp.buf = nil
				w = f
			}
			if _, err := w.Write(out); err != nil {
				sp.Close()
				a.log.Error("spool", "err", err)
				return nil, ErrTemporary
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			sp.Close()
			var de *Error
			if errors.As(rerr, &de) {
				return nil, de
			}
			// The client went away or the transport gave up: nothing is stored.
			return nil, fmt.Errorf("read message: %w", rerr)
		}
	}
	return sp, nil
}

func (sp *spool) reader() (io.Reader, error) {
	if sp.f != nil {
		return io.NewSectionReader(sp.f, 0, sp.size), nil
	}
	return bytes.NewReader(sp.buf.Bytes()), nil
}

func (sp *spool) Close() {
	if sp.f != nil {
		sp.f.Close()
	}
}

// crlfWriter converts bare LF to CRLF across buffer boundaries.
type crlfWriter struct {
	lastCR bool
	out    []byte
}

func (c *crlfWriter) convert(p []byte) []byte {
	c.out = c.out[:0]
	for _, b := range p {
		if b == '\n' && !c.lastCR {
			c.out = append(c.out, '\r')
		}
		c.out = append(c.out, b)
		c.lastCR = b == '\r'
	}
	return c.out
}
