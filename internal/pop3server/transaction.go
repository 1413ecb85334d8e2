package pop3server

import (
	"strconv"
	"strings"
)

// cmdStat is STAT (RFC 1939 §5): messages not deleted, and their octets.
func (c *conn) cmdStat(args string) error {
	if args != "" {
		return badf("STAT takes no argument")
	}
	c.ok("%d %d", c.drop.count, c.drop.size)
	return nil
}

// cmdList is LIST [msg] (RFC 1939 §5).
func (c *conn) cmdList(args string) error {
	return c.listing(args, "LIST", func(m *entry, b []byte) []byte {
		return strconv.AppendInt(b, m.size, 10)
	})
}

// cmdUidl is UIDL [msg] (RFC 1939 §7).
func (c *conn) cmdUidl(args string) error {
	return c.listing(args, "UIDL", func(m *entry, b []byte) []byte {
		return strconv.AppendInt(b, m.emailID, 10) // message.uidl
	})
}

// listing answers LIST and UIDL: with an argument, one "+OK n value" line;
// without, a multi-line listing of every message not deleted.
func (c *conn) listing(args, name string, value func(*entry, []byte) []byte) error {
	f := strings.Fields(args)
	switch len(f) {
	case 0:
	case 1:
		n, m, err := c.drop.get(f[0])
		if err != nil {
			return err
		}
		line := append([]byte("+OK "), strconv.Itoa(n)...)
		line = value(m, append(line, ' '))
		c.badCommands = 0
		c.writeLine(string(line))
		return nil
	default:
		return badf("%s takes at most one argument", name)
	}
	if name == "LIST" {
		c.ok("%d messages (%d octets)", c.drop.count, c.drop.size)
	} else {
		c.ok("unique-id listing follows")
	}
	buf := make([]byte, 0, 64)
	for i := range c.drop.msgs {
		m := &c.drop.msgs[i]
		if m.deleted {
			continue
		}
		buf = strconv.AppendInt(buf[:0], int64(i+1), 10)
		buf = append(value(m, append(buf, ' ')), '\r', '\n')
		if _, err := c.bw.Write(buf); err != nil {
			return err
		}
	}
	c.endMultiline()
	return nil
}

// cmdDele is DELE msg (RFC 1939 §5). The message is only marked; it is
// removed at QUIT (UPDATE state, RFC 1939 §6).
func (c *conn) cmdDele(args string) error {
	n, m, err := c.oneMessage(args, "DELE")
	if err != nil {
		return err
	}
	c.drop.delete(m)
	c.ok("message %d deleted", n)
	return nil
}

// cmdNoop is NOOP (RFC 1939 §5).
func (c *conn) cmdNoop(args string) error {
	if args != "" {
		return badf("NOOP takes no argument")
	}
	c.ok("")
	return nil
}

// cmdRset is RSET (RFC 1939 §5): every deletion mark is removed.
func (c *conn) cmdRset(args string) error {
	if args != "" {
		return badf("RSET takes no argument")
	}
	c.drop.reset()
	c.ok("maildrop has %d messages (%d octets)", c.drop.count, c.drop.size)
	return nil
}

// oneMessage parses the single message-number argument of DELE and RETR.
func (c *conn) oneMessage(args, name string) (int, *entry, error) {
	f := strings.Fields(args)
	if len(f) != 1 {
		return 0, nil, badf("%s needs one message number", name)
	}
	return c.drop.get(f[0])
}
