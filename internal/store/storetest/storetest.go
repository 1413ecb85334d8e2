// Package storetest is the conformance suite of store.Store: every backend
// runs it, and it is the definition of the store's semantics.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"mailroom/internal/store"
)

// Opener returns a fresh, empty store whose default quota is unlimited. The
// suite closes it.
type Opener func(t *testing.T, defaults store.Limits) store.Store

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Accounts", testAccounts},
		{"Aliases", testAliases},
		{"Mailboxes", testMailboxes},
		{"RenameInbox", testRenameInbox},
		{"RenameNonASCII", testRenameNonASCII},
		{"Subscriptions", testSubscriptions},
		{"ClaimRecent", testClaimRecent},
		{"OpenBodies", testOpenBodies},
		{"Metadata", testMetadata},
		{"Append", testAppend},
		{"AppendAllOrNothing", testAppendAllOrNothing},
		{"Quota", testQuota},
		{"DefaultQuota", testDefaultQuota},
		{"Flags", testFlags},
		{"CopyMove", testCopyMove},
		{"Expunge", testExpunge},
		{"DeleteMailboxReleases", testDeleteMailbox},
		{"ChangeFeed", testChangeFeed},
		{"ConcurrentAppend", testConcurrentAppend},
		{"Check", testCheck},
		{"POP3Hidden", testPOP3Hidden},
		{"SieveScripts", testSieveScripts},
		{"FilteredDelivery", testFilteredDelivery},
		{"FilteredAllOrNothing", testFilteredAllOrNothing},
		{"Outbox", testOutbox},
		{"OutboxLimits", testOutboxLimits},
		{"ChangedSince", testChangedSince},
		{"ExpungeDeleted", testExpungeDeleted},
		{"SCRAMKeys", testSCRAM},
		{"IdentitiesNeverRecur", testIdentities},
		{"LiveFollowsCommits", testLiveFollows},
		{"LiveViewStaysReadable", testLiveReadable},
		{"LiveMailboxRecreated", testLiveRecreated},
		{"LiveAccountDeleted", testLiveAccountDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

var ctx = context.Background()

func setup(t *testing.T, open Opener, limits store.Limits) (store.Store, *store.Account) {
	t.Helper()
	s := open(t, limits)
	t.Cleanup(func() { s.Close() })
	if err := s.CreateDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, store.NewAccount{Address: "alice@example.test", PasswordHash: "x",
		QuotaBytes: store.QuotaDefault, QuotaMessages: store.QuotaDefault})
	if err != nil {
		t.Fatal(err)
	}
	return s, a
}

// Put writes a body and returns its reference.
func Put(t testing.TB, s store.Store, content string) store.BlobRef {
	t.Helper()
	w, err := s.NewBody(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	ref, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func mailbox(t *testing.T, s store.Store, a *store.Account, name string) *store.Mailbox {
	t.Helper()
	mb, err := s.Mailbox(ctx, a.ID, name)
	if err != nil {
		t.Fatalf("mailbox %s: %v", name, err)
	}
	return mb
}

func appendOne(t *testing.T, s store.Store, a *store.Account, mb *store.Mailbox, content string, flags ...string) store.AppendResult {
	t.Helper()
	res, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: Put(t, s, content), Flags: flags}}, true)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res[0]
}

// ReadBody reads a whole body and checks it has the size it says.
func ReadBody(t *testing.T, s store.Store, id string) string {
	t.Helper()
	b, err := s.OpenBody(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != b.Size() {
		t.Fatalf("body size %d, read %d", b.Size(), len(data))
	}
	return string(data)
}

func usage(t *testing.T, s store.Store, a *store.Account) (int64, int64) {
	t.Helper()
	acc, err := s.AccountByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return acc.UsedBytes, acc.UsedMessages
}

func wantUsage(t *testing.T, s store.Store, a *store.Account, bytes, msgs int64) {
	t.Helper()
	b, m := usage(t, s, a)
	if b != bytes || m != msgs {
		t.Fatalf("usage = %d bytes / %d messages, want %d / %d", b, m, bytes, msgs)
	}
}

func wantClean(t *testing.T, s store.Store) {
	t.Helper()
	r, err := s.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) > 0 {
		t.Fatalf("check found problems: %+v", r.Problems)
	}
}

