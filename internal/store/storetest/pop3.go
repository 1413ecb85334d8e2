package storetest

import (
	"fmt"
	"testing"

	"mailroom/internal/store"
)

func testPOP3Hidden(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	arch := mailbox(t, s, a, "Archive")
	appendOne(t, s, a, inbox, "one")
	appendOne(t, s, a, inbox, "two")
	msgs, _ := s.Messages(ctx, a.ID, inbox.ID, 1)
	if err := s.HidePOP3(ctx, a.ID, []int64{msgs[0].EmailID, 999999}); err != nil {
		t.Fatal(err)
	}
	hidden, err := s.POP3Hidden(ctx, a.ID)
	if err != nil || fmt.Sprint(hidden) != fmt.Sprintf("map[%d:true]", msgs[0].EmailID) {
		t.Fatalf("hidden %v %v", hidden, err)
	}
	// Hiding is by EmailID: it survives a move, and a copy is a new message.
	if _, err := s.Move(ctx, a.ID, inbox.ID, arch.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, a.ID, arch.ID, inbox.ID, []uint32{1}, false); err != nil {
		t.Fatal(err)
	}
	hidden, _ = s.POP3Hidden(ctx, a.ID)
	if len(hidden) != 1 || !hidden[msgs[0].EmailID] {
		t.Fatalf("after move and copy: %v", hidden)
	}
	// Expunged messages drop out.
	if _, err := s.Expunge(ctx, a.ID, arch.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if hidden, _ = s.POP3Hidden(ctx, a.ID); len(hidden) != 0 {
		t.Fatalf("after expunge: %v", hidden)
	}
	wantClean(t, s)
}
