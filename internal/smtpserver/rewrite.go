package smtpserver

import (
	"bytes"
	"fmt"
)

// go-smtp sends a few replies that RFC 5321 and RFC 3463 word differently,
// from places a Session cannot reach (it checks command order and parses
// paths before calling the Session). trackedConn.Write swaps those lines,
// which go-smtp writes and flushes one per Write, for the right ones. Only
// whole lines that go-smtp sends verbatim are matched, so nothing a client
// sends can be echoed into a match. Once STARTTLS is under way the
// connection carries TLS records and nothing is rewritten: the client then
// sees go-smtp's own replies, of the same class (5xx) and meaning.
//
// The tests pin every line here, so a go-smtp upgrade that rewords one is
// noticed.
func rewriteTable(maxSize int64) map[string]string {
	const badSeq = "503 5.5.1 Bad sequence of commands: "
	t := map[string]string{
		// RFC 5321 §4.2.4/§4.3.2: out-of-order commands get 503, not 502
		// ("command not implemented").
		"502 5.5.1 Please introduce yourself first.\r\n":         badSeq + "send EHLO first\r\n",
		"502 5.5.1 Missing MAIL FROM command.\r\n":               badSeq + "send MAIL first\r\n",
		"502 5.5.1 Missing RCPT TO command.\r\n":                 badSeq + "send RCPT first\r\n",
		"502 5.5.1 MAIL not allowed during message transfer\r\n": badSeq + "MAIL during BDAT transfer\r\n",
		"502 5.5.1 RCPT not allowed during message transfer\r\n": badSeq + "RCPT during BDAT transfer\r\n",
		"502 5.5.1 DATA not allowed during message transfer\r\n": badSeq + "DATA during BDAT transfer\r\n",
		// RFC 3463: X.1.7 bad sender's address syntax, X.1.3 bad
		// destination address syntax.
		"501 5.5.2 Was expecting MAIL arg syntax of FROM:<address>\r\n": "501 5.1.7 Bad sender address syntax, expected MAIL FROM:<address>\r\n",
		"501 5.5.2 Was expecting RCPT arg syntax of TO:<address>\r\n":   "501 5.1.3 Bad recipient address syntax, expected RCPT TO:<address>\r\n",
		// RFC 5321 §4.1.1.11: unknown MAIL/RCPT parameters get 555.
		"500 5.5.4 Unknown MAIL FROM argument\r\n": "555 5.5.4 MAIL FROM parameter not recognized\r\n",
		"500 5.5.4 Unknown RCPT TO argument\r\n":   "555 5.5.4 RCPT TO parameter not recognized\r\n",
	}
	if maxSize > 0 {
		// go-smtp is given no limit (see New) and so advertises a bare
		// SIZE; RFC 1870 §4 lets the keyword carry the limit. The line is
		// "250-SIZE" in the middle of the EHLO reply, "250 SIZE" if last.
		t["250-SIZE\r\n"] = fmt.Sprintf("250-SIZE %d\r\n", maxSize)
		t["250 SIZE\r\n"] = fmt.Sprintf("250 SIZE %d\r\n", maxSize)
	}
	return t
}

// rewriteParamNotImplemented turns go-smtp's "504 5.5.4 X is not
// implemented" (a MAIL/RCPT parameter of an extension that is not enabled)
// into 555 (RFC 5321 §4.1.1.11). It returns nil when p is another line.
func rewriteParamNotImplemented(p []byte) []byte {
	const prefix, suffix = "504 5.5.4 ", " is not implemented\r\n"
	if len(p) > 120 || !bytes.HasPrefix(p, []byte(prefix)) || !bytes.HasSuffix(p, []byte(suffix)) {
		return nil
	}
	name := p[len(prefix) : len(p)-len(suffix)]
	for _, ch := range name {
		// go-smtp's parameter names: REQUIRETLS, BINARYMIME, RET, ENVID,
		// NOTIFY, ORCPT, RRVS, BY, MT-PRIORITY.
		if (ch < 'A' || ch > 'Z') && ch != '-' {
			return nil
		}
	}
	q := make([]byte, 0, len(p)+10)
	q = append(q, "555 5.5.4 "...)
	q = append(q, name...)
	q = append(q, " parameter not supported\r\n"...)
	return q
}