func testAccounts(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	if _, err := s.CreateAccount(ctx, store.NewAccount{Address: "ALICE@example.test", PasswordHash: "y"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate account (other case): %v, want ErrExists", err)
	}
	got, err := s.Account(ctx, "Alice@EXAMPLE.test")
	if err != nil || got.ID != a.ID || got.Address != "alice@example.test" {
		t.Fatalf("case-insensitive lookup: %+v, %v", got, err)
	}
	if _, err := s.Account(ctx, "bob@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
	mbs, err := s.Mailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"INBOX": "", "Drafts": store.SpecialDrafts, "Sent": store.SpecialSent,
		"Trash": store.SpecialTrash, "Junk": store.SpecialJunk, "Archive": store.SpecialArchive}
	if len(mbs) != len(want) {
		t.Fatalf("default mailboxes: %+v", mbs)
	}
	for _, mb := range mbs {
		su, ok := want[mb.Name]
		if !ok || su != mb.SpecialUse || !mb.Subscribed || mb.UIDNext != 1 || mb.UIDValidity == 0 {
			t.Fatalf("default mailbox %+v", mb)
		}
	}
	if err := s.SetPasswordHash(ctx, "alice@example.test", "new"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQuota(ctx, "alice@example.test", 1000, 10); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Account(ctx, "alice@example.test")
	if got.PasswordHash != "new" || got.QuotaBytes != 1000 || got.QuotaMessages != 10 {
		t.Fatalf("after updates: %+v", got)
	}
	if l := s.Limits(got); l.Bytes != 1000 || l.Messages != 10 {
		t.Fatalf("limits %+v", l)
	}
	appendOne(t, s, a, mailbox(t, s, a, "INBOX"), "Subject: x\r\n\r\nhello\r\n")
	if err := s.DeleteAccount(ctx, "alice@example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(ctx, "alice@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.DeleteAccount(ctx, "alice@example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	wantClean(t, s)

	if err := s.CreateDomain(ctx, "EXAMPLE.test"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate domain: %v", err)
	}
	if err := s.SetCatchAll(ctx, "example.test", "x@example.test"); err != nil {
		t.Fatal(err)
	}
	ds, _ := s.Domains(ctx)
	if len(ds) != 1 || ds[0].CatchAll != "x@example.test" {
		t.Fatalf("domains %+v", ds)
	}
	if err := s.DeleteDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "example.test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete domain twice: %v", err)
	}
}

func testAliases(t *testing.T, open Opener) {
	s, _ := setup(t, open, store.Limits{})
	for _, tg := range []string{"alice@example.test", "bob@example.test"} {
		if err := s.AddAlias(ctx, "Team@example.test", tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddAlias(ctx, "team@example.test", "bob@example.test"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate alias: %v", err)
	}
	tg, err := s.AliasTargets(ctx, "TEAM@example.test")
	if err != nil || fmt.Sprint(tg) != "[alice@example.test bob@example.test]" {
		t.Fatalf("targets %v %v", tg, err)
	}
	if tg, _ := s.AliasTargets(ctx, "nobody@example.test"); tg != nil {
		t.Fatalf("non-alias has targets %v", tg)
	}
	if err := s.DeleteAlias(ctx, "team@example.test", "bob@example.test"); err != nil {
		t.Fatal(err)
	}
	as, _ := s.Aliases(ctx)
	if len(as) != 1 || len(as[0].Targets) != 1 {
		t.Fatalf("aliases %+v", as)
	}
	if err := s.DeleteAlias(ctx, "team@example.test", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlias(ctx, "team@example.test", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete alias twice: %v", err)
	}
}

func testMailboxes(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	for _, bad := range []string{"", "a//b", "/a", "a/", "a\x00b", "a\nb", "\xff"} {
		if _, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: bad}); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("create %q: %v, want ErrInvalidName", bad, err)
		}
	}
	if _, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "inbox"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("create inbox: %v", err)
	}
	if mb := mailbox(t, s, a, "iNbOx"); mb.Name != "INBOX" {
		t.Fatalf("inbox lookup %+v", mb)
	}
	lists, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Lists"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Lists/Go"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Listsx"}); err != nil {
		t.Fatal(err)
	}
	appendOne(t, s, a, lists, "a")
	if err := s.RenameMailbox(ctx, a.ID, "Lists", "Listsx"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := s.RenameMailbox(ctx, a.ID, "Lists", "Lists/Sub"); !errors.Is(err, store.ErrNotPermitted) {
		t.Fatalf("rename into own child: %v", err)
	}
	if err := s.RenameMailbox(ctx, a.ID, "Lists", "Mailing lists"); err != nil {
		t.Fatal(err)
	}
	ml := mailbox(t, s, a, "Mailing lists")
	if ml.ID != lists.ID || ml.UIDValidity != lists.UIDValidity || ml.Messages != 1 {
		t.Fatalf("renamed mailbox %+v, was %+v", ml, lists)
	}
	mailbox(t, s, a, "Mailing lists/Go")
	mailbox(t, s, a, "Listsx")
	if _, err := s.Mailbox(ctx, a.ID, "Lists/Go"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old child name: %v", err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "INBOX"); !errors.Is(err, store.ErrNotPermitted) {
		t.Fatalf("delete INBOX: %v", err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Mailing lists"); err != nil {
		t.Fatal(err)
	}
	mailbox(t, s, a, "Mailing lists/Go")
	again, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Mailing lists"})
	if err != nil {
		t.Fatal(err)
	}
	if again.UIDValidity <= lists.UIDValidity {
		t.Fatalf("recreated mailbox UIDVALIDITY %d, old %d: must differ and grow", again.UIDValidity, lists.UIDValidity)
	}
	if err := s.SetSubscribed(ctx, a.ID, "Listsx", true); err != nil {
		t.Fatal(err)
	}
	if !mailbox(t, s, a, "Listsx").Subscribed {
		t.Fatal("not subscribed")
	}
	if err := s.SetSubscribed(ctx, a.ID, "Nope", true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("subscribe missing: %v", err)
	}
	wantUsage(t, s, a, 0, 0)
	wantClean(t, s)
}

// testMetadata: METADATA entries (RFC 5464) of the server and of each
// mailbox, names in lower case, a limit that changes nothing when passed,
// entries that go with their mailbox and stay with a renamed one.
func testMetadata(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	mb, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "M"})
	if err != nil {
		t.Fatal(err)
	}
	list := func(id int64) string {
		t.Helper()
		es, err := s.Metadata(ctx, a.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name+"="+string(e.Value))
		}
		return strings.Join(out, " ")
	}
	set := func(id int64, max int, kv ...string) error {
		var es []store.MetadataEntry
		for i := 0; i < len(kv); i += 2 {
			e := store.MetadataEntry{Name: kv[i]}
			if kv[i+1] != "<nil>" {
				e.Value = []byte(kv[i+1])
			}
			es = append(es, e)
		}
		return s.SetMetadata(ctx, a.ID, id, es, max)
	}
	if err := set(0, 0, "/private/Comment", "server note", "/shared/admin", "x"); err != nil {
		t.Fatal(err)
	}
	if err := set(mb.ID, 3, "/private/comment", "box note", "/private/empty", ""); err != nil {
		t.Fatal(err)
	}
	if got := list(0); got != "/private/comment=server note /shared/admin=x" {
		t.Fatalf("server: %q", got)
	}
	if got := list(mb.ID); got != "/private/comment=box note /private/empty=" {
		t.Fatalf("mailbox: %q", got)
	}
	// Past the limit: nothing changes, not even the entry that fit.
	if err := set(mb.ID, 3, "/private/COMMENT", "changed", "/private/a", "1", "/private/b", "2"); !errors.Is(err, store.ErrMetadataTooMany) {
		t.Fatalf("too many: %v", err)
	}
	if got := list(mb.ID); got != "/private/comment=box note /private/empty=" {
		t.Fatalf("after a refused set: %q", got)
	}
	if err := set(mb.ID, 3, "/private/empty", "<nil>", "/private/a", "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, a.ID, "M", "N"); err != nil {
		t.Fatal(err)
	}
	if got := list(mb.ID); got != "/private/a=1 /private/comment=box note" {
		t.Fatalf("after rename: %q", got)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "N"); err != nil {
		t.Fatal(err)
	}
	if got := list(mb.ID); got != "" {
		t.Fatalf("after delete: %q", got)
	}
	if err := set(mb.ID, 0, "/private/x", "y"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted mailbox: %v", err)
	}
	again, _ := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "N"})
	if got := list(again.ID); got != "" {
		t.Fatalf("mailbox created again: %q", got)
	}
	if got := list(0); got != "/private/comment=server note /shared/admin=x" {
		t.Fatalf("server after all that: %q", got)
	}
}

