package dsn

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

const original = "From: alice@example.test\r\nTo: x@elsewhere\r\nSubject: hello\r\n\r\nbody line\r\n"

// parse splits a report into its three parts, checking the MIME frame.
func parse(t *testing.T, msg []byte) (*mail.Message, []*multipart.Part, [][]byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content type %q %v %v", mt, params, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []*multipart.Part
	var bodies [][]byte
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts, bodies = append(parts, p), append(bodies, b)
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	return m, parts, bodies
}

func TestBounce(t *testing.T) {
	arrival := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	msg := Build(Report{
		ReportingMTA: "mx.example.test",
		To:           "alice@example.test",
		Arrival:      arrival,
		Recipients: []Recipient{{Address: `"x@elsewhere"@loop.test`, Status: "5.1.1",
			Diagnostic: "550 5.1.1 <\"x@elsewhere\"@loop.test>: no such user\r\nInjected: yes", RemoteMTA: "relay.example.test"}},
		Original: []byte(original),
	})
	m, parts, bodies := parse(t, msg)
	if got := m.Header.Get("To"); got != "<alice@example.test>" {
		t.Errorf("To %q", got)
	}
	if !strings.HasPrefix(m.Header.Get("From"), "Mail Delivery System <MAILER-DAEMON@mx.example.test>") ||
		m.Header.Get("Auto-Submitted") != "auto-replied" || m.Header.Get("Subject") == "" {
		t.Errorf("header %v", m.Header)
	}
	if m.Header.Get("Injected") != "" {
		t.Error("a diagnostic added a header field")
	}
	if ct := parts[1].Header.Get("Content-Type"); ct != "message/delivery-status" {
		t.Fatalf("part 2 %q", ct)
	}
	// The status part is header-like groups: per message, then per recipient.
	groups := strings.Split(strings.TrimSpace(string(bodies[1])), "\r\n\r\n")
	if len(groups) != 2 {
		t.Fatalf("status groups %q", groups)
	}
	perMsg, err := textproto.NewReader(bufioReader(groups[0] + "\r\n\r\n")).ReadMIMEHeader()
	if err != nil || perMsg.Get("Reporting-MTA") != "dns; mx.example.test" || perMsg.Get("Arrival-Date") != arrival.Format(time.RFC1123Z) {
		t.Errorf("per-message fields %v %v", perMsg, err)
	}
	perRcpt, err := textproto.NewReader(bufioReader(groups[1] + "\r\n\r\n")).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Final-Recipient": `rfc822; "x@elsewhere"@loop.test`,
		"Action":          "failed",
		"Status":          "5.1.1",
		"Remote-Mta":      "dns; relay.example.test",
		"Diagnostic-Code": `smtp; 550 5.1.1 <"x@elsewhere"@loop.test>: no such user Injected: yes`,
	} {
		if got := perRcpt.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if ct := parts[2].Header.Get("Content-Type"); ct != "message/rfc822" {
		t.Errorf("part 3 %q", ct)
	}
	if string(bodies[2]) != original {
		t.Errorf("original not kept byte for byte: %q", bodies[2])
	}
}

func TestDelayHeadersOnly(t *testing.T) {
	orig := original + strings.Repeat("more body\r\n", 100) + "caf\xc3\xa9\r\n"
	msg := Build(Report{To: "bob@example.org", Recipients: []Recipient{{Address: "c@example.org", Action: Delayed}},
		Original: []byte(orig), HeadersOnly: true})
	m, parts, bodies := parse(t, msg)
	if !strings.Contains(m.Header.Get("Subject"), "Delayed") {
		t.Errorf("subject %q", m.Header.Get("Subject"))
	}
	if !strings.Contains(string(bodies[1]), "Action: delayed\r\nStatus: 4.0.0\r\n") {
		t.Errorf("status part %q", bodies[1])
	}
	if parts[2].Header.Get("Content-Type") != "text/rfc822-headers" || string(bodies[2]) != original[:strings.Index(original, "\r\n\r\n")+4] {
		t.Errorf("headers part %q %q", parts[2].Header, bodies[2])
	}
	// The 8-bit body was left out, so the part is 7-bit.
	if parts[2].Header.Get("Content-Transfer-Encoding") != "" {
		t.Errorf("headers part marked %q", parts[2].Header.Get("Content-Transfer-Encoding"))
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
