package pop3server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"mailroom/internal/store"
)

// entry is one message of a maildrop snapshot.
type entry struct {
	mailboxID int64
	uid       uint32
	emailID   int64
	size      int64
	blobID    string
	deleted   bool // DELE'd in this session
	retrieved bool // sent by RETR (for Options.MarkSeen)
}

// uidl is the message's unique-id listing (RFC 1939 §7): its EmailID in
// decimal, 1 to 19 characters of 0x30-0x39, unique in the account, never
// reused and kept by Move.
func (m *entry) uidl() string {
	return strconv.FormatInt(m.emailID, 10)
}

// maildrop is the snapshot of a session: RFC 1939 §5 numbers messages
// from 1 in this order, and neither numbers nor sizes change until the
// session ends.
type maildrop struct {
	// pin keeps the snapshot's bodies readable until the session ends,
	// also those that other sessions expunge meanwhile (store.Live).
	pin   *store.Pin
	msgs  []entry
	count int64 // messages not deleted
	size  int64 // their octets
}

// loadMaildrop takes the snapshot for acc: INBOX, or with ViewAll every
// mailbox not excluded, INBOX first and then by name, each in UID order.
// Messages hidden from POP3 (delete = "hide") are left out whatever the
// current Delete setting, so that switching it never brings them back.
func (s *Server) loadMaildrop(ctx context.Context, acc *store.Account) (*maildrop, error) {
	var mailboxes []store.Mailbox
	if s.opts.View == ViewAll {
		all, err := s.st.Mailboxes(ctx, acc.ID)
		if err != nil {
			return nil, fmt.Errorf("mailboxes: %w", err)
		}
		for _, mb := range all {
			if !s.viewExclude[mb.SpecialUse] {
				mailboxes = append(mailboxes, mb)
			}
		}
		sort.SliceStable(mailboxes, func(i, j int) bool {
			ii, ij := isInbox(mailboxes[i].Name), isInbox(mailboxes[j].Name)
			if ii != ij {
				return ii
			}
			return mailboxes[i].Name < mailboxes[j].Name
		})
	} else {
		mb, err := s.st.Mailbox(ctx, acc.ID, "INBOX")
		if err != nil {
			return nil, fmt.Errorf("INBOX: %w", err)
		}
		mailboxes = []store.Mailbox{*mb}
	}
	hidden, err := s.st.POP3Hidden(ctx, acc.ID)
	if err != nil {
		return nil, fmt.Errorf("hidden messages: %w", err)
	}

	d := &maildrop{pin: s.st.Live().NewPin()}
	ok := false
	defer func() {
		if !ok {
			d.pin.Release()
		}
	}()
	// With several mailboxes, a message moved while they are read one by
	// one could be seen twice; its EmailID tells.
	var seen map[int64]bool
	if len(mailboxes) > 1 {
		seen = make(map[int64]bool)
	}
	for _, mb := range mailboxes {
		// The live state (store.Live) makes a login to a big, unchanged
		// mailbox a copy instead of a read of every row.
		box, err := s.st.Live().Open(ctx, &mb)
		if err != nil {
			return nil, fmt.Errorf("messages of %s: %w", mb.Name, err)
		}
		items, _, _, err := box.Snapshot(ctx)
		box.Close()
		if errors.Is(err, store.ErrMailboxGone) && len(mailboxes) > 1 {
			continue // deleted since the list was read
		}
		if err != nil {
			return nil, fmt.Errorf("messages of %s: %w", mb.Name, err)
		}
		if d.msgs == nil {
			d.msgs = make([]entry, 0, len(items))
		}
		for i := range items {
			m := &items[i]
			if hidden[m.EmailID] || seen[m.EmailID] {
				continue
			}
			if seen != nil {
				seen[m.EmailID] = true
			}
			d.msgs = append(d.msgs, entry{mailboxID: mb.ID, uid: m.UID, emailID: m.EmailID, size: m.Size, blobID: m.BlobID})
			d.count++
			d.size += m.Size
		}
	}
	ok = true
	return d, nil
}

func isInbox(name string) bool { return strings.EqualFold(name, "INBOX") }

// get returns message number arg (RFC 1939 §5: a message-number, 1 to the
// number of messages in the snapshot). Deleted messages are refused.
func (d *maildrop) get(arg string) (int, *entry, error) {
	n, err := parseNumber(arg)
	if err != nil {
		return 0, nil, badf("invalid message number")
	}
	if n < 1 || n > int64(len(d.msgs)) {
		return 0, nil, &respError{Text: fmt.Sprintf("no such message, only %d messages in maildrop", len(d.msgs))}
	}
	m := &d.msgs[n-1]
	if m.deleted {
		return 0, nil, &respError{Text: fmt.Sprintf("message %d already deleted", n)}
	}
	return int(n), m, nil
}

// parseNumber parses a non-negative decimal number (RFC 1939 §3 argument),
// digits only; numbers too large for int64 are clamped, so that they are
// out of range rather than invalid.
func parseNumber(s string) (int64, error) {
	if s == "" || len(s) > 40 { // RFC 1939 §3: arguments are up to 40 characters
		return 0, strconv.ErrSyntax
	}
	var n int64
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '0' || ch > '9' {
			return 0, strconv.ErrSyntax
		}
		if n > (1<<62)/10 {
			n = 1 << 62
			continue
		}
		n = n*10 + int64(ch-'0')
	}
	return n, nil
}

// delete marks a message deleted (DELE).
func (d *maildrop) delete(m *entry) {
	if !m.deleted {
		m.deleted = true
		d.count--
		d.size -= m.size
	}
}

// reset undeletes every message (RSET).
func (d *maildrop) reset() {
	for i := range d.msgs {
		if m := &d.msgs[i]; m.deleted {
			m.deleted = false
			d.count++
			d.size += m.size
		}
	}
}
