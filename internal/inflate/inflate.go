// Package inflate decodes a raw DEFLATE stream (RFC 1951) that arrives
// piecemeal over a connection, such as the client side of IMAP COMPRESS
// (RFC 4978).
//
// A peer that flushes its compressor expects everything it has sent so far
// to be decoded from the bytes it has sent so far. zlib's Z_SYNC_FLUSH and
// Z_FULL_FLUSH end a flush on a byte boundary after an empty stored block;
// Z_PARTIAL_FLUSH ends it with an empty fixed-code block of 10 bits that is
// not byte aligned, so only part of that block may have been sent. A
// decoder that reads ahead, or that keeps decoded bytes until it reaches a
// stored block, waits for bytes the peer will not send until it gets an
// answer. Reader keeps these invariants:
//
//   - It takes a byte from its bufio.Reader only when the symbol, length or
//     field being decoded needs one more bit (RFC 1951 §3.1.1 packing), and
//     never takes a byte past the end of the final block.
//   - Before taking a byte that is not already buffered, Read returns the
//     bytes decoded so far, if there are any.
//   - Memory is bounded: a fixed window and output buffer, and Huffman
//     tables whose size is bounded by the RFC's code lengths, whatever the
//     input.
package inflate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ErrCorrupt is wrapped by the errors that report an invalid stream.
var ErrCorrupt = errors.New("inflate: corrupt DEFLATE stream")

const (
	windowSize = 1 << 15 // RFC 1951 §2: distances reach back 32768 bytes
	maxMatch   = 258     // RFC 1951 §3.2.5: the longest back-reference
	// maxPending bounds the decoded bytes Read holds for its caller.
	maxPending = 1 << 15
	bufSize    = windowSize + maxPending
)

// Decoder states, one per place a block can be suspended in.
const (
	stateHeader     = iota // BFINAL, BTYPE (RFC 1951 §3.2.3)
	stateStored            // copying a stored block (§3.2.4)
	stateDynHeader         // HLIT, HDIST, HCLEN (§3.2.7)
	stateCodeLenLen        // the code-length code's lengths
	stateCodeLens          // literal/length and distance code lengths
	stateData              // Huffman-coded data (§3.2.5)
	stateDone              // after the final block
)

// errStall stops decoding so that Read hands over what it has before
// waiting for input.
var errStall = errors.New("inflate: would wait for input")

// Reader decodes a raw DEFLATE stream read from a bufio.Reader.
type Reader struct {
	r *bufio.Reader

	// Bit buffer: the stream's next nb bits, first bit lowest (RFC 1951
	// §3.1.1); bits above nb are zero. A byte is added only when the
	// symbol or field being decoded needs another bit, so once it is
	// consumed nb < 8.
	bits uint64
	nb   uint

	// buf[:w] holds the output, of which buf[rd:w] is not yet read and
	// at least the last windowSize bytes (or all of them) are the window.
	buf []byte
	rd  int
	w   int

	state  int
	final  bool // the current block is the last one
	stored int  // bytes left in a stored block

	lit, dist *table
	dynLit    table
	dynDist   table
	codeLen   table

	// Dynamic block header in progress (RFC 1951 §3.2.7).
	nlit, ndist, nclen int
	n                  int // lengths read so far
	lens               [286 + 30]uint8
	clLens             [19]uint8

	err error // sticky: corruption or the end of the stream
}

// NewReader returns a Reader that decodes the DEFLATE stream read from r.
// It reads from r only the bytes of the stream: after the final block,
// whatever follows is left in r.
func NewReader(r *bufio.Reader) *Reader {
	return &Reader{r: r, buf: make([]byte, bufSize)}
}

// Read reads decoded bytes. It returns the bytes decoded so far rather than
// wait for input that is not buffered in the underlying bufio.Reader. At the
// end of the final block it returns io.EOF; a stream that ends early gives
// io.ErrUnexpectedEOF and an invalid one an error wrapping ErrCorrupt. A
// read error of the underlying reader is returned as is and leaves the
// Reader able to go on once that reader can.
func (z *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	want := min(len(p), maxPending)
	for z.w-z.rd < want && z.err == nil {
		err := z.step(want)
		if err == errStall {
			break
		}
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				z.err = err
			} else if z.w == z.rd {
				// An input error: nothing was consumed half-way,
				// so a later Read can go on.
				return 0, err
			}
			break
		}
	}
	if z.w > z.rd {
		n := copy(p, z.buf[z.rd:z.w])
		z.rd += n
		return n, nil
	}
	return 0, z.err
}

// step decodes until want bytes are pending, a block ends or a header is
// decoded. It returns errStall before it would wait for input while
// decoded bytes are pending.
func (z *Reader) step(want int) error {
	switch z.state {
	case stateHeader:
		return z.header()
	case stateStored:
		return z.copyStored(want)
	case stateDynHeader:
		return z.dynHeader()
	case stateCodeLenLen:
		return z.codeLenLens()
	case stateCodeLens:
		return z.codeLens()
	case stateData:
		return z.data(want)
	}
	z.err = io.EOF
	return nil
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, a...)...)
}

