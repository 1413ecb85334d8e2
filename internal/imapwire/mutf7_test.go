package imapwire

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMUTF7(t *testing.T) {
	tests := []struct {
		wire, name string
	}{
		// RFC 3501 §5.1.3.
		{"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"},
		{"&-", "&"},
		{"", ""},
		{"INBOX", "INBOX"},
		{"a&-b&-&-", "a&b&&"},
		{"&AOk-t&AOk-", "été"},
		{"&Jjo-&-&Jjo-", "☺&☺"},
		{"&2D3eAA-", "\U0001F600"},                // a surrogate pair
		{"&2D3eANg93gE-", "\U0001F600\U0001F601"}, // two pairs in one shift
		{"x&AKA-y", "x\u00a0y"},
		{"&AP8-", "\u00ff"},
		{"&,,8-", "\uffff"},
		{"Entw&APw-rfe", "Entwürfe"},
		{"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-", "Отправленные"},
	}
	for _, tt := range tests {
		if got := EncodeMUTF7(tt.name); got != tt.wire {
			t.Errorf("EncodeMUTF7(%q) = %q, want %q", tt.name, got, tt.wire)
		}
		got, err := DecodeMUTF7(tt.wire)
		if err != nil || got != tt.name {
			t.Errorf("DecodeMUTF7(%q) = %q, %v; want %q", tt.wire, got, err, tt.name)
		}
	}
}

func TestDecodeMUTF7Strict(t *testing.T) {
	tests := []struct {
		in, why string
	}{
		{"&Jjo", "unterminated shift"},
		{"a&", "unterminated shift"},
		{"&AGE-", "shifted ASCII 'a'"},
		{"&ACY-", "shifted '&'"},
		{"&ACA-", "shifted space"},
		{"&AH4-", "shifted '~'"},
		{"&Jjo-&Jjo-", "adjacent shifts"},
		{"&Jjp-", "non-zero padding bits"},
		{"&AOl-", "non-zero padding bits"},
		{"&Jjo=-", "base64 padding"},
		{"&Jj-", "too short for a UTF-16 unit"},
		{"&AOkA-", "odd number of bytes"},
		{"&J-", "one base64 character"},
		{"&2D0-", "lone high surrogate"},
		{"&3gA-", "lone low surrogate"},
		{"&3gDYPQ-", "surrogates in the wrong order"},
		{"&2D0AYQ-", "high surrogate then ASCII"},
		{"&Jj/-", "'/' is not modified base64"},
		{"&Jj o-", "space in a shift"},
		{"&Jj\no-", "newline in a shift"},
		{"&AAA-", "shifted NUL"},
		{"&AAo-", "shifted LF"},
		{"&AH8-", "shifted DEL"},
		{"&AIU-", "shifted C1 control"},
		{"été", "raw 8-bit"},
		{"a\xffb", "raw 8-bit"},
		{"a&-\xe9", "raw 8-bit after a shift"},
		{"a\tb", "raw control"},
		{"a\x00", "raw NUL"},
		{"a\x7f", "raw DEL"},
		{"&-\r\n", "raw CR LF"},
	}
	for _, tt := range tests {
		if got, err := DecodeMUTF7(tt.in); err != ErrBadMUTF7 {
			t.Errorf("DecodeMUTF7(%q) = %q, %v; want ErrBadMUTF7 (%s)", tt.in, got, err, tt.why)
		}
	}
}

func randomName(r *rand.Rand) string {
	var sb strings.Builder
	n := r.IntN(12)
	for range n {
		var c rune
		switch r.IntN(5) {
		case 0:
			c = rune(0x20 + r.IntN(0x5f)) // printable ASCII, '&' included
		case 1:
			c = '&'
		case 2:
			c = rune(0xa0 + r.IntN(0xd800-0xa0)) // BMP below the surrogates
		case 3:
			c = rune(0xe000 + r.IntN(0x10000-0xe000))
		default:
			c = rune(0x10000 + r.IntN(0x110000-0x10000)) // astral: surrogate pairs
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

func TestMUTF7RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		name := randomName(r)
		wire := EncodeMUTF7(name)
		for i := 0; i < len(wire); i++ {
			if wire[i] < 0x20 || wire[i] > 0x7e {
				t.Fatalf("EncodeMUTF7(%q) = %q: not printable ASCII", name, wire)
			}
		}
		got, err := DecodeMUTF7(wire)
		if err != nil || got != name {
			t.Fatalf("DecodeMUTF7(EncodeMUTF7(%q)) = DecodeMUTF7(%q) = %q, %v", name, wire, got, err)
		}
	}
}

func TestEncodeMUTF7InvalidUTF8(t *testing.T) {
	got, err := DecodeMUTF7(EncodeMUTF7("a\xffb"))
	if err != nil || got != "a\uFFFDb" || !utf8.ValidString(got) {
		t.Errorf("round trip of invalid UTF-8 = %q, %v", got, err)
	}
}
