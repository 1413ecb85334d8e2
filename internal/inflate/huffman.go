package inflate

import "math/bits"

// A table decodes one Huffman code (RFC 1951 §3.2.2) a lookup at a time.
// The root table, indexed by the stream's next t.bits bits, resolves the
// codes that are no longer; a longer code's root entry links to a subtable
// indexed by the bits that follow.
//
// An entry packs what the decoder needs after the lookup:
//
//	bits 0-4   code length (for a link: the subtable's index width)
//	bits 5-8   number of extra bits that follow the code (RFC 1951 §3.2.5)
//	bits 9-11  kind
//	bits 16-31 literal byte, base length, base distance, code-length
//	           symbol, or (for a link) the subtable's offset
type table struct {
	bits uint     // root index width
	mask uint64   // 1<<bits - 1
	e    []uint32 // root, then subtables
}

const (
	kindLiteral  = iota // a byte, or a code-length symbol
	kindLength          // the length of a back-reference
	kindDistance        // the distance of a back-reference
	kindEnd             // end of block
	kindInvalid         // no symbol here, or one the stream may not use
	kindLink            // a subtable
)

const (
	lenMask    = 0x1f
	extraShift = 5
	kindShift  = 9
	valShift   = 16
)

func entry(kind, val, extra uint32) uint32 {
	return val<<valShift | kind<<kindShift | extra<<extraShift
}

func entryLen(e uint32) uint    { return uint(e & lenMask) }
func entryExtra(e uint32) uint  { return uint(e>>extraShift) & 0xf }
func entryKind(e uint32) uint32 { return e >> kindShift & 0x7 }
func entryVal(e uint32) int     { return int(e >> valShift) }

const maxCodeLen = 15 // RFC 1951 §3.2.7: code lengths 0-15

// Symbol information for the three alphabets, without code lengths.
var (
	litLenSyms  [288]uint32 // RFC 1951 §3.2.5, §3.2.6
	distSyms    [32]uint32  // RFC 1951 §3.2.5, §3.2.6
	codeLenSyms [19]uint32  // RFC 1951 §3.2.7
)

func init() {
	// RFC 1951 §3.2.5: length codes 257-285, with their extra bits and
	// the first length each one stands for.
	lengthExtra := [29]uint32{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	lengthBase := [29]uint32{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	// Distance codes 0-29.
	distExtra := [30]uint32{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	distBase := [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	for s := range litLenSyms {
		switch {
		case s < 256:
			litLenSyms[s] = entry(kindLiteral, uint32(s), 0)
		case s == 256:
			litLenSyms[s] = entry(kindEnd, 0, 0)
		case s <= 285:
			litLenSyms[s] = entry(kindLength, lengthBase[s-257], lengthExtra[s-257])
		default:
			// 286 and 287 have fixed codes but "will never actually
			// occur in the compressed data" (RFC 1951 §3.2.6).
			litLenSyms[s] = entry(kindInvalid, 0, 0)
		}
	}
	for s := range distSyms {
		if s < 30 {
			distSyms[s] = entry(kindDistance, distBase[s], distExtra[s])
		} else {
			distSyms[s] = entry(kindInvalid, 0, 0)
		}
	}
	for s := range codeLenSyms {
		codeLenSyms[s] = entry(kindLiteral, uint32(s), 0)
	}

	// RFC 1951 §3.2.6: the fixed codes.
	var lens [288]uint8
	for s := range lens {
		switch {
		case s < 144:
			lens[s] = 8
		case s < 256:
			lens[s] = 9
		case s < 280:
			lens[s] = 7
		default:
			lens[s] = 8
		}
	}
	if !fixedLitLen.build(lens[:], litLenSyms[:], litLenRootBits) {
		panic("inflate: fixed literal/length code")
	}
	for s := range lens[:32] {
		lens[s] = 5
	}
	if !fixedDist.build(lens[:32], distSyms[:], distRootBits) {
		panic("inflate: fixed distance code")
	}
}

const (
	maxRootBits     = 9
	litLenRootBits  = 9
	distRootBits    = 7
	codeLenRootBits = 7
)

var fixedLitLen, fixedDist table

// build makes t decode the canonical code with the given code lengths
// (RFC 1951 §3.2.2), entries taken from syms. It reports false for an
// over-subscribed code, and for an incomplete one other than a lone code
// of length 1 or no code at all, which RFC 1951 §3.2.7 allows for a block
// that uses one distance or none (zlib and compress/flate accept them for
// every code); a lookup of a missing code gives a kindInvalid entry.
func (t *table) build(lens []uint8, syms []uint32, rootBits uint) bool {
	var count [maxCodeLen + 1]int
	maxLen, codes := uint(0), 0
	for _, l := range lens {
		if l != 0 {
			count[l]++
			codes++
			maxLen = max(maxLen, uint(l))
		}
	}
	left := 1
	for l := 1; l <= maxCodeLen; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return false // over-subscribed
		}
	}
	complete := left == 0
	if !complete && codes > 1 || codes == 1 && maxLen != 1 {
		return false
	}

	t.bits = min(rootBits, maxLen)
	t.mask = 1<<t.bits - 1
	rootSize := 1 << t.bits

	// The first code of each length (RFC 1951 §3.2.2, step 2).
	var next [maxCodeLen + 1]int
	code := 0
	for l := 1; l <= maxCodeLen; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	nextSaved := next

	// A subtable per root prefix of the long codes, as wide as the
	// longest code under that prefix.
	var subBits [1 << maxRootBits]uint8
	if maxLen > t.bits {
		for _, l := range lens {
			if uint(l) <= t.bits {
				continue
			}
			c := next[l]
			next[l]++
			p := reverse(c, uint(l)) & int(t.mask)
			subBits[p] = max(subBits[p], l-uint8(t.bits))
		}
		next = nextSaved
	}
	size := rootSize
	var subOff [1 << maxRootBits]int
	for p := range rootSize {
		if subBits[p] != 0 {
			subOff[p] = size
			size += 1 << subBits[p]
		}
	}
	if cap(t.e) < size {
		t.e = make([]uint32, size)
	}
	t.e = t.e[:size]
	if !complete {
		// Only the lone code and the empty code get here: no subtables.
		for i := range t.e {
			t.e[i] = entry(kindInvalid, 0, 0) | uint32(t.bits)
		}
	}
	for p := range rootSize {
		if subBits[p] != 0 {
			t.e[p] = entry(kindLink, uint32(subOff[p]), 0) | uint32(subBits[p])
		}
	}

	// Step 3: codes in symbol order. The stream carries a code's most
	// significant bit first and the bit buffer holds the first bit lowest
	// (RFC 1951 §3.1.1), so the table index is the code reversed.
	for s, l := range lens {
		if l == 0 {
			continue
		}
		n := uint(l)
		rev := reverse(next[n], n)
		next[n]++
		e := syms[s] | uint32(n)
		if n <= t.bits {
			for i := rev; i < rootSize; i += 1 << n {
				t.e[i] = e
			}
			continue
		}
		p := rev & int(t.mask)
		sub := t.e[subOff[p] : subOff[p]+1<<subBits[p]]
		for i := rev >> t.bits; i < len(sub); i += 1 << (n - t.bits) {
			sub[i] = e
		}
	}
	return true
}

// reverse returns the low n bits of c in reverse order.
func reverse(c int, n uint) int {
	return int(bits.Reverse16(uint16(c)) >> (16 - n))
}
