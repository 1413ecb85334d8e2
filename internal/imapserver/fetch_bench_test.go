package imapserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkFetchWholeMailbox measures FETCH 1:* (BODY.PEEK[]) of 20,000
// messages of 3 KB, read by a client that only counts bytes; it reports
// MB/s of response.
func BenchmarkFetchWholeMailbox(b *testing.B) {
	e := newTestEnv(b)
	body := strings.Repeat("a line of body text that fills the message up\r\n", 62)
	for i := range 20000 {
		e.deliver("INBOX", fmt.Sprintf("Subject: message %d\r\nFrom: a@example.test\r\n\r\n%s", i, body))
	}
	c := e.login()
	c.ok("SELECT INBOX")
	r := bufio.NewReaderSize(c.conn, 256<<10)
	var total int64
	b.ResetTimer()
	for range b.N {
		fmt.Fprintf(c.conn, "f FETCH 1:* (BODY.PEEK[])\r\n")
		for {
			l, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			total += int64(len(l))
			if bytes.HasPrefix(l, []byte("f ")) {
				if !bytes.HasPrefix(l, []byte("f OK")) {
					b.Fatalf("%s", l)
				}
				break
			}
			if i := bytes.LastIndexByte(l, '{'); i >= 0 && bytes.HasSuffix(l, []byte("}\r\n")) {
				n, _ := strconv.Atoi(string(l[i+1 : len(l)-3]))
				m, _ := io.CopyN(io.Discard, r, int64(n))
				total += m
			}
		}
	}
	b.SetBytes(total / int64(b.N))
}
