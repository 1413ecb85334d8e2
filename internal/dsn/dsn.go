// Package dsn builds delivery status notifications: the bounces and delay
// notices of RFC 3464, a multipart/report (RFC 6522) with a part for
// people, a message/delivery-status part for programs and the message it
// is about.
package dsn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Actions (RFC 3464 §2.3.3).
const (
	Failed  = "failed"
	Delayed = "delayed"
)

// Recipient is the report on one recipient (RFC 3464 §2.3).
type Recipient struct {
	Address string // the final recipient, an RFC 5321 path without brackets
	Action  string // Failed (default) or Delayed
	Status  string // enhanced status code (RFC 3463) such as "5.1.1"
	// Diagnostic is what the remote server said ("550 5.1.1 no such
	// user"), reported as an smtp diagnostic; "" for none.
	Diagnostic string
	RemoteMTA  string // host name of the server that answered; "" if none did
}

// Report is one notification.
type Report struct {
	ReportingMTA string    // this server's host name
	To           string    // whom it goes to: the original envelope sender
	Arrival      time.Time // when the original message was accepted
	Recipients   []Recipient
	// Original is the message the report is about, CRLF line endings.
	Original []byte
	// HeadersOnly returns just the original's header block
	// (text/rfc822-headers) instead of the whole message.
	HeadersOnly bool
	// Explanation opens the part for people; "" gives a standard text.
	Explanation string
	Now         time.Time // Date of the report; zero is time.Now
}

// Build renders the report as a message, CRLF line endings.
func Build(r Report) []byte {
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	host := oneLine(r.ReportingMTA)
	if host == "" {
		host = "localhost"
	}
	delayed := len(r.Recipients) > 0
	for _, rc := range r.Recipients {
		delayed = delayed && rc.Action == Delayed
	}
	boundary := token(12)
	var b bytes.Buffer
	hdr := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	hdr("From", "Mail Delivery System <MAILER-DAEMON@"+host+">")
	hdr("To", "<"+oneLine(r.To)+">")
	if delayed {
		hdr("Subject", "Delayed Mail (still being retried)")
	} else {
		hdr("Subject", "Undelivered Mail Returned to Sender")
	}
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+token(12)+".dsn@"+host+">")
	// RFC 3834 §5: a notification is an automatic response, not to be
	// answered automatically.
	hdr("Auto-Submitted", "auto-replied")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	b.WriteString("This is a delivery status notification (RFC 3464) in MIME format.\r\n\r\n")

	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	text := r.Explanation
	if text == "" {
		if delayed {
			text = "This is the mail system at " + host + ".\n\nYour message has not been delivered yet to the recipients below. It will be retried; you need not send it again."
		} else {
			text = "This is the mail system at " + host + ".\n\nYour message could not be delivered to the recipients below. It is attached."
		}
	}
	b.Write(crlf(text))
	b.WriteString("\r\n\r\n")
	for _, rc := range r.Recipients {
		fmt.Fprintf(&b, "<%s>: %s\r\n", oneLine(rc.Address), orDefault(oneLine(rc.Diagnostic), statusText(rc)))
	}
	b.WriteString("\r\n")

	// RFC 3464 §2.2: per-message fields, then a block per recipient.
	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: message/delivery-status\r\n\r\n")
	hdr("Reporting-MTA", "dns; "+host)
	if !r.Arrival.IsZero() {
		hdr("Arrival-Date", r.Arrival.Format(time.RFC1123Z))
	}
	for _, rc := range r.Recipients {
		b.WriteString("\r\n")
		hdr("Final-Recipient", "rfc822; "+oneLine(rc.Address))
		hdr("Action", orDefault(rc.Action, Failed))
		hdr("Status", status(rc))
		if rc.RemoteMTA != "" {
			hdr("Remote-MTA", "dns; "+oneLine(rc.RemoteMTA))
		}
		if d := oneLine(rc.Diagnostic); d != "" {
			hdr("Diagnostic-Code", "smtp; "+d)
		}
	}
	b.WriteString("\r\n")

	b.WriteString("--" + boundary + "\r\n")
	orig := r.Original
	if r.HeadersOnly {
		orig = headerBlock(orig)
		b.WriteString("Content-Type: text/rfc822-headers\r\n")
	} else {
		b.WriteString("Content-Type: message/rfc822\r\n")
	}
	if !isASCII(orig) {
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n")
	}
	b.WriteString("\r\n")
	b.Write(orig)
	if !bytes.HasSuffix(orig, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	// The CRLF before a boundary belongs to the boundary (RFC 2046
	// §5.1.1): this one keeps the original's last line ending its own.
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes()
}

// status is the recipient's enhanced status code, from its action when
// none was given (RFC 3463 §3.1: X.0.0, other undefined status).
func status(rc Recipient) string {
	if s := oneLine(rc.Status); s != "" {
		return s
	}
	if rc.Action == Delayed {
		return "4.0.0"
	}
	return "5.0.0"
}

func statusText(rc Recipient) string {
	if rc.Action == Delayed {
		return "delayed, status " + status(rc)
	}
	return "failed, status " + status(rc)
}

// headerBlock is msg's header block with its blank line (the whole of msg
// when it has none).
func headerBlock(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+4]
	}
	return msg
}

// oneLine folds white space, so that text from a remote server cannot
// break a header field or add one.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func crlf(s string) []byte {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func token(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
