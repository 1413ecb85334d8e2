package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mailroom/internal/limits"
	"mailroom/internal/server"
	"mailroom/internal/server/servertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// lineSession answers each line: "id" with the connection's id, "panic"
// with a panic, "block" by waiting for its context to end, anything else
// by echoing it. Shutdown makes it say "bye" and end, unless it is
// stubborn.
type lineSession struct {
	c        *server.Conn
	br       *bufio.Reader
	stubborn bool

	mu       sync.Mutex
	stopping bool
}

func (s *lineSession) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

func (s *lineSession) Shutdown() {
	if s.stubborn {
		return
	}
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.c.NetConn().SetReadDeadline(time.Now())
}

func (s *lineSession) Serve() {
	nc := s.c.NetConn()
	io.WriteString(nc, "hello\r\n")
	for {
		if s.isStopping() {
			io.WriteString(nc, "bye\r\n")
			return
		}
		nc.SetReadDeadline(time.Now().Add(time.Minute))
		if s.isStopping() {
			continue
		}
		line, err := s.br.ReadString('\n')
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		switch line = strings.TrimSpace(line); line {
		case "id":
			fmt.Fprintf(nc, "%d\r\n", s.c.ID())
		case "panic":
			panic("a bug")
		case "block":
			<-s.c.Context().Done()
			return
		default:
			io.WriteString(nc, line+"\r\n")
		}
	}
}

type testServer struct {
	srv  *server.Server
	addr string
}

func newServer(t *testing.T, cfg server.Config, stubborn bool) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	cfg.NewSession = func(c *server.Conn) server.Session {
		return &lineSession{c: c, br: bufio.NewReader(c.NetConn()), stubborn: stubborn}
	}
	srv := server.New(cfg)
	return &testServer{srv: srv, addr: servertest.Serve(t, srv)}
}

type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	nc := servertest.Dial(t, addr)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimSpace(l)
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// greeted dials and reads the greeting.
func greeted(t *testing.T, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	if g := c.line(); g != "hello" {
		t.Fatalf("greeting %q", g)
	}
	return c
}

// closed reports whether the server closes the connection within 5s,
// after what it still had to say.
func (c *client) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

func TestPanicEndsOnlyItsConnection(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil)
	ts := newServer(t, server.Config{Logger: slog.New(h)}, false)
	other := greeted(t, ts.addr)
	bad := greeted(t, ts.addr)
	bad.send("panic")
	if !bad.closed() {
		t.Fatal("the connection that panicked is still open")
	}
	other.send("still there")
	if got := other.line(); got != "still there" {
		t.Fatalf("other connection: %q", got)
	}
	third := greeted(t, ts.addr)
	third.send("x")
	if got := third.line(); got != "x" {
		t.Fatalf("new connection: %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "panic serving connection") || !strings.Contains(logs.String(), "stack=") {
		t.Errorf("no panic log with a stack:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestServeAfterShutdown(t *testing.T) {
	srv := server.New(server.Config{Logger: quiet, NewSession: func(*server.Conn) server.Session { return nil }})
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Error("Serve left the listener open")
	}
}

func TestServeReturnsErrServerClosed(t *testing.T) {
	srv := server.New(server.Config{Logger: quiet, NewSession: func(c *server.Conn) server.Session {
		return &lineSession{c: c, br: bufio.NewReader(c.NetConn())}
	}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	c := greeted(t, l.Addr().String())
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if got := c.line(); got != "bye" {
		t.Errorf("at shutdown the session said %q, want bye", got)
	}
	if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
}

func TestConnectionIDsDistinct(t *testing.T) {
	a := newServer(t, server.Config{}, false)
	b := newServer(t, server.Config{}, false)
	seen := map[string]bool{}
	for i := range 20 {
		addr := a.addr
		if i%2 == 1 {
			addr = b.addr
		}
		c := greeted(t, addr)
		c.send("id")
		id := c.line()
		if n, err := strconv.ParseUint(id, 10, 64); err != nil || n == 0 {
			t.Fatalf("id %q", id)
		}
		if seen[id] {
			t.Fatalf("id %s given twice", id)
		}
		seen[id] = true
		c.nc.Close()
	}
}

func TestTemporaryAcceptErrorsAreRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := servertest.EMFILE(l, 4)
	srv := server.New(server.Config{Logger: quiet, NewSession: func(c *server.Conn) server.Session {
		return &lineSession{c: c, br: bufio.NewReader(c.NetConn())}
	}})
	addr := servertest.ServeListener(t, srv, fl)
	c := greeted(t, addr)
	c.send("ok")
	if got := c.line(); got != "ok" {
		t.Fatalf("got %q", got)
	}
	if n := fl.Failed(); n != 4 {
		t.Errorf("%d failed Accepts, want 4", n)
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		opts limits.ConnOptions
	}{
		{"per address", limits.ConnOptions{PerAddress: 2, Logger: quiet}},
		{"total", limits.ConnOptions{Total: 2, Logger: quiet}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns := limits.NewConns(tt.opts)
			ts := newServer(t, server.Config{Conns: conns, Busy: limits.Busy("busy")}, false)
			a := greeted(t, ts.addr)
			b := greeted(t, ts.addr)
			over := dial(t, ts.addr)
			if got := over.line(); got != "busy" {
				t.Fatalf("third connection got %q, want busy", got)
			}
			if !over.closed() {
				t.Fatal("third connection stays open")
			}
			a.send("quit")
			a.line()
			a.nc.Close()
			// The count drops once the server has closed a's connection.
			deadline := time.Now().Add(5 * time.Second)
			for {
				total, _ := conns.Open(b.nc.LocalAddr())
				if total < 2 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			c := greeted(t, ts.addr)
			c.send("ok")
			if got := c.line(); got != "ok" {
				t.Fatalf("after a close: %q", got)
			}
			b.send("ok")
			b.line()
		})
	}
}

func TestShutdownIsBounded(t *testing.T) {
	for _, stubborn := range []bool{false, true} {
		t.Run(fmt.Sprint("stubborn=", stubborn), func(t *testing.T) {
			srv := server.New(server.Config{Logger: quiet, NewSession: func(c *server.Conn) server.Session {
				return &lineSession{c: c, br: bufio.NewReader(c.NetConn()), stubborn: stubborn}
			}})
			addr := servertest.Serve(t, srv)
			blocked := greeted(t, addr)
			blocked.send("block")
			idle := greeted(t, addr)
			time.Sleep(50 * time.Millisecond) // let "block" arrive
			const grace = 200 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			start := time.Now()
			err := srv.Shutdown(ctx)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
			}
			if took > grace+time.Second {
				t.Errorf("Shutdown took %v for a grace of %v", took, grace)
			}
			if !blocked.closed() {
				t.Error("the blocked session's connection is still open")
			}
			if !idle.closed() {
				t.Error("the idle session's connection is still open")
			}
		})
	}
}

func TestHoldDelaysShutdown(t *testing.T) {
	srv := server.New(server.Config{Logger: quiet})
	release, err := srv.Hold()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	select {
	case <-done:
		t.Fatal("Shutdown returned with a Hold outstanding")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Hold(); !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Hold after Shutdown = %v", err)
	}
}