// testOpenBodies: several bodies at once, small and large (a backend may
// keep them apart), a missing one failing alone, one asked for twice.
func testOpenBodies(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	appendOne(t, s, a, inbox, strings.Repeat("a large body line\r\n", 40000)) // 760 KB
	appendOne(t, s, a, inbox, "small body")
	msgs, err := s.Messages(ctx, a.ID, inbox.ID, 1)
	if err != nil || len(msgs) != 2 {
		t.Fatal(msgs, err)
	}
	big, small := msgs[0].BlobID, msgs[1].BlobID
	ids := []string{big, small, "0000missing0000", small}
	bodies, errs, err := s.OpenBodies(ctx, ids)
	if err != nil || len(bodies) != 4 || len(errs) != 4 {
		t.Fatalf("OpenBodies: %d %d %v", len(bodies), len(errs), err)
	}
	want := []string{strings.Repeat("a large body line\r\n", 40000), "small body", "", "small body"}
	for i, b := range bodies {
		if i == 2 {
			if b != nil || errs[2] == nil {
				t.Fatalf("missing body: %v %v", b, errs[2])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("body %d: %v", i, errs[i])
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil || string(data) != want[i] || b.Size() != int64(len(want[i])) {
			t.Fatalf("body %d: %d bytes, %v", i, len(data), err)
		}
	}
	if b, errs, err := s.OpenBodies(ctx, nil); err != nil || len(b) != 0 || len(errs) != 0 {
		t.Fatalf("none: %v %v %v", b, errs, err)
	}
}

// testClaimRecent: each message is \Recent to one claim only (RFC 3501
// §2.3.2), and claims survive in the store, not in a session.
func testClaimRecent(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	mb, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "R"})
	if err != nil {
		t.Fatal(err)
	}
	if mb.FirstRecent != 1 {
		t.Fatalf("new mailbox FirstRecent %d", mb.FirstRecent)
	}
	for i := 0; i < 3; i++ {
		appendOne(t, s, a, mb, fmt.Sprint(i))
	}
	claim := func(upTo uint32, want uint32) {
		t.Helper()
		got, err := s.ClaimRecent(ctx, a.ID, mb.ID, upTo)
		if err != nil || got != want {
			t.Fatalf("ClaimRecent(%d) = %d, %v; want %d", upTo, got, err, want)
		}
	}
	claim(3, 1)
	claim(3, 0)
	claim(2, 0)
	appendOne(t, s, a, mb, "4")
	appendOne(t, s, a, mb, "5")
	if got := mailbox(t, s, a, "R").FirstRecent; got != 4 {
		t.Fatalf("FirstRecent %d, want 4", got)
	}
	claim(4, 4)
	claim(5, 5)
	claim(5, 0)
	if _, err := s.ClaimRecent(ctx, a.ID, mb.ID+1000, 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing mailbox: %v", err)
	}
}

