package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"mailroom/internal/sieve"
	"mailroom/internal/store"
)

// maxHeaderScan bounds the header block that Sieve sees and edits.
const maxHeaderScan = 1 << 20

// activeScript returns the account's active Sieve script (cached per
// Deliver call in seen), nil when filtering is off or none is active.
func (a *Agent) activeScript(ctx context.Context, acc *store.Account, seen map[int64]*store.SieveScript) (*store.SieveScript, error) {
	if a.opts.Sieve == nil {
		return nil, nil
	}
	if sc, ok := seen[acc.ID]; ok {
		return sc, nil
	}
	sc, err := a.opts.Sieve.Active(ctx, acc.ID)
	if err != nil {
		a.log.Error("sieve: active script", "account", acc.Address, "err", err)
		return nil, err
	}
	seen[acc.ID] = sc
	return sc, nil
}

// errFallback marks a result that could not be carried out as the script
// said (a folder that does not exist): the delivery falls back to INBOX.
type errFallback struct{ err error }

func (e errFallback) Error() string { return e.err.Error() }

// deliverFiltered runs the account's script for one recipient and carries
// out its result: copies (keep, fileinto), redirects and a vacation reply
// are committed together (store.FilteredDelivery); reject answers
// 550 5.7.1 for this recipient only.
func (a *Agent) deliverFiltered(ctx context.Context, env *Envelope, rcpt string, acc *store.Account, folder string,
	sc *store.SieveScript, sp *spool) error {
	r, err := sp.reader()
	if err != nil {
		a.log.Error("spool", "err", err)
		return ErrTemporary
	}
	orig, err := readHeaderBlock(r)
	if err != nil {
		a.log.Error("spool", "err", err)
		return ErrTemporary
	}
	m := &filtered{
		header:  append([]byte(a.traceHeaders(env, rcpt)), orig...),
		bodyOff: int64(len(orig)),
		sp:      sp,
	}
	res := a.opts.Sieve.Run(ctx, &sieve.Input{
		Account: acc,
		Script:  sc,
		From:    env.From,
		To:      a.sieveRecipient(rcpt),
		Header:  m.header,
		Size:    sp.size,
		Body:    m.body,
	})
	if res.Reject {
		a.log.Info("sieve: rejected", "id", env.ID, "rcpt", rcpt, "reason", res.RejectReason)
		// RFC 5429 §2.1: refusing at the protocol level is allowed and
		// better than a bounce.
		return Errorf(550, [3]int{5, 7, 1}, "%s", res.RejectReason)
	}
	if !a.opts.Relay {
		if len(res.Redirects) > 0 {
			a.log.Warn("sieve: redirect needs a [relay]; keeping the message", "id", env.ID, "account", acc.Address,
				"script", sc.Name, "rcpt", rcpt)
			res = keepInstead(res)
		}
		if res.Vacation != nil {
			res.Vacation, res.VacationSkipped = nil, "no [relay] to send it"
		}
	}
	err = a.carryOut(ctx, env, rcpt, acc, folder, m, res)
	if errors.Is(err, store.ErrOutboxFull) {
		a.log.Warn("sieve: the outbox is full; keeping the message instead of redirecting it, and sending no vacation reply",
			"id", env.ID, "account", acc.Address, "script", sc.Name, "rcpt", rcpt)
		res = keepInstead(res)
		res.Vacation = nil
		err = a.carryOut(ctx, env, rcpt, acc, folder, m, res)
	}
	var fb errFallback
	if errors.As(err, &fb) {
		a.log.Warn("sieve script failed; keeping the message in INBOX", "id", env.ID, "account", acc.Address,
			"script", sc.Name, "rcpt", rcpt, "err", fb.err)
		err = a.carryOut(ctx, env, rcpt, acc, folder, m, sieve.Fallback(fb.err))
	}
	return err
}

// keepInstead is res without its redirects; a message that no longer goes
// anywhere is kept in the default mailbox, so that the redirect that could
// not be made loses nothing.
func keepInstead(res *sieve.Result) *sieve.Result {
	r := *res
	r.Redirects = nil
	if len(r.Keeps) == 0 {
		r.Keeps = []sieve.Keep{{Edits: len(r.Edits), Implicit: true}}
	}
	return &r
}

// filtered is one message as a script sees it.
type filtered struct {
	header  []byte // trace fields and the message's header block
	bodyOff int64  // where the body starts in the spool
	sp      *spool
}

func (m *filtered) body() ([]byte, error) {
	r, err := m.sp.reader()
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, r, m.bodyOff); err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// bodyReader returns the message after its header block.
func (m *filtered) bodyReader() (io.Reader, error) {
	r, err := m.sp.reader()
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, r, m.bodyOff); err != nil {
		return nil, err
	}
	return r, nil
}

