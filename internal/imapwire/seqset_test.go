package imapwire

import (
	"reflect"
	"testing"
)

func TestSeqSetParse(t *testing.T) {
	const star = 0
	tests := []struct {
		in   string
		want SeqSet
		ok   bool
		rest string
	}{
		{"1 ", SeqSet{Ranges: []SeqRange{{1, 1}}}, true, " "},
		{"1:* ", SeqSet{Ranges: []SeqRange{{1, star}}}, true, " "},
		{"*:4 ", SeqSet{Ranges: []SeqRange{{star, 4}}}, true, " "},
		{"* ", SeqSet{Ranges: []SeqRange{{star, star}}}, true, " "},
		{"4:2)", SeqSet{Ranges: []SeqRange{{4, 2}}}, true, ")"},
		{"2,4:7,9\r\n", SeqSet{Ranges: []SeqRange{{2, 2}, {4, 7}, {9, 9}}}, true, "\r\n"},
		{"4294967295:1 ", SeqSet{Ranges: []SeqRange{{1<<32 - 1, 1}}}, true, " "},
		{"$ ", SeqSet{Saved: true}, true, " "},
		{"$,1 ", SeqSet{Saved: true}, true, ",1 "},
		{"0 ", SeqSet{}, false, " "},
		{"1:0 ", SeqSet{}, false, " "},
		{"1: ", SeqSet{}, false, " "},
		{": ", SeqSet{}, false, ": "},
		{"1,, ", SeqSet{}, false, ", "},
		{"1, ", SeqSet{}, false, " "},
		{",1 ", SeqSet{}, false, ",1 "},
		{"4294967296 ", SeqSet{}, false, " "},
		{" ", SeqSet{}, false, " "},
		{"", SeqSet{}, false, ""},
		{"x", SeqSet{}, false, "x"},
		{"-1", SeqSet{}, false, "-1"},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in, DecoderOptions{})
		got, ok := d.SeqSet()
		if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("SeqSet(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if r := rest(t, d); r != tt.rest {
			t.Errorf("SeqSet(%q) left %q, want %q", tt.in, r, tt.rest)
		}
	}
}

func TestIsSeqSetStart(t *testing.T) {
	for b := 0; b < 256; b++ {
		want := b == '*' || b == '$' || (b >= '1' && b <= '9')
		if got := IsSeqSetStart(byte(b)); got != want {
			t.Errorf("IsSeqSetStart(%q) = %v", byte(b), got)
		}
	}
}

func TestSeqSetResolve(t *testing.T) {
	const max32 = 1<<32 - 1
	tests := []struct {
		set  []SeqRange
		max  uint32
		want []SeqRange
	}{
		{nil, 10, []SeqRange{}},
		{[]SeqRange{{1, 0}}, 10, []SeqRange{{1, 10}}},
		{[]SeqRange{{0, 4}}, 10, []SeqRange{{4, 10}}},
		{[]SeqRange{{0, 0}}, 10, []SeqRange{{10, 10}}},
		{[]SeqRange{{15, 0}}, 10, []SeqRange{{10, 15}}}, // RFC 9051 §9: "*" is the largest in use
		{[]SeqRange{{9, 9}, {4, 7}, {2, 2}}, 10, []SeqRange{{2, 2}, {4, 7}, {9, 9}}},
		{[]SeqRange{{1, 3}, {4, 6}}, 10, []SeqRange{{1, 6}}},
		{[]SeqRange{{1, 5}, {2, 3}}, 10, []SeqRange{{1, 5}}},
		{[]SeqRange{{5, 1}, {3, 8}, {10, 12}}, 10, []SeqRange{{1, 8}, {10, 12}}},
		{[]SeqRange{{1, 0}, {5, 6}}, max32, []SeqRange{{1, max32}}},
		{[]SeqRange{{1, max32}, {5, 6}, {max32, max32}}, 3, []SeqRange{{1, max32}}},
		{[]SeqRange{{max32 - 1, max32}, {max32, max32}}, 3, []SeqRange{{max32 - 1, max32}}},
		{[]SeqRange{{0, 0}}, 0, []SeqRange{{0, 0}}},
	}
	for _, tt := range tests {
		got := SeqSet{Ranges: tt.set}.Resolve(tt.max)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Resolve(%v, %d) = %v, want %v", tt.set, tt.max, got, tt.want)
		}
	}
	if got := (SeqSet{Saved: true}).Resolve(10); len(got) != 0 {
		t.Errorf("Resolve($) = %v, want nothing", got)
	}
}

