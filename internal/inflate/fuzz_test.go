package inflate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"testing"
	"testing/iotest"
)

// fuzzLimit caps the output compared, since a short input can expand a
// thousandfold.
const fuzzLimit = 1 << 20

// readLimited reads r to its end or error, or until it has more than
// fuzzLimit bytes (full).
func readLimited(r io.Reader) (out []byte, err error, full bool) {
	out, err = io.ReadAll(io.LimitReader(r, fuzzLimit+1))
	return out, err, len(out) > fuzzLimit
}

// FuzzInflate decodes arbitrary input with Reader and with compress/flate:
// both give the same output, or both fail (having agreed on the output so
// far); neither panics. The input is also fed a byte at a time, which must
// not change the outcome.
func FuzzInflate(f *testing.F) {
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.HuffmanOnly} {
		f.Add(deflate(f, imapText(2000, 9), level, 300))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr, wantFull := readLimited(flate.NewReader(bytes.NewReader(in)))
		got, err, full := readLimited(NewReader(bufio.NewReader(bytes.NewReader(in))))

		n := min(len(got), len(want))
		if !bytes.Equal(got[:n], want[:n]) {
			t.Fatalf("output differs from compress/flate within the first %d bytes", n)
		}
		switch {
		case full && wantFull:
		case full || wantFull:
			// The one that stopped short must have failed.
			if full && wantErr == nil || wantFull && err == nil {
				t.Fatalf("%d bytes, err %v; compress/flate: %d bytes, err %v", len(got), err, len(want), wantErr)
			}
		case (err == nil) != (wantErr == nil):
			t.Fatalf("err %v; compress/flate: %v", err, wantErr)
		case err == nil && len(got) != len(want):
			t.Fatalf("%d bytes; compress/flate: %d", len(got), len(want))
		}

		slow, slowErr, _ := readLimited(iotest.OneByteReader(NewReader(
			bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(in)), 16))))
		if !bytes.Equal(slow, got) || (slowErr == nil) != (err == nil) {
			t.Fatalf("a byte at a time: %d bytes, err %v; at once: %d bytes, err %v", len(slow), slowErr, len(got), err)
		}
	})
}
