package imapwire

import (
	"sort"
	"strconv"
	"strings"
)

// SeqRange is a range of message numbers or UIDs; 0 stands for "*" (the
// largest number in use). Start may be greater than Stop ("4:2" is "2:4").
type SeqRange struct {
	Start, Stop uint32
}

// SeqSet is a sequence-set (RFC 9051 §9). Saved is "$", the result of the
// last SEARCH with SAVE (RFC 5182); then the ranges are empty.
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool
}

// SeqSet reads a sequence-set or "$".
func (d *Decoder) SeqSet() (SeqSet, bool) {
	if d.Special('$') {
		return SeqSet{Saved: true}, true
	}
	var set SeqSet
	num := func() (uint32, bool) {
		if d.Special('*') {
			return 0, true
		}
		return d.NZNumber()
	}
	for {
		a, ok := num()
		if !ok {
			return set, false
		}
		r := SeqRange{a, a}
		if d.Special(':') {
			if r.Stop, ok = num(); !ok {
				return set, false
			}
		}
		set.Ranges = append(set.Ranges, r)
		if !d.Special(',') {
			return set, true
		}
	}
}

// IsSeqSetStart reports whether b can begin a sequence-set.
func IsSeqSetStart(b byte) bool { return b == '*' || b == '$' || (b >= '1' && b <= '9') }

// bounds resolves "*" to max and orders the range.
func (r SeqRange) bounds(max uint32) (lo, hi uint32) {
	lo, hi = r.Start, r.Stop
	if lo == 0 {
		lo = max
	}
	if hi == 0 {
		hi = max
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

// Contains reports whether n is in the set, with "*" meaning max.
func (s SeqSet) Contains(n, max uint32) bool {
	for _, r := range s.Ranges {
		lo, hi := r.bounds(max)
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// Resolve returns the set's ranges with "*" replaced by max, sorted and
// merged (no two overlap or touch). "$" must be replaced by the caller: a
// Saved set resolves to nothing. With max 0 (nothing in use) "*" becomes 0,
// which no message has.
func (s SeqSet) Resolve(max uint32) []SeqRange {
	out := make([]SeqRange, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		lo, hi := r.bounds(max)
		out = append(out, SeqRange{lo, hi})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && (merged[n-1].Stop == ^uint32(0) || r.Start <= merged[n-1].Stop+1) {
			if r.Stop > merged[n-1].Stop {
				merged[n-1].Stop = r.Stop
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// String formats the set in IMAP syntax.
func (s SeqSet) String() string {
	if s.Saved {
		return "$"
	}
	var b strings.Builder
	num := func(n uint32) {
		if n == 0 {
			b.WriteByte('*')
		} else {
			b.WriteString(strconv.FormatUint(uint64(n), 10))
		}
	}
	for i, r := range s.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		num(r.Start)
		if r.Stop != r.Start {
			b.WriteByte(':')
			num(r.Stop)
		}
	}
	return b.String()
}

// FormatUIDs writes sorted numbers compactly as a sequence-set ("1:3,7").
func FormatUIDs(nums []uint32) string {
	if len(nums) == 0 {
		return ""
	}
	sorted := append([]uint32(nil), nums...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var b strings.Builder
	start, prev := sorted[0], sorted[0]
	flush := func() {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(start), 10))
		if prev != start {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(prev), 10))
		}
	}
	for _, n := range sorted[1:] {
		if n == prev {
			continue
		}
		if n == prev+1 {
			prev = n
			continue
		}
		flush()
		start, prev = n, n
	}
	flush()
	return b.String()
}

// FormatPairs writes source/destination UIDs in matching order for COPYUID
// (RFC 4315 §3): "1:3" / "7:9" when both runs are contiguous, else lists.
// Only pairs count: extra elements of the longer slice are ignored.
func FormatPairs(from, to []uint32) (string, string) {
	if len(to) < len(from) {
		from = from[:len(to)]
	}
	var fb, tb strings.Builder
	for i := 0; i < len(from); {
		j := i
		for j+1 < len(from) && from[j+1] == from[j]+1 && to[j+1] == to[j]+1 {
			j++
		}
		if fb.Len() > 0 {
			fb.WriteByte(',')
			tb.WriteByte(',')
		}
		fb.WriteString(strconv.FormatUint(uint64(from[i]), 10))
		tb.WriteString(strconv.FormatUint(uint64(to[i]), 10))
		if j > i {
			fb.WriteByte(':')
			fb.WriteString(strconv.FormatUint(uint64(from[j]), 10))
			tb.WriteByte(':')
			tb.WriteString(strconv.FormatUint(uint64(to[j]), 10))
		}
		i = j + 1
	}
	return fb.String(), tb.String()
}
