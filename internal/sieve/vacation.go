package sieve

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	"mailroom/internal/store"
)

var wordDecoder = &mime.WordDecoder{}

// vacation decides whether a vacation action sends a reply (RFC 5230 §4,
// RFC 3834 §2) and builds it. The once-per-period rule is the store's, at
// commit.
func (r *Runtime) vacation(ctx context.Context, in *Input, fields []field, v *vacationCall) (*store.VacationReply, string) {
	sender := in.From
	if sender == "" {
		return nil, "null sender"
	}
	local, _, _ := strings.Cut(strings.ToLower(sender), "@")
	switch {
	case local == "mailer-daemon" || local == "postmaster" || local == "listserv" || local == "majordomo":
		return nil, "sender is a daemon"
	case strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") || strings.HasSuffix(local, "-owner"):
		return nil, "sender is a list address"
	}
	for _, a := range values(fields, "Auto-Submitted") {
		if kw, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(a)), ";"); strings.TrimSpace(kw) != "no" {
			return nil, "message is Auto-Submitted"
		}
	}
	for _, h := range []string{"List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe", "List-Post", "List-Owner", "List-Archive"} {
		if len(values(fields, h)) > 0 {
			return nil, "message is from a mailing list (" + h + ")"
		}
	}
	for _, p := range values(fields, "Precedence") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "bulk", "list", "junk":
			return nil, "message has Precedence " + p
		}
	}
	// The recipient's own addresses (RFC 5230 §4.5).
	mine := []string{in.To, in.Account.Address}
	if user, domain, ok := strings.Cut(in.To, "@"); ok {
		if i := strings.IndexAny(user, "+"); i > 0 {
			mine = append(mine, user[:i]+"@"+domain)
		}
	}
	if v.addrRaw != "" {
		mine = append(mine, strings.Split(v.addrRaw, "\x01")...)
	}
	isMine := func(a string) bool {
		for _, m := range mine {
			if strings.EqualFold(strings.TrimSpace(m), a) {
				return true
			}
		}
		return false
	}
	if isMine(sender) {
		return nil, "sender is the recipient"
	}
	matched := ""
	for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc"} {
		for _, val := range values(fields, h) {
			list, err := mail.ParseAddressList(val)
			if err != nil {
				// Not parseable: look for the addresses in the text.
				for _, m := range mine {
					if m != "" && strings.Contains(strings.ToLower(val), strings.ToLower(m)) {
						matched = m
					}
				}
				continue
			}
			for _, a := range list {
				if isMine(a.Address) && matched == "" {
					matched = a.Address
				}
			}
		}
	}
	if matched == "" {
		return nil, "recipient not in To/Cc"
	}

	// The reply comes From the address the message reached (RFC 5230
	// §5.4 errata 2035) when it is the account's own; an address named
	// only by :addresses, or a :from that is not the account's, could be
	// anybody's, and a reply from it would be forged (RFC 5230 §4.3
	// leaves the check to the implementation).
	from := in.Account.Address
	if r.owns(ctx, in, matched) {
		from = matched
	}
	if v.spec.from && strings.TrimSpace(v.from) != "" {
		want := strings.TrimSpace(v.from)
		addr := want
		if a, err := mail.ParseAddress(want); err == nil {
			addr = a.Address
		}
		if r.owns(ctx, in, addr) {
			from = want
		} else {
			r.log.Warn("sieve: vacation :from is not one of the account's addresses; replying from "+from,
				"account", in.Account.Address, "from", want)
		}
	}
	period := time.Duration(v.spec.period) * time.Second
	if min := r.opts.VacationMinPeriod; period < min {
		period = min
	}
	subject := v.subject
	if !v.spec.subject {
		orig := ""
		if s := values(fields, "Subject"); len(s) > 0 {
			orig = s[0]
			if d, err := wordDecoder.DecodeHeader(orig); err == nil {
				orig = d
			}
		}
		subject = "Auto: " + orig
	}
	handle := "h:" + v.handle
	if !v.spec.handle {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%t\x00%s\x00%t\x00%s\x00%t\x00%s", v.spec.subject, v.subject,
			v.spec.from, v.from, v.spec.mime, v.reason)))
		handle = "auto:" + hex.EncodeToString(sum[:12])
	}

	var b bytes.Buffer
	hdr := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	hdr("From", encodeAddressField(from))
	hdr("To", "<"+sender+">")
	hdr("Subject", encodeWord(subject))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("Message-ID", newMessageID(r.opts.Hostname))
	if ids := values(fields, "Message-ID"); len(ids) > 0 && ids[0] != "" {
		hdr("In-Reply-To", ids[0])
		refs := values(fields, "References")
		if len(refs) > 0 && refs[0] != "" {
			hdr("References", refs[0]+" "+ids[0])
		} else {
			hdr("References", ids[0])
		}
	}
	// RFC 3834 §5.1.
	hdr("Auto-Submitted", "auto-replied (vacation)")
	hdr("MIME-Version", "1.0")
	if v.spec.mime {
		// The reason is a MIME entity: its own header and body.
		b.Write(crlf(strings.TrimLeft(v.reason, "\r\n")))
	} else {
		cte := "7bit"
		if !isASCII(v.reason) {
			cte = "8bit"
		}
		hdr("Content-Type", "text/plain; charset=utf-8")
		hdr("Content-Transfer-Encoding", cte)
		b.WriteString("\r\n")
		b.Write(crlf(v.reason))
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return &store.VacationReply{
		Handle: handle,
		Sender: sender,
		Period: period,
		// RFC 5230 §5.1 / RFC 3834 §3.3: the reply's envelope sender is null.
		Message: store.NewOutboxMessage{From: "", To: []string{sender}, Data: b.Bytes()},
	}, ""
}

// owns says whether addr is the account's own: the envelope recipient the
// message reached, the account's address or a plus-form of it, or what
// Options.OwnsAddress accepts.
func (r *Runtime) owns(ctx context.Context, in *Input, addr string) bool {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return false
	}
	if strings.EqualFold(addr, in.To) || strings.EqualFold(addr, in.Account.Address) {
		return true
	}
	if user, domain, ok := strings.Cut(addr, "@"); ok {
		if i := strings.IndexByte(user, '+'); i > 0 && strings.EqualFold(user[:i]+"@"+domain, in.Account.Address) {
			return true
		}
	}
	if r.opts.OwnsAddress == nil {
		return false
	}
	ok, err := r.opts.OwnsAddress(ctx, in.Account, addr)
	if err != nil {
		r.log.Error("sieve: vacation: looking up an address", "account", in.Account.Address, "addr", addr, "err", err)
		return false
	}
	return ok
}

// crlf makes every line ending CRLF.
func crlf(s string) []byte {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

func encodeWord(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if isASCII(s) {
		return s
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// encodeAddressField keeps a "Name <addr>" or bare address usable in From.
func encodeAddressField(s string) string {
	if a, err := mail.ParseAddress(s); err == nil {
		return a.String()
	}
	return encodeWord(s)
}

func newMessageID(host string) string {
	var b [12]byte
	rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + ".vacation@" + host + ">"
}
