package imapserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
)

// fuzzSeeds are command sequences in the style of real clients
// (Thunderbird, Apple Mail, mbsync, imaplib); each runs after a LOGIN.
var fuzzSeeds = []string{
	"a1 CAPABILITY\r\na2 ID (\"name\" \"Thunderbird\" \"version\" \"128.0\")\r\na3 ENABLE QRESYNC\r\na4 LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN SPECIAL-USE)\r\na5 SELECT INBOX (CONDSTORE)\r\na6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)\r\na7 IDLE\r\nDONE\r\na8 LOGOUT\r\n",
	"1 NAMESPACE\r\n2 LIST \"\" \"%\"\r\n3 LSUB \"\" \"*\"\r\n4 EXAMINE INBOX\r\n5 UID SEARCH UNDELETED SINCE 1-Jan-2026\r\n6 UID FETCH 1:3 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n",
	"x SELECT INBOX\r\ny UID STORE 1 +FLAGS.SILENT (\\Seen $Forwarded)\r\nz UID MOVE 1 Archive\r\nw UID EXPUNGE 1:*\r\nv CLOSE\r\n",
	"a APPEND Drafts (\\Draft) \"20-Nov-2026 10:00:00 +0100\" {20+}\r\nSubject: x\r\n\r\nbody\r\nb APPEND INBOX {5}\r\nhello\r\nc STATUS INBOX (MESSAGES UNSEEN UIDNEXT HIGHESTMODSEQ SIZE)\r\n",
	"s SELECT INBOX\r\nt SEARCH RETURN (MIN MAX COUNT SAVE) OR FROM bob (NOT SUBJECT \"hi\") HEADER X-Foo \"\"\r\nu FETCH $ (ENVELOPE BODYSTRUCTURE BINARY.PEEK[1] PREVIEW)\r\n",
	"c CREATE \"A/B\" (USE (\\Archive))\r\nr RENAME A Z\r\nd DELETE Z/B\r\nq GETQUOTAROOT INBOX\r\n",
	"k ENABLE QRESYNC\r\nk SELECT INBOX (QRESYNC (1 1 1:* (1 1)))\r\n",
	"s SELECT INBOX\r\nt SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\nu UID SORT (FROM REVERSE SIZE DISPLAYFROM) US-ASCII OR SUBJECT re (NOT TO bob)\r\nv SORT (ARRIVAL CC TO DISPLAYTO) KOI8-R 1:*\r\nw SORT (REVERSE) UTF-8 ALL\r\nx SORT RETURN (MIN MAX COUNT ALL SAVE) (DATE) UTF-8 UNSEEN\r\ny UID SORT RETURN () (SIZE) UTF-8 $\r\n",
	"s SELECT INBOX\r\nt THREAD REFERENCES UTF-8 ALL\r\nu UID THREAD ORDEREDSUBJECT US-ASCII SUBJECT re\r\nv THREAD REFS UTF-8 ALL\r\nw THREAD REFERENCES UTF-8\r\n",
	"a APPEND INBOX {5+}\r\nx: y\r\n\r\nb APPEND Drafts CATENATE (URL \"/INBOX/;UID=1/;SECTION=HEADER\" TEXT {3+}\r\nabc URL \"/INBOX;UIDVALIDITY=1/;UID=1/;PARTIAL=1.2\")\r\nc APPEND Drafts CATENATE (URL \"imap://a@b/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(X)\")\r\nd APPEND Drafts CATENATE ()\r\ne APPEND Drafts CATENATE (TEXT ~{2+}\r\n\x00x) {1+}\r\nz\r\n",
	"m SETMETADATA \"\" (/private/comment \"x\" /shared/a {3+}\r\na\r\n)\r\nn GETMETADATA (MAXSIZE 1 DEPTH infinity) \"\" (/private /shared)\r\no SETMETADATA INBOX (/private/b ~{2+}\r\n\x00\x01 /private/c NIL)\r\np GETMETADATA (DEPTH 2) INBOX /x\r\nq SETMETADATA INBOX ()\r\nr GETMETADATA INBOX (/private/b\r\n",
	"n NOOP {3+}\r\nabc\r\n((((((((((((((((((((((((((((((((((\r\n* BAD\r\n",
}

// panicWatch is a slog handler that counts error records (a recovered
// session panic is logged at error level).
type panicWatch struct{ panics atomic.Int64 }

func (h *panicWatch) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *panicWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.panics.Add(1)
	}
	return nil
}
func (h *panicWatch) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicWatch) WithGroup(string) slog.Handler      { return h }

func FuzzSession(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Cleanup(servertest.CheckLeaks(f))
	watch := &panicWatch{}
	e := newTestEnv(f, func(o *Options) { o.Logger = slog.New(watch) })
	e.deliver("INBOX", simpleMsg)
	e.deliver("INBOX", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n")
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) > 1<<16 {
			return
		}
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, conn)
			done <- err
		}()
		io.WriteString(conn, "l LOGIN alice@example.test \""+testPassword+"\"\r\n")
		conn.Write(input)
		conn.(*net.TCPConn).CloseWrite()
		// The server must end the session by itself once input ends.
		if err := <-done; err != nil {
			t.Fatalf("session did not end: %v", err)
		}
		if n := watch.panics.Load(); n > 0 {
			t.Fatalf("server panicked (%d)", n)
		}
	})
}
