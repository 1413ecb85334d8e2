package imapserver

import (
	"strings"
	"testing"
	"time"

	"mailroom/internal/store"
)

func TestIdleSeesChangesLive(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.PollInterval = time.Hour })
	uid := e.deliver("INBOX", simpleMsg)
	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	a := e.login()
	a.ok("SELECT INBOX")
	a.send("i1 IDLE")
	if l := a.line(); l != "+ idling" {
		t.Fatalf("%q", l)
	}
	start := time.Now()
	e.deliver("INBOX", simpleMsg)
	got := []string{a.line(), a.line()}
	if strings.Join(got, "|") != "* 2 EXISTS|* 1 RECENT" {
		t.Fatalf("%q", got)
	}
	mb, _ := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	e.st.SetFlags(bg, e.acct.ID, mb.ID, []uint32{uid}, store.FlagsAdd, []string{`\Flagged`}, 0)
	if l := a.line(); l != `* 1 FETCH (UID 1 FLAGS (\Flagged))` {
		t.Fatalf("%q", l)
	}
	e.st.Expunge(bg, e.acct.ID, mb.ID, []uint32{uid})
	if l := a.line(); l != "* 1 EXPUNGE" {
		t.Fatalf("%q", l)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("updates took %v", d)
	}
	a.send("DONE")
	if l := a.line(); !strings.HasPrefix(l, "i1 OK") {
		t.Fatalf("%q", l)
	}
	a.expect("NOOP", "OK")
}

func TestIdleShutdown(t *testing.T) {
	e := newTestEnv(t)
	a := e.login()
	a.send("i1 IDLE")
	a.line()
	go e.srv.Shutdown(bg)
	if l := a.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("%q", l)
	}
}
