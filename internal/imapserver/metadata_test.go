package imapserver

import (
	"strings"
	"testing"

	"mailroom/internal/store"
)

// TestMetadata: RFC 5464 server and mailbox entries over the wire.
func TestMetadata(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.login(), e.login()
	a.expect(`SETMETADATA "" (/private/comment "server note" /shared/Admin "mailto:admin@example.test")`, "OK")
	a.expect(`GETMETADATA "" /private/comment`, "OK", `* METADATA "" (/private/comment "server note")`)
	// Names are case-insensitive; an entry that does not exist is NIL.
	b.expect(`GETMETADATA "" (/shared/admin /private/NOPE)`, "OK",
		`* METADATA "" (/private/nope NIL /shared/admin "mailto:admin@example.test")`)

	// A mailbox's entries; a value with CRLF goes as a literal, one with
	// NUL as a literal8 (§5).
	a.expect("SETMETADATA INBOX (/private/comment {7+}\r\nab\r\ncde /private/vendor/x/a \"1\" /private/vendor/x/b/c \"2\")", "OK")
	a.expect("SETMETADATA INBOX (/private/bin ~{3+}\r\na\x00b)", "OK")
	b.expect("GETMETADATA INBOX /private/comment", "OK", "* METADATA INBOX (/private/comment {7}\r\nab\r\ncde)")
	b.expect("GETMETADATA INBOX /private/bin", "OK", "* METADATA INBOX (/private/bin ~{3}\r\na\x00b)")
	// DEPTH (§4.2.2) and MAXSIZE (§4.2.1, LONGENTRIES).
	b.expect("GETMETADATA (DEPTH 1) INBOX /private/vendor/x", "OK",
		`* METADATA INBOX (/private/vendor/x NIL /private/vendor/x/a "1")`)
	b.expect("GETMETADATA (DEPTH infinity) INBOX /private/vendor", "OK",
		`* METADATA INBOX (/private/vendor NIL /private/vendor/x/a "1" /private/vendor/x/b/c "2")`)
	b.expect("GETMETADATA (MAXSIZE 5) INBOX (/private/comment /private/vendor/x/a)", "OK [METADATA LONGENTRIES 7]",
		`* METADATA INBOX (/private/vendor/x/a "1")`)
	// NIL deletes.
	a.expect("SETMETADATA INBOX (/private/comment NIL)", "OK")
	b.expect("GETMETADATA INBOX /private/comment", "OK", "* METADATA INBOX (/private/comment NIL)")

	// Bad names, limits, missing mailboxes.
	a.expect(`SETMETADATA INBOX (/other/x "v")`, "BAD")
	a.expect(`SETMETADATA INBOX (/private/a* "v")`, "BAD")
	a.expect(`GETMETADATA INBOX /private/`, "BAD")
	a.expect(`GETMETADATA (DEPTH 2) INBOX /private/x`, "BAD")
	a.expect(`SETMETADATA Nope (/private/x "v")`, "NO [NONEXISTENT]")
	a.expect("SETMETADATA INBOX (/private/big {40000+}\r\n"+strings.Repeat("x", 40000)+")", "NO [METADATA MAXSIZE 32768]")
	a.expect("SETMETADATA INBOX (/private/big {70000+}\r\n"+strings.Repeat("x", 70000)+")", "BAD") // past any literal here
	a.expect("GETMETADATA INBOX /private/big", "OK", "* METADATA INBOX (/private/big NIL)")
	var many strings.Builder
	for i := range metadataMaxEntries + 1 {
		many.WriteString(" /private/n" + itoa(uint64(i)) + ` "v"`)
	}
	a.expect("SETMETADATA Archive ("+many.String()[1:]+")", "NO [METADATA TOOMANY]")
	a.expect("GETMETADATA Archive /private/n1", "OK", "* METADATA Archive (/private/n1 NIL)")

	// Entries go with their mailbox: deleted and created again, it has none;
	// renamed, it keeps them.
	a.ok("CREATE Box")
	a.expect(`SETMETADATA Box (/private/comment "box")`, "OK")
	a.ok("RENAME Box Box2")
	b.expect("GETMETADATA Box2 /private/comment", "OK", `* METADATA Box2 (/private/comment "box")`)
	a.ok("DELETE Box2")
	a.ok("CREATE Box2")
	b.expect("GETMETADATA Box2 /private/comment", "OK", "* METADATA Box2 (/private/comment NIL)")

	// Another account sees none of alice's.
	if _, err := e.dir.AddAccount(bg, "bob@example.test", "bob's password", store.QuotaDefault, store.QuotaDefault); err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	c.ok("LOGIN bob@example.test " + quote("bob's password"))
	c.expect(`GETMETADATA "" /private/comment`, "OK", `* METADATA "" (/private/comment NIL)`)
	c.expect("GETMETADATA INBOX /private/bin", "OK", "* METADATA INBOX (/private/bin NIL)")
}
