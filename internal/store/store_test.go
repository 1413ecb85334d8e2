package store

import (
	"errors"
	"fmt"
	"os"
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
