package sqlite

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"mailroom/internal/store"
	"mailroom/internal/store/storetest"
)

func writeBody(t *testing.T, s *Store, content []byte) store.BlobRef {
	t.Helper()
	w, err := s.NewBody(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// In pieces, as a literal arrives.
	for len(content) > 0 {
		n := min(len(content), 4000)
		if _, err := w.Write(content[:n]); err != nil {
			t.Fatal(err)
		}
		content = content[n:]
	}
	ref, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func fileExists(t *testing.T, s *Store, id string) bool {
	t.Helper()
	p, err := s.blobs.Path(id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(p)
	return err == nil
}

func inlineRows(t *testing.T, s *Store, id string) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow("SELECT count(*) FROM inline_bodies WHERE id = ?", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Bodies up to InlineMax are stored in the index and no file is written;
// larger ones go to a file. Both read back byte for byte, also at
// offsets (FETCH BODY[]<partial> reads with ReadAt).
func TestInlineAndFileBodies(t *testing.T) {
	s := open(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	for _, tc := range []struct {
		name   string
		size   int
		inline bool
	}{
		{"empty", 0, true},
		{"small", 8 << 10, true},
		{"at the limit", DefaultInlineMax, true},
		{"one byte over", DefaultInlineMax + 1, false},
		{"large", 300 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := bytes.Repeat([]byte("0123456789abcdef\r\n"), tc.size/18+1)[:tc.size]
			ref := writeBody(t, s, content)
			if got := ref.Data != nil; got != tc.inline {
				t.Fatalf("inline %v, want %v", got, tc.inline)
			}
			if ref.Size != int64(tc.size) {
				t.Fatalf("size %d, want %d", ref.Size, tc.size)
			}
			if fileExists(t, s, ref.ID) == tc.inline {
				t.Fatalf("file exists: %v, inline %v", !tc.inline, tc.inline)
			}
			if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: ref}}, true); err != nil {
				t.Fatal(err)
			}
			if n := inlineRows(t, s, ref.ID); n != map[bool]int{true: 1, false: 0}[tc.inline] {
				t.Fatalf("%d inline rows", n)
			}
			if got := []byte(storetest.ReadBody(t, s, ref.ID)); !bytes.Equal(got, content) {
				t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(content))
			}
			if tc.size > 10 {
				b, _ := s.OpenBody(ctx, ref.ID)
				p := make([]byte, 5)
				if _, err := b.ReadAt(p, 5); err != nil || !bytes.Equal(p, content[5:10]) {
					t.Fatalf("ReadAt: %q, %v", p, err)
				}
				b.Close()
			}
		})
	}
	if r, err := s.Check(ctx, false); err != nil || len(r.Problems) != 0 || r.Blobs != 5 {
		t.Fatalf("check %+v, %v", r, err)
	}
}

// An inline body that lost its last reference goes once no view holds it;
// a later reference to the same ref (another recipient of one delivery)
// stores it again from the ref.
func TestInlineBodyReclaimedAndStoredAgain(t *testing.T) {
	s := open(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	ref := writeBody(t, s, []byte("Subject: shared\r\n\r\nfor two recipients\r\n"))
	res, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: ref}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, a.ID, mb.ID, []uint32{res[0].UID}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for inlineRows(t, s, ref.ID) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("inline body of an expunged message never reclaimed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.OpenBody(ctx, ref.ID); !errors.Is(err, store.ErrBodyMissing) {
		t.Fatalf("reclaimed body: %v", err)
	}
	other, err := s.CreateMailbox(ctx, a.ID, store.NewMailbox{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: other.ID, Body: ref}}, true); err != nil {
		t.Fatal(err)
	}
	if got := storetest.ReadBody(t, s, ref.ID); !strings.Contains(got, "for two recipients") {
		t.Fatalf("body %q", got)
	}
	if r, err := s.Check(ctx, false); err != nil || len(r.Problems) != 0 {
		t.Fatalf("check %+v, %v", r, err)
	}
}

// A ref whose data does not match its size is refused, and nothing is
// stored.
func TestInlineRefSizeMismatch(t *testing.T) {
	s := open(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	ref := writeBody(t, s, []byte("twelve bytes"))
	ref.Size = 11
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: ref}}, true); err == nil {
		t.Fatal("append with a wrong size accepted")
	}
	if n := inlineRows(t, s, ref.ID); n != 0 {
		t.Fatalf("%d inline rows after a refused append", n)
	}
}

// Inline rows that no message refers to (a reclaim cut short by a crash)
// are reported by Check and removed by Sweep and by a repair.
func TestOrphanInlineBodySwept(t *testing.T) {
	s := open(t, store.Limits{}).(*Store)
	defer s.Close()
	a, mb := newAccount(t, s)
	kept := writeBody(t, s, []byte("kept"))
	if _, err := s.Append(ctx, a.ID, []store.AppendMessage{{MailboxID: mb.ID, Body: kept}}, true); err != nil {
		t.Fatal(err)
	}
	orphan := "0123456789abcdef0123456789abcdef"
	if _, err := s.wdb.Exec("INSERT INTO inline_bodies (id, data) VALUES (?, ?)", orphan, []byte("left behind")); err != nil {
		t.Fatal(err)
	}
	r, err := s.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].What, "1 orphan bodies") {
		t.Fatalf("check %+v", r.Problems)
	}
	n, err := s.Sweep(ctx, OrphanAge)
	if err != nil || n != 1 {
		t.Fatalf("sweep removed %d, %v", n, err)
	}
	if inlineRows(t, s, orphan) != 0 || inlineRows(t, s, kept.ID) != 1 {
		t.Fatal("sweep removed the wrong rows")
	}
	if r, _ := s.Check(ctx, false); len(r.Problems) != 0 {
		t.Fatalf("after sweep %+v", r.Problems)
	}
}
