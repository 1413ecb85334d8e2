package smtpserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/smtp"
	"os"
	"strings"
	"testing"
	"time"

	"mailroom/internal/delivery"
)

func TestEHLOExtensions(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		t.Run(protoName(lmtp), func(t *testing.T) {
			ts := startServer(t, newFake(), Options{LMTP: lmtp, MaxMessageSize: 12345})
			c := dial(t, ts.addr)
			if lmtp {
				c.send("LHLO client.example")
			} else {
				c.send("EHLO client.example")
			}
			lines := c.expect("250 ")
			got := strings.Join(lines, "\n") + "\n"
			for _, ext := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "SIZE 12345", "CHUNKING", "LIMITS RCPTMAX=1000"} {
				if !strings.Contains(got, "250-"+ext+"\n") && !strings.Contains(got, "250 "+ext+"\n") {
					t.Errorf("%s not advertised in %q", ext, lines)
				}
			}
			for _, ext := range []string{"AUTH", "STARTTLS", "DSN"} {
				if strings.Contains(got, ext) {
					t.Errorf("%s advertised in %q", ext, lines)
				}
			}
		})
	}
}

func TestGreeting(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		ts := startServer(t, newFake(), Options{LMTP: lmtp})
		conn, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 100)
		n, _ := conn.Read(buf)
		conn.Close()
		want := "220 mx.example.org ESMTP"
		if lmtp {
			want = "220 mx.example.org LMTP"
		}
		if !strings.HasPrefix(string(buf[:n]), want) {
			t.Errorf("greeting %q, want %q", buf[:n], want)
		}
	}
}

func TestPipelining(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		t.Run(protoName(lmtp), func(t *testing.T) {
			d := newFake()
			ts := startServer(t, d, Options{LMTP: lmtp})
			c := dial(t, ts.addr)
			hello := "EHLO"
			if lmtp {
				hello = "LHLO"
			}
			// RFC 2920: the whole batch in one write, then the replies.
			c.write(hello + " client.example\r\n" +
				"MAIL FROM:<sender@remote.example>\r\n" +
				"RCPT TO:<alice@example.org>\r\n" +
				"RCPT TO:<nobody@example.org>\r\n" +
				"RCPT TO:<bob@example.org>\r\n" +
				"DATA\r\n")
			for _, want := range []string{"250 ", "250 2.0.0", "250 2.0.0", "550 5.1.1", "250 2.0.0", "354 "} {
				c.expect(want)
			}
			c.write("Subject: pipelined\r\n\r\nbody\r\n.\r\nRSET\r\nQUIT\r\n")
			c.expect("250 2.0.0")
			if lmtp {
				c.expect("250 2.0.0") // one reply per recipient
			}
			c.expect("250 ")
			c.expect("221 ")
			ds := d.deliveries()
			if len(ds) != 1 || strings.Join(ds[0].env.Recipients, ",") != "alice@example.org,bob@example.org" ||
				ds[0].body != "Subject: pipelined\r\n\r\nbody\r\n" {
				t.Errorf("deliveries %+v", ds)
			}
		})
	}
}

// runSMTP runs a transaction to recipients and returns the reply to the
// end of DATA.
func runSMTP(t *testing.T, ts *testServer, body string, rcpts ...string) string {
	t.Helper()
	c := dial(t, ts.addr)
	c.send("EHLO client.example")
	c.expect("250 ")
	c.send("MAIL FROM:<sender@remote.example>")
	c.expect("250 ")
	for _, r := range rcpts {
		c.send("RCPT TO:<" + r + ">")
		c.expect("250 ")
	}
	c.send("DATA")
	c.expect("354 ")
	c.write(body + ".\r\n")
	lines, err := c.reply()
	if err != nil {
		t.Fatalf("reply to DATA: %v", err)
	}
	// The connection must still be in step.
	c.send("NOOP")
	c.expect("250 ")
	return lines[len(lines)-1]
}

