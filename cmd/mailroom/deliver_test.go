package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
)

// Each run parses its flags into options of its own: runs in one process,
// at the same time or one after the other, do not see each other's --from.
func TestDeliverOptionsPerRun(t *testing.T) {
	in := newInstance(t, "", "")
	deliver := func(from, subject string) {
		t.Helper()
		args := []string{"deliver", "--config", in.config}
		if from != "-" {
			args = append(args, "--from", from)
		}
		args = append(args, "alice@example.test")
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader("Subject: "+subject+"\n\nbody\n"), &out, &errb); code != 0 {
			t.Errorf("deliver --from %q: exit %d: %s", from, code, errb.String())
		}
	}
	var wg sync.WaitGroup
	for _, from := range []string{"a@example.org", "b@example.org"} {
		wg.Go(func() { deliver(from, from) })
	}
	wg.Wait()
	deliver("c@example.org", "c@example.org")
	deliver("-", "no --from")

	want := map[string]string{
		"a@example.org": "<a@example.org>",
		"b@example.org": "<b@example.org>",
		"c@example.org": "<c@example.org>",
		"no --from":     "<>",
	}
	msgs := in.messages("alice@example.test", "INBOX")
	if len(msgs) != len(want) {
		t.Fatalf("alice has %d messages, want %d", len(msgs), len(want))
	}
	for _, m := range msgs {
		var returnPath, subject string
		for _, line := range strings.Split(m, "\r\n") {
			if v, ok := strings.CutPrefix(line, "Return-Path: "); ok {
				returnPath = v
			}
			if v, ok := strings.CutPrefix(line, "Subject: "); ok {
				subject = v
			}
		}
		if returnPath != want[subject] {
			t.Errorf("message %q has Return-Path %q, want %q", subject, returnPath, want[subject])
		}
	}
}
