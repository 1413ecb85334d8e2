package imapserver

import (
	"bufio"
	"compress/flate"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCompressDeflate(t *testing.T) {
	e := newTestEnv(t)
	c := e.login()
	c.expect("COMPRESS DEFLATE", "OK")
	fw, _ := flate.NewWriter(c.conn, flate.DefaultCompression)
	r := bufio.NewReader(flate.NewReader(c.r))
	send := func(line string) {
		io.WriteString(fw, line+"\r\n")
		fw.Flush()
	}
	read := func() string {
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(l, "\r\n")
	}
	send("a1 NOOP")
	if l := read(); l != "a1 OK NOOP completed" {
		t.Fatalf("%q", l)
	}
	send("a2 COMPRESS DEFLATE")
	if l := read(); !strings.HasPrefix(l, "a2 NO [COMPRESSIONACTIVE]") {
		t.Fatalf("%q", l)
	}
	send("a3 LIST \"\" INBOX")
	if l := read(); l != `* LIST (\HasNoChildren) "/" INBOX` {
		t.Fatalf("%q", l)
	}
	if l := read(); !strings.HasPrefix(l, "a3 OK") {
		t.Fatalf("%q", l)
	}
}