// testSubscriptions: the subscription list holds names (RFC 9051 §6.3.7):
// a deleted mailbox stays subscribed and is subscribed again when created;
// a rename moves the subscriptions of the mailboxes it renames.
func testSubscriptions(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	subs := func() string {
		t.Helper()
		l, err := s.Subscriptions(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(l, ",")
	}
	for _, n := range []string{"a", "a/b", "a/c", "z"} {
		if _, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	base := "Archive,Drafts,INBOX,Junk,Sent,Trash"
	if got := subs(); got != base {
		t.Fatalf("default subscriptions %q", got)
	}
	for _, n := range []string{"a/b", "z"} {
		if err := s.SetSubscribed(ctx, a.ID, n, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMailbox(ctx, a.ID, "z"); err != nil {
		t.Fatal(err)
	}
	if got := subs(); got != base+",a/b,z" {
		t.Fatalf("after deleting z: %q", got)
	}
	if mb, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "z"}); err != nil || !mb.Subscribed {
		t.Fatalf("z created again: %+v %v", mb, err)
	}
	// Unsubscribing works whether or not the mailbox exists.
	if err := s.DeleteMailbox(ctx, a.ID, "z"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSubscribed(ctx, a.ID, "z", false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSubscribed(ctx, a.ID, "never", false); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, a.ID, "a", "q"); err != nil {
		t.Fatal(err)
	}
	if got := subs(); got != base+",q/b" {
		t.Fatalf("after renaming a to q: %q", got)
	}
	if !mailbox(t, s, a, "q/b").Subscribed || mailbox(t, s, a, "q/c").Subscribed {
		t.Fatal("renamed mailboxes' Subscribed is wrong")
	}
	if _, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "a/b"}); err != nil {
		t.Fatal(err)
	}
	if mailbox(t, s, a, "a/b").Subscribed {
		t.Fatal("the old name of a renamed mailbox is still subscribed")
	}
	// Renaming INBOX leaves INBOX, and its subscription, in place.
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	if got := subs(); got != "Archive,Drafts,INBOX,Junk,Old,Sent,Trash,q/b" {
		t.Fatalf("after renaming INBOX: %q", got)
	}
}

// RENAME moves a mailbox's children with it, also when names are not
// ASCII (a byte is not a character), and leaves its look-alike siblings.
func testRenameNonASCII(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	for _, n := range []string{"Café", "Café/Bücher", "Café/Bücher/Alt", "Cafés", "Café-x", "Café0", "日本", "日本/東京"} {
		if _, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct{ from, to string }{{"Café", "Tee"}, {"Tee", "Thé/Grün"}, {"日本", "Japan"}}
	for _, st := range steps {
		if err := s.RenameMailbox(ctx, a.ID, st.from, st.to); err != nil {
			t.Fatalf("rename %q to %q: %v", st.from, st.to, err)
		}
	}
	mbs, err := s.Mailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mb := range mbs {
		if mb.Name != "INBOX" && mb.SpecialUse == "" {
			got = append(got, mb.Name)
		}
	}
	slices.Sort(got)
	want := []string{"Café-x", "Café0", "Cafés", "Japan", "Japan/東京", "Thé/Grün", "Thé/Grün/Bücher", "Thé/Grün/Bücher/Alt"}
	if !slices.Equal(got, want) {
		t.Fatalf("after renames: %q\nwant %q", got, want)
	}
}

func testRenameInbox(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	appendOne(t, s, a, inbox, "one")
	appendOne(t, s, a, inbox, "two", `\Seen`)
	if err := s.RenameMailbox(ctx, a.ID, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	inbox2 := mailbox(t, s, a, "INBOX")
	if inbox2.Messages != 0 || inbox2.UIDNext != inbox.UIDNext+2 {
		t.Fatalf("INBOX after rename %+v", inbox2)
	}
	old := mailbox(t, s, a, "Old")
	msgs, _ := s.Messages(ctx, a.ID, old.ID, 1)
	if len(msgs) != 2 || ReadBody(t, s, msgs[1].BlobID) != "two" || !store.HasFlag(msgs[1].Flags, `\Seen`) {
		t.Fatalf("Old has %+v", msgs)
	}
	wantUsage(t, s, a, 6, 2)
	wantClean(t, s)
}

func testAppend(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", -7*3600))
	r1, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: Put(t, s, "first"),
		Flags: []string{`\seen`, "$Label1", "$label1", `\Recent`}, InternalDate: date, Structure: []byte("st")}}, true)
	if err != nil {
		t.Fatal(err)
	}
	r2 := appendOne(t, s, a, inbox, "second!")
	if r1[0].UID != 1 || r2.UID != 2 || r2.ModSeq <= r1[0].ModSeq || r1[0].UIDValidity != inbox.UIDValidity {
		t.Fatalf("results %+v %+v", r1, r2)
	}
	if r1[0].EmailID == r2.EmailID {
		t.Fatal("EmailIDs repeat")
	}
	mb := mailbox(t, s, a, "INBOX")
	if mb.UIDNext != 3 || mb.Messages != 2 || mb.Size != 12 || mb.HighestModSeq != r2.ModSeq {
		t.Fatalf("mailbox after appends %+v", mb)
	}
	msgs, err := s.Messages(ctx, a.ID, inbox.ID, 1)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages %+v %v", msgs, err)
	}
	m := msgs[0]
	if fmt.Sprint(m.Flags) != `[$Label1 \Seen]` || !m.InternalDate.Equal(date) || string(m.Structure) != "st" || m.Size != 5 {
		t.Fatalf("message %+v", m)
	}
	if _, off := m.InternalDate.Zone(); off != -7*3600 {
		t.Fatalf("internal date zone lost: %v", m.InternalDate)
	}
	if ReadBody(t, s, m.BlobID) != "first" {
		t.Fatal("body mismatch")
	}
	if msgs, _ := s.Messages(ctx, a.ID, inbox.ID, 2); len(msgs) != 1 || msgs[0].UID != 2 {
		t.Fatalf("fromUID: %+v", msgs)
	}
	wantUsage(t, s, a, 12, 2)
	// Another account cannot append into alice's mailbox.
	b, err := s.CreateAccount(ctx, store.NewAccount{Address: "bob@example.test", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, b.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: Put(t, s, "x")}}, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cross-account append: %v", err)
	}
	if msgs, _ := s.Messages(ctx, b.ID, inbox.ID, 1); len(msgs) != 0 {
		t.Fatal("cross-account read")
	}
	// A body that is not there is refused.
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: store.BlobRef{ID: "0123456789abcdef0123456789abcdef", Size: 1}}}, true); !errors.Is(err, store.ErrBodyMissing) {
		t.Fatalf("append missing body: %v", err)
	}
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: store.BlobRef{ID: "../../etc/passwd", Size: 1}}}, true); !errors.Is(err, store.ErrBodyMissing) {
		t.Fatalf("append bad body id: %v", err)
	}
}

