package managesieve

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"mailroom/internal/server/servertest"
)

// Running out of file descriptors for a moment must not stop the server.
func TestServeRetriesTemporaryAcceptErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := servertest.EMFILE(l, 3)
	srv := New(newFakeBackend(), Options{
		Hostname:      "sieve.example.org",
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		AuthFailDelay: -1,
	})
	c := dial(t, servertest.ServeListener(t, srv, fl))
	c.login("alice", "secret")
	c.send("NOOP")
	c.expectPrefix("OK")
	if n := fl.Failed(); n != 3 {
		t.Errorf("%d failed Accepts, want 3", n)
	}
}
