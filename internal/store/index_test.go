package store_test

import (
	"context"
	"fmt"
	"testing"

	"mailroom/internal/store"
	"mailroom/internal/store/sqlite"
	"mailroom/internal/store/storetest"
)

func TestIndexCache(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.CreateDomain(ctx, "example.test")
	a, err := st.CreateAccount(ctx, store.NewAccount{Address: "a@example.test", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := st.Mailbox(ctx, a.ID, "INBOX")
	add := func() {
		if _, err := st.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: storetest.Put(t, st, "x")}}, false); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		add()
	}
	loads := 0
	c := &store.IndexCache[string]{
		Convert: func(m *store.Message) string { loads++; return fmt.Sprintf("%d:%v", m.UID, m.Flags) },
		UID:     func(s *string) uint32 { var u uint32; fmt.Sscanf(*s, "%d:", &u); return u },
	}
	get := func() *store.MailboxIndex[string] {
		t.Helper()
		mb, _ := st.Mailbox(ctx, a.ID, "INBOX")
		idx, err := c.Get(ctx, st, a.ID, mb)
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	first := get()
	if fmt.Sprint(first.Items) != "[1:[] 2:[] 3:[] 4:[]]" || loads != 4 {
		t.Fatalf("first %v, %d loads", first.Items, loads)
	}
	if again := get(); again != first || loads != 4 {
		t.Fatal("unchanged mailbox was loaded again")
	}
	st.SetFlags(ctx, a.ID, inbox.ID, []uint32{2}, store.FlagsAdd, []string{`\Seen`}, 0)
	st.Expunge(ctx, a.ID, inbox.ID, []uint32{3})
	add()
	next := get()
	if fmt.Sprint(next.Items) != `[1:[] 2:[\Seen] 4:[] 5:[]]` || loads != 6 {
		t.Fatalf("brought forward %v, %d loads (want 2 more)", next.Items, loads)
	}
	if fmt.Sprint(first.Items) != "[1:[] 2:[] 3:[] 4:[]]" {
		t.Fatal("a published index changed")
	}
}