func testAppendAllOrNothing(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	before := mailbox(t, s, a, "INBOX")
	_, err := s.Append(ctx, a.ID, []store.AppendMessage{
		{MailboxID: inbox.ID, Body: Put(t, s, "ok")},
		{MailboxID: 999999, Body: Put(t, s, "no mailbox")},
	}, true)
	if err == nil {
		t.Fatal("append into a missing mailbox succeeded")
	}
	after := mailbox(t, s, a, "INBOX")
	if *after != *before {
		t.Fatalf("failed append changed the mailbox: %+v -> %+v", before, after)
	}
	wantUsage(t, s, a, 0, 0)
	res, err := s.Append(ctx, a.ID, []store.AppendMessage{
		{MailboxID: inbox.ID, Body: Put(t, s, "a")},
		{MailboxID: inbox.ID, Body: Put(t, s, "b")},
	}, true)
	if err != nil || len(res) != 2 || res[0].UID != 1 || res[1].UID != 2 || res[0].ModSeq != res[1].ModSeq {
		t.Fatalf("multi-append %+v %v", res, err)
	}
}

func testQuota(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	if err := s.SetQuota(ctx, a.Address, 10, 3); err != nil {
		t.Fatal(err)
	}
	inbox := mailbox(t, s, a, "INBOX")
	appendOne(t, s, a, inbox, "12345")
	before := mailbox(t, s, a, "INBOX")
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: Put(t, s, "123456")}}, true); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("over byte quota: %v", err)
	}
	if after := mailbox(t, s, a, "INBOX"); *after != *before {
		t.Fatalf("refused append changed the mailbox")
	}
	wantUsage(t, s, a, 5, 1)
	appendOne(t, s, a, inbox, "12345") // exactly full is allowed
	wantUsage(t, s, a, 10, 2)
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: Put(t, s, "x")}}, false); err != nil {
		t.Fatalf("append without quota enforcement: %v", err)
	}
	if err := s.SetQuota(ctx, a.Address, 0, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: Put(t, s, "x")}}, true); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("over message quota: %v", err)
	}
	trash := mailbox(t, s, a, "Trash")
	if _, err := s.Copy(ctx, a.ID, inbox.ID, trash.ID, []uint32{1}, true); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("copy over quota: %v", err)
	}
	if _, err := s.Move(ctx, a.ID, inbox.ID, trash.ID, []uint32{1}); err != nil {
		t.Fatalf("move needs no quota: %v", err)
	}
	if _, err := s.Expunge(ctx, a.ID, trash.ID, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	appendOne(t, s, a, inbox, "y")
	wantUsage(t, s, a, 7, 3)
	wantClean(t, s)
}

