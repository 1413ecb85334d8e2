package pop3server

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
)

// FuzzSession feeds arbitrary bytes as a client session to a server over a
// real socket, and checks that it neither panics nor hangs: the session
// must end (the server closing the connection) within a few seconds of the
// client closing its side. Seeds: the transcript tests, and real client
// transcripts in testdata/fuzz/FuzzSession.
func FuzzSession(f *testing.F) {
	f.Add([]byte("USER " + alice + "\r\nPASS " + password + "\r\nSTAT\r\nLIST\r\nRETR 1\r\nTOP 2 0\r\nUIDL\r\nDELE 1\r\nRSET\r\nQUIT\r\n"))
	f.Add([]byte("AUTH PLAIN\r\n" + plain("", alice, password) + "\r\nUIDL 1\r\nLIST 2\r\nNOOP\r\nQUIT\r\n"))
	f.Add([]byte("AUTH PLAIN\r\n*\r\nAUTH\r\nCAPA\r\nAPOP x y\r\n\x00\xff\r\n"))
	f.Add([]byte("USER " + alice + "\nPASS " + password + "\nRETR 1\nTOP 1 99999999999999999999\n"))
	f.Add([]byte("USER " + strings.Repeat("x", 5000) + "\r\nCAPA\r\n"))
	for _, st := range [][]step{loginSteps} {
		var b strings.Builder
		for _, s := range st {
			b.WriteString(s.send + "\r\n")
		}
		f.Add([]byte(b.String()))
	}

	f.Cleanup(servertest.CheckLeaks(f))
	fx := newFixture(f)
	// refill puts mail back when the inputs' DELE+QUIT have taken it.
	refill := func(t testing.TB) {
		if len(fx.messages(t, fx.alice, "INBOX")) >= 3 {
			return
		}
		for _, m := range []string{msg1, msg2, msg3, clientMessages[2]} {
			fx.deliver(t, fx.alice, "INBOX", m)
		}
	}
	refill(f)
	watch := &servertest.PanicWatch{}
	srv := New(fx.st, fx.dir, Options{
		Hostname: "pop.example.org", Logger: slog.New(watch),
		View: ViewAll, MarkSeen: true, AuthFailDelay: -1,
		AuthTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
	})
	addr := servertest.Serve(f, srv)

	f.Fuzz(func(t *testing.T, input []byte) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		readDone := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, nc)
			readDone <- err
		}()
		nc.Write(input)
		nc.(*net.TCPConn).CloseWrite()
		if err := <-readDone; err != nil {
			t.Fatalf("session did not end: %v", err)
		}
		if p := watch.Take(); len(p) > 0 {
			t.Fatalf("panic: %v", p)
		}
		refill(t)
	})
}
