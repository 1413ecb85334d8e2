package servertest

import (
	"os"
	"testing"
)

// recorder notes whether a check failed.
type recorder struct {
	testing.TB
	failed []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) { r.failed = append(r.failed, format) }

func TestCheckLeaks(t *testing.T) {
	r := &recorder{TB: t}
	check := CheckLeaks(r)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	go func() { <-stop }()
	check()
	close(stop)
	f.Close()
	if len(r.failed) != 2 {
		t.Errorf("a leaked goroutine and descriptor gave %q, want two failures", r.failed)
	}

	r = &recorder{TB: t}
	check = CheckLeaks(r)
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
	check()
	if len(r.failed) != 0 {
		t.Errorf("nothing leaked, but the check says %q", r.failed)
	}
}