func (a *Agent) carryOut(ctx context.Context, env *Envelope, rcpt string, acc *store.Account, folder string,
	m *filtered, res *sieve.Result) error {
	var d store.FilteredDelivery
	d.EnforceQuota = true
	bodies := map[int]struct {
		ref store.BlobRef
		st  []byte
	}{}
	for _, k := range res.Keeps {
		mb, err := a.sieveMailbox(ctx, acc, folder, k)
		if err != nil {
			return err
		}
		n := k.Edits
		if len(res.Edits) == 0 {
			n = 0
		}
		b, ok := bodies[n]
		if !ok {
			hdr := sieve.ApplyEdits(m.header, res.Edits[:n])
			rest, err := m.bodyReader()
			if err != nil {
				a.log.Error("spool", "err", err)
				return ErrTemporary
			}
			b.ref, b.st, err = a.writeBody(ctx, env, io.MultiReader(bytes.NewReader(hdr), rest))
			if err != nil {
				return err
			}
			bodies[n] = b
		}
		d.Messages = append(d.Messages, store.AppendMessage{MailboxID: mb.ID, Body: b.ref, Flags: store.LimitKeywords(k.Flags),
			InternalDate: time.Now(), Structure: b.st})
	}
	// Redirect: the message as received plus this delivery's trace fields
	// (Delivered-To lets the next hop see a loop), without Return-Path.
	// The envelope sender is the recipient that redirects, so that
	// bounces go to them; a bounce (null sender) is redirected as one.
	for _, rd := range res.Redirects {
		hdr := sieve.StripFields(sieve.ApplyEdits(m.header, res.Edits[:rd.Edits]), "Return-Path")
		rest, err := m.bodyReader()
		if err != nil {
			a.log.Error("spool", "err", err)
			return ErrTemporary
		}
		var buf bytes.Buffer
		buf.Write(hdr)
		if _, err := io.Copy(&buf, rest); err != nil {
			return ErrTemporary
		}
		from := rcpt
		if env.From == "" {
			from = ""
		}
		d.Outbox = append(d.Outbox, store.NewOutboxMessage{Kind: store.OutboxRedirect, From: from, To: []string{rd.Address}, Data: buf.Bytes()})
	}
	d.OutboxLimits = a.opts.OutboxLimits
	if res.Vacation != nil {
		d.Vacation = append(d.Vacation, *res.Vacation)
	} else if res.VacationSkipped != "" {
		a.log.Info("sieve: no vacation reply", "id", env.ID, "rcpt", rcpt, "why", res.VacationSkipped)
	}
	out, err := a.st.DeliverFiltered(ctx, acc.ID, d)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrOverQuota):
		return a.fullError()
	case errors.Is(err, store.ErrOutboxFull):
		return err
	default:
		a.log.Error("append", "id", env.ID, "account", acc.Address, "err", err)
		return ErrTemporary
	}
	var folders []string
	for _, k := range res.Keeps {
		name := k.Mailbox
		if name == "" {
			name = "(default)"
		}
		folders = append(folders, name)
	}
	vacation := len(out.VacationSent) > 0 && out.VacationSent[0]
	if out.VacationFull {
		a.log.Warn("sieve: no vacation reply: the outbox is full", "id", env.ID, "account", acc.Address, "rcpt", rcpt)
	}
	a.log.Info("sieve", "id", env.ID, "rcpt", rcpt, "folders", strings.Join(folders, ","),
		"redirects", len(d.Outbox), "vacation", vacation)
	if (len(d.Outbox) > 0 || vacation) && a.opts.Nudge != nil {
		a.opts.Nudge()
	}
	return nil
}

// sieveMailbox finds the mailbox of a keep or fileinto: the default
// location for the implicit keep, else the named one (created with
// :create, RFC 5490 §3.2). A missing mailbox is a script failure.
func (a *Agent) sieveMailbox(ctx context.Context, acc *store.Account, folder string, k sieve.Keep) (*store.Mailbox, error) {
	if k.Mailbox == "" {
		mb, err := a.mailbox(ctx, acc, folder)
		if err != nil {
			a.log.Error("pick mailbox", "account", acc.Address, "err", err)
			return nil, ErrTemporary
		}
		return mb, nil
	}
	mb, err := a.st.Mailbox(ctx, acc.ID, k.Mailbox)
	if err == nil {
		return mb, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		a.log.Error("mailbox", "account", acc.Address, "err", err)
		return nil, ErrTemporary
	}
	mbs, err := a.st.Mailboxes(ctx, acc.ID)
	if err == nil {
		for i := range mbs {
			if strings.EqualFold(mbs[i].Name, k.Mailbox) {
				return &mbs[i], nil
			}
		}
	}
	if !k.Create {
		return nil, errFallback{fmt.Errorf("fileinto %q: no such mailbox", k.Mailbox)}
	}
	if a.opts.MaxMailboxes > 0 && len(mbs) >= a.opts.MaxMailboxes {
		return nil, errFallback{fmt.Errorf("fileinto :create %q: the account has %d mailboxes, the most allowed", k.Mailbox, len(mbs))}
	}
	mb, err = a.st.CreateMailbox(ctx, acc.ID, store.NewMailbox{Name: k.Mailbox, Subscribed: true})
	if errors.Is(err, store.ErrExists) {
		mb, err = a.st.Mailbox(ctx, acc.ID, k.Mailbox)
	}
	if err != nil {
		return nil, errFallback{fmt.Errorf("fileinto :create %q: %w", k.Mailbox, err)}
	}
	return mb, nil
}

// readHeaderBlock returns the message's header block up to and including
// the blank line (at most maxHeaderScan bytes; the whole message when it
// has no body).
func readHeaderBlock(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxHeaderScan))
	var out []byte
	for {
		line, err := br.ReadBytes('\n')
		out = append(out, line...)
		if len(bytes.TrimRight(line, "\r\n")) == 0 && len(line) > 0 {
			return out, nil
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// sieveRecipient spells the envelope recipient for the Sieve subaddress
// extension (RFC 5233), which splits :user and :detail at "+": with other
// delimiters ([delivery] recipient_delimiter), the detail is moved behind a
// "+" so that scripts see the same parts as delivery does.
func (a *Agent) sieveRecipient(rcpt string) string {
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		return rcpt
	}
	user, detail := a.dir.SplitDetail(rcpt[:at])
	if detail == "" || strings.Contains(user, "+") {
		return rcpt
	}
	return user + "+" + detail + rcpt[at:]
}
