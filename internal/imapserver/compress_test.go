package imapserver

import (
	"bufio"
	"compress/flate"
	"context"
	"io"
	"net"
	"os/exec"
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

// TestCompressAppendFlushes: APPEND under COMPRESS=DEFLATE from a zlib
// client (Python's) that ends each write with Z_PARTIAL_FLUSH, as mbsync
// does, or Z_SYNC_FLUSH; non-synchronizing, synchronizing and pipelined
// literals of 20 bytes to 300 KB. Each command is answered without more
// input (the client would wait forever otherwise), and the messages are
// served back byte for byte (testdata/compress/append.py).
func TestCompressAppendFlushes(t *testing.T) {
	py := needTool(t, "python3")
	e := newTestEnv(t)
	host, port, _ := net.SplitHostPort(e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/compress/append.py", host, port, "alice@example.test", testPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "ok 36" {
		t.Fatalf("client said %q", got)
	}
	if n := e.messageCount("INBOX"); n != 36 {
		t.Fatalf("INBOX has %d messages", n)
	}
}
