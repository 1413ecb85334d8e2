package inflate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// imapText returns n bytes that look like an IMAP exchange: commands,
// FETCH responses with headers, and message text.
func imapText(n int, seed uint64) []byte {
	rnd := rand.New(rand.NewPCG(seed, 1))
	words := strings.Fields("the a mail server message reply thanks meeting tomorrow please " +
		"find attached report draft review invoice project team Monday update question")
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "a%d UID FETCH %d (BODY.PEEK[] FLAGS)\r\n", i, 1000+i)
		fmt.Fprintf(&b, "* %d FETCH (UID %d FLAGS (\\Seen) BODY[] {%d}\r\n", i+1, 1000+i, 300+rnd.IntN(500))
		fmt.Fprintf(&b, "From: user%d@example.test\r\nTo: alice@example.test\r\nSubject: %s %s\r\n",
			rnd.IntN(50), words[rnd.IntN(len(words))], words[rnd.IntN(len(words))])
		fmt.Fprintf(&b, "Message-ID: <%x@example.test>\r\nDate: Mon, %d Jan 2026 10:%02d:00 +0000\r\n\r\n",
			rnd.Uint64(), 1+rnd.IntN(28), rnd.IntN(60))
		for range 2 + rnd.IntN(8) {
			for range 5 + rnd.IntN(10) {
				b.WriteString(words[rnd.IntN(len(words))])
				b.WriteByte(' ')
			}
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, ")\r\na%d OK UID FETCH completed\r\n", i)
	}
	return b.Bytes()[:n]
}

func randomBytes(n int, seed uint64) []byte {
	rnd := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

var roundTripInputs = []struct {
	name string
	data []byte
}{
	{"empty", nil},
	{"one byte", []byte("x")},
	{"command", []byte("a1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")},
	{"imap text", imapText(150_000, 1)},
	{"random", randomBytes(100_000, 2)},
	{"zeros", make([]byte, 100_000)},
	{"runs", bytes.Repeat([]byte("abcabcabd"), 20_000)},
	{"text and random", append(imapText(50_000, 3), randomBytes(50_000, 4)...)},
}

var levels = []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, 2, 3, 4, 5, 6, 7, 8, flate.BestCompression, flate.DefaultCompression}

// deflate compresses data at level, sync-flushing after every chunk bytes
// (never when chunk is 0).
func deflate(t testing.TB, data []byte, level, chunk int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := len(data)
		if chunk > 0 {
			n = min(n, chunk)
		}
		w.Write(data[:n])
		data = data[n:]
		if chunk > 0 {
			w.Flush()
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, in := range roundTripInputs {
		for _, level := range levels {
			for _, chunk := range []int{0, 1000, 37} {
				if chunk == 37 && len(in.data) > 20_000 {
					continue
				}
				t.Run(fmt.Sprintf("%s/level %d/flush %d", in.name, level, chunk), func(t *testing.T) {
					comp := deflate(t, in.data, level, chunk)
					got, err := io.ReadAll(NewReader(bufio.NewReader(bytes.NewReader(comp))))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, in.data) {
						t.Fatalf("got %d bytes, want %d", len(got), len(in.data))
					}
				})
			}
		}
	}
}

// TestByteAtATime feeds the stream one byte per read of the underlying
// reader and reads the output in small pieces.
func TestByteAtATime(t *testing.T) {
	for _, in := range roundTripInputs {
		for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.HuffmanOnly} {
			t.Run(fmt.Sprintf("%s/level %d", in.name, level), func(t *testing.T) {
				data := in.data[:min(len(in.data), 60_000)]
				comp := deflate(t, data, level, 500)
				r := NewReader(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(comp)), 16))
				got, err := io.ReadAll(iotest.OneByteReader(r))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("got %d bytes, want %d", len(got), len(data))
				}
			})
		}
	}
}

// TestLeavesTrailingBytes: nothing after the final block is read.
func TestLeavesTrailingBytes(t *testing.T) {
	for _, level := range levels {
		comp := deflate(t, imapText(5000, 5), level, 0)
		br := bufio.NewReader(bytes.NewReader(append(comp, "TRAILER"...)))
		if _, err := io.ReadAll(NewReader(br)); err != nil {
			t.Fatal(err)
		}
		if rest, _ := io.ReadAll(br); string(rest) != "TRAILER" {
			t.Fatalf("level %d: left %q", level, rest)
		}
	}
}

// segment is the plain text of one flush and the stream bytes the
// compressor wrote for it, up to and including the flush.
type segment struct{ plain, comp []byte }