func testDefaultQuota(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{Bytes: 4})
	if l := s.Limits(a); l.Bytes != 4 || l.Messages != 0 {
		t.Fatalf("limits %+v", l)
	}
	inbox := mailbox(t, s, a, "INBOX")
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: Put(t, s, "12345")}}, true); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("over default quota: %v", err)
	}
	if err := s.SetQuota(ctx, a.Address, store.QuotaUnlimited, store.QuotaDefault); err != nil {
		t.Fatal(err)
	}
	appendOne(t, s, a, inbox, "12345")
}

func testFlags(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	r1 := appendOne(t, s, a, inbox, "a")
	r2 := appendOne(t, s, a, inbox, "b")
	up, failed, err := s.SetFlags(ctx, a.ID, inbox.ID, []uint32{1, 2, 77}, store.FlagsAdd, []string{`\SEEN`, "Work"}, 0)
	if err != nil || len(failed) != 0 || len(up) != 2 {
		t.Fatalf("add flags %+v %v %v", up, failed, err)
	}
	if fmt.Sprint(up[0].Flags) != `[Work \Seen]` || up[0].ModSeq <= r2.ModSeq || up[0].ModSeq != up[1].ModSeq {
		t.Fatalf("updates %+v", up)
	}
	ms := up[0].ModSeq
	if mb := mailbox(t, s, a, "INBOX"); mb.HighestModSeq != ms {
		t.Fatalf("HIGHESTMODSEQ %d, want %d", mb.HighestModSeq, ms)
	}
	// No effective change: no new MODSEQ.
	up, _, _ = s.SetFlags(ctx, a.ID, inbox.ID, []uint32{1}, store.FlagsAdd, []string{`\Seen`}, 0)
	if up[0].ModSeq != ms {
		t.Fatalf("no-op store bumped MODSEQ")
	}
	// UNCHANGEDSINCE (RFC 7162 §3.1.3).
	up, failed, err = s.SetFlags(ctx, a.ID, inbox.ID, []uint32{1, 2}, store.FlagsRemove, []string{"work"}, r1.ModSeq)
	if err != nil || len(up) != 0 || fmt.Sprint(failed) != "[1 2]" {
		t.Fatalf("unchangedsince: %+v %v %v", up, failed, err)
	}
	up, _, _ = s.SetFlags(ctx, a.ID, inbox.ID, []uint32{2}, store.FlagsReplace, []string{`\Flagged`}, 0)
	if fmt.Sprint(up[0].Flags) != `[\Flagged]` || up[0].ModSeq <= ms {
		t.Fatalf("replace %+v", up)
	}
	msgs, _ := s.Messages(ctx, a.ID, inbox.ID, 1)
	if fmt.Sprint(msgs[0].Flags) != `[Work \Seen]` || fmt.Sprint(msgs[1].Flags) != `[\Flagged]` {
		t.Fatalf("stored flags %+v", msgs)
	}
}

