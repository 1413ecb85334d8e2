package imapserver

import "testing"

// BenchmarkSelectWarm measures SELECT of a mailbox whose index is cached.
func BenchmarkSelectWarm(b *testing.B) {
	e := newTestEnv(b)
	for range 50 {
		e.deliver("INBOX", simpleMsg)
	}
	c := e.login()
	c.ok("SELECT INBOX")
	b.ResetTimer()
	for range b.N {
		c.ok("SELECT INBOX")
	}
}