// more adds the stream's next byte to the bit buffer.
func (z *Reader) more() error {
	if z.w > z.rd && z.r.Buffered() == 0 {
		return errStall
	}
	c, err := z.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	z.bits |= uint64(c) << z.nb
	z.nb += 8
	return nil
}

// need makes at least n bits available.
func (z *Reader) need(n uint) error {
	for z.nb < n {
		if err := z.more(); err != nil {
			return err
		}
	}
	return nil
}

// consume drops n bits.
func (z *Reader) consume(n uint) {
	z.bits >>= n
	z.nb -= n
}

// peek returns n bits at bit offset off; they must be available.
func (z *Reader) peek(off, n uint) int {
	return int(z.bits >> off & (1<<n - 1))
}

// sym decodes the code of t that starts off bits into the bit buffer,
// taking bytes only while the bits so far are the prefix of a longer code.
// It consumes nothing.
func (z *Reader) sym(t *table, off uint) (uint32, error) {
	for {
		avail := z.nb - off
		v := z.bits >> off
		e := t.e[v&t.mask]
		n := entryLen(e)
		if entryKind(e) == kindLink {
			if avail >= t.bits {
				e = t.e[entryVal(e)+int(v>>t.bits&(1<<n-1))]
				n = entryLen(e)
			} else {
				n = t.bits + 1 // the code is longer than the root index
			}
		}
		if n <= avail {
			return e, nil
		}
		if err := z.more(); err != nil {
			return 0, err
		}
	}
}

// header decodes a block header (RFC 1951 §3.2.3).
func (z *Reader) header() error {
	if err := z.need(3); err != nil {
		return err
	}
	z.final = z.bits&1 == 1
	btype := z.peek(1, 2)
	z.consume(3)
	switch btype {
	case 0:
		// RFC 1951 §3.2.4: skip to the byte boundary; nb < 8 here, so
		// what is left is the rest of the current byte.
		z.consume(z.nb)
		z.state = stateStored
		z.stored = -1
	case 1:
		z.lit, z.dist = &fixedLitLen, &fixedDist
		z.state = stateData
	case 2:
		z.state = stateDynHeader
	default:
		return corrupt("reserved block type 3")
	}
	return nil
}

// endBlock moves on after a block.
func (z *Reader) endBlock() {
	if z.final {
		z.state = stateDone
	} else {
		z.state = stateHeader
	}
}