func testCopyMove(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	arch := mailbox(t, s, a, "Archive")
	appendOne(t, s, a, inbox, "hello", `\Seen`)
	appendOne(t, s, a, inbox, "world")
	cr, err := s.Copy(ctx, a.ID, inbox.ID, arch.ID, []uint32{2, 1, 9}, true)
	if err != nil {
		t.Fatal(err)
	}
	if cr.UIDValidity != arch.UIDValidity || fmt.Sprint(cr.Pairs) != "[{1 1} {2 2}]" {
		t.Fatalf("copy result %+v", cr)
	}
	src, _ := s.Messages(ctx, a.ID, inbox.ID, 1)
	dst, _ := s.Messages(ctx, a.ID, arch.ID, 1)
	if dst[0].BlobID != src[0].BlobID || !store.HasFlag(dst[0].Flags, `\Seen`) || dst[0].EmailID == src[0].EmailID {
		t.Fatalf("copy should share the body, keep flags, get a new EmailID: %+v / %+v", src[0], dst[0])
	}
	wantUsage(t, s, a, 20, 4)
	trash := mailbox(t, s, a, "Trash")
	mr, err := s.Move(ctx, a.ID, inbox.ID, trash.ID, []uint32{1})
	if err != nil || fmt.Sprint(mr.Pairs) != "[{1 1}]" {
		t.Fatalf("move %+v %v", mr, err)
	}
	moved, _ := s.Messages(ctx, a.ID, trash.ID, 1)
	if moved[0].EmailID != src[0].EmailID || ReadBody(t, s, moved[0].BlobID) != "hello" {
		t.Fatalf("move must keep EmailID and body: %+v", moved[0])
	}
	if v, _ := s.Vanished(ctx, a.ID, inbox.ID, 0); fmt.Sprint(v) != "[1]" {
		t.Fatalf("move left no tombstone: %v", v)
	}
	wantUsage(t, s, a, 20, 4)
	// A move into the mailbox the message is in gives it a new UID and
	// expunges the old one (RFC 6851 §3.3); usage and body stay.
	before := mailbox(t, s, a, "INBOX")
	old, _ := s.Messages(ctx, a.ID, inbox.ID, 1)
	mr, err = s.Move(ctx, a.ID, inbox.ID, inbox.ID, []uint32{2})
	if err != nil || len(mr.Pairs) != 1 || mr.Pairs[0].From != 2 || mr.Pairs[0].To != before.UIDNext || mr.UIDValidity != before.UIDValidity {
		t.Fatalf("move into the same mailbox: %+v %v (uidnext was %d)", mr, err, before.UIDNext)
	}
	now, _ := s.Messages(ctx, a.ID, inbox.ID, 1)
	if len(now) != 1 || now[0].UID != before.UIDNext || now[0].EmailID != old[0].EmailID || ReadBody(t, s, now[0].BlobID) != ReadBody(t, s, old[0].BlobID) {
		t.Fatalf("after a move in place: %+v, was %+v", now, old)
	}
	if v, _ := s.Vanished(ctx, a.ID, inbox.ID, before.HighestModSeq); fmt.Sprint(v) != "[2]" {
		t.Fatalf("vanished after a move in place: %v", v)
	}
	wantUsage(t, s, a, 20, 4)
	wantClean(t, s)
}

