package pop3server

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// stuffReference is the dot-stuffing of RFC 1939 §3 done the obvious way,
// line by line on the whole message: the model dotStuffer must match
// whatever the chunk boundaries.
func stuffReference(msg string, top int64) string {
	var b strings.Builder
	lines := strings.SplitAfter(msg, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	inBody := false
	left := top
	for _, l := range lines {
		if top >= 0 && inBody {
			if left == 0 {
				break
			}
			left--
		}
		content := strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
		if strings.HasPrefix(content, ".") {
			b.WriteString(".")
		}
		b.WriteString(content)
		b.WriteString("\r\n")
		if content == "" {
			inBody = true
		}
	}
	b.WriteString(".\r\n")
	return b.String()
}

func TestDotStuffer(t *testing.T) {
	msgs := []string{
		"",
		".",
		"\r\n",
		"Subject: x\r\n\r\nbody\r\n",
		"Subject: x\r\n\r\n.\r\n..\r\n.x\r\nx.\r\n",
		"Subject: x\r\n\r\nno final newline",
		"Subject: x\r\n\r\nends with CR\r",
		"Subject: bare LF\n\n.dot\nline\n",
		"Subject: mixed\r\n\nA\r\n.B\nC",
		"Header only\r\nSecond: header\r\n",
		".Leading: dot header\r\n\r\n\r\n\r\n.\r\n",
		"a\r\rb\r\n\r\n\rc\r\n",
	}
	for _, msg := range msgs {
		for _, top := range []int64{-1, 0, 1, 2, 5} {
			want := stuffReference(msg, top)
			// Every chunk size, so that every boundary is crossed.
			for size := 1; size <= max(len(msg), 1); size++ {
				var out bytes.Buffer
				w := bufio.NewWriter(&out)
				d := dotStuffer{w: w, top: top >= 0, left: top}
				for p := msg; len(p) > 0; {
					n := min(size, len(p))
					if d.write([]byte(p[:n])) {
						break
					}
					p = p[n:]
				}
				d.finish()
				w.Flush()
				if got := out.String(); got != want {
					t.Fatalf("message %q, TOP %d, chunks of %d:\n got %q\nwant %q", msg, top, size, got, want)
				}
			}
		}
	}
}
