package sieve

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"mailroom/internal/store"
)

// Bounds of one fuzz input. A script's run stops at runTimeout (as at
// delivery, with Options.Timeout); hangAfter is far past anything a loaded
// machine needs, so that only a real hang trips it.
const (
	runTimeout = 2 * time.Second
	hangAfter  = 30 * time.Second
)

// FuzzCompile checks arbitrary scripts and runs those that compile once
// against a fixed message: no panic, no hang, and every refusal a
// *CheckError whose position lies in the script. The seeds in
// testdata/fuzz/FuzzCompile are real scripts, valid and not.
func FuzzCompile(f *testing.F) {
	r, acc := newRuntime(f, Options{Timeout: runTimeout, MaxRedirects: 2})
	i := strings.Index(plainMsg, "\r\n\r\n")
	hdr, body := plainMsg[:i+4], plainMsg[i+4:]
	f.Fuzz(func(t *testing.T, script []byte) {
		done := make(chan struct{})
		var checkErr error
		var res *Result
		go func() {
			defer close(done)
			if checkErr = Check(script); checkErr != nil {
				return
			}
			res = r.Run(ctx, &Input{
				Account: acc,
				Script:  &store.SieveScript{Name: "fuzz", Content: script},
				From:    "bob@example.org",
				To:      "alice+lists@example.test",
				Header:  []byte(hdr),
				Size:    int64(len(plainMsg)),
				Body:    func() ([]byte, error) { return []byte(body), nil },
			})
		}()
		select {
		case <-done:
		case <-time.After(hangAfter):
			t.Fatalf("no answer after %v for %q", hangAfter, script)
		}
		if checkErr != nil {
			checkPosition(t, script, checkErr)
			return
		}
		var pe *panicError
		if errors.As(res.Err, &pe) {
			t.Fatalf("run panicked: %v\nscript %q", pe.value, script)
		}
	})
}

// checkPosition fails t unless err is a *CheckError with a message and a
// line and column inside script (or none at all).
func checkPosition(t *testing.T, script []byte, err error) {
	t.Helper()
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %q is not a *CheckError\nscript %q", err, err, script)
	}
	if ce.Msg == "" || ce.Script != "" {
		t.Fatalf("error %+v: no message, or names an included script\nscript %q", ce, script)
	}
	lines := bytes.Split(script, []byte("\n"))
	switch {
	case ce.Line == 0 && ce.Column == 0:
	case ce.Line < 1 || ce.Line > len(lines) || ce.Column < 1:
		t.Fatalf("error %q at line %d, column %d: outside a script of %d lines\nscript %q", ce.Msg, ce.Line, ce.Column, len(lines), script)
	case ce.Column > len(lines[ce.Line-1])+1:
		t.Fatalf("error %q at line %d, column %d: past the end of a line of %d bytes\nscript %q", ce.Msg, ce.Line, ce.Column, len(lines[ce.Line-1]), script)
	}
	_ = ce.Error()
}