func TestSMTPMultiRecipientResults(t *testing.T) {
	const alice, bob, carol = "alice@example.org", "bob@example.org", "carol@example.org"
	tests := []struct {
		name    string
		results map[string]error
		want    string
		logged  []string
	}{
		{name: "all delivered", want: "250 2.0.0 OK: stored as "},
		{
			name:    "mixed: 250 and a warning",
			results: map[string]error{bob: delivery.ErrMailboxFullTemp},
			want:    "250 2.0.0 OK: stored as ",
			logged:  []string{"partially failed", "bob@example.org: 452 4.2.2 mailbox full"},
		},
		{
			name:    "all failed alike",
			results: map[string]error{alice: delivery.ErrMailboxFullPerm, bob: delivery.ErrMailboxFullPerm, carol: delivery.ErrMailboxFullPerm},
			want:    "552 5.2.2 mailbox full",
		},
		{
			name:    "all failed, a temporary failure wins",
			results: map[string]error{alice: delivery.ErrMailboxFullPerm, bob: delivery.ErrMailboxFullTemp, carol: delivery.ErrNoSuchUser},
			want:    "452 4.2.2 mailbox full",
		},
		{
			name:    "all failed permanently: the first",
			results: map[string]error{alice: delivery.ErrMalformed, bob: delivery.ErrMailboxFullPerm, carol: delivery.ErrNoSuchUser},
			want:    "554 5.6.0 malformed message",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFake()
			for r, err := range tt.results {
				d.rcptResult[r] = err
			}
			ts := startServer(t, d, Options{})
			got := runSMTP(t, ts, "hi\r\n", alice, bob, carol)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("reply %q, want %q", got, tt.want)
			}
			logs := ts.logs.String()
			for _, l := range tt.logged {
				if !strings.Contains(logs, l) {
					t.Errorf("log lacks %q:\n%s", l, logs)
				}
			}
		})
	}
}

func TestDeliverContract(t *testing.T) {
	tests := []struct {
		name string
		hook func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error)
		want string
		log  string
	}{
		{
			name: "internal error is hidden",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				io.Copy(io.Discard, body)
				return nil, errInternal
			},
			want: "451 4.3.0 temporary failure, try again later",
			log:  "secret-host",
		},
		{
			name: "internal error per recipient is hidden",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				io.Copy(io.Discard, body)
				return []error{errInternal}, nil
			},
			want: "451 4.3.0 temporary failure, try again later",
			log:  "secret-host",
		},
		{
			name: "wrapped delivery error",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				io.Copy(io.Discard, body)
				return nil, fmt.Errorf("storing: %w", delivery.ErrMailboxFullPerm)
			},
			want: "552 5.2.2 mailbox full",
		},
		{
			name: "wrong number of results",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				io.Copy(io.Discard, body)
				return []error{nil, nil}, nil
			},
			want: "451 4.3.0",
			log:  "wrong number of results",
		},
		{
			name: "reply text cannot inject lines",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				io.Copy(io.Discard, body)
				return nil, delivery.Errorf(550, [3]int{5, 7, 1}, "no\r\n250 2.0.0 injected")
			},
			want: "550 5.7.1 no  250 2.0.0 injected",
		},
		{
			name: "not a failure code",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				io.Copy(io.Discard, body)
				return nil, &delivery.Error{Code: 250, Text: "fine"}
			},
			want: "451 4.3.0",
		},
		{
			name: "mismatched enhanced code",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				io.Copy(io.Discard, body)
				return nil, &delivery.Error{Code: 554, Enhanced: [3]int{4, 1, 1}, Text: "odd"}
			},
			want: "554 5.0.0 odd",
		},
		{
			name: "success without reading the whole message",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				body.Read(make([]byte, 3))
				return []error{nil}, nil
			},
			want: "451 4.3.0",
			log:  "without reading the whole message",
		},
		{
			name: "failure without reading the message",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				return nil, delivery.ErrMalformed
			},
			want: "554 5.6.0",
		},
		{
			name: "success despite the size limit",
			hook: func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
				io.Copy(io.Discard, body)
				return []error{nil}, nil
			},
			want: "552 5.3.4",
			log:  "over the size limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFake()
			d.hook = tt.hook
			ts := startServer(t, d, Options{MaxMessageSize: 100})
			body := "Subject: x\r\n\r\nhello\r\n"
			if strings.Contains(tt.name, "size limit") {
				body = strings.Repeat("long line\r\n", 20)
			}
			got := runSMTP(t, ts, body, "alice@example.org")
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("reply %q, want %q", got, tt.want)
			}
			if tt.log != "" && !strings.Contains(ts.logs.String(), tt.log) {
				t.Errorf("log lacks %q", tt.log)
			}
			if strings.Contains(got, "secret") {
				t.Errorf("internal error leaked: %q", got)
			}
		})
	}
}

