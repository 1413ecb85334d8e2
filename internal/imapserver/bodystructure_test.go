package imapserver

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateGolden rewrites testdata/fetch/*.golden: go test -run
// TestBodyStructureGolden -update. The flag is shared if another test file of the
// package defines it.
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

// TestBodyStructureGolden checks ENVELOPE and BODYSTRUCTURE of the fixture messages
// in testdata/fetch against their golden files.
func TestBodyStructureGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/fetch/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	e := newTestEnv(t)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e.deliver("INBOX", string(raw))
	}
	c := e.login()
	c.ok("EXAMINE INBOX")
	for i, f := range files {
		u, tagged := c.do(fmt.Sprintf("FETCH %d (ENVELOPE BODYSTRUCTURE BODY)", i+1))
		if !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("%s: %s", f, tagged)
		}
		// Without the sequence number, so that fixtures can be added.
		got := strings.TrimPrefix(strings.Join(u, "\n"), fmt.Sprintf("* %d FETCH ", i+1)) + "\n"
		golden := strings.TrimSuffix(f, ".eml") + ".golden"
		if updateGolden() {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s:\ngot  %s\nwant %s", f, got, want)
		}
	}
}

func TestPctEncode2231(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain.txt", "plain.txt"},
		{"\u00e9t\u00e9 chaud.txt", "%C3%A9t%C3%A9%20chaud.txt"},
		{"a*b'c%d(e)", "a%2Ab%27c%25d%28e%29"},
		{"x\x00\x7f", "x%00%7F"},
	}
	for _, tt := range tests {
		if got := pctEncode2231(tt.in); got != tt.want {
			t.Errorf("pctEncode2231(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPlainQuotable(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"Hello, World <a@b>", true},
		{`say "hi"`, false},
		{`back\slash`, false},
		{"tab\there", false},
		{"caf\u00e9", false},
	}
	for _, tt := range tests {
		if got := plainQuotable(tt.in); got != tt.want {
			t.Errorf("plainQuotable(%q) = %v", tt.in, got)
		}
	}
}
