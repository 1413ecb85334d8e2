package message

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNoQuadratic feeds inputs built to make a careless parser quadratic and
// checks that each takes little time.
func TestNoQuadratic(t *testing.T) {
	const n = 60 << 10
	rep := func(s string) string { return strings.Repeat(s, n/len(s)) }
	headers := map[string]string{
		"comments":        "Content-Type: text/plain; " + rep("(") + "\r\n",
		"params":          "Content-Type: text/plain; " + rep("a=1;") + "\r\n",
		"sections":        "Content-Type: text/plain; " + rep("n*1*=%41;") + "\r\n",
		"quotes":          "Content-Type: text/plain; a=" + rep(`"\`) + "\r\n",
		"angles":          "To: " + rep("<") + "\r\n",
		"angle-addrs":     "To: " + rep("<a@b>") + "\r\n",
		"groups":          "To: " + rep("a:") + "\r\n",
		"ats":             "To: " + rep("a@") + "\r\n",
		"commas":          "To: " + rep(",") + "\r\n",
		"words":           "To: " + rep("w ") + "\r\n",
		"route":           "To: <" + rep("@a,") + "\r\n",
		"comment-words":   "To: " + rep("(c)") + "\r\n",
		"disposition":     "Content-Disposition: " + rep("x; ") + "\r\n",
		"language":        "Content-Language: " + rep("en,") + "\r\n",
		"html":            "Content-Type: text/html\r\n\r\n" + rep("<title>") + rep("<a ") + rep("&amp"),
		"html-comments":   "Content-Type: text/html\r\n\r\n" + rep("<!--"),
		"html-head":       "Content-Type: text/html\r\n\r\n" + rep("<head>x"),
		"qp":              "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + rep("= \t") + rep(" ") + rep("=\r"),
		"boundary-lines":  nestedBoundaries(MaxDepth) + rep("--b0000000000000000000000000000000000000000x\r\n"),
		"folded":          "Subject: x\r\n" + rep(" y\r\n"),
		"blank-ish":       rep(" \r\n"),
		"many-parts":      "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + rep("--b\r\n"),
		"many-digest":     "Content-Type: multipart/digest; boundary=b\r\n\r\n" + rep("--b\r\n\r\n"),
		"many-embedded":   "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + rep("--b\r\nContent-Type: message/rfc822\r\n\r\n"),
		"many-long-lines": rep(strings.Repeat("x", 1000) + "\r\n"),
	}
	for name, in := range headers {
		for _, k := range []int{1, 4} {
			data := []byte(strings.Repeat(in, k))
			start := time.Now()
			s := mustParse(t, data)
			d := time.Since(start)
			t.Logf("%s x%d: %d bytes, %v", name, k, len(data), d)
			if d > 2*time.Second {
				t.Errorf("%s: %v for %d bytes", name, d, len(data))
			}
			_ = s
		}
	}
	for name, in := range map[string]string{
		"bad-words":  rep("=?x =?") + "?=",
		"words":      rep("=?a?q?b?= "),
		"open-words": rep("=?a?q?"),
		"charsets":   rep("=?" + strings.Repeat("c", 60) + "?"),
	} {
		start := time.Now()
		DecodeHeader(in)
		if d := time.Since(start); d > time.Second {
			t.Errorf("DecodeHeader %s: %v", name, d)
		}
	}
}

// nestedBoundaries opens depth multiparts with boundaries sharing a long
// prefix.
func nestedBoundaries(depth int) string {
	var b bytes.Buffer
	for i := range depth {
		bd := fmt.Sprintf("b%040d", i)
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%s\r\n\r\n--%s\r\n", bd, bd)
	}
	b.WriteString("\r\n")
	return b.String()
}
