package message

import (
	"strings"
	"testing"
)

func TestReferences(t *testing.T) {
	raw := "Message-ID: <c@x>\r\nReferences: <a@x>\r\n <b@x>\r\nIn-Reply-To: <b@x>\r\nContent-Type: message/rfc822\r\n\r\n" +
		"References: <inner@x>\r\nSubject: inner\r\n\r\nbody\r\n"
	s, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s.References != "<a@x> <b@x>" {
		t.Errorf("References = %q", s.References)
	}
	d, err := Decode(s.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if d.References != s.References {
		t.Errorf("decoded References = %q", d.References)
	}
}

// A structure stored in version 1 (before References was recorded) still
// decodes, with no References.
func TestDecodeV1(t *testing.T) {
	s, err := Parse(strings.NewReader("Subject: old\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	enc := s.Encode()
	if enc[0] != encodingV2 || enc[len(enc)-1] != 0 {
		t.Fatalf("unexpected encoding %x", enc)
	}
	v1 := append([]byte{encodingV1}, enc[1:len(enc)-1]...)
	d, err := Decode(v1)
	if err != nil {
		t.Fatal(err)
	}
	if d.References != "" || d.Envelope.Subject != "old" || d.Envelope.MessageID != "<m@x>" {
		t.Errorf("decoded %+v", d)
	}
}
