package inflate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// BenchmarkInflate compares Reader with compress/flate on 4 MB of IMAP
// text, compressed whole and sync-flushed every 100 bytes (a command).
//
//	go test -run XXX -bench Inflate -benchtime 20x ./internal/inflate/
func BenchmarkInflate(b *testing.B) {
	plain := imapText(4<<20, 8)
	for _, c := range []struct {
		name  string
		chunk int
	}{{"whole", 0}, {"flushed", 100}} {
		comp := deflate(b, plain, flate.DefaultCompression, c.chunk)
		readers := []struct {
			name string
			open func([]byte) io.Reader
		}{
			{"inflate", func(comp []byte) io.Reader { return NewReader(bufio.NewReader(bytes.NewReader(comp))) }},
			{"compress-flate", func(comp []byte) io.Reader { return flate.NewReader(bytes.NewReader(comp)) }},
		}
		for _, r := range readers {
			b.Run(c.name+"/"+r.name, func(b *testing.B) {
				b.SetBytes(int64(len(plain)))
				b.ReportAllocs()
				for b.Loop() {
					n, err := io.Copy(io.Discard, r.open(comp))
					if err != nil || n != int64(len(plain)) {
						b.Fatal(n, err)
					}
				}
			})
		}
	}
}