// replay writes each segment's stream bytes into a pipe and then waits
// until the segment's plain text has been read back: a Read that waits for
// more input fails the test.
func replay(t *testing.T, segs []segment) {
	t.Helper()
	pr, pw := io.Pipe()
	defer pr.Close()
	next := make(chan bool)
	go func() {
		for _, s := range segs {
			if _, err := pw.Write(s.comp); err != nil {
				return
			}
			if !<-next {
				return
			}
		}
		pw.Close()
	}()
	defer close(next)
	r := NewReader(bufio.NewReader(pr))
	for i, s := range segs {
		stalled := time.AfterFunc(5*time.Second, func() {
			pw.CloseWithError(fmt.Errorf("flush %d: Read waited for input after the flushed bytes", i))
		})
		// Reads ask for more than was sent, as a connection's reader does.
		buf := make([]byte, len(s.plain)+4096)
		var got []byte
		for len(got) < len(s.plain) {
			n, err := r.Read(buf)
			if err != nil {
				stalled.Stop()
				t.Fatalf("flush %d of %d (%d bytes, %d read): %v", i, len(segs), len(s.plain), len(got), err)
			}
			got = append(got, buf[:n]...)
		}
		stalled.Stop()
		if !bytes.Equal(got, s.plain) {
			t.Fatalf("flush %d: got\n%q\nwant\n%q", i, got, s.plain)
		}
		if i < len(segs)-1 {
			next <- true
		}
	}
}

// TestSyncFlushNoStall: after a sync flush, Read delivers everything
// written before it without further input.
func TestSyncFlushNoStall(t *testing.T) {
	for _, level := range levels {
		for _, size := range []int{1, 40, 700, 5000, 70_000} {
			t.Run(fmt.Sprintf("level %d/%d bytes", level, size), func(t *testing.T) {
				var segs []segment
				var b bytes.Buffer
				w, _ := flate.NewWriter(&b, level)
				text := imapText(300_000, uint64(size))
				for i := 0; i+size <= len(text) && i < 40*size; i += size {
					w.Write(text[i : i+size])
					w.Flush()
					segs = append(segs, segment{text[i : i+size], bytes.Clone(b.Bytes())})
					b.Reset()
				}
				replay(t, segs)
			})
		}
	}
}

// readFlushes reads a file written by testdata/zlibflush.py.
func readFlushes(t *testing.T, name string) []segment {
	t.Helper()
	d, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var segs []segment
	field := func() []byte {
		if len(d) < 4 || len(d)-4 < int(binary.BigEndian.Uint32(d)) {
			t.Fatalf("%s: truncated", name)
		}
		n := binary.BigEndian.Uint32(d)
		f := d[4 : 4+n]
		d = d[4+n:]
		return f
	}
	for len(d) > 0 {
		plain := field()
		segs = append(segs, segment{plain, field()})
	}
	return segs
}

// TestZlibFlushes replays streams that zlib flushed with Z_PARTIAL_FLUSH,
// Z_SYNC_FLUSH and Z_FULL_FLUSH (testdata/zlibflush.py). fetch10 and
// fetch11 are the pipelined downloads of an mbsync run, whose partial
// flush leaves the decoder a few bits short of the next block header.
func TestZlibFlushes(t *testing.T) {
	files, err := filepath.Glob("testdata/*.flush.bin")
	if err != nil || len(files) < 10 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	for _, name := range files {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".flush.bin"), func(t *testing.T) {
			segs := readFlushes(t, name)
			replay(t, segs)

			// The whole stream at once, and a byte at a time.
			var comp, plain []byte
			for _, s := range segs {
				comp = append(comp, s.comp...)
				plain = append(plain, s.plain...)
			}
			for _, br := range []*bufio.Reader{
				bufio.NewReader(bytes.NewReader(comp)),
				bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(comp)), 16),
			} {
				got, err := io.ReadAll(NewReader(br))
				if err != io.ErrUnexpectedEOF { // the streams have no final block
					t.Fatalf("err = %v", err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("got %d bytes, want %d", len(got), len(plain))
				}
			}
		})
	}
}

// bitWriter writes a DEFLATE stream bit by bit (RFC 1951 §3.1.1).
type bitWriter struct {
	b  []byte
	nb uint
}

// bits writes the n low bits of v, lowest first.
func (w *bitWriter) bits(v uint, n uint) *bitWriter {
	for i := range n {
		if w.nb%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (w.nb % 8)
		w.nb++
	}
	return w
}

// code writes a Huffman code of n bits, its first bit first.
func (w *bitWriter) code(c uint, n uint) *bitWriter {
	for i := int(n) - 1; i >= 0; i-- {
		w.bits(c>>uint(i)&1, 1)
	}
	return w
}

// fixedLiteral writes a literal byte with the fixed code (RFC 1951 §3.2.6).
func (w *bitWriter) fixedLiteral(c byte) *bitWriter {
	if c < 144 {
		return w.code(0x30+uint(c), 8)
	}
	return w.code(0x190+uint(c)-144, 9)
}

