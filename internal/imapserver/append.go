package imapserver

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"mailroom/internal/imapwire"
	"mailroom/internal/message"
	"mailroom/internal/store"
)

func init() {
	register("APPEND", handler{fn: cmdAppend, states: authState})
}

// appendPart is one message of an APPEND command.
type appendPart struct {
	w         store.BodyWriter // nil until the literal is accepted
	ref       store.BlobRef
	flags     []string
	date      time.Time // zero: now
	structure []byte
}

// RFC 9051 §6.3.12 APPEND; RFC 3502 MULTIAPPEND (several messages, all or
// nothing); RFC 3516 §4.4 literal8; RFC 9755 UTF8 (literal8); RFC 7889
// APPENDLIMIT; RFC 4315 §3 APPENDUID.
//
//	append = "APPEND" SP mailbox 1*(SP [flag-list SP] [date-time SP] append-data)
//	append-data = literal / literal8 / "UTF8" SP "(" literal8 ")"
//
// Each literal is streamed into a new body file while it is parsed, so
// memory stays bounded whatever the size. The bytes are stored exactly as
// the client sent them (no line-ending conversion): BODY[] then returns
// what was appended, RFC822.SIZE equals the literal's size, and binary
// literals stay intact. Nothing is stored until every message has arrived;
// then one store.Append adds them all or none. A literal that cannot
// succeed (bad mailbox, too big, over quota) is refused before its bytes
// are sent when it is synchronizing.
func cmdAppend(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	name, err := s.readMailboxName()
	var perr *parseError
	if errors.As(err, &perr) {
		return err
	}
	// refuse is set when the command cannot succeed: the next literal is
	// then refused rather than received.
	refuse := err
	var mb *store.Mailbox
	if refuse == nil {
		mb, refuse = s.lookupMailbox(name, true)
	}

	var parts []*appendPart
	stored := false
	defer func() {
		if !stored {
			for _, p := range parts {
				if p.w != nil {
					p.w.Abort()
				}
			}
		}
	}()
	q := appendQuota{s: s}
	for {
		if !s.dec.SP() {
			return s.syntax()
		}
		p := &appendPart{}
		if b, _ := s.dec.Peek(); b == '(' {
			flags, ok := s.storeFlagList()
			if !ok || !s.dec.SP() {
				return s.syntax()
			}
			p.flags = flags
		}
		if b, _ := s.dec.Peek(); b == '"' {
			t, ok := s.dec.DateTime()
			if !ok || !s.dec.SP() {
				return s.syntax()
			}
			p.date = t
		}
		if b, _ := s.dec.Peek(); b == 'C' || b == 'c' {
			// RFC 4469 CATENATE.
			a, ok := s.dec.Atom()
			if !ok || !strings.EqualFold(a, "CATENATE") || !s.dec.SP() || !s.dec.ExpectSpecial('(') {
				return s.syntax()
			}
			if refuse == nil {
				refuse = q.check(len(parts)+1, 0)
			}
			var bld *bodyBuilder
			if refuse == nil {
				parts = append(parts, p)
				if bld, refuse = s.newBodyBuilder(p); refuse != nil {
					bld = nil
				}
			}
			err := s.appendCatenate(cmd, bld, &refuse)
			if bld != nil {
				if refuse == nil && err == nil {
					if ferr := bld.finish(); ferr != nil {
						refuse = ferr
					}
				} else {
					bld.abort()
				}
			}
			if err != nil {
				return err
			}
			if s.dec.AtEOL() {
				break
			}
			continue
		}
		utf8Data := false
		if b, _ := s.dec.Peek(); b == 'U' || b == 'u' {
			a, ok := s.dec.Atom()
			if !ok {
				return s.syntax()
			}
			if !strings.EqualFold(a, "UTF8") || !s.utf8 {
				// RFC 9755: the UTF8 form only after ENABLE UTF8=ACCEPT.
				return syntaxErr("expected a literal")
			}
			if !s.dec.SP() || !s.dec.ExpectSpecial('(') {
				return s.syntax()
			}
			utf8Data = true
		}
		lit, ok := s.dec.LiteralHeader()
		if !ok {
			return s.syntax()
		}
		if refuse == nil {
			refuse = q.check(len(parts)+1, lit.Size)
		}
		if refuse != nil && (!lit.NonSync || lit.Size > s.srv.opts.MaxMessageSize) {
			return s.refuseLiteral(cmd, lit, refuse)
		}
		r, ok := s.dec.LiteralBody(lit)
		if !ok {
			return s.syntax()
		}
		if refuse == nil {
			parts = append(parts, p)
			refuse = s.receiveMessage(p, r)
		}
		if refuse != nil {
			// A non-synchronizing literal comes whether or not it is
			// wanted (RFC 7888), and what is left of a failed one must be
			// read too: skip it and parse on to the end of the command,
			// so that the session stays in step.
			if _, err := io.Copy(io.Discard, r); err != nil || imapwire.IsFatal(s.dec.Err()) {
				return s.syntax()
			}
		}
		if utf8Data && !s.dec.ExpectSpecial(')') {
			return s.syntax()
		}
		if s.dec.AtEOL() {
			break
		}
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if refuse != nil {
		return refuse
	}

	msgs := make([]store.AppendMessage, len(parts))
	for i, p := range parts {
		msgs[i] = store.AppendMessage{
			MailboxID: mb.ID, Body: p.ref, Flags: p.flags,
			InternalDate: p.date, Structure: p.structure,
		}
	}
	res, err := s.srv.st.Append(s.ctx, s.acct.ID, msgs, true)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted while the literals were on their way.
		return no("TRYCREATE", "no such mailbox")
	}
	if err != nil {
		// ErrOverQuota becomes NO [OVERQUOTA] (RFC 9208 §4.3.1).
		return err
	}
	stored = true
	uids := make([]uint32, len(res))
	for i := range res {
		uids[i] = res[i].UID
	}
	// One mailbox, one transaction: the UIDs are consecutive in message
	// order, so the sorted set is also the set in message order.
	return okCode(fmt.Sprintf("APPENDUID %d %s", res[0].UIDValidity, imapwire.FormatUIDs(uids)), "APPEND completed")
}