func TestDisconnectMidData(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		t.Run(protoName(lmtp), func(t *testing.T) {
			d := newFake()
			d.started = make(chan struct{}, 1)
			ts := startServer(t, d, Options{LMTP: lmtp})
			c := dial(t, ts.addr)
			if lmtp {
				c.send("LHLO client.example")
			} else {
				c.send("EHLO client.example")
			}
			c.expect("250 ")
			c.send("MAIL FROM:<sender@remote.example>")
			c.expect("250 ")
			c.send("RCPT TO:<alice@example.org>")
			c.expect("250 ")
			c.send("DATA")
			c.expect("354 ")
			c.write("Subject: cut short\r\n\r\nthe first half of the")
			<-d.started
			c.conn.Close()

			waitFor(t, "Deliver to see the read error", func() bool { return len(d.readErrors()) == 1 })
			err := d.readErrors()[0]
			if err == io.EOF || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Deliver's read error = %v, want io.ErrUnexpectedEOF", err)
			}
			noDelivery(t, ts)
			waitFor(t, "the connection to close", func() bool { return strings.Contains(ts.logs.String(), "connection closed") })
			if logs := ts.logs.String(); !strings.Contains(logs, "message transfer aborted") {
				t.Errorf("abort not logged:\n%s", logs)
			}
		})
	}
}

func TestDisconnectMidBDAT(t *testing.T) {
	d := newFake()
	ts := startServer(t, d, Options{})
	c := dial(t, ts.addr)
	c.send("EHLO client.example")
	c.expect("250 ")
	c.send("MAIL FROM:<sender@remote.example>")
	c.expect("250 ")
	c.send("RCPT TO:<alice@example.org>")
	c.expect("250 ")
	c.write("BDAT 100 LAST\r\nonly part of the chunk")
	time.Sleep(20 * time.Millisecond)
	c.conn.Close()
	waitFor(t, "Deliver to see the read error", func() bool { return len(d.readErrors()) == 1 })
	if err := d.readErrors()[0]; err == io.EOF {
		t.Errorf("Deliver's read error = io.EOF")
	}
	noDelivery(t, ts)
}

func TestDataTimeout(t *testing.T) {
	d := newFake()
	ts := startServer(t, d, Options{ReadTimeout: 300 * time.Millisecond})
	c := dial(t, ts.addr)
	c.send("EHLO client.example")
	c.expect("250 ")
	c.send("MAIL FROM:<sender@remote.example>")
	c.expect("250 ")
	c.send("RCPT TO:<alice@example.org>")
	c.expect("250 ")
	c.send("DATA")
	c.expect("354 ")
	c.write("Subject: slow\r\n\r\nthen nothing")
	// No more: the server times out, replies and closes, since the rest of
	// the stream can no longer be taken for commands.
	c.expect("451 4.4.2")
	c.expectClosed()
	errs := d.readErrors()
	var ne net.Error
	if len(errs) != 1 || !errors.As(errs[0], &ne) || !ne.Timeout() {
		t.Errorf("read errors %v, want a timeout", errs)
	}
	noDelivery(t, ts)
}

func TestDataReadDeadlineRenewed(t *testing.T) {
	d := newFake()
	ts := startServer(t, d, Options{ReadTimeout: 800 * time.Millisecond})
	c := dial(t, ts.addr)
	c.send("EHLO client.example")
	c.expect("250 ")
	c.send("MAIL FROM:<sender@remote.example>")
	c.expect("250 ")
	c.send("RCPT TO:<alice@example.org>")
	c.expect("250 ")
	c.send("DATA")
	c.expect("354 ")
	// 16 × 100 ms: twice ReadTimeout in all, never that long between two
	// writes.
	var maxGap time.Duration
	last := time.Now()
	for i := range 16 {
		_, err := fmt.Fprintf(c.conn, "line %d\r\n", i)
		maxGap = max(maxGap, time.Since(last))
		if err != nil {
			if maxGap > 600*time.Millisecond {
				t.Skipf("the machine is too busy for this test: %v between two writes", maxGap)
			}
			t.Fatalf("write %d (longest gap %v): %v\n%s", i, maxGap, err, ts.logs)
		}
		last = time.Now()
		time.Sleep(100 * time.Millisecond)
	}
	c.write(".\r\n")
	c.expect("250 ")
	oneDelivery(t, ts)
}

