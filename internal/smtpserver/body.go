package smtpserver

import (
	"io"

	"mailroom/internal/delivery"
)

// bodyReader is the message reader handed to Deliver. It enforces
// Options.MaxMessageSize (returning delivery.ErrTooBig once the message is
// bigger) and records how reading ended.
//
// go-smtp's DATA reader already undoes dot-stuffing, stops at the
// <CRLF>.<CRLF> line (only that one: a bare LF is data, RFC 5321 §4.1.1.4),
// and returns io.ErrUnexpectedEOF, not io.EOF, when the client goes away
// before it; so a message cut short always ends in an error for Deliver.
//
// For BDAT, go-smtp copies each chunk with io.Copy, which takes the client
// closing the connection in the middle of a chunk for the end of the chunk:
// a LAST chunk cut short would end the message with io.EOF. bodyReader
// turns that io.EOF into io.ErrUnexpectedEOF when the connection has seen
// the client's end of stream (the check cannot see a TLS close_notify that
// is not followed by the TCP FIN being read).
type bodyReader struct {
	r    io.Reader
	tc   *trackedConn
	bdat bool
	max  int64 // 0: no limit

	n      int64 // octets read
	tooBig bool  // more than max octets
	fatal  error // read error other than io.EOF: the message did not arrive whole
	eof    bool  // read to the end of the message
}

func (b *bodyReader) Read(p []byte) (int, error) {
	switch {
	case b.fatal != nil:
		return 0, b.fatal
	case b.tooBig:
		return 0, delivery.ErrTooBig
	case b.eof:
		return 0, io.EOF
	}
	if b.max > 0 {
		// Read at most one octet beyond the limit: enough to know.
		if room := b.max - b.n + 1; int64(len(p)) > room {
			p = p[:room]
		}
	}
	n, err := b.read(p)
	if b.max > 0 && b.n > b.max {
		b.tooBig = true
		return 0, delivery.ErrTooBig
	}
	return n, err
}

func (b *bodyReader) read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.bdat && b.tc.peerEOF.Load() {
		err = io.ErrUnexpectedEOF
	}
	b.n += int64(n)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.fatal = err
	}
	return n, err
}

// drain reads the rest of the message, storing nothing, and returns how many
// octets that was.
func (b *bodyReader) drain() int64 {
	var total int64
	var buf []byte
	for !b.eof && b.fatal == nil {
		if buf == nil {
			buf = make([]byte, 32<<10)
		}
		n, _ := b.read(buf)
		total += int64(n)
	}
	return total
}
