package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// benchMessage10K is a typical 10 KB newsletter: multipart/alternative with a
// quoted-printable text part and an HTML part.
func benchMessage10K() []byte {
	var b strings.Builder
	b.WriteString("Return-Path: <news@example.com>\r\nReceived: from mx.example.com by mail.example.org; Mon, 1 Jan 2024 00:00:00 +0000\r\n")
	b.WriteString("From: \"Example News\" <news@example.com>\r\nTo: reader@example.org\r\nSubject: =?utf-8?q?This_week=E2=80=99s_news?=\r\n")
	b.WriteString("Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <bench@example.com>\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/alternative; boundary=\"=_bench\"\r\n\r\n--=_bench\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	for b.Len() < 4500 {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit =E2=80=93 sed do=\r\n eiusmod tempor.\r\n")
	}
	b.WriteString("--=_bench\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>")
	for b.Len() < 10200 {
		b.WriteString("<p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit.</p>\r\n")
	}
	b.WriteString("</body></html>\r\n--=_bench--\r\n")
	return []byte(b.String())
}

// benchMessage1M is a short text with a 1 MB base64 attachment.
func benchMessage1M() []byte {
	att := make([]byte, 1<<20)
	for i := range att {
		att[i] = byte(i * 7)
	}
	enc := base64.StdEncoding.EncodeToString(att)
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nTo: b@example.com\r\nSubject: attachment\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=att\r\n\r\n--att\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n")
	b.WriteString("--att\r\nContent-Type: application/octet-stream; name=blob.bin\r\nContent-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: attachment; filename=blob.bin\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n--att--\r\n")
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	for _, bm := range []struct {
		name string
		data []byte
	}{
		{"10KB", benchMessage10K()},
		{"1MB-attachment", benchMessage1M()},
	} {
		b.Run(fmt.Sprintf("%s", bm.name), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.data)))
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(bm.data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeDecode(b *testing.B) {
	s, err := Parse(bytes.NewReader(benchMessage10K()))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(s.Encode()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchMessages(t *testing.T) {
	for _, data := range [][]byte{benchMessage10K(), benchMessage1M()} {
		s := mustParse(t, data)
		if len(s.Root.Parts) != 2 {
			t.Fatalf("%d parts", len(s.Root.Parts))
		}
	}
	s := mustParse(t, benchMessage1M())
	if s.Root.Parts[1].DecodedSize != 1<<20 {
		t.Errorf("DecodedSize %d", s.Root.Parts[1].DecodedSize)
	}
}