func TestIdleTimeout(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		t.Run(protoName(lmtp), func(t *testing.T) {
			ts := startServer(t, newFake(), Options{LMTP: lmtp, ReadTimeout: 200 * time.Millisecond})
			c := dial(t, ts.addr)
			start := time.Now()
			c.expect("421 4.4.2")
			c.expectClosed()
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("closed after %v", d)
			}
		})
	}
}

func TestManyRecipients(t *testing.T) {
	const n = 10000
	d := newFake()
	ts := startServer(t, d, Options{})
	c := dial(t, ts.addr)
	c.send("EHLO client.example")
	c.expect("250 ")

	// Write everything in a goroutine while reading the replies here, as a
	// pipelining client does, so neither side's buffers fill up.
	wrote := make(chan error, 1)
	go func() {
		var b strings.Builder
		b.WriteString("MAIL FROM:<sender@remote.example>\r\n")
		for i := range n {
			fmt.Fprintf(&b, "RCPT TO:<user%d@example.org>\r\n", i)
		}
		b.WriteString("DATA\r\n")
		_, err := io.WriteString(c.conn, b.String())
		wrote <- err
	}()
	c.expect("250 ")
	var ok, tooMany int
	for range n {
		lines, err := c.reply()
		if err != nil {
			t.Fatal(err)
		}
		switch last := lines[len(lines)-1]; {
		case strings.HasPrefix(last, "250 "):
			ok++
		case strings.HasPrefix(last, "452 4.5.3"):
			tooMany++
		default:
			t.Fatalf("unexpected reply %q", lines)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if ok != 1000 || tooMany != n-1000 {
		t.Errorf("%d accepted, %d refused; want 1000 and %d", ok, tooMany, n-1000)
	}
	c.expect("354 ")
	c.write("hi\r\n.\r\n")
	c.expect("250 ")
	if ds := d.deliveries(); len(ds) != 1 || len(ds[0].env.Recipients) != 1000 {
		t.Errorf("delivery to %d recipients", len(ds[0].env.Recipients))
	}
}

func TestLongLineKeepsServing(t *testing.T) {
	d := newFake()
	ts := startServer(t, d, Options{})
	good := dial(t, ts.addr)
	good.send("EHLO client.example")
	good.expect("250 ")

	bad := dial(t, ts.addr)
	bad.send("EHLO " + strings.Repeat("a", 5000))
	bad.expect("500 ")
	bad.expectClosed()

	good.send("MAIL FROM:<sender@remote.example>")
	good.expect("250 ")
	good.send("RCPT TO:<alice@example.org>")
	good.expect("250 ")
	good.send("DATA")
	good.expect("354 ")
	good.write("hi\r\n.\r\n")
	good.expect("250 ")
	oneDelivery(t, ts)

	// And new connections are still served.
	runSMTP(t, ts, "again\r\n", "bob@example.org")
}

func TestNetSMTPClient(t *testing.T) {
	d := newFake()
	ts := startServer(t, d, Options{})
	msg := "From: sender@remote.example\nTo: alice@example.org\nSubject: net/smtp\n\n.leading dot\nbody\n"
	if err := smtp.SendMail(ts.addr, nil, "sender@remote.example", []string{"alice@example.org", "bob@example.org"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	ds := d.deliveries()
	if len(ds) != 1 {
		t.Fatalf("%d deliveries", len(ds))
	}
	want := strings.ReplaceAll(msg, "\n", "\r\n")
	if ds[0].body != want {
		t.Errorf("body %q, want %q", ds[0].body, want)
	}
	e := ds[0].env
	// net/smtp sends SMTPUTF8 whenever the server offers it.
	if e.From != "sender@remote.example" || len(e.Recipients) != 2 || e.Protocol != delivery.ProtoUTF8 || e.Helo != "localhost" {
		t.Errorf("envelope %+v", e)
	}
}

func TestNetSMTPClientRefused(t *testing.T) {
	ts := startServer(t, newFake(), Options{})
	err := smtp.SendMail(ts.addr, nil, "sender@remote.example", []string{"victim@elsewhere.example"}, []byte("Subject: x\n\nx\n"))
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "5.7.1") {
		t.Errorf("err = %v, want 550 5.7.1", err)
	}
}

func TestSTARTTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	d := newFake()
	ts := startServer(t, d, Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})

	c, err := smtp.Dial(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "mx.example.org"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered again after STARTTLS")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered over TLS")
	}
	if err := c.Mail("sender@remote.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.org"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: tls\r\n\r\nsecret\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	ds := d.deliveries()
	if len(ds) != 1 || ds[0].env.Protocol != delivery.ProtoUTF8S {
		t.Errorf("deliveries %+v, want protocol %s", ds, delivery.ProtoUTF8S)
	}

	// Without SMTPUTF8 the protocol is ESMTPS.
	c2 := dial(t, ts.addr)
	c2.send("EHLO client.example")
	c2.expect("250 ")
	c2.send("STARTTLS")
	c2.expect("220 ")
	tc := tls.Client(c2.conn, &tls.Config{RootCAs: pool, ServerName: "mx.example.org"})
	c2.conn, c2.r = tc, newReader(tc)
	for _, st := range []step{ehlo, mail, rcpt, data, smallMsg} {
		c2.send(st.send)
		c2.expect(st.want[0])
	}
	if ds := d.deliveries(); len(ds) != 2 || ds[1].env.Protocol != delivery.ProtoSMTPS {
		t.Errorf("deliveries %+v, want protocol %s", ds, delivery.ProtoSMTPS)
	}
}

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mx.example.org"},
		DNSNames:              []string{"mx.example.org"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestShutdownWaitsForTransaction(t *testing.T) {
	d := newFake()
	d.started = make(chan struct{}, 1)
	ts := startServer(t, d, Options{})

	idle := dial(t, ts.addr)
	idle.send("EHLO client.example")
	idle.expect("250 ")

	busy := dial(t, ts.addr)
	busy.send("EHLO client.example")
	busy.expect("250 ")
	busy.send("MAIL FROM:<sender@remote.example>")
	busy.expect("250 ")
	busy.send("RCPT TO:<alice@example.org>")
	busy.expect("250 ")
	busy.send("DATA")
	busy.expect("354 ")
	busy.write("Subject: in flight\r\n\r\nfirst half\r\n")
	<-d.started

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- ts.srv.Shutdown(ctx)
	}()

	// The idle connection is told and closed.
	idle.expect("421 4.3.2")
	idle.expectClosed()
	// No new connections.
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", ts.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// The transaction in flight goes on.
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v during a transaction", err)
	case <-ts.Done():
		t.Fatalf("Serve returned during a transaction")
	case <-time.After(100 * time.Millisecond):
	}
	busy.write("second half\r\n.\r\n")
	busy.expect("250 2.0.0")
	busy.expect("421 4.3.2")
	busy.expectClosed()

	select {
	case err := <-shutdown:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	ts.Wait(t)
	if d := oneDelivery(t, ts); d.body != "Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n" {
		t.Errorf("body %q", d.body)
	}
}

func TestShutdownRefusesNewTransaction(t *testing.T) {
	d := newFake()
	ts := startServer(t, d, Options{})
	c := dial(t, ts.addr)
	c.send("EHLO client.example")
	c.expect("250 ")
	c.send("MAIL FROM:<sender@remote.example>")
	c.expect("250 ")
	c.send("RCPT TO:<alice@example.org>")
	c.expect("250 ")

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- ts.srv.Shutdown(ctx)
	}()
	waitFor(t, "shutdown to start", ts.srv.shutting.Load)
	// RSET ends the transaction: the connection is closed with a 421.
	c.send("RSET")
	c.expect("421 4.3.2")
	c.expectClosed()
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	ts.Wait(t)
}

