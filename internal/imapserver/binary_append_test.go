package imapserver

import (
	"strings"
	"testing"
)

// TestAppendBinaryPart: a literal8 APPEND of a message with a binary part
// (RFC 3516 §4.4) stores the part's bytes; BINARY[1] serves them decoded
// as a literal8, BODY[1] as stored.
func TestAppendBinaryPart(t *testing.T) {
	e := newTestEnv(t)
	part := "\x00\x01\x02binary\r\ndata\x00\xff\xfe and more"
	msg := "From: a@example.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
		part + "\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n"
	c := e.login()
	c.writeRaw("a1 APPEND INBOX ~" + appendLitPlus(msg) + "\r\n" + msg + "\r\n")
	c.expectLinePrefix("a1 OK [APPENDUID")
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1 (BODY.PEEK[1])")
	if len(u) != 1 || !strings.Contains(u[0], "BODY[1] {"+itoa(uint64(len(part)))+"}\r\n"+part+")") {
		t.Fatalf("BODY[1]: %q", u)
	}
	u = c.ok("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])")
	if len(u) != 1 || !strings.Contains(u[0], "BINARY[1] ~{"+itoa(uint64(len(part)))+"}\r\n"+part) ||
		!strings.Contains(u[0], "BINARY.SIZE[1] "+itoa(uint64(len(part)))) {
		t.Fatalf("BINARY[1]: %q", u)
	}
	u = c.ok("FETCH 1 (BODY.PEEK[2])")
	if len(u) != 1 || !strings.Contains(u[0], "BODY[2] {5}\r\nhello)") {
		t.Fatalf("BODY[2]: %q", u)
	}
}

// TestAppendBinaryOtherForms: a single-part binary message, and a
// multipart one with bare LF line ends, keep their bytes too.
func TestAppendBinaryOtherForms(t *testing.T) {
	single := "From: a@example.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
		"\x00\x01\x02binary\ndata\x00\xff\xfe\r and more\r\n"
	lf := "From: user@domain.org\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"foo\"\n\n" +
		"--foo\nContent-Type: text/plain\nContent-Transfer-Encoding: binary\n\nhello \x00 world\n" +
		"--foo\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n\x00\x01\x02\x03\n--foo--\n"
	for _, tc := range []struct {
		name, msg string
		want      map[string]string // fetch item -> what the response holds
	}{
		{"single part", single, map[string]string{
			"BODY.PEEK[1]":   "BODY[1] {29}\r\n\x00\x01\x02binary\ndata\x00\xff\xfe\r and more\r\n)",
			"BINARY.PEEK[1]": "BINARY[1] ~{29}\r\n\x00\x01\x02binary\ndata\x00\xff\xfe\r and more\r\n)",
			"BINARY.SIZE[1]": "BINARY.SIZE[1] 29)",
		}},
		{"bare LF", lf, map[string]string{
			"BODY.PEEK[1]":   "BODY[1] {13}\r\nhello \x00 world)",
			"BODY.PEEK[2]":   "BODY[2] {4}\r\n\x00\x01\x02\x03)",
			"BINARY.PEEK[2]": "BINARY[2] ~{4}\r\n\x00\x01\x02\x03)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			c := e.login()
			c.writeRaw("a1 APPEND INBOX ~" + appendLitPlus(tc.msg) + "\r\n" + tc.msg + "\r\n")
			c.expectLinePrefix("a1 OK [APPENDUID")
			c.ok("SELECT INBOX")
			for item, want := range tc.want {
				if u := c.ok("FETCH 1 (" + item + ")"); len(u) != 1 || !strings.HasSuffix(u[0], want) {
					t.Errorf("%s: %q, want it to end with %q", item, u, want)
				}
			}
		})
	}
}