func TestSeqSetContains(t *testing.T) {
	set := SeqSet{Ranges: []SeqRange{{2, 2}, {7, 4}, {9, 0}}}
	tests := []struct {
		n, max uint32
		want   bool
	}{
		{1, 20, false},
		{2, 20, true},
		{3, 20, false},
		{4, 20, true},
		{7, 20, true},
		{8, 20, false},
		{9, 20, true},
		{20, 20, true},
		{21, 20, false},
		{5, 5, true}, // 9:* with max 5 is 5:9
		{9, 5, true},
		{10, 5, false},
	}
	for _, tt := range tests {
		if got := set.Contains(tt.n, tt.max); got != tt.want {
			t.Errorf("Contains(%d, %d) = %v, want %v", tt.n, tt.max, got, tt.want)
		}
	}
	if (SeqSet{Saved: true}).Contains(1, 1) {
		t.Error("$ contains 1")
	}
}

func TestSeqSetString(t *testing.T) {
	for _, in := range []string{"1", "1:*", "*:4", "*", "4:2", "2,4:7,9", "$", "4294967295"} {
		d, _ := newTestDecoder(in+" ", DecoderOptions{})
		set, ok := d.SeqSet()
		if !ok {
			t.Fatalf("SeqSet(%q): %v", in, d.Err())
		}
		if got := set.String(); got != in {
			t.Errorf("String(SeqSet(%q)) = %q", in, got)
		}
	}
	if got := (SeqSet{Ranges: []SeqRange{{3, 3}}}).String(); got != "3" {
		t.Errorf("String = %q", got)
	}
}

func TestFormatUIDs(t *testing.T) {
	tests := []struct {
		in   []uint32
		want string
	}{
		{nil, ""},
		{[]uint32{5}, "5"},
		{[]uint32{1, 2, 3, 7}, "1:3,7"},
		{[]uint32{7, 3, 1, 2}, "1:3,7"},
		{[]uint32{1, 1, 2, 2, 4}, "1:2,4"},
		{[]uint32{1, 3, 5}, "1,3,5"},
		{[]uint32{1<<32 - 2, 1<<32 - 1, 1}, "1,4294967294:4294967295"},
	}
	for _, tt := range tests {
		in := append([]uint32(nil), tt.in...)
		if got := FormatUIDs(tt.in); got != tt.want {
			t.Errorf("FormatUIDs(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if !reflect.DeepEqual(in, tt.in) {
			t.Errorf("FormatUIDs changed its argument to %v", tt.in)
		}
	}
}

func TestFormatPairs(t *testing.T) {
	tests := []struct {
		from, to         []uint32
		wantFrom, wantTo string
	}{
		{nil, nil, "", ""},
		{[]uint32{1}, []uint32{7}, "1", "7"},
		{[]uint32{1, 2, 3}, []uint32{7, 8, 9}, "1:3", "7:9"},
		{[]uint32{1, 2, 3}, []uint32{7, 9, 10}, "1,2:3", "7,9:10"},
		{[]uint32{3, 1, 2}, []uint32{10, 11, 12}, "3,1:2", "10,11:12"},
		{[]uint32{1, 2, 5, 6}, []uint32{3, 4, 5, 6}, "1:2,5:6", "3:4,5:6"},
		{[]uint32{1, 2, 3}, []uint32{7, 8}, "1:2", "7:8"},
		{[]uint32{1}, []uint32{7, 8}, "1", "7"},
	}
	for _, tt := range tests {
		f, to := FormatPairs(tt.from, tt.to)
		if f != tt.wantFrom || to != tt.wantTo {
			t.Errorf("FormatPairs(%v, %v) = %q, %q; want %q, %q", tt.from, tt.to, f, to, tt.wantFrom, tt.wantTo)
		}
	}
}