func TestShutdownTimeout(t *testing.T) {
	d := newFake()
	d.started = make(chan struct{}, 1)
	delivering := make(chan error, 1)
	d.hook = func(ctx context.Context, env *delivery.Envelope, body io.Reader) ([]error, error) {
		<-ctx.Done()
		delivering <- ctx.Err()
		return nil, ctx.Err()
	}
	ts := startServer(t, d, Options{})

	// One client stuck in DATA with a slow Deliverer, one holding a
	// transaction open.
	stuck := dial(t, ts.addr)
	for _, st := range []step{ehlo, mail, rcpt, data} {
		stuck.send(st.send)
		stuck.expect(st.want[0])
	}
	<-d.started
	open := dial(t, ts.addr)
	for _, st := range []step{ehlo, mail, rcpt} {
		open.send(st.send)
		open.expect(st.want[0])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if err := <-delivering; !errors.Is(err, context.Canceled) {
		t.Errorf("Deliver's context: %v", err)
	}
	stuck.expectClosed()
	open.expectClosed()
	ts.Wait(t)
}

func TestServeAfterShutdown(t *testing.T) {
	srv := New(newFake(), Options{Logger: discardLogger()})
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Error("listener left open")
	}
}

func TestLogging(t *testing.T) {
	d := newFake()
	d.rcptResult["bob@example.org"] = delivery.ErrMailboxFullTemp
	ts := startServer(t, d, Options{LMTP: true})
	c := dial(t, ts.addr)
	for _, st := range []step{lhlo, mail, rcpt, s("RCPT TO:<bob@example.org>", "250 "), data,
		{send: "Subject: x\r\n\r\nTOPSECRETBODY\r\n.", want: []string{"250 ", "452 "}}, s("QUIT", "221 ")} {
		c.send(st.send)
		for _, w := range st.want {
			c.expect(w)
		}
	}
	waitFor(t, "the connection to close", func() bool { return strings.Contains(ts.logs.String(), "connection closed") })
	logs := ts.logs.String()
	id := d.deliveries()[0].env.ID
	for _, want := range []string{
		"connection opened", "remote=127.0.0.1:", "connection closed", "transactions=1",
		"message delivered to some recipients", "id=" + id, "from=sender@remote.example",
		"alice@example.org", "size=29", "bob@example.org: 452 4.2.2",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "TOPSECRETBODY") {
		t.Errorf("body logged:\n%s", logs)
	}
}

