package imapserver

import (
	"fmt"
	"testing"

	"mailroom/internal/store"
)

// BenchmarkSync measures the per-command sync of a session in a selected
// 100,000-message mailbox (selected.go): with nothing changed (NOOP reads
// the live mailbox's MODSEQ only, no SQL), and with one flag changed by
// another session before each NOOP (one FETCH from the in-memory log).
func BenchmarkSync(b *testing.B) {
	e := newTestEnv(b)
	fetchBenchMailbox(b, e, benchMessages)
	c := e.login()
	c.ok("SELECT INBOX")
	mb, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("unchanged", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if u := c.ok("NOOP"); len(u) != 0 {
				b.Fatalf("NOOP: %q", u)
			}
		}
	})
	b.Run("one_flag_changed", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			kw := fmt.Sprintf("$k%d", (i/1000)%2)
			if _, _, err := e.st.SetFlags(bg, e.acct.ID, mb.ID, []uint32{uint32(1 + i%1000)}, store.FlagsReplace, []string{kw}, 0); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if u := c.ok("NOOP"); len(u) == 0 {
				b.Fatal("NOOP reported no change")
			}
		}
	})
}
