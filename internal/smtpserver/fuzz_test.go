package smtpserver

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
)

// FuzzSession feeds arbitrary bytes as a client session to an SMTP server
// (with STARTTLS on offer) and an LMTP server, and checks that neither
// panics nor hangs: each session must end (the server closing the
// connection) within a few seconds of the client closing its side.
func FuzzSession(f *testing.F) {
	for _, tc := range append(smtpTranscripts(), lmtpTranscripts()...) {
		var b strings.Builder
		for _, st := range tc.steps {
			b.WriteString(st.send)
			if !st.raw {
				b.WriteString("\r\n")
			}
		}
		f.Add([]byte(b.String()))
	}
	for _, seed := range []string{
		"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		"LHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\nhi\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.org>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.org>\r\nBDAT 10 LAST\r\nabc",
		"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\npartial",
		"EHLO x\r\nSTARTTLS\r\n\x16\x03\x01\x00\x05hello",
		"EHLO x\r\nMAIL FROM:<a@b.example> SIZE=99999999999\r\n",
		"EHLO x\r\nAUTH PLAIN\r\n*\r\n",
		"\r\n\r\n\x00\xff\r\n",
	} {
		f.Add([]byte(seed))
	}

	f.Cleanup(servertest.CheckLeaks(f))
	watch := &servertest.PanicWatch{}
	logger := slog.New(watch)
	cert, _ := selfSigned(f)
	var addrs []string
	for _, lmtp := range []bool{false, true} {
		opts := Options{
			Hostname:       "mx.example.org",
			LMTP:           lmtp,
			MaxMessageSize: 2000,
			MaxRecipients:  20,
			ReadTimeout:    2 * time.Second,
			WriteTimeout:   2 * time.Second,
			Logger:         logger,
		}
		if !lmtp {
			opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
		d := newFake()
		d.rcptResult["carol@example.org"] = errors.New("internal")
		d.rcptResult["dave@example.org"] = nil
		srv := New(d, opts)
		addrs = append(addrs, servertest.Serve(f, srv))
	}

	f.Fuzz(func(t *testing.T, in []byte) {
		var wg sync.WaitGroup
		for _, addr := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fuzzSession(t, addr, in)
			}()
		}
		wg.Wait()
		if p := watch.Take(); len(p) > 0 {
			t.Fatalf("server panicked: %q", p)
		}
	})
}

// fuzzSession writes in to a new connection, closes the writing side and
// reads until the server closes the connection.
func fuzzSession(t *testing.T, addr string, in []byte) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial: %v", err)
		return
	}
	defer conn.Close()
	// ReadTimeout is 2 s; a session that still runs after 10 s hangs.
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		conn.Write(in) // may fail once the server has given up on us
		conn.(*net.TCPConn).CloseWrite()
	}()
	_, err = io.Copy(io.Discard, conn)
	<-wrote
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("session %q did not end: the server hangs", abbrev(string(in)))
	}
}
