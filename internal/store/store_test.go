package store

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

type codedError int

func (e codedError) Error() string { return fmt.Sprintf("sql error %d", int(e)) }
func (e codedError) Code() int     { return int(e) }

func TestNoSpace(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("disk full"), false},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("append: %w", &os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}), true},
		{fmt.Errorf("commit: %w", codedError(13)), true},  // SQLITE_FULL
		{fmt.Errorf("commit: %w", codedError(269)), true}, // an extended SQLITE_FULL
		{fmt.Errorf("commit: %w", codedError(5)), false},  // SQLITE_BUSY
		{ErrOverQuota, false},
	} {
		if got := NoSpace(tt.err); got != tt.want {
			t.Errorf("NoSpace(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestLimitKeywords(t *testing.T) {
	var flags []string
	for i := range MaxKeywords + 10 {
		flags = append(flags, fmt.Sprintf("k%d", i))
	}
	flags = append([]string{`\Seen`, strings.Repeat("x", MaxKeywordLength+1)}, flags...)
	got := LimitKeywords(flags)
	if err := CheckKeywords(got); err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxKeywords+1 || got[0] != `\Seen` || got[1] != "k0" {
		t.Fatalf("LimitKeywords kept %d: %q", len(got), got[:3])
	}
	if err := CheckKeywords(flags); !errors.Is(err, ErrKeywordLimit) {
		t.Fatalf("CheckKeywords: %v", err)
	}
}