func testExpunge(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	arch := mailbox(t, s, a, "Archive")
	for i := 0; i < 4; i++ {
		appendOne(t, s, a, inbox, fmt.Sprintf("msg%d", i))
	}
	if _, err := s.Copy(ctx, a.ID, inbox.ID, arch.ID, []uint32{1}, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SetFlags(ctx, a.ID, inbox.ID, []uint32{1, 3}, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	before := mailbox(t, s, a, "INBOX")
	gone, err := s.Expunge(ctx, a.ID, inbox.ID, nil)
	if err != nil || fmt.Sprint(gone) != "[1 3]" {
		t.Fatalf("expunge deleted: %v %v", gone, err)
	}
	after := mailbox(t, s, a, "INBOX")
	if after.HighestModSeq <= before.HighestModSeq || after.Messages != 2 || after.UIDNext != before.UIDNext {
		t.Fatalf("after expunge %+v", after)
	}
	if v, _ := s.Vanished(ctx, a.ID, inbox.ID, before.HighestModSeq); fmt.Sprint(v) != "[1 3]" {
		t.Fatalf("vanished since %d: %v", before.HighestModSeq, v)
	}
	if v, _ := s.Vanished(ctx, a.ID, inbox.ID, after.HighestModSeq); len(v) != 0 {
		t.Fatalf("vanished since now: %v", v)
	}
	// msg0's body is still used by the copy in Archive; msg2's is gone.
	am, _ := s.Messages(ctx, a.ID, arch.ID, 1)
	if ReadBody(t, s, am[0].BlobID) != "msg0" {
		t.Fatal("shared body lost")
	}
	wantUsage(t, s, a, 12, 3)
	gone, _ = s.Expunge(ctx, a.ID, arch.ID, []uint32{1})
	if fmt.Sprint(gone) != "[1]" {
		t.Fatalf("expunge by uid %v", gone)
	}
	waitBodyGone(t, s, am[0].BlobID)
	// A new message never reuses an expunged UID.
	if r := appendOne(t, s, a, inbox, "new"); r.UID != 5 {
		t.Fatalf("new UID %d, want 5", r.UID)
	}
	wantClean(t, s)
}

func testDeleteMailbox(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	mb, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Tmp"})
	if err != nil {
		t.Fatal(err)
	}
	appendOne(t, s, a, mb, "12345")
	appendOne(t, s, a, mailbox(t, s, a, "INBOX"), "abc")
	if err := s.DeleteMailbox(ctx, a.ID, "Tmp"); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, a, 3, 1)
	wantClean(t, s)
}

func testChangeFeed(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	start, err := s.LastChange(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wake, stop := s.Watch(a.ID)
	defer stop()
	inbox := mailbox(t, s, a, "INBOX")
	r := appendOne(t, s, a, inbox, "x")
	select {
	case <-wake:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up after append")
	}
	s.SetFlags(ctx, a.ID, inbox.ID, []uint32{r.UID}, store.FlagsAdd, []string{`\Seen`}, 0)
	s.Expunge(ctx, a.ID, inbox.ID, []uint32{r.UID})
	s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "New"})
	s.RenameMailbox(ctx, a.ID, "New", "Newer")
	s.DeleteMailbox(ctx, a.ID, "Newer")
	cs, err := s.Changes(ctx, a.ID, start)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i, c := range cs {
		if i > 0 && c.Seq <= cs[i-1].Seq {
			t.Fatalf("change seqs not increasing: %+v", cs)
		}
		kinds = append(kinds, c.Kind.String())
	}
	want := "[append flags expunge mailbox-create mailbox-rename mailbox-delete]"
	if fmt.Sprint(kinds) != want {
		t.Fatalf("changes %v, want %s", kinds, want)
	}
	if cs[0].MailboxID != inbox.ID || fmt.Sprint(cs[0].UIDs) != fmt.Sprint([]uint32{r.UID}) || cs[0].ModSeq != r.ModSeq {
		t.Fatalf("append change %+v", cs[0])
	}
	if cs[4].Mailbox != "Newer" {
		t.Fatalf("rename change %+v", cs[4])
	}
	last, _ := s.LastChange(ctx, a.ID)
	if last != cs[len(cs)-1].Seq {
		t.Fatalf("LastChange %d, feed ends at %d", last, cs[len(cs)-1].Seq)
	}
	if rest, _ := s.Changes(ctx, a.ID, last); len(rest) != 0 {
		t.Fatalf("changes after the last: %+v", rest)
	}
}

func testConcurrentAppend(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	inbox := mailbox(t, s, a, "INBOX")
	const workers, each = 16, 20
	var mu sync.Mutex
	var uids []int
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				bw, err := s.NewBody(ctx)
				if err != nil {
					errs <- err
					return
				}
				fmt.Fprintf(bw, "worker %d message %d", w, i)
				ref, err := bw.Commit()
				if err != nil {
					errs <- err
					return
				}
				res, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: inbox.ID, Body: ref}}, true)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				uids = append(uids, int(res[0].UID))
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Ints(uids)
	for i, u := range uids {
		if u != i+1 {
			t.Fatalf("UIDs not unique and dense: %v", uids)
		}
	}
	if mb := mailbox(t, s, a, "INBOX"); mb.Messages != workers*each || mb.UIDNext != workers*each+1 {
		t.Fatalf("mailbox %+v", mb)
	}
	wantClean(t, s)
}

func testCheck(t *testing.T, open Opener) {
	s, a := setup(t, open, store.Limits{})
	appendOne(t, s, a, mailbox(t, s, a, "INBOX"), "hello")
	r, err := s.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 0 || r.Accounts != 1 || r.Messages != 1 || r.Blobs != 1 || r.Mailboxes != 6 {
		t.Fatalf("check report %+v", r)
	}
	// An unreferenced body is young: in flight, not a problem. (One that
	// travels in its ref is not stored until it is referenced.)
	inFlight := 1
	if ref := Put(t, s, "unreferenced"); ref.Data != nil {
		inFlight = 0
	}
	r, _ = s.Check(ctx, false)
	if len(r.Problems) != 0 || r.InFlight != inFlight {
		t.Fatalf("check with a young orphan %+v", r)
	}
}
