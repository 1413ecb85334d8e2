package storetest

import (
	"fmt"
	"testing"

	"mailroom/internal/store"
)

func uidsOf(msgs []store.Message) []uint32 {
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

func testChangedSince(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	var results []store.AppendResult
	for i := range 5 {
		results = append(results, appendOne(t, s, a, inbox, fmt.Sprintf("m%d", i)))
	}
	all, err := s.ChangedSince(ctx, a.ID, inbox.ID, 0)
	if err != nil || fmt.Sprint(uidsOf(all)) != "[1 2 3 4 5]" {
		t.Fatalf("ChangedSince(0) = %v, %v", uidsOf(all), err)
	}
	if all[0].Structure != nil || all[0].BlobID == "" || all[0].Size != 2 {
		t.Fatalf("index row %+v", all[0])
	}
	mark := results[4].ModSeq
	if _, _, err := s.SetFlags(ctx, a.ID, inbox.ID, []uint32{2}, store.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: Put(t, s, "m5"), Structure: []byte("st6")}}, true); err != nil {
		t.Fatal(err)
	}
	changed, _ := s.ChangedSince(ctx, a.ID, inbox.ID, mark)
	if fmt.Sprint(uidsOf(changed)) != "[2 6]" || !store.HasFlag(changed[0].Flags, `\Seen`) {
		t.Fatalf("ChangedSince(%d) = %+v", mark, changed)
	}
	if none, _ := s.ChangedSince(ctx, a.ID, inbox.ID, changed[1].ModSeq); len(none) != 0 {
		t.Fatalf("ChangedSince(highest) = %v", uidsOf(none))
	}

	got, err := s.MessagesByUID(ctx, a.ID, inbox.ID, []uint32{6, 1, 2, 3, 9, 5, 5})
	if err != nil || fmt.Sprint(uidsOf(got)) != "[1 2 3 5 6]" {
		t.Fatalf("MessagesByUID = %v, %v", uidsOf(got), err)
	}
	if string(got[4].Structure) != "st6" || ReadBody(t, s, got[4].BlobID) != "m5" {
		t.Fatal("wrong body for UID 6")
	}
	if none, err := s.MessagesByUID(ctx, a.ID, inbox.ID, nil); err != nil || len(none) != 0 {
		t.Fatalf("MessagesByUID(nil) = %v, %v", none, err)
	}
}

func testExpungeDeleted(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	appendOne(t, s, a, inbox, "one", `\Deleted`)
	appendOne(t, s, a, inbox, "two", `\Deleted`)
	appendOne(t, s, a, inbox, "three")
	appendOne(t, s, a, inbox, "four", `\Deleted`)
	if got, err := s.ExpungeDeleted(ctx, a.ID, inbox.ID, []uint32{}); err != nil || len(got) != 0 {
		t.Fatalf("empty set: %v %v", got, err)
	}
	// Only the \Deleted ones of the set go.
	got, err := s.ExpungeDeleted(ctx, a.ID, inbox.ID, []uint32{2, 3, 9})
	if err != nil || fmt.Sprint(got) != "[2]" {
		t.Fatalf("ExpungeDeleted(2,3,9) = %v, %v", got, err)
	}
	// nil: every \Deleted message.
	got, err = s.ExpungeDeleted(ctx, a.ID, inbox.ID, nil)
	if err != nil || fmt.Sprint(got) != "[1 4]" {
		t.Fatalf("ExpungeDeleted(nil) = %v, %v", got, err)
	}
	left, _ := s.ChangedSince(ctx, a.ID, inbox.ID, 0)
	if fmt.Sprint(uidsOf(left)) != "[3]" {
		t.Fatalf("left %v", uidsOf(left))
	}
	wantClean(t, s)
}
