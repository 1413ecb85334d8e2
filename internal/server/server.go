// Package server is what mailroom's protocol servers share: the accept
// loop, the set of open connections with their ids, contexts and loggers,
// the connection limits of internal/limits, panic recovery, a bounded
// graceful shutdown, and a few pieces of session plumbing that are the same
// in every line protocol (the TLS upgrade, the SASL exchange loop, the count
// of commands before login). A protocol package gives it one Session per
// connection and keeps only its protocol.
//
// Invariants:
//   - Serve never returns a temporary Accept error (out of file
//     descriptors, an aborted connection): it logs it and tries again after
//     a pause that grows from 5 ms to 1 s, as net/http does. After Shutdown
//     it returns ErrServerClosed.
//   - Connection ids are never reused within the process.
//   - A panic in a session is logged with its stack and ends that
//     connection only.
//   - Every session's context derives from the server's base context.
//     Shutdown asks each session to end (Session.Shutdown); when its ctx
//     ends first, it cancels the base context, closes every connection and
//     returns at most forceWait later.
//   - The server itself never writes to a connection it has handed to a
//     session: goodbyes are the session's to say.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mailroom/internal/limits"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server closed")

// errRefused is a connection over a limit of Config.Conns.
var errRefused = errors.New("too many connections")

// Accept back-off and shutdown bounds.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
	// forceWait bounds the wait for sessions to end after Shutdown's ctx
	// ended and every connection was closed and every context cancelled.
	forceWait = 500 * time.Millisecond
)

// Session is the protocol side of one connection.
type Session interface {
	// Serve runs the session until it ends. It is called once, in the
	// connection's own goroutine; when it returns, the connection is
	// closed.
	Serve()
	// Shutdown is called at most once, from another goroutine, when
	// Server.Shutdown begins (possibly before Serve starts): the session
	// should say goodbye and end soon, at once when it waits for the
	// client. It must not block, nor write to the connection.
	Shutdown()
}

// Config configures a Server.
type Config struct {
	// Logger is the parent of every connection's logger. Default
	// slog.Default().
	Logger *slog.Logger
	// NewSession returns the session of a new connection. It runs in the
	// connection's goroutine, before Session.Serve.
	NewSession func(c *Conn) Session
	// Conns, when set, bounds the open connections per client address and
	// in total; a connection over a limit is handed to Busy (nil, or a
	// connection under TLS from its first byte: closed without a word)
	// and never reaches NewSession.
	Conns *limits.Conns
	Busy  func(net.Conn)
}

// Server accepts connections and keeps track of them. Create it with New.
type Server struct {
	cfg        Config
	log        *slog.Logger
	baseCtx    context.Context
	cancelBase context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	holds     int // Hold calls not yet released

	shutdownOnce sync.Once
	stopping     chan struct{} // closed when Shutdown begins
	idleOnce     sync.Once
	idle         chan struct{} // closed when, shutting down, nothing is left
	doneOnce     sync.Once
	done         chan struct{} // closed when Shutdown returns
}

// New returns a server with cfg. It does not listen; call Serve.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*Conn]struct{}),
		stopping:  make(chan struct{}),
		idle:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	return s
}

// lastID is the last connection id given out, in the whole process.
var lastID atomic.Uint64

// Conn is one accepted connection.
type Conn struct {
	srv     *Server
	nc      net.Conn
	id      uint64
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	release func() // of the Config.Conns count; nil when not counted

	// Set under srv.mu.
	sess     Session
	shutdown func()

	closeOnce sync.Once
}

// NetConn returns the connection as accepted (a *tls.Conn on an implicit
// TLS listener). Its deadlines may be set from any goroutine.
func (c *Conn) NetConn() net.Conn { return c.nc }

// ID returns the connection's id, unique in the process.
func (c *Conn) ID() uint64 { return c.id }

// Logger returns the connection's logger: the server's, with the
// connection id ("cid") and the client's address ("remote").
func (c *Conn) Logger() *slog.Logger { return c.log }

// Context returns the connection's context: cancelled when the connection
// is closed, and when Shutdown runs out of time.
func (c *Conn) Context() context.Context { return c.ctx }

// Close closes the connection (once), cancels its context and forgets it.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = c.nc.Close()
		c.cancel()
		if c.release != nil {
			c.release()
		}
		c.srv.remove(c)
	})
	return err
}

// temporary reports whether an Accept error may go away by itself (out of
// file descriptors or memory, a connection aborted before it was
// accepted), as net/http's Serve treats it.
func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Serve accepts connections on l and serves each in its own goroutine,
// until Shutdown; then it returns ErrServerClosed once Shutdown has
// returned. Other errors from l.Accept end it, except temporary ones
// (see temporary), which are logged and retried.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				<-s.done
				return ErrServerClosed
			}
			if !temporary(err) {
				return err
			}
			delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
			s.log.Warn("accept failed, retrying", "err", err, "delay", delay.String())
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.stopping:
				t.Stop()
			}
			continue
		}
		delay = 0
		c, err := s.add(nc, nil)
		if errors.Is(err, ErrServerClosed) {
			nc.Close()
		}
		if err != nil {
			continue
		}
		go s.serve(c)
	}
}

