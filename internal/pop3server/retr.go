package pop3server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"

	"mailroom/internal/store"
)

// readChunk is how much of a body RETR reads at a time.
const readChunk = 32 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// cmdRetr is RETR msg (RFC 1939 §5).
func (c *conn) cmdRetr(args string) error {
	_, m, err := c.oneMessage(args, "RETR")
	if err != nil {
		return err
	}
	if err := c.sendMessage(m, -1); err != nil {
		return err
	}
	m.retrieved = true
	c.retrieved++
	return nil
}

// cmdTop is TOP msg n (RFC 1939 §7): the header, the blank line and the
// first n lines of the body. TOP never marks a message \Seen.
func (c *conn) cmdTop(args string) error {
	f := strings.Fields(args)
	if len(f) != 2 {
		return badf("TOP needs a message number and a number of lines")
	}
	_, m, err := c.drop.get(f[0])
	if err != nil {
		return err
	}
	lines, err := parseNumber(f[1])
	if err != nil {
		return badf("invalid number of lines")
	}
	return c.sendMessage(m, lines)
}

// sendMessage sends m as a multi-line reply, whole (lines < 0) or as TOP
// with that many body lines. The body is opened before +OK: a message
// expunged elsewhere since the snapshot is either still readable and sent
// whole, or refused with -ERR. A read error midway closes the connection
// without the terminating ".", so the client sees a failed transfer, never
// a short message that looks complete.
func (c *conn) sendMessage(m *entry, lines int64) error {
	body, err := c.srv.st.OpenBody(c.ctx, m.blobID)
	if err != nil {
		if errors.Is(err, store.ErrBodyMissing) || errors.Is(err, store.ErrNotFound) {
			return &respError{Text: "message was deleted by another client"}
		}
		c.log.Error("open body", "blob", m.blobID, "err", err)
		return errorf("SYS/TEMP", "cannot read the message, try again later")
	}
	defer body.Close()
	if lines < 0 {
		c.ok("%d octets", m.size)
	} else {
		c.ok("top of message follows")
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	st := dotStuffer{w: c.bw, top: lines >= 0, left: lines}
	r := io.NewSectionReader(body, 0, body.Size())
	for {
		n, rerr := r.Read(buf)
		if n > 0 && st.write(buf[:n]) {
			break
		}
		if st.err != nil {
			return st.err // the client is gone: stop reading
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			c.log.Error("read body", "blob", m.blobID, "err", rerr)
			return errClose
		}
	}
	st.finish()
	return st.err
}

// dotStuffer writes a message as the data lines of a multi-line reply
// (RFC 1939 §3): a line that starts with "." gets a second ".", and every
// line ends with CRLF, the last one too (stored bodies already use CRLF; a
// bare LF is completed). With top set it stops after the header, the
// blank line and left body lines (TOP).
type dotStuffer struct {
	w       *bufio.Writer
	midLine bool // part of the current line has been written
	lineLen int  // octets of the current line so far
	cr      bool // the last octet written was CR

	top    bool
	inBody bool  // past the blank line that ends the header
	left   int64 // body lines still to send (top)

	err error // the first write error
}

func (d *dotStuffer) put(p []byte) {
	if d.err == nil {
		_, d.err = d.w.Write(p)
	}
}

func (d *dotStuffer) putString(s string) {
	if d.err == nil {
		_, d.err = d.w.WriteString(s)
	}
}

// write writes p and reports whether TOP has sent all it should.
func (d *dotStuffer) write(p []byte) bool {
	for len(p) > 0 {
		if !d.midLine {
			if d.top && d.inBody && d.left <= 0 {
				return true
			}
			if p[0] == '.' {
				d.putString(".")
			}
			d.midLine = true
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.put(p)
			d.lineLen += len(p)
			d.cr = p[len(p)-1] == '\r'
			return false
		}
		cr := d.cr
		if i > 0 {
			cr = p[i-1] == '\r'
		}
		if cr {
			d.put(p[:i+1])
		} else {
			d.put(p[:i])
			d.putString("\r\n")
		}
		if d.top {
			n := d.lineLen + i
			if d.inBody {
				d.left--
			} else if n == 0 || (n == 1 && cr) {
				d.inBody = true
			}
		}
		d.midLine, d.lineLen, d.cr = false, 0, false
		p = p[i+1:]
	}
	return false
}

// finish ends the last line if the body did not, and the reply.
func (d *dotStuffer) finish() {
	if d.midLine {
		if d.cr {
			d.putString("\n")
		} else {
			d.putString("\r\n")
		}
	}
	d.putString(".\r\n")
}