// copyStored copies a stored block (RFC 1951 §3.2.4) into the window.
func (z *Reader) copyStored(want int) error {
	if z.stored < 0 {
		// LEN and NLEN, byte aligned.
		if err := z.need(32); err != nil {
			return err
		}
		n, nn := z.peek(0, 16), z.peek(16, 16)
		if n != ^nn&0xffff {
			return corrupt("stored block length %#04x does not match its complement %#04x", n, nn)
		}
		z.consume(32)
		z.stored = n
	}
	for z.stored > 0 {
		pending := z.w - z.rd
		if pending >= want {
			return nil
		}
		if z.w == len(z.buf) {
			z.slide()
		}
		n := min(z.stored, len(z.buf)-z.w, maxPending-pending)
		if b := z.r.Buffered(); b > 0 {
			n = min(n, b)
		} else if pending > 0 {
			return errStall
		}
		m, err := z.r.Read(z.buf[z.w : z.w+n])
		z.w += m
		z.stored -= m
		if err != nil && m == 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	z.endBlock()
	return nil
}

// dynHeader decodes HLIT, HDIST and HCLEN (RFC 1951 §3.2.7).
func (z *Reader) dynHeader() error {
	if err := z.need(14); err != nil {
		return err
	}
	z.nlit = z.peek(0, 5) + 257
	z.ndist = z.peek(5, 5) + 1
	z.nclen = z.peek(10, 4) + 4
	// 286 and 287 are not length codes, 30 and 31 not distance codes
	// (§3.2.5); zlib and Go reject headers that count them.
	if z.nlit > 286 || z.ndist > 30 {
		return corrupt("%d literal/length and %d distance codes", z.nlit, z.ndist)
	}
	z.consume(14)
	z.n = 0
	z.clLens = [19]uint8{}
	z.state = stateCodeLenLen
	return nil
}

// codeLenOrder is the order of the code-length code's lengths (RFC 1951
// §3.2.7).
var codeLenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// codeLenLens decodes the code-length code's lengths, 3 bits each.
func (z *Reader) codeLenLens() error {
	for z.n < z.nclen {
		if err := z.need(3); err != nil {
			return err
		}
		z.clLens[codeLenOrder[z.n]] = uint8(z.peek(0, 3))
		z.consume(3)
		z.n++
	}
	if !z.codeLen.build(z.clLens[:], codeLenSyms[:], codeLenRootBits) {
		return corrupt("invalid code-length code")
	}
	z.n = 0
	z.state = stateCodeLens
	return nil
}

// codeLens decodes the literal/length and distance code lengths, which form
// one sequence (RFC 1951 §3.2.7).
func (z *Reader) codeLens() error {
	total := z.nlit + z.ndist
	for z.n < total {
		e, err := z.sym(&z.codeLen, 0)
		if err != nil {
			return err
		}
		if entryKind(e) == kindInvalid {
			return corrupt("invalid code-length code")
		}
		n := entryLen(e)
		sym := entryVal(e)
		if sym < 16 {
			z.lens[z.n] = uint8(sym)
			z.n++
			z.consume(n)
			continue
		}
		var val uint8
		var rep int
		switch sym {
		case 16: // copy the previous length 3-6 times
			if z.n == 0 {
				return corrupt("code length repeat with no previous length")
			}
			if err := z.need(n + 2); err != nil {
				return err
			}
			val, rep = z.lens[z.n-1], 3+z.peek(n, 2)
			n += 2
		case 17: // 3-10 zeros
			if err := z.need(n + 3); err != nil {
				return err
			}
			rep = 3 + z.peek(n, 3)
			n += 3
		default: // 18: 11-138 zeros
			if err := z.need(n + 7); err != nil {
				return err
			}
			rep = 11 + z.peek(n, 7)
			n += 7
		}
		if z.n+rep > total {
			return corrupt("code lengths repeat past their end")
		}
		for i := range rep {
			z.lens[z.n+i] = val
		}
		z.n += rep
		z.consume(n)
	}
	if !z.dynLit.build(z.lens[:z.nlit], litLenSyms[:], litLenRootBits) {
		return corrupt("invalid literal/length code")
	}
	if !z.dynDist.build(z.lens[z.nlit:total], distSyms[:], distRootBits) {
		return corrupt("invalid distance code")
	}
	z.lit, z.dist = &z.dynLit, &z.dynDist
	z.state = stateData
	return nil
}

// slide drops output that is read and out of the window.
func (z *Reader) slide() {
	start := min(z.rd, z.w-windowSize)
	if start <= 0 {
		return
	}
	z.w = copy(z.buf, z.buf[start:z.w])
	z.rd -= start
}

// data decodes Huffman-coded data (RFC 1951 §3.2.5) until want bytes are
// pending or the block ends. Each literal or length/distance pair is
// decoded from the bit buffer before any of its bits are consumed, so that
// a pair cut short by errStall is decoded again from the start; a pair
// takes at most 48 bits, which the buffer holds beside the < 8 left over.
func (z *Reader) data(want int) error {
	lit, dist := z.lit, z.dist
	for z.w-z.rd < want {
		if z.w+maxMatch > len(z.buf) {
			z.slide()
		}
		// Fast path: a literal/length code resolved by the root table
		// from the bits at hand.
		e := lit.e[z.bits&lit.mask]
		n := entryLen(e)
		if n > z.nb && entryKind(e) != kindLink {
			if err := z.more(); err != nil {
				return err
			}
			continue
		}
		if entryKind(e) == kindLink {
			var err error
			if e, err = z.sym(lit, 0); err != nil {
				return err
			}
			n = entryLen(e)
		}
		switch entryKind(e) {
		case kindLiteral:
			z.buf[z.w] = byte(entryVal(e))
			z.w++
			z.consume(n)
			continue
		case kindEnd:
			z.consume(n)
			z.endBlock()
			return nil
		case kindInvalid:
			return corrupt("invalid literal/length code")
		}

		// A length (RFC 1951 §3.2.5), then its distance.
		x := entryExtra(e)
		if err := z.need(n + x); err != nil {
			return err
		}
		length := entryVal(e) + z.peek(n, x)
		off := n + x
		d, err := z.sym(dist, off)
		if err != nil {
			return err
		}
		if entryKind(d) != kindDistance {
			return corrupt("invalid distance code")
		}
		dn, dx := entryLen(d), entryExtra(d)
		if err := z.need(off + dn + dx); err != nil {
			return err
		}
		distance := entryVal(d) + z.peek(off+dn, dx)
		if distance > z.w {
			return corrupt("distance %d reaches before the start of the stream", distance)
		}
		z.consume(off + dn + dx)

		// RFC 1951 §3.2.3: the copy may overlap what it writes; each
		// pass copies the bytes written so far since src, which repeat
		// with period distance.
		src, end := z.w-distance, z.w+length
		for z.w < end {
			z.w += copy(z.buf[z.w:end], z.buf[src:z.w])
		}
	}
	return nil
}