// Track registers nc, accepted by a loop of the caller's (a library with
// its own, such as go-smtp), whose goroutine the caller runs: shutdown is
// called when Shutdown begins, and Shutdown waits until the returned Conn
// is closed. Once Shutdown has begun, Track returns ErrServerClosed and
// leaves nc to the caller; a connection over a limit of Config.Conns has
// been handed to Config.Busy, and Track returns an error.
func (s *Server) Track(nc net.Conn, shutdown func()) (*Conn, error) {
	return s.add(nc, shutdown)
}

// Hold counts work that Shutdown must wait for besides the connections (a
// delivery running outside its connection's goroutine). The caller calls
// release when the work is done. Once Shutdown has begun, work may still
// be added while connections are open (a transaction under way finishing);
// when nothing is left, Hold returns ErrServerClosed.
func (s *Server) Hold() (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.idle:
		return nil, ErrServerClosed
	default:
	}
	s.holds++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.holds--
			s.checkIdle()
			s.mu.Unlock()
		})
	}, nil
}

// BaseContext returns the parent of every connection's context.
func (s *Server) BaseContext() context.Context { return s.baseCtx }

func (s *Server) add(nc net.Conn, shutdown func()) (*Conn, error) {
	var release func()
	if s.cfg.Conns != nil {
		var reason string
		if release, reason = s.cfg.Conns.Acquire(nc.RemoteAddr()); release == nil {
			busy := s.cfg.Busy
			if _, isTLS := nc.(*tls.Conn); isTLS {
				busy = nil // a handshake is not worth it
			}
			s.cfg.Conns.Refuse(nc, reason, busy)
			return nil, errRefused
		}
	}
	id := lastID.Add(1)
	c := &Conn{srv: s, nc: nc, id: id, release: release, shutdown: shutdown}
	remote := ""
	if a := nc.RemoteAddr(); a != nil {
		remote = a.String()
	}
	c.log = s.log.With("cid", id, "remote", remote)
	c.ctx, c.cancel = context.WithCancel(s.baseCtx)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		c.cancel()
		if release != nil {
			release()
		}
		return nil, ErrServerClosed
	}
	s.conns[c] = struct{}{}
	return c, nil
}

func (s *Server) remove(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.checkIdle()
	s.mu.Unlock()
}

// checkIdle closes idle when shutting down and nothing is left. s.mu is
// held.
func (s *Server) checkIdle() {
	if s.closing && len(s.conns) == 0 && s.holds == 0 {
		s.idleOnce.Do(func() { close(s.idle) })
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// serve runs c's session in c's goroutine.
func (s *Server) serve(c *Conn) {
	defer c.Close()
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic serving connection", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	sess := s.cfg.NewSession(c)
	s.mu.Lock()
	c.sess, c.shutdown = sess, sess.Shutdown
	closing := s.closing
	s.mu.Unlock()
	if closing {
		sess.Shutdown()
	}
	sess.Serve()
}

// Sessions returns the sessions of the open connections served by Serve.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.conns))
	for c := range s.conns {
		if c.sess != nil {
			out = append(out, c.sess)
		}
	}
	return out
}

// Done returns a channel that is closed when Shutdown has returned.
func (s *Server) Done() <-chan struct{} { return s.done }

// Open returns the number of open connections.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting connections, asks every session to end
// (Session.Shutdown) and waits until every connection is closed and every
// Hold released; then it returns nil. If ctx ends first, it cancels every
// connection's context, closes every connection, waits at most forceWait
// more for the sessions to end and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(s.startShutdown)
	select {
	case <-s.idle:
		s.cancelBase()
		s.doneOnce.Do(func() { close(s.done) })
		return nil
	case <-ctx.Done():
	}
	s.cancelBase()
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
	t := time.NewTimer(forceWait)
	defer t.Stop()
	select {
	case <-s.idle:
	case <-t.C:
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		s.log.Warn("shutdown: sessions still running after their connections were closed", "sessions", n)
	}
	s.doneOnce.Do(func() { close(s.done) })
	return ctx.Err()
}

func (s *Server) startShutdown() {
	s.mu.Lock()
	s.closing = true
	close(s.stopping)
	for l := range s.listeners {
		l.Close()
	}
	hooks := make([]func(), 0, len(s.conns))
	for c := range s.conns {
		if c.shutdown != nil {
			hooks = append(hooks, c.shutdown)
		}
	}
	n := len(s.conns)
	s.checkIdle()
	s.mu.Unlock()

	s.log.Info("shutting down", "connections", n)
	for _, f := range hooks {
		f()
	}
}
