package pop3server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"mailroom/internal/store"
)

// The benchmark fixture is built once per process (it takes a while) and
// closed by TestMain: bob has one 50 MB message, alice 100,000 small ones.
const (
	bigSize       = 50 << 20
	manyMessages  = 100_000
	appendBatch   = 1000
	benchPassword = password
)

var (
	benchOnce sync.Once
	benchFx   *fixture
	benchErr  error
)

func benchFixture(b *testing.B) *fixture {
	b.Helper()
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pop3bench")
		if err != nil {
			benchErr = err
			return
		}
		fx, err := openFixture(dir)
		if err != nil {
			os.RemoveAll(dir)
			benchErr = err
			return
		}
		sharedMu.Lock()
		sharedClosers = append(sharedClosers, func() { fx.st.Close(); os.RemoveAll(dir) })
		sharedMu.Unlock()
		start := time.Now()
		if benchErr = fillBench(fx); benchErr == nil {
			benchFx = fx
			fmt.Fprintf(os.Stderr, "benchmark fixture built in %v\n", time.Since(start).Round(time.Millisecond))
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchFx
}

func fillBench(fx *fixture) error {
	bobInbox, err := fx.st.Mailbox(bg, fx.bob.ID, "INBOX")
	if err != nil {
		return err
	}
	am, err := newAppend(fx.st, bobInbox.ID, bigMessage(bigSize))
	if err != nil {
		return err
	}
	if _, err := fx.st.Append(bg, fx.bob.ID, []store.AppendMessage{am}, false); err != nil {
		return err
	}

	inbox, err := fx.st.Mailbox(bg, fx.alice.ID, "INBOX")
	if err != nil {
		return err
	}
	for n := 0; n < manyMessages; n += appendBatch {
		// One body per batch, shared by its messages as copies share
		// theirs: the store keeps a reference count.
		am, err := newAppend(fx.st, inbox.ID, fmt.Sprintf("From: sender@example.net\r\nSubject: message %d\r\n\r\nsmall body\r\n", n))
		if err != nil {
			return err
		}
		batch := make([]store.AppendMessage, appendBatch)
		for i := range batch {
			batch[i] = am
		}
		if _, err := fx.st.Append(bg, fx.alice.ID, batch, false); err != nil {
			return err
		}
	}
	return nil
}

// benchClient is a raw client for benchmarks: it reads replies and throws
// them away.
type benchClient struct {
	nc  net.Conn
	br  *bufio.Reader
	buf []byte
}

func benchDial(b *testing.B, addr, user string) *benchClient {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	c := &benchClient{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), buf: make([]byte, 64<<10)}
	c.status(b)
	fmt.Fprintf(nc, "USER %s\r\nPASS %s\r\n", user, benchPassword)
	c.status(b)
	if l := c.status(b); !strings.HasPrefix(l, "+OK") {
		b.Fatalf("login: %q", l)
	}
	return c
}

func (c *benchClient) status(b *testing.B) string {
	l, err := c.br.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// multiline sends cmd and discards its multi-line reply, returning the
// octets read.
func (c *benchClient) multiline(b *testing.B, cmd string) int64 {
	io.WriteString(c.nc, cmd+"\r\n")
	if l := c.status(b); !strings.HasPrefix(l, "+OK") {
		b.Fatalf("%s: %q", cmd, l)
	}
	var n int64
	var tail [5]byte // the last octets read, without allocating
	for {
		k, err := c.br.Read(c.buf)
		if err != nil {
			b.Fatal(err)
		}
		n += int64(k)
		if k >= len(tail) {
			copy(tail[:], c.buf[k-len(tail):k])
		} else {
			copy(tail[:], tail[k:])
			copy(tail[len(tail)-k:], c.buf[:k])
		}
		if string(tail[:]) == "\r\n.\r\n" || (n == 3 && string(tail[2:]) == ".\r\n") {
			return n
		}
	}
}

// heapPeak samples the heap in use until stopped.
type heapPeak struct {
	stop chan struct{}
	done chan uint64
}

func watchHeap() *heapPeak {
	h := &heapPeak{stop: make(chan struct{}), done: make(chan uint64)}
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) peak() uint64 {
	close(h.stop)
	return <-h.done
}

// BenchmarkRETR50MB streams a 50 MB message over loopback. It reports the
// peak heap in use (server and client together, one process) and its growth
// over the heap before the first RETR: it must not grow with the message.
func BenchmarkRETR50MB(b *testing.B) {
	fx := benchFixture(b)
	ts := startServer(b, fx, Options{Logger: quietLogger()})
	c := benchDial(b, ts.addr, bob)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	h := watchHeap()
	b.SetBytes(bigSize)
	for b.Loop() {
		if n := c.multiline(b, "RETR 1"); n < bigSize {
			b.Fatalf("RETR read %d octets", n)
		}
	}
	b.StopTimer()
	peak := h.peak()
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(int64(peak)-int64(base))/(1<<20), "heap-growth-MB")
}

// BenchmarkUIDL100k and BenchmarkLIST100k list a maildrop of 100,000
// messages.
func BenchmarkUIDL100k(b *testing.B) { benchListing(b, "UIDL") }
func BenchmarkLIST100k(b *testing.B) { benchListing(b, "LIST") }

func benchListing(b *testing.B, cmd string) {
	fx := benchFixture(b)
	ts := startServer(b, fx, Options{Logger: quietLogger()})
	c := benchDial(b, ts.addr, alice)
	for b.Loop() {
		c.multiline(b, cmd)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/manyMessages, "ns/message")
}

// BenchmarkLogin100k measures login, which takes the snapshot of a
// maildrop of 100,000 messages.
func BenchmarkLogin100k(b *testing.B) {
	fx := benchFixture(b)
	ts := startServer(b, fx, Options{Logger: quietLogger()})
	for b.Loop() {
		c := benchDial(b, ts.addr, alice)
		io.WriteString(c.nc, "QUIT\r\n")
		c.status(b)
		c.nc.Close()
	}
}