func TestDefaults(t *testing.T) {
	s := New(newFake(), Options{})
	if s.opts.MaxRecipients != 1000 || s.opts.ReadTimeout != 5*time.Minute || s.opts.WriteTimeout != 5*time.Minute ||
		s.opts.Hostname == "" || s.opts.Logger == nil {
		t.Errorf("defaults %+v", s.opts)
	}
	if s.smtp.MaxRecipients != 1000 || !s.smtp.EnableSMTPUTF8 || s.smtp.ReadTimeout != 5*time.Minute {
		t.Errorf("go-smtp settings %+v", s.smtp)
	}
	s.Shutdown(context.Background())
	if h, _ := os.Hostname(); h != "" && s.opts.Hostname != h {
		t.Errorf("hostname %q, want %q", s.opts.Hostname, h)
	}
}

func TestCheckAddress(t *testing.T) {
	tests := []struct {
		addr string
		utf8 bool
		want addrCheck
	}{
		{"a@example.org", false, addrOK},
		{"first..last@docomo.ne.jp", false, addrOK},
		{"a+tag@sub_domain.example.org", false, addrOK},
		{"a@[192.0.2.1]", false, addrOK},
		{"a@[IPv6:2001:db8::1]", false, addrOK},
		{"a@[]", false, addrSyntax},
		{"a@[1.2.3.4", false, addrSyntax},
		{"a@", false, addrSyntax},
		{"@example.org", false, addrSyntax},
		{"a", false, addrSyntax},
		{"a b@example.org", false, addrSyntax},
		{"a@b@example.org", false, addrSyntax},
		{`a"b@example.org`, false, addrSyntax},
		{"a@example..org", false, addrSyntax},
		{"a@example.org.", false, addrSyntax},
		{"a@-example.org", false, addrSyntax},
		{"a@" + strings.Repeat("l", 64) + ".org", false, addrSyntax},
		{"a\x00@example.org", false, addrSyntax},
		{"a@exa\x7fmple.org", false, addrSyntax},
		{"ü@example.org", false, addrNeedsUTF8},
		{"a@bücher.example", false, addrNeedsUTF8},
		{"ü@bücher.example", true, addrOK},
		{"\xff@example.org", true, addrSyntax},
		{"a\u0085@example.org", true, addrSyntax},
		{strings.Repeat("a", 250) + "@x.org", false, addrSyntax},
	}
	for _, tt := range tests {
		if got := checkAddress(tt.addr, tt.utf8); got != tt.want {
			t.Errorf("checkAddress(%q, %v) = %v, want %v", tt.addr, tt.utf8, got, tt.want)
		}
	}
}
