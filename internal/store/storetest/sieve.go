package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"mailroom/internal/store"
)

func scriptNames(t *testing.T, s store.Store, a *store.Account) string {
	t.Helper()
	list, err := s.SieveScripts(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, sc := range list {
		if sc.Content != nil {
			t.Fatalf("listing carries content of %s", sc.Name)
		}
		out += fmt.Sprintf("%s:%d", sc.Name, sc.Size)
		if sc.Active {
			out += "*"
		}
		out += " "
	}
	return out
}

func testSieveScripts(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	if sc, err := s.ActiveSieveScript(ctx, a.ID); sc != nil || err != nil {
		t.Fatalf("active on a new account: %v %v", sc, err)
	}
	for _, n := range []string{"b", "a", "A"} {
		if err := s.PutSieveScript(ctx, a.ID, n, []byte("keep;")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSieveScript(ctx, a.ID, "b", []byte("discard;")); err != nil {
		t.Fatal(err)
	}
	if got := scriptNames(t, s, a); got != "A:5 a:5 b:8 " {
		t.Fatalf("list %q", got)
	}
	sc, err := s.SieveScript(ctx, a.ID, "b")
	if err != nil || string(sc.Content) != "discard;" || sc.Active {
		t.Fatalf("get %+v %v", sc, err)
	}
	if _, err := s.SieveScript(ctx, a.ID, "B"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("names are case-sensitive: %v", err)
	}
	if err := s.ActivateSieveScript(ctx, a.ID, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("activate missing: %v", err)
	}
	if err := s.ActivateSieveScript(ctx, a.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.ActivateSieveScript(ctx, a.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if got := scriptNames(t, s, a); got != "A:5 a:5 b:8* " {
		t.Fatalf("one active: %q", got)
	}
	if err := s.DeleteSieveScript(ctx, a.ID, "b"); !errors.Is(err, store.ErrScriptActive) {
		t.Fatalf("delete active: %v", err)
	}
	if err := s.RenameSieveScript(ctx, a.ID, "b", "a"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := s.RenameSieveScript(ctx, a.ID, "x", "y"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rename missing: %v", err)
	}
	if err := s.RenameSieveScript(ctx, a.ID, "b", "c"); err != nil {
		t.Fatal(err)
	}
	act, err := s.ActiveSieveScript(ctx, a.ID)
	if err != nil || act == nil || act.Name != "c" || string(act.Content) != "discard;" {
		t.Fatalf("active after rename: %+v %v", act, err)
	}
	// Replacing the active script keeps it active.
	if err := s.PutSieveScript(ctx, a.ID, "c", []byte("stop;")); err != nil {
		t.Fatal(err)
	}
	if got := scriptNames(t, s, a); got != "A:5 a:5 c:5* " {
		t.Fatalf("after put: %q", got)
	}
	if err := s.ActivateSieveScript(ctx, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if sc, err := s.ActiveSieveScript(ctx, a.ID); sc != nil || err != nil {
		t.Fatalf("deactivated: %v %v", sc, err)
	}
	if err := s.DeleteSieveScript(ctx, a.ID, "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSieveScript(ctx, a.ID, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	// Empty scripts are scripts.
	if err := s.PutSieveScript(ctx, a.ID, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if sc, err := s.SieveScript(ctx, a.ID, "empty"); err != nil || sc.Content == nil || len(sc.Content) != 0 {
		t.Fatalf("empty: %+v %v", sc, err)
	}
	// Scripts belong to their account and go with it.
	b, err := s.CreateAccount(ctx, store.NewAccount{Address: "bob@example.test", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := scriptNames(t, s, b); got != "" {
		t.Fatalf("bob sees %q", got)
	}
	if err := s.PutSieveScript(ctx, 999999, "x", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("put for unknown account: %v", err)
	}
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.SieveScripts(ctx, a.ID); len(list) != 0 {
		t.Fatalf("scripts survive their account: %v", list)
	}
}

func testFilteredDelivery(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	arch := mailbox(t, s, a, "Archive")
	ref := Put(t, s, "Subject: x\r\n\r\nhi\r\n")
	out := store.NewOutboxMessage{From: "alice@example.test", To: []string{"fwd@example.org"}, Data: []byte("redirected")}
	vac := store.VacationReply{Handle: "h", Sender: "Bob@Example.org", Period: time.Hour,
		Message: store.NewOutboxMessage{To: []string{"bob@example.org"}, Data: []byte("away")}}
	res, err := s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{
		Messages: []store.AppendMessage{
			{MailboxID: inbox.ID, Body: ref, Flags: []string{`\Seen`}},
			{MailboxID: arch.ID, Body: ref},
		},
		EnforceQuota: true,
		Outbox:       []store.NewOutboxMessage{out},
		Vacation:     []store.VacationReply{vac},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Appended) != 2 || res.Appended[1].MailboxID != arch.ID || !res.VacationSent[0] {
		t.Fatalf("result %+v", res)
	}
	msgs, _ := s.Messages(ctx, a.ID, inbox.ID, 1)
	if len(msgs) != 1 || fmt.Sprint(msgs[0].Flags) != `[\Seen]` {
		t.Fatalf("inbox %+v", msgs)
	}
	wantUsage(t, s, a, 2*ref.Size, 2)
	queued, err := s.Outbox(ctx)
	if err != nil || len(queued) != 2 {
		t.Fatalf("outbox %v %v", queued, err)
	}
	if q := queued[0]; q.AccountID != a.ID || q.From != "alice@example.test" || fmt.Sprint(q.To) != "[fwd@example.org]" || string(q.Data) != "redirected" {
		t.Fatalf("outbox[0] %+v", q)
	}
	if q := queued[1]; q.From != "" || string(q.Data) != "away" {
		t.Fatalf("outbox[1] %+v", q)
	}
	// The same sender (any case) within the period gets no second reply;
	// another handle is another reply.
	vac2 := vac
	vac2.Sender = "bob@example.org"
	other := vac
	other.Handle = "h2"
	res, err = s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{Vacation: []store.VacationReply{vac2, other}})
	if err != nil || res.VacationSent[0] || !res.VacationSent[1] {
		t.Fatalf("second: %+v %v", res, err)
	}
	// A zero period always replies (RFC 6131 :seconds 0).
	vac0 := vac
	vac0.Period = 0
	if res, err = s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{Vacation: []store.VacationReply{vac0}}); err != nil || !res.VacationSent[0] {
		t.Fatalf("zero period: %+v %v", res, err)
	}
	if queued, _ = s.Outbox(ctx); len(queued) != 4 {
		t.Fatalf("outbox has %d", len(queued))
	}
	wantClean(t, s)
}

// testOutboxLimits: what filters queue is bounded per account (and by the
// account's storage quota) and in total. A redirect that does not fit fails
// the whole delivery with ErrOutboxFull and changes nothing; a vacation
// reply that does not fit is neither queued nor recorded.
func testOutboxLimits(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	b, err := s.CreateAccount(ctx, store.NewAccount{Address: "bob@example.test", PasswordHash: "x",
		QuotaBytes: 150, QuotaMessages: store.QuotaDefault})
	if err != nil {
		t.Fatal(err)
	}
	inbox := mailbox(t, s, a, "INBOX")
	ref := Put(t, s, "body")
	data := func(n int) []byte { return []byte(strings.Repeat("x", n)) }
	redirect := func(acc *store.Account, n int, l store.OutboxLimits, keep bool) error {
		d := store.FilteredDelivery{
			Outbox:       []store.NewOutboxMessage{{From: acc.Address, To: []string{"fwd@example.org"}, Data: data(n)}},
			OutboxLimits: l,
		}
		if keep {
			d.Messages = []store.AppendMessage{{MailboxID: mailbox(t, s, acc, "INBOX").ID, Body: ref}}
		}
		_, err := s.DeliverFiltered(ctx, acc.ID, d)
		return err
	}
	per := store.OutboxLimits{PerAccount: 300}
	if err := redirect(a, 200, per, false); err != nil {
		t.Fatal(err)
	}
	if err := redirect(a, 100, per, false); err != nil {
		t.Fatal(err)
	}
	// Full: nothing of the delivery happens, not even its copy.
	if err := redirect(a, 1, per, true); !errors.Is(err, store.ErrOutboxFull) {
		t.Fatalf("past the per-account limit: %v", err)
	}
	if msgs, _ := s.Messages(ctx, a.ID, inbox.ID, 1); len(msgs) != 0 {
		t.Fatalf("copy stored by a failed delivery: %+v", msgs)
	}
	// Bob's quota (150 bytes) bounds his outbox below the per-account limit.
	if err := redirect(b, 151, per, false); !errors.Is(err, store.ErrOutboxFull) {
		t.Fatalf("past the quota: %v", err)
	}
	if err := redirect(b, 150, per, false); err != nil {
		t.Fatal(err)
	}
	// The total counts every account's queue: 450 queued.
	if err := redirect(b, 0, store.OutboxLimits{Total: 450}, false); err != nil {
		t.Fatalf("empty message at the total: %v", err)
	}
	if err := redirect(a, 1, store.OutboxLimits{Total: 450}, false); !errors.Is(err, store.ErrOutboxFull) {
		t.Fatalf("past the total: %v", err)
	}
	// A vacation reply that does not fit is not sent and not recorded.
	vac := store.VacationReply{Handle: "h", Sender: "carol@example.org", Period: time.Hour,
		Message: store.NewOutboxMessage{To: []string{"carol@example.org"}, Data: data(10)}}
	res, err := s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{Vacation: []store.VacationReply{vac}, OutboxLimits: per})
	if err != nil || res.VacationSent[0] || !res.VacationFull {
		t.Fatalf("vacation past the limit: %+v %v", res, err)
	}
	queued, err := s.Outbox(ctx)
	if err != nil || len(queued) != 4 {
		t.Fatalf("outbox %d %v", len(queued), err)
	}
	// Room again after one is sent: the reply now goes, and is recorded.
	if err := s.OutboxDone(ctx, queued[0].ID); err != nil {
		t.Fatal(err)
	}
	res, err = s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{Vacation: []store.VacationReply{vac}, OutboxLimits: per})
	if err != nil || !res.VacationSent[0] || res.VacationFull {
		t.Fatalf("vacation with room: %+v %v", res, err)
	}
	res, err = s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{Vacation: []store.VacationReply{vac}, OutboxLimits: per})
	if err != nil || res.VacationSent[0] || res.VacationFull {
		t.Fatalf("vacation within its period: %+v %v", res, err)
	}
	queued, _ = s.Outbox(ctx)
	kinds := map[string]int{}
	for _, q := range queued {
		kinds[q.Kind]++
	}
	if kinds[store.OutboxRedirect] != 3 || kinds[store.OutboxVacation] != 1 || len(kinds) != 2 {
		t.Fatalf("kinds %v", kinds)
	}
}

// Over quota nothing happens: no copy, no outgoing mail, no vacation record.
func testFilteredAllOrNothing(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{Messages: 1})
	inbox := mailbox(t, s, a, "INBOX")
	arch := mailbox(t, s, a, "Archive")
	ref := Put(t, s, "body")
	vac := store.VacationReply{Handle: "h", Sender: "bob@example.org", Period: time.Hour,
		Message: store.NewOutboxMessage{To: []string{"bob@example.org"}, Data: []byte("away")}}
	_, err := s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{
		Messages:     []store.AppendMessage{{MailboxID: inbox.ID, Body: ref}, {MailboxID: arch.ID, Body: ref}},
		EnforceQuota: true,
		Outbox:       []store.NewOutboxMessage{{To: []string{"x@example.org"}, Data: []byte("r")}},
		Vacation:     []store.VacationReply{vac},
	})
	if !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("over quota: %v", err)
	}
	wantUsage(t, s, a, 0, 0)
	if q, _ := s.Outbox(ctx); len(q) != 0 {
		t.Fatalf("outbox %v", q)
	}
	// The vacation record was not kept either: the next delivery replies.
	res, err := s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{Vacation: []store.VacationReply{vac}})
	if err != nil || !res.VacationSent[0] {
		t.Fatalf("after failure: %+v %v", res, err)
	}
	if _, err := s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{Outbox: []store.NewOutboxMessage{{Data: []byte("x")}}}); err == nil {
		t.Fatal("outbox message without recipients accepted")
	}
	// Orphan bodies from the failed delivery are the caller's to sweep;
	// nothing references them.
	wantUsage(t, s, a, 0, 0)
}

func testOutbox(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	for i := 0; i < 3; i++ {
		m := store.NewOutboxMessage{From: "", To: []string{fmt.Sprintf("r%d@example.org", i), "x@example.org"}, Data: []byte(fmt.Sprint(i))}
		if _, err := s.DeliverFiltered(ctx, a.ID, store.FilteredDelivery{Outbox: []store.NewOutboxMessage{m}}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Second)
	got, err := s.ClaimOutbox(ctx, now, time.Minute, 2)
	if err != nil || len(got) != 2 || string(got[0].Data) != "0" || got[0].Attempts != 1 || len(got[0].To) != 2 {
		t.Fatalf("claim %+v %v", got, err)
	}
	// Claimed messages are held for the lease.
	rest, err := s.ClaimOutbox(ctx, now, time.Minute, 10)
	if err != nil || len(rest) != 1 || string(rest[0].Data) != "2" {
		t.Fatalf("second claim %+v %v", rest, err)
	}
	if got, _ := s.ClaimOutbox(ctx, now, time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed twice: %+v", got)
	}
	if err := s.OutboxDone(ctx, got[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxRetry(ctx, got[1].ID, now.Add(time.Hour), "421 try later"); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxRetry(ctx, got[0].ID, now, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retry of a sent message: %v", err)
	}
	// The lease of the third ran out; the retried one waits for its time.
	late, err := s.ClaimOutbox(ctx, now.Add(2*time.Minute), time.Minute, 10)
	if err != nil || len(late) != 1 || string(late[0].Data) != "2" || late[0].Attempts != 2 {
		t.Fatalf("after lease: %+v %v", late, err)
	}
	all, _ := s.Outbox(ctx)
	if len(all) != 2 || all[0].LastError != "421 try later" || !all[0].NextAttempt.Equal(now.Add(time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("outbox %+v", all)
	}
	// Concurrent senders never get the same message.
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ClaimOutbox(ctx, now.Add(2*time.Hour), time.Hour, 10)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			for _, m := range got {
				seen[m.ID]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != 2 {
		t.Fatalf("claimed %v", seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("message %d claimed %d times", id, n)
		}
	}
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.Outbox(ctx); len(all) != 0 {
		t.Fatalf("outbox survives its account: %v", all)
	}
}
