package imapserver

import (
	"strings"
	"testing"
)

func TestQuota(t *testing.T) {
	e := newTestEnv(t)
	c := e.login()
	// No limits: the root exists, with no resources.
	c.expect("GETQUOTAROOT INBOX", "OK", `* QUOTAROOT INBOX ""`, `* QUOTA "" ()`)
	c.expect(`GETQUOTA ""`, "OK", `* QUOTA "" ()`)

	if err := e.dir.SetQuota(bg, "alice@example.test", 10<<20, 100); err != nil {
		t.Fatal(err)
	}
	e.deliver("INBOX", simpleMsg)
	e.deliver("Archive", strings.Repeat("x", 2000))
	c.expect("GETQUOTAROOT Archive", "OK", `* QUOTAROOT Archive ""`, `* QUOTA "" (STORAGE 3 10240 MESSAGE 2 100)`)
	c.expect(`GETQUOTA ""`, "OK", `* QUOTA "" (STORAGE 3 10240 MESSAGE 2 100)`)

	if err := e.dir.SetQuota(bg, "alice@example.test", 0, 5); err != nil {
		t.Fatal(err)
	}
	c.expect(`GETQUOTA ""`, "OK", `* QUOTA "" (MESSAGE 2 5)`)
	c.ok(`CREATE "B&AOU-t"`)
	c.expect(`GETQUOTAROOT "B&AOU-t"`, "OK", `* QUOTAROOT B&AOU-t ""`, `* QUOTA "" (MESSAGE 2 5)`)

	c.expect(`GETQUOTA "other"`, "NO [NONEXISTENT]")
	c.expect("GETQUOTAROOT Nope", "NO [NONEXISTENT]")
	c.expect(`SETQUOTA "" (STORAGE 512)`, "NO [NOPERM]")
	c.expect(`SETQUOTA "" ()`, "NO [NOPERM]")
	c.expect(`SETQUOTA ""`, "BAD")
	c.expect(`GETQUOTA`, "BAD")
	c.ok("SELECT INBOX")
	c.expect("GETQUOTAROOT INBOX", "OK", `* QUOTAROOT INBOX ""`, `* QUOTA "" (MESSAGE 2 5)`)
}
