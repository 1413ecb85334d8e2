package imapserver

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"mailroom/internal/message"
)

func TestHeaderFilter(t *testing.T) {
	const hdr = "From: a@example.test\r\nSubject: one\r\n two\r\nX-Long: " + "0123456789" + "\r\nsubject: again\r\nnot a field\r\nTo: b@example.test\r\n\r\n"
	long := strings.Repeat("y", 10000)
	tests := []struct {
		name   string
		header string
		names  []string
		not    bool
		want   string
	}{
		{"fields", hdr, []string{"SUBJECT"}, false, "Subject: one\r\n two\r\nsubject: again\r\n\r\n"},
		{"fields none", hdr, []string{"cc"}, false, "\r\n"},
		{"fields not", hdr, []string{"subject", "x-long"}, true, "From: a@example.test\r\nnot a field\r\nTo: b@example.test\r\n\r\n"},
		{"no blank line", "From: a\r\nTo: b\r\n", []string{"to"}, false, "To: b\r\n"},
		{"bare LF", "From: a\nTo: b\n\n", []string{"from"}, false, "From: a\n\n"},
		{"space before colon", "Subject : x\r\n\r\n", []string{"subject"}, false, "Subject : x\r\n\r\n"},
		{"leading continuation", " junk\r\nFrom: a\r\n\r\n", []string{"from"}, true, " junk\r\n\r\n"},
		{"long line kept", "X-Big: " + long + "\r\nTo: b\r\n\r\n", []string{"x-big"}, false, "X-Big: " + long + "\r\n\r\n"},
		{"long line dropped", "X-Big: " + long + "\r\n " + long + "\r\nTo: b\r\n\r\n", []string{"to"}, false, "To: b\r\n\r\n"},
		// Only ASCII case folding (RFC 9051 §6.4.5): the Kelvin sign is
		// not a "k".
		{"ascii folding", "k: 1\r\n\r\n", []string{"\u212a"}, false, "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := io.ReadAll(iotest.OneByteReader(newHeaderFilter(strings.NewReader(tt.header), tt.names, tt.not)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzHeaderFilter checks that HEADER.FIELDS and HEADER.FIELDS.NOT of the
// same names split the header: every line goes to exactly one of them,
// except the blank line that ends the block, which both keep.
func FuzzHeaderFilter(f *testing.F) {
	f.Add("From: a\r\nSubject: x\r\n y\r\n\r\n", "subject")
	f.Add(" lead\r\nnot a field\nTo: b\n\n", "to")
	f.Add("X: 1\r\nX : 2\r\n", "x")
	f.Fuzz(func(t *testing.T, header, name string) {
		fields, err := io.ReadAll(newHeaderFilter(strings.NewReader(header), []string{name}, false))
		if err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(newHeaderFilter(strings.NewReader(header), []string{name}, true))
		if err != nil {
			t.Fatal(err)
		}
		// The block ends at the first blank line, which both keep.
		n, extra := 0, 0
		for _, l := range strings.SplitAfter(header, "\n") {
			n += len(l)
			if l == "\n" || l == "\r\n" {
				extra = len(l)
				break
			}
		}
		if len(fields)+len(rest) != n+extra {
			t.Fatalf("%q: %q + %q", header, fields, rest)
		}
	})
}

func TestSectionLocate(t *testing.T) {
	raw := crlf(fxNested)
	st, err := message.Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	innerHeader := crlf("From: Judy <judy@example.org>\nTo: team@example.org\nSubject: Meeting notes\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=inner\n\n")
	tests := []struct {
		sec  bodySection
		want string // "" with missing
		miss bool
	}{
		{bodySection{}, raw, false},
		{bodySection{spec: specHeader}, raw[:strings.Index(raw, "\r\n\r\n")+4], false},
		{bodySection{path: []int{1}}, "See below.", false},
		{bodySection{path: []int{1}, spec: specMIME}, "Content-Type: text/plain\r\n\r\n", false},
		{bodySection{path: []int{2}, spec: specHeader}, innerHeader, false},
		{bodySection{path: []int{2, 1}}, "Budget approved.", false},
		{bodySection{path: []int{2, 2}}, "<p>Budget approved.</p>", false},
		{bodySection{path: []int{2, 2}, spec: specText}, "", true},
		{bodySection{path: []int{1, 1}}, "", true},
		{bodySection{path: []int{3}}, "", true},
	}
	for _, tt := range tests {
		loc := tt.sec.locate(st)
		if loc.missing != tt.miss {
			t.Errorf("%+v: missing %v", tt.sec, loc.missing)
			continue
		}
		if tt.miss {
			continue
		}
		if got := raw[loc.start : loc.start+loc.size]; got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.sec, got, tt.want)
		}
	}
}

func TestWindowRange(t *testing.T) {
	tests := []struct{ size, start, count, wantStart, wantSize int64 }{
		{10, 0, -1, 0, 10},
		{10, 0, 5, 0, 5},
		{10, 8, 5, 8, 2},
		{10, 10, 5, 10, 0},
		{10, 100, 5, 10, 0},
		{0, 0, 1, 0, 0},
	}
	for _, tt := range tests {
		s, n := windowRange(tt.size, tt.start, tt.count)
		if s != tt.wantStart || n != tt.wantSize {
			t.Errorf("windowRange(%d, %d, %d) = %d, %d", tt.size, tt.start, tt.count, s, n)
		}
	}
}
