package smtpserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"mailroom/internal/server"
)

// trackedConn is the net.Conn go-smtp talks through. It lets the Server
// know every open connection and whether a transaction is open on it (for
// Shutdown), fixes some of go-smtp's replies (rewrite.go) and logs the
// connection's end.
type trackedConn struct {
	net.Conn
	srv    *Server
	sc     *server.Conn // the connection as the server core tracks it
	log    *slog.Logger
	remote string
	opened time.Time
	ctx    context.Context // cancelled when the connection closes

	closeOnce sync.Once

	dataTimeout atomic.Int64 // while > 0, renew the read deadline by this much before each read
	peerEOF     atomic.Bool  // the client has closed its side

	mu           sync.Mutex
	out          io.Writer // where to write a 421; nil while unknown (STARTTLS under way)
	inTx         bool      // between an accepted MAIL and the end of the transaction
	closeAfterTx bool      // Shutdown came during a transaction
	closing      bool      // the connection is being closed (Shutdown, or a broken stream)
	broken       bool      // reading DATA failed: the stream is out of step, close after the reply
	txCount      int
}

// newTrackedConn registers c with the server core. It returns nil, having
// closed c, when the server is shutting down or c is over a limit.
func newTrackedConn(c net.Conn, s *Server) *trackedConn {
	tc := &trackedConn{Conn: c, srv: s, opened: time.Now()}
	if a := c.RemoteAddr(); a != nil {
		tc.remote = a.String()
	}
	tc.out = tc
	sc, err := s.core.Track(c, tc.beginShutdown)
	if errors.Is(err, server.ErrServerClosed) {
		c.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
		c.Write(s.goodbye)
		c.Close()
	}
	if err != nil {
		return nil
	}
	tc.sc, tc.log, tc.ctx = sc, sc.Logger(), sc.Context()
	tc.log.Info("connection opened")
	return tc
}

// Write sends p, or go-smtp's reply p corrected (see rewrite.go). go-smtp
// flushes each reply line with its own Write, so p is a whole line. After
// STARTTLS, p is TLS records, which never match.
func (c *trackedConn) Write(p []byte) (int, error) {
	if r, ok := c.srv.replies[string(p)]; ok {
		if _, err := io.WriteString(c.Conn, r); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if q := rewriteParamNotImplemented(p); q != nil {
		if _, err := c.Conn.Write(q); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// Read reads from the client, renewing the read deadline first while a
// message is being received (see renewReadDeadline).
func (c *trackedConn) Read(p []byte) (int, error) {
	if d := c.dataTimeout.Load(); d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(time.Duration(d)))
	}
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.peerEOF.Store(true)
	}
	return n, err
}

// renewReadDeadline makes every read from the connection renew the read
// deadline to d from now (d ≤ 0: stop). go-smtp sets the deadline once per
// command; for DATA that would bound the whole transfer, where RFC 5321
// §4.5.3.2.5 bounds each wait for data.
func (c *trackedConn) renewReadDeadline(d time.Duration) {
	c.dataTimeout.Store(max(int64(d), 0))
}

// Close closes the connection once, and logs it.
func (c *trackedConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = c.sc.Close() // closes c.Conn and cancels ctx
		c.mu.Lock()
		n := c.txCount
		c.mu.Unlock()
		c.log.Info("connection closed",
			"duration", time.Since(c.opened).Round(time.Millisecond).String(), "transactions", n)
	})
	return err
}

// sessionStarted records where replies go now (the *tls.Conn after
// STARTTLS).
func (c *trackedConn) sessionStarted(out io.Writer) {
	c.mu.Lock()
	c.out = out
	c.mu.Unlock()
}

// sessionEnded is called on Logout: at the end of the connection, or after
// STARTTLS before the new session, when plain text must not be written.
func (c *trackedConn) sessionEnded() {
	c.mu.Lock()
	c.out = nil
	c.mu.Unlock()
	c.endTx()
}

// beginTx marks a transaction open. It returns false when the server is
// shutting down and no new transaction may start.
func (c *trackedConn) beginTx() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.srv.shutting.Load() {
		return false
	}
	c.inTx = true
	c.txCount++
	return true
}

// markBroken asks for the connection to be closed at the end of the
// transaction, after its reply: reading the message failed midway, so what
// follows on the stream cannot be trusted to be commands.
func (c *trackedConn) markBroken() {
	c.mu.Lock()
	c.broken = true
	c.mu.Unlock()
}

// endTx is called when the transaction ends (go-smtp's reset, after the
// reply to DATA has been written, or RSET, EHLO, STARTTLS, or the end of the
// connection). It closes the connection if Shutdown has begun or the
// stream is broken.
func (c *trackedConn) endTx() {
	c.mu.Lock()
	c.inTx = false
	shutdown := c.closeAfterTx || c.srv.shutting.Load()
	closeNow := shutdown || c.broken
	sayGoodbye := shutdown && !c.broken
	out := c.out
	if closeNow {
		c.closing = true
	}
	c.mu.Unlock()
	if !closeNow {
		return
	}
	if sayGoodbye && out != nil {
		c.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
		out.Write(c.srv.goodbye)
	}
	c.Close()
}

// beginShutdown closes the connection now if it is idle, or after its
// transaction otherwise.
func (c *trackedConn) beginShutdown() {
	c.mu.Lock()
	if c.inTx {
		c.closeAfterTx = true
		c.mu.Unlock()
		return
	}
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	out := c.out
	c.mu.Unlock()

	// Write the 421 from another goroutine: a client that does not read
	// must not hold up the shutdown of the others.
	go func() {
		if out != nil {
			c.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
			out.Write(c.srv.goodbye)
		}
		c.Close()
	}()
}
