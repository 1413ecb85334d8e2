package imapserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
	"mailroom/internal/store"
)

// on returns a copy of e whose clients talk to srv at addr.
func (e *testEnv) on(srv *Server, addr string) *testEnv {
	e2 := *e
	e2.srv, e2.addr = srv, addr
	return &e2
}

func (e *testEnv) options() Options {
	return Options{
		Hostname:      "imap.example.test",
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		AuthFailDelay: time.Millisecond,
		PollInterval:  100 * time.Millisecond,
	}
}

// Running out of file descriptors for a moment must not stop the server.
func TestServeRetriesTemporaryAcceptErrors(t *testing.T) {
	e := newTestEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := servertest.EMFILE(l, 3)
	srv := New(e.st, e.dir, e.options())
	c := e.on(srv, servertest.ServeListener(t, srv, fl)).login()
	c.ok("NOOP")
	if n := fl.Failed(); n != 3 {
		t.Errorf("%d failed Accepts, want 3", n)
	}
}

// blockingStore blocks SetSubscribed until its context ends.
type blockingStore struct {
	store.Store
	entered   chan struct{}
	cancelled chan struct{}
}

func (b *blockingStore) SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error {
	b.entered <- struct{}{}
	<-ctx.Done()
	close(b.cancelled)
	return ctx.Err()
}

// Shutdown's deadline holds even for a session stuck in a store call
// (which must see its context cancelled) and one whose client never reads.
func TestShutdownIsBoundedAndCancelsSessions(t *testing.T) {
	e := newTestEnv(t)
	bs := &blockingStore{Store: e.st, entered: make(chan struct{}, 1), cancelled: make(chan struct{})}
	srv := New(bs, e.dir, e.options())
	on := e.on(srv, servertest.Serve(t, srv))
	busy := on.login()
	idle := on.login()
	busy.send("b1 SUBSCRIBE INBOX")
	select {
	case <-bs.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("SUBSCRIBE did not reach the store")
	}
	// The idle client sends commands but never reads the responses.
	for range 100 {
		idle.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := io.WriteString(idle.conn, "x LIST \"\" *\r\n"); err != nil {
			break
		}
	}

	const grace = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(bg, grace)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
		}
		if took := time.Since(start); took > grace+time.Second {
			t.Errorf("Shutdown took %v for a deadline of %v", took, grace)
		}
	case <-time.After(grace + 5*time.Second):
		t.Fatal("Shutdown did not return after its deadline")
	}
	select {
	case <-bs.cancelled:
	case <-time.After(time.Second):
		t.Error("the blocked session's context was not cancelled")
	}
}
