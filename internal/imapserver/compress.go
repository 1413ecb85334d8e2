package imapserver

import (
	"bufio"
	"io"
	"strings"

	"github.com/klauspost/compress/flate"

	"mailroom/internal/inflate"
)

func init() {
	register("COMPRESS", handler{fn: cmdCompress, states: authState})
}

// RFC 4978 COMPRESS=DEFLATE: after the OK, both directions are raw
// DEFLATE (RFC 1951) streams; each flush of the response writer ends with
// a sync flush so that the client can decode everything sent so far.
// klauspost/compress's compressor does that several times faster than
// compress/flate's when it flushes every few KiB, as a session does.
//
// Clients flush their side in different ways: zlib's Z_SYNC_FLUSH, or
// Z_PARTIAL_FLUSH (mbsync), which ends with an empty fixed-code block of
// 10 bits of which only the whole bytes have been sent. The inflater must
// hand over every command whose bytes have arrived, before it waits for
// more: compress/flate keeps decoded bytes until a stored block, and
// klauspost/compress's inflater reads bits ahead of the code it decodes,
// so either would wait forever for the rest of that empty block. The
// inflate package reads no bit before it needs it and returns what it has
// decoded before it waits.
func cmdCompress(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	alg, ok := s.dec.Atom()
	if !ok {
		return s.syntax()
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if !strings.EqualFold(alg, "DEFLATE") {
		return no("CANNOT", "only DEFLATE is supported")
	}
	if s.compressed {
		return no("COMPRESSIONACTIVE", "compression is already active")
	}
	if s.dec.Buffered() {
		// RFC 4978 §3: nothing may follow COMPRESS before its response.
		return badArg("commands pipelined after COMPRESS")
	}
	// The OK goes out uncompressed; everything after it is compressed.
	s.respond(cmd, nil)
	if err := s.flush(); err != nil {
		return err
	}
	// Under STARTTLS the compressed stream goes inside TLS (RFC 4978 §4).
	var raw io.ReadWriter = s.conn
	if s.tlsConn != nil {
		raw = s.tlsConn
	}
	fw, _ := flate.NewWriter(raw, flate.DefaultCompression)
	s.bw = bufio.NewWriterSize(&syncFlushWriter{fw}, 4096)
	s.enc.SetWriter(s.bw)
	s.br = bufio.NewReaderSize(inflate.NewReader(s.br), 4096)
	s.dec.SetReader(s.br)
	s.compressed = true
	return errAlreadyAnswered
}

// syncFlushWriter sync-flushes the DEFLATE stream after every write (the
// bufio.Writer above it writes only when full or flushed).
type syncFlushWriter struct{ fw *flate.Writer }

func (w *syncFlushWriter) Write(p []byte) (int, error) {
	n, err := w.fw.Write(p)
	if err != nil {
		return n, err
	}
	return n, w.fw.Flush()
}

var _ io.Writer = (*syncFlushWriter)(nil)
