package pop3server

import (
	"context"
	"errors"
	"fmt"

	"mailroom/internal/store"
)

// cmdQuit is QUIT. In AUTHORIZATION state it just ends the session
// (RFC 1939 §4); in TRANSACTION state it enters UPDATE (RFC 1939 §6):
// every message marked deleted is removed, then the session ends.
func (c *conn) cmdQuit(string) error {
	if c.state == stateAuthorization {
		c.ok("%s POP3 server signing off", c.srv.opts.Hostname)
		return errClose
	}
	c.state = stateUpdate
	left := c.drop.count
	if err := c.finishSession(true); err != nil {
		// RFC 1939 §6: the reply when removal failed.
		c.writeLine("-ERR [SYS/TEMP] some deleted messages not removed")
		return errClose
	}
	if left == 0 {
		c.ok("%s POP3 server signing off (maildrop empty)", c.srv.opts.Hostname)
	} else {
		c.ok("%s POP3 server signing off (%d messages left)", c.srv.opts.Hostname, left)
	}
	return errClose
}

// finishSession ends a session that reached TRANSACTION state: it adds
// \Seen to what RETR sent (Options.MarkSeen), with update removes the
// messages marked deleted, and releases the account's lock last, so that
// the next session sees the removal. Without update (connection dropped,
// timeout, Shutdown) nothing is removed.
func (c *conn) finishSession(update bool) error {
	defer c.srv.endSession(c.account.ID)
	ctx, cancel := context.WithTimeout(c.ctx, updateTimeout)
	defer cancel()
	acc := c.account.ID

	// Per mailbox, in snapshot order.
	type uidList struct {
		mailbox int64
		uids    []uint32
	}
	group := func(keep func(*entry) bool) []uidList {
		var out []uidList
		at := map[int64]int{}
		for i := range c.drop.msgs {
			m := &c.drop.msgs[i]
			if !keep(m) {
				continue
			}
			j, ok := at[m.mailboxID]
			if !ok {
				j = len(out)
				at[m.mailboxID] = j
				out = append(out, uidList{mailbox: m.mailboxID})
			}
			out[j].uids = append(out[j].uids, m.uid)
		}
		return out
	}
	expunge := update && c.srv.opts.Delete == DeleteExpunge

	if c.srv.opts.MarkSeen {
		for _, l := range group(func(m *entry) bool { return m.retrieved && !(expunge && m.deleted) }) {
			if _, _, err := c.srv.st.SetFlags(ctx, acc, l.mailbox, l.uids, store.FlagsAdd, []string{`\Seen`}, 0); err != nil {
				c.log.Warn("mark seen", "mailbox_id", l.mailbox, "messages", len(l.uids), "err", err)
			}
		}
	}
	if !update {
		return nil
	}

	var errs []error
	deleted := 0
	if expunge {
		for _, l := range group(func(m *entry) bool { return m.deleted }) {
			// Expunge skips UIDs that are gone already: a message
			// expunged elsewhere meanwhile is not an error.
			removed, err := c.srv.st.Expunge(ctx, acc, l.mailbox, l.uids)
			if err != nil {
				errs = append(errs, fmt.Errorf("mailbox #%d: %w", l.mailbox, err))
			}
			deleted += len(removed)
		}
	} else {
		var ids []int64
		for i := range c.drop.msgs {
			if m := &c.drop.msgs[i]; m.deleted {
				ids = append(ids, m.emailID)
			}
		}
		if err := c.srv.st.HidePOP3(ctx, acc, ids); err != nil {
			errs = append(errs, err)
		} else {
			deleted = len(ids)
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		c.log.Error("update", "mode", c.srv.opts.Delete, "removed", deleted, "err", err)
	} else {
		c.log.Info("update", "mode", c.srv.opts.Delete, "removed", deleted)
	}
	return err
}
