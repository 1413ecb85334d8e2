// Package servertest helps test the protocol servers: it serves a server
// on a loopback listener for the length of a test, dials it, and checks
// that a test leaves no goroutine and no file descriptor behind.
package servertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mailroom/internal/server"
	"mailroom/internal/tlsconf"
)

// Server is what every protocol server offers.
type Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// ShutdownTimeout bounds the Shutdown at the end of a test, and the wait
// for Serve to return after it.
const ShutdownTimeout = 10 * time.Second

// Serve runs srv on a loopback port until the test ends, and returns its
// address (see Start).
func Serve(t testing.TB, srv Server) string {
	t.Helper()
	return Start(t, srv).Addr
}

// ServeListener is Serve on l.
func ServeListener(t testing.TB, srv Server, l net.Listener) string {
	t.Helper()
	return StartListener(t, srv, l).Addr
}

// Running is a server that Start serves.
type Running struct {
	// Addr is the address it listens on.
	Addr string
	srv  Server
	done chan struct{} // closed when Serve has returned
	err  error         // what Serve returned
	stop sync.Once
}

// Start runs srv on a loopback port until the test ends; then Stop runs.
func Start(t testing.TB, srv Server) *Running {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return StartListener(t, srv, l)
}

// StartListener is Start on l.
func StartListener(t testing.TB, srv Server, l net.Listener) *Running {
	t.Helper()
	r := &Running{Addr: l.Addr().String(), srv: srv, done: make(chan struct{})}
	go func() {
		r.err = srv.Serve(l)
		close(r.done)
	}()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Stop shuts the server down, once, and fails t unless Shutdown returns
// nil within ShutdownTimeout and Serve returns server.ErrServerClosed.
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.stop.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := r.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		r.Wait(t)
	})
}

// Done returns a channel that is closed when Serve has returned.
func (r *Running) Done() <-chan struct{} { return r.done }

// Wait fails t unless Serve returns server.ErrServerClosed within
// ShutdownTimeout (the caller has called Shutdown).
func (r *Running) Wait(t testing.TB) {
	t.Helper()
	select {
	case <-r.done:
		if !errors.Is(r.err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", r.err)
		}
	case <-time.After(ShutdownTimeout):
		t.Errorf("Serve did not return after Shutdown")
	}
}

// Dial connects to addr; the connection is closed when the test ends.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// settle bounds the wait for goroutines and descriptors to go away.
const settle = 3 * time.Second

// CheckLeaks notes the goroutines and open file descriptors of the
// process and returns a function that fails t if, after a short wait for
// things to settle, there are goroutines or descriptors that were not
// there before. Use it as defer CheckLeaks(t)(), or register it with
// t.Cleanup before the cleanups of what the test starts (cleanups run last
// first), so that it runs after them. Tests that run in parallel with
// others would see their goroutines: do not use it in those.
func CheckLeaks(t testing.TB) func() {
	t.Helper()
	// The network poller's descriptors are opened on first use and kept:
	// open them now, so they do not count as the test's.
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
	}
	ignore := goleak.IgnoreCurrent()
	fds := openFDs()
	return func() {
		t.Helper()
		if err := goleak.Find(ignore); err != nil {
			t.Errorf("goroutines leaked: %v", err)
		}
		if fds < 0 {
			return
		}
		deadline := time.Now().Add(settle)
		n := openFDs()
		for n > fds && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			n = openFDs()
		}
		if n > fds {
			t.Errorf("file descriptors leaked: %d open, %d before", n, fds)
		}
	}
}

// openFDs counts the open file descriptors of the process (-1 where
// /proc/self/fd is not there).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// EMFILE returns a listener over l whose first n Accepts fail as they do
// when the process is out of file descriptors (a *net.OpError wrapping
// syscall.EMFILE); then it accepts from l. Failed counts the failures so
// far.
func EMFILE(l net.Listener, n int) *FailingListener {
	return &FailingListener{Listener: l, n: n}
}

// FailingListener is returned by EMFILE.
type FailingListener struct {
	net.Listener
	mu     sync.Mutex
	n      int
	failed int
}

// Accept fails as long as failures are left, then accepts from the
// listener underneath.
func (l *FailingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.failed < l.n {
		l.failed++
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// Failed returns how many Accepts have failed.
func (l *FailingListener) Failed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// TLS returns a server configuration with a fresh self-signed certificate
// for localhost and 127.0.0.1, and a client configuration that trusts it.
func TLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := tlsconf.GenerateSelfSigned(certFile, keyFile, []string{"localhost", "127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	cert, err := tlsconf.Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return tlsconf.ServerConfig(cert), &tls.Config{RootCAs: roots, ServerName: "localhost"}
}
