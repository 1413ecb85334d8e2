package delivery_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailroom/internal/delivery"
	"mailroom/internal/smtpserver"
)

// BenchmarkLMTP measures durable deliveries per second over LMTP on
// loopback: 10 KB messages, 20 recipients' INBOXes, 1 and 16 connections.
// Every delivery counts only after its 250, which the server sends only
// once the message is fsynced.
//
//	go test -run XXX -bench LMTP -benchtime 2000x ./internal/delivery/
func BenchmarkLMTP(b *testing.B) {
	for _, conns := range []int{1, 16} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { benchLMTP(b, conns) })
	}
}

func benchLMTP(b *testing.B, conns int) {
	f := newFixture(b, delivery.Options{Hostname: "bench.test"})
	const users = 20
	for i := 0; i < users; i++ {
		if _, err := f.dir.AddAccount(ctx, fmt.Sprintf("u%d@example.test", i), "pw", -1, -1); err != nil {
			b.Fatal(err)
		}
	}
	srv := smtpserver.New(f.agent, smtpserver.Options{Hostname: "bench.test", LMTP: true, Logger: slog.New(slog.DiscardHandler)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	body := strings.Repeat("This is a line of a ten kilobyte benchmark message body.......\r\n", 10240/64)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := lmtpClient(l.Addr().String(), &next, int64(b.N), users, body); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
}

func lmtpClient(addr string, next *atomic.Int64, total int64, users int, body string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	read := func(want string) error {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if len(l) >= 4 && l[3] == '-' {
				continue
			}
			if !strings.HasPrefix(l, want) {
				return fmt.Errorf("got %q, want %s", l, want)
			}
			return nil
		}
	}
	if err := read("220"); err != nil {
		return err
	}
	fmt.Fprintf(w, "LHLO bench\r\n")
	w.Flush()
	if err := read("250"); err != nil {
		return err
	}
	for {
		n := next.Add(1)
		if n > total {
			return nil
		}
		fmt.Fprintf(w, "MAIL FROM:<bench@example.org>\r\nRCPT TO:<u%d@example.test>\r\nDATA\r\n", n%int64(users))
		w.Flush()
		for _, want := range []string{"250", "250", "354"} {
			if err := read(want); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "Subject: bench %d\r\nMessage-ID: <%d@bench>\r\n\r\n%s.\r\n", n, n, body)
		w.Flush()
		if err := read("250"); err != nil {
			return err
		}
	}
}