// appendQuota checks each announced literal against APPENDLIMIT, the
// message count limit of one command and the account's quota, so that a
// message that cannot be stored is refused before it is sent. The store
// checks the quota again, authoritatively, when it appends.
type appendQuota struct {
	s      *session
	acct   *store.Account
	limits store.Limits
	bytes  int64
}

func (q *appendQuota) check(n int, size int64) error {
	s := q.s
	if n > MaxAppendMessages {
		return no("LIMIT", "at most %d messages in one APPEND", MaxAppendMessages)
	}
	if size > s.srv.opts.MaxMessageSize {
		// RFC 7889 §4 (APPENDLIMIT), RFC 4469 TOOBIG.
		return no("TOOBIG", "message is larger than the limit of %d octets", s.srv.opts.MaxMessageSize)
	}
	if q.acct == nil {
		// A check before the write (store.Unsynced).
		acct, err := s.srv.st.AccountByID(store.Unsynced(s.ctx), s.acct.ID)
		if err != nil {
			return err
		}
		q.acct, q.limits = acct, s.srv.st.Limits(acct)
	}
	q.bytes += size
	if (q.limits.Bytes > 0 && q.acct.UsedBytes+q.bytes > q.limits.Bytes) ||
		(q.limits.Messages > 0 && q.acct.UsedMessages+int64(n) > q.limits.Messages) {
		return no("OVERQUOTA", "mailbox is full")
	}
	return nil
}

// refuseLiteral refuses the literal whose header was just read, skips the
// rest of the command and returns err for the tagged response. When the
// client's bytes cannot be skipped (a huge non-synchronizing literal), the
// tagged response is written here and the session ends.
func (s *session) refuseLiteral(cmd *command, lit imapwire.Literal, err error) error {
	msg := "message refused"
	var e *Error
	if errors.As(err, &e) && e.Text != "" {
		msg = e.Text
	}
	s.dec.RejectLiteral(lit, msg)
	if !s.dec.DiscardLine() {
		s.respond(cmd, err)
		return s.syntax()
	}
	return err
}

// receiveMessage writes one literal into a new body file while parsing it
// (the pipe pattern of delivery), and commits the file. The literal is read
// to its end unless reading or writing fails.
func (s *session) receiveMessage(p *appendPart, r io.Reader) error {
	b, err := s.newBodyBuilder(p)
	if err != nil {
		return err
	}
	if err := b.add(r); err != nil {
		b.abort()
		return err
	}
	return b.finish()
}

// bodyBuilder writes a message into a new body file piece by piece (CATENATE
// sends it in parts), parsing it on the way.
type bodyBuilder struct {
	p    *appendPart
	w    store.BodyWriter
	pw   *io.PipeWriter
	done chan parsedBody
	size int64
}

type parsedBody struct {
	st  *message.Structure
	err error
}

func (s *session) newBodyBuilder(p *appendPart) (*bodyBuilder, error) {
	w, err := s.srv.st.NewBody(s.ctx)
	if err != nil {
		return nil, err
	}
	p.w = w
	pr, pw := io.Pipe()
	b := &bodyBuilder{p: p, w: w, pw: pw, done: make(chan parsedBody, 1)}
	go func() {
		st, err := message.Parse(pr)
		io.Copy(io.Discard, pr) // a parser that stopped early must not block the writer
		b.done <- parsedBody{st, err}
	}()
	return b, nil
}

func (b *bodyBuilder) add(r io.Reader) error {
	n, err := io.Copy(io.MultiWriter(b.w, b.pw), r)
	b.size += n
	return err
}

// abort stops the parser; the caller aborts the body file (p.w).
func (b *bodyBuilder) abort() {
	b.pw.CloseWithError(errAppendAborted)
	<-b.done
}

var errAppendAborted = errors.New("append aborted")

// finish commits the body file and records it in the part.
func (b *bodyBuilder) finish() error {
	b.pw.Close()
	res := <-b.done
	if res.err != nil {
		return res.err
	}
	ref, err := b.w.Commit()
	if err != nil {
		return err
	}
	b.p.ref = ref
	b.p.structure = res.st.Encode()
	return nil
}