func TestCorrupt(t *testing.T) {
	fixed := func() *bitWriter { return new(bitWriter).bits(1, 1).bits(1, 2) }
	dynamic := func(hlit, hdist, hclen uint) *bitWriter {
		return new(bitWriter).bits(1, 1).bits(2, 2).bits(hlit, 5).bits(hdist, 5).bits(hclen, 4)
	}
	tests := []struct {
		name string
		in   []byte
		want string // output before the error
	}{
		{"reserved block type", []byte{0x07}, ""},
		{"stored length complement", []byte{0x01, 0x05, 0x00, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'}, ""},
		{"distance before start", fixed().fixedLiteral('a').code(1, 7).code(1, 5).b, "a"},                // length 3, distance 2
		{"literal/length 286", fixed().fixedLiteral('a').code(0xc6, 8).b, "a"},                           // RFC 1951 §3.2.6
		{"distance code 30", fixed().fixedLiteral('a').fixedLiteral('b').code(1, 7).code(30, 5).b, "ab"}, // length 3
		{"287 literal/length codes", dynamic(30, 0, 0).bits(0, 60).b, ""},
		{"31 distance codes", dynamic(0, 30, 0).bits(0, 60).b, ""},
		{"over-subscribed code-length code", dynamic(0, 0, 15).bits(0x249249249249249, 57).b, ""},
		// Code-length code: symbols 16 and 17 of length 1. Then 16 first.
		{"repeat with no previous length", dynamic(0, 0, 0).bits(1, 3).bits(1, 3).bits(0, 6).code(0, 1).bits(0, 2).b, ""},
		// Symbols 17 and 18 of length 1; 18 with 138 zeros twice then more: past 258.
		{"repeat past the end", dynamic(0, 0, 0).bits(0, 3).bits(1, 3).bits(1, 3).bits(0, 3).
			code(1, 1).bits(127, 7).code(1, 1).bits(127, 7).b, ""},
		// All 258 lengths 0 (138 and 120 zeros): no code to decode data.
		{"empty literal/length code", dynamic(0, 0, 0).bits(0, 3).bits(1, 3).bits(1, 3).bits(0, 3).
			code(1, 1).bits(127, 7).code(1, 1).bits(109, 7).bits(0, 8).b, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, br := range []*bufio.Reader{
				bufio.NewReader(bytes.NewReader(tt.in)),
				bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(tt.in)), 16),
			} {
				got, err := io.ReadAll(NewReader(br))
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err = %v, want ErrCorrupt", err)
				}
				if string(got) != tt.want {
					t.Fatalf("output %q, want %q", got, tt.want)
				}
				// compress/flate agrees that the stream is invalid.
				if _, err := io.ReadAll(flate.NewReader(bytes.NewReader(tt.in))); err == nil {
					t.Fatalf("compress/flate accepts it")
				}
			}
		})
	}
}

// TestTruncated: every prefix of a stream gives its output so far and
// io.ErrUnexpectedEOF.
func TestTruncated(t *testing.T) {
	plain := imapText(3000, 6)
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression} {
		comp := deflate(t, plain, level, 400)
		for n := range len(comp) {
			got, err := io.ReadAll(NewReader(bufio.NewReader(bytes.NewReader(comp[:n]))))
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("level %d, %d of %d bytes: err = %v", level, n, len(comp), err)
			}
			if !bytes.HasPrefix(plain, got) {
				t.Fatalf("level %d, %d of %d bytes: output is not a prefix", level, n, len(comp))
			}
		}
	}
}

// TestBoundedMemory: 64 MiB of back-references, 80 KiB compressed,
// decodes in constant memory.
func TestBoundedMemory(t *testing.T) {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	zeros := make([]byte, 1<<16)
	const size = 64 << 20
	for range size / len(zeros) {
		w.Write(zeros)
	}
	w.Close()
	comp := b.Bytes()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n, err := io.Copy(io.Discard, NewReader(bufio.NewReader(bytes.NewReader(comp))))
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("got %d bytes, %v", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<10 {
		t.Fatalf("allocated %d bytes for %d bytes of output from %d", alloc, size, len(comp))
	}
}

// flakyReader fails once, at byte failAt, with a transient error.
type flakyReader struct {
	r      io.Reader
	off    int
	failAt int
}

var errTransient = errors.New("transient")

func (f *flakyReader) Read(p []byte) (int, error) {
	if f.off == f.failAt {
		f.failAt = -1
		return 0, errTransient
	}
	if f.failAt > f.off {
		p = p[:min(len(p), f.failAt-f.off)]
	}
	n, err := f.r.Read(p)
	f.off += n
	return n, err
}

// TestReadErrorResumes: an error of the underlying reader is returned and
// decoding carries on once the reader works again.
func TestReadErrorResumes(t *testing.T) {
	plain := imapText(20_000, 7)
	for _, level := range []int{flate.NoCompression, flate.DefaultCompression} {
		comp := deflate(t, plain, level, 300)
		for _, at := range []int{0, 1, 2, len(comp) / 3, len(comp) / 2, len(comp) - 1} {
			r := NewReader(bufio.NewReaderSize(&flakyReader{r: bytes.NewReader(comp), failAt: at}, 16))
			var got []byte
			buf := make([]byte, 100)
			failed := false
			for {
				n, err := r.Read(buf)
				got = append(got, buf[:n]...)
				if err == errTransient {
					failed = true
					continue
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("level %d, error at %d: %v", level, at, err)
				}
			}
			if !failed || !bytes.Equal(got, plain) {
				t.Fatalf("level %d, error at %d: failed %v, got %d bytes, want %d", level, at, failed, len(got), len(plain))
			}
		}
	}
}
